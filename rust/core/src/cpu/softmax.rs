//! Fused softmax / log-softmax kernel: one pass per row along the dim, stable (the row's max
//! is subtracted first).
use crate::dtype::Float;
use crate::error::Result;
use crate::op::{no_kernel, Op, SoftmaxOp};
use crate::tensor::Tensor;

fn softmax_run<T: Float>(run: &mut [T], log: bool) {
    let m = run.iter().fold(T::neg_inf(), |a, &b| if b > a || b.is_nan() { b } else { a });
    // An all -inf run has max -inf; shifting by 0 keeps exp well defined.
    let shift = if m == T::neg_inf() { T::zero() } else { m };
    if log {
        let s: T = run.iter().map(|&v| (v - shift).exp()).sum();
        let ls = s.ln();
        for v in run.iter_mut() {
            *v = *v - shift - ls;
        }
    } else {
        let mut s = T::zero();
        for v in run.iter_mut() {
            *v = (*v - shift).exp();
            s = s + *v;
        }
        for v in run.iter_mut() {
            *v = *v / s;
        }
    }
}

/// Softmax of each column of a slab of `len` rows of `inner` elements, through a row buffer.
fn softmax_slab<T: Float>(slab: &mut [T], inner: usize, log: bool) {
    let mut row: Vec<T> = Vec::with_capacity(slab.len() / inner);
    for i in 0..inner {
        row.clear();
        row.extend(slab[i..].iter().step_by(inner));
        softmax_run(&mut row, log);
        slab[i..].iter_mut().step_by(inner).zip(&row).for_each(|(d, &v)| *d = v);
    }
}

/// Softmax (or log-softmax) along `dim`, as `Op::Softmax` describes: the data in row-major
/// order is `outer` slabs of `len` x `inner`; rows are contiguous when `inner` is 1.
pub fn softmax(op: SoftmaxOp, x: &Tensor, dim: usize) -> Result<Tensor> {
    let shape = x.shape();
    let (len, inner) = if shape.is_empty() { (1, 1) } else { (shape[dim], shape[dim + 1..].iter().product()) };
    let log = op == SoftmaxOp::LogSoftmax;
    crate::with_float!(
        x.dtype(),
        T,
        {
            let mut data = x.contiguous_data::<T>().into_owned();
            let chunk = len * inner;
            let slab = |r: &mut [T]| if inner == 1 { softmax_run(r, log) } else { softmax_slab(r, inner, log) };
            if chunk > 0 {
                if data.len() >= super::PAR_THRESHOLD {
                    super::team::chunks_mut(&mut data, chunk, |_, r| slab(r));
                } else {
                    data.chunks_mut(chunk).for_each(slab);
                }
            }
            Tensor::from_vec(data, shape)
        },
        Err(no_kernel(&Op::Softmax { op, dim }, x.dtype(), x.device()))
    )
}
