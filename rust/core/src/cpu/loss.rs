//! CPU kernel of the fused cross-entropy rows (see `Op::CrossEntropyRows`).
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::op::{no_kernel, Op};
use crate::tensor::Tensor;

/// Each row's loss and weight for float logits [N, C] and int64 targets [N]; a target outside
/// [0, C) other than `ignore_index` raises IndexError.
pub fn cross_entropy_rows(x: &Tensor, target: &Tensor, weight: Option<&Tensor>, ignore_index: i64) -> Result<(Tensor, Tensor)> {
    let t = target.contiguous_data::<i64>();
    crate::with_float!(
        x.dtype(),
        T,
        rows::<T>(x, &t, weight.map(|w| w.contiguous_data::<T>()).as_deref(), ignore_index),
        Err(no_kernel(&Op::CrossEntropyRows { ignore_index }, x.dtype(), x.device()))
    )
}

fn rows<T: Float>(x: &Tensor, target: &[i64], weight: Option<&[T]>, ignore_index: i64) -> Result<(Tensor, Tensor)> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let data = x.contiguous_data::<T>();
    let mut loss = Vec::with_capacity(n);
    let mut coef = Vec::with_capacity(n);
    for (i, &t) in target.iter().enumerate() {
        if t == ignore_index {
            loss.push(T::zero());
            coef.push(T::zero());
            continue;
        }
        if t < 0 || t as usize >= c {
            return Err(Error::Index(format!("Target {t} is out of bounds.")));
        }
        let row = &data[i * c..(i + 1) * c];
        let m = row.iter().fold(T::neg_inf(), |a, &b| if b > a || b.is_nan() { b } else { a });
        let shift = if m == T::neg_inf() { T::zero() } else { m };
        let lse = shift + row.iter().map(|&v| (v - shift).exp()).sum::<T>().ln();
        let w = weight.map_or(T::one(), |w| w[t as usize]);
        loss.push(w * (lse - row[t as usize]));
        coef.push(w);
    }
    Ok((Tensor::from_vec(loss, &[n])?, Tensor::from_vec(coef, &[n])?))
}
