//! Sorting along a dim: values and int64 indices, stable, NaN ordered as the largest value
//! (PyTorch's order). argsort, topk, msort, median and kthvalue are built on it (Python
//! layer). The GPU kernel is `gpu::sort`; the gradient is scattered back through the indices.
use crate::autograd::Recorder;
use crate::dtype::Element;
use crate::error::Result;
use crate::layout::wrap_dim;
use crate::tensor::Tensor;
use std::cmp::Ordering;

/// The order of two elements with NaN above everything (NaNs equal to each other).
fn nan_last<T: Element>(a: &T, b: &T) -> Ordering {
    #[allow(clippy::eq_op)]
    a.partial_cmp(b).unwrap_or_else(|| (a != a).cmp(&(b != b)))
}

/// The CPU forward: each row (dim moved last) argsorted with a stable sort.
fn sort_cpu(x: &Tensor, d: usize, descending: bool) -> Result<(Tensor, Tensor)> {
    let last = x.ndim() - 1;
    let moved = x.transpose(d as i64, last as i64)?;
    let n = x.shape()[d];
    let (values, indices) = crate::with_dtype!(x.dtype(), T, {
        let data = moved.contiguous_data::<T>();
        let mut values = crate::storage::try_with_capacity::<T>(data.len())?;
        let mut indices = crate::storage::try_with_capacity::<i64>(data.len())?;
        // Room for one row only when there is a row: a [2**31, 0] tensor has none, and a row
        // is no larger than `values`, allocated above.
        let mut order: Vec<usize> = Vec::with_capacity(if data.is_empty() { 0 } else { n });
        for row in data.chunks(n.max(1)) {
            order.clear();
            order.extend(0..row.len());
            if descending {
                order.sort_by(|&i, &j| nan_last(&row[j], &row[i]));
            } else {
                order.sort_by(|&i, &j| nan_last(&row[i], &row[j]));
            }
            values.extend(order.iter().map(|&i| row[i]));
            indices.extend(order.iter().map(|&i| i as i64));
        }
        (Tensor::from_vec(values, moved.shape())?, Tensor::from_vec(indices, moved.shape())?)
    });
    let back = |t: Tensor| -> Result<Tensor> { if d == last { Ok(t) } else { t.transpose(d as i64, last as i64)?.contiguous() } };
    Ok((back(values)?, back(indices)?))
}

impl Tensor {
    /// `sort(dim, descending)`: (values, int64 indices) along `dim`, stable; NaN sorts as the
    /// largest value. The gradient goes back to each value's source position (SortBackward0).
    pub fn sort(&self, dim: i64, descending: bool) -> Result<(Tensor, Tensor)> {
        if self.ndim() == 0 {
            wrap_dim(dim, 0)?;
            let (v, i) = self.reshape_usize(&[1])?.sort(0, descending)?;
            return Ok((v.reshape_usize(&[])?, i.reshape_usize(&[])?));
        }
        let d = wrap_dim(dim, self.ndim())?;
        let x = self.detach();
        let (values, indices) = if x.device().is_gpu() { crate::gpu::sort::sort(&x, d, descending)? } else { sort_cpu(&x, d, descending)? };
        let Some(rec) = Recorder::new("SortBackward0", &[self]) else { return Ok((values, indices)) };
        let (shape, idx) = (self.shape().to_vec(), indices.clone());
        let values = rec.finish(values, false, move |_, g| {
            Ok(vec![Some(Tensor::zeros_on(&shape, g.dtype(), g.device())?.scatter_add(d as i64, &idx, g)?)])
        });
        Ok((values, indices))
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::Tensor;

    #[test]
    fn stable_with_nan_last_and_descending() {
        let x = Tensor::from_vec(vec![2.0f32, f32::NAN, 1.0, 2.0, -0.0, 0.0], &[6]).unwrap();
        let (v, i) = x.sort(0, false).unwrap();
        assert_eq!(i.to_vec::<i64>(), vec![4, 5, 2, 0, 3, 1]);
        assert!(v.to_vec::<f32>()[5].is_nan());
        let (_, i) = x.sort(0, true).unwrap();
        assert_eq!(i.to_vec::<i64>(), vec![1, 0, 3, 2, 4, 5]);
    }

    #[test]
    fn sorts_inner_dims_of_int64() {
        let x = Tensor::from_vec(vec![3i64, 1, i64::MIN, 2, 5, i64::MAX], &[3, 2]).unwrap();
        let (v, i) = x.sort(0, false).unwrap();
        assert_eq!(v.to_vec::<i64>(), vec![i64::MIN, 1, 3, 2, 5, i64::MAX]);
        assert_eq!(i.to_vec::<i64>(), vec![1, 0, 0, 1, 2, 2]);
    }
}
