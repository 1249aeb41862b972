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

/// Softmax (or log-softmax) along `dim`, as `Op::Softmax` describes: rows along the dim are
/// made contiguous (the dim moved last: one strided copy there and one back, both on the CPU
/// team when large, cheaper than reading each row through its stride), then done in place.
pub fn softmax(op: SoftmaxOp, x: &Tensor, dim: usize) -> Result<Tensor> {
    let nd = x.ndim();
    let last = nd.saturating_sub(1);
    let mut order: Vec<usize> = (0..nd).filter(|&k| k != dim).collect();
    if nd > 0 {
        order.push(dim);
    }
    let moved = x.view_with_layout(x.layout().permute(&order)?);
    let len = moved.shape().get(last).copied().unwrap_or(1);
    let log = op == SoftmaxOp::LogSoftmax;
    crate::with_float!(
        x.dtype(),
        T,
        {
            let mut data = moved.contiguous_data::<T>().into_owned();
            if len > 0 {
                if data.len() >= super::PAR_THRESHOLD {
                    super::team::chunks_mut(&mut data, len, |_, r| softmax_run(r, log));
                } else {
                    data.chunks_mut(len).for_each(|r| softmax_run(r, log));
                }
            }
            if dim == last {
                return Tensor::from_vec(data, x.shape());
            }
            let mut inverse = vec![0; nd];
            for (i, &k) in order.iter().enumerate() {
                inverse[k] = i;
            }
            let rows = Tensor::from_vec(data, moved.shape())?;
            let back = rows.view_with_layout(rows.layout().permute(&inverse)?);
            Tensor::from_vec(back.contiguous_data::<T>().into_owned(), x.shape())
        },
        Err(no_kernel(&Op::Softmax { op, dim }, x.dtype(), x.device()))
    )
}
