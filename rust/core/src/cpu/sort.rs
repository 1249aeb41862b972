//! Sorting kernel: each row along the sorted dim argsorted with a stable sort, NaN ordered as
//! the largest value (PyTorch's order).
use crate::dtype::Element;
use crate::error::Result;
use crate::storage::try_vec;
use crate::tensor::Tensor;
use std::cmp::Ordering;

/// The order of two elements with NaN above everything (NaNs equal to each other).
fn nan_last<T: Element>(a: &T, b: &T) -> Ordering {
    #[allow(clippy::eq_op)]
    a.partial_cmp(b).unwrap_or_else(|| (a != a).cmp(&(b != b)))
}

/// Sorted values and int64 indices along `dim`, as `Op::Sort` describes. The data is read in
/// row-major order: `outer` slabs of `len` x `inner`, a row being one column of a slab.
pub fn sort(x: &Tensor, dim: usize, descending: bool) -> Result<(Tensor, Tensor)> {
    let shape = x.shape();
    let (len, inner) = (shape[dim], shape[dim + 1..].iter().product::<usize>());
    crate::with_dtype!(x.dtype(), T, {
        let data = x.contiguous_data::<T>();
        let mut values = try_vec::<T>(data.len(), T::default())?;
        let mut indices = try_vec::<i64>(data.len(), 0)?;
        // Room for one row only when there is a row: a [2**31, 0] tensor has none, and a row
        // is no larger than `values`, allocated above.
        let mut order: Vec<usize> = Vec::with_capacity(if data.is_empty() { 0 } else { len });
        let mut row: Vec<T> = Vec::with_capacity(order.capacity());
        if len * inner > 0 {
            for (s, slab) in data.chunks(len * inner).enumerate() {
                for i in 0..inner {
                    row.clear();
                    row.extend(slab[i..].iter().step_by(inner));
                    order.clear();
                    order.extend(0..len);
                    if descending {
                        order.sort_by(|&a, &b| nan_last(&row[b], &row[a]));
                    } else {
                        order.sort_by(|&a, &b| nan_last(&row[a], &row[b]));
                    }
                    let base = s * len * inner + i;
                    for (j, &o) in order.iter().enumerate() {
                        values[base + j * inner] = row[o];
                        indices[base + j * inner] = o as i64;
                    }
                }
            }
        }
        Ok((Tensor::from_vec(values, shape)?, Tensor::from_vec(indices, shape)?))
    })
}
