//! Sorting along a dim: values and int64 indices, stable, NaN ordered as the largest value
//! (PyTorch's order). argsort, topk, msort, median and kthvalue are built on it (Python
//! layer). One `Op::Sort` kernel call; the gradient is scattered back through the indices.
use crate::autograd::Recorder;
use crate::error::Result;
use crate::layout::wrap_dim;
use crate::op::Op;
use crate::ops::dispatch::run;
use crate::tensor::Tensor;

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
        let (values, indices) = run(&Op::Sort { dim: d, descending }, &[self])?.two()?;
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
