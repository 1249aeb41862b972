//! Cross-entropy over class indices, fused: one pass per row computes the row's log-sum-exp
//! and picks the target's logit (CPU kernel here, WGSL kernel in `gpu::loss`); the reduction
//! and the backward rule, softmax(x) - onehot(target) scaled per row, are built from
//! differentiable ops, so double backward works on both devices.
use crate::autograd::Recorder;
use crate::dtype::{DType, Float};
use crate::error::{Error, Result};
use crate::ops::BinaryOp;
use crate::tensor::Tensor;

/// PyTorch's `reduction=` of a loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

impl Reduction {
    pub fn parse(s: &str) -> Result<Reduction> {
        match s {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            _ => Err(Error::Value(format!("{s} is not a valid value for reduction"))),
        }
    }
}

/// Per-row results of the fused kernel: each row's loss `w[t] * (logsumexp(x) - x[t])` and its
/// weight `w[t]` (0 for an ignored row).
pub struct RowLosses {
    pub loss: Tensor,
    pub weight: Tensor,
}

fn rows_cpu<T: Float>(x: &Tensor, target: &[i64], weight: Option<&[T]>, ignore_index: i64) -> Result<RowLosses> {
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
    Ok(RowLosses { loss: Tensor::from_vec(loss, &[n])?, weight: Tensor::from_vec(coef, &[n])? })
}

impl Tensor {
    /// Cross-entropy of logits `self` [N, C] against int64 class indices `target` [N], with
    /// optional class weights [C]; rows whose target is `ignore_index` count for nothing. Mean
    /// divides by the summed weights of the counted rows, as PyTorch does.
    pub fn cross_entropy(&self, target: &Tensor, weight: Option<&Tensor>, ignore_index: i64, reduction: Reduction) -> Result<Tensor> {
        if self.ndim() != 2 || !self.dtype().is_float() {
            return Err(Error::Shape(format!(
                "cross_entropy: expected float logits of shape [N, C], got {:?} {}",
                self.shape(),
                self.dtype()
            )));
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        if target.dtype() != DType::I64 {
            return Err(Error::Runtime(format!("expected scalar type Long but found {}", target.dtype())));
        }
        if target.shape() != [n] {
            return Err(Error::Value(format!("Expected input batch_size ({n}) to match target batch_size ({}).", target.numel())));
        }
        if let Some(w) = weight {
            if w.shape() != [c] || w.dtype() != self.dtype() {
                return Err(Error::Runtime(format!(
                    "weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {:?} ({})",
                    w.shape(),
                    w.dtype()
                )));
            }
        }
        let mut operands = vec![self, target];
        operands.extend(weight);
        let device = crate::op::op_device(&operands)?;
        let x = self.detach();
        let rows = if device.is_gpu() {
            crate::gpu::loss::cross_entropy_rows(&x, target, weight, ignore_index)?
        } else {
            let t = target.contiguous_data::<i64>();
            crate::with_float!(
                x.dtype(),
                T,
                rows_cpu::<T>(&x, &t, weight.map(|w| w.contiguous_data::<T>()).as_deref(), ignore_index)?,
                unreachable!()
            )
        };
        // Each row's factor in the gradient: its weight, over the weight total for a mean.
        let (out, scale) = match reduction {
            Reduction::None => (rows.loss, rows.weight),
            Reduction::Sum => (rows.loss.sum(None, false)?, rows.weight),
            Reduction::Mean => {
                let total = rows.weight.sum(None, false)?;
                // With every row ignored the loss is 0/0 = NaN, as PyTorch's, but its gradient
                // is zero: the rows' zero weights are divided by 1 instead of by 0.
                let nothing_counted = total.binary(BinaryOp::Eq, &Tensor::wrapped_scalar(0.0))?.to_dtype(total.dtype())?;
                (rows.loss.sum(None, false)?.div(&total)?, rows.weight.div(&total.add(&nothing_counted)?)?)
            }
        };
        let Some(mut rec) = Recorder::new("NllLossBackward0", &[self]) else { return Ok(out) };
        rec.save(self);
        let classes = Tensor::arange(0.0, c as f64, 1.0, DType::I64)?.to_device(device)?;
        let onehot = target.detach().unsqueeze(1)?.binary(BinaryOp::Eq, &classes)?.to_dtype(self.dtype())?;
        Ok(rec.finish(out, false, move |ctx, g| {
            let x = ctx.saved(0)?;
            let per_row = scale.mul(g)?.unsqueeze(1)?;
            Ok(vec![Some(x.softmax(1, crate::op::SoftmaxOp::Softmax)?.sub(&onehot)?.mul(&per_row)?)])
        }))
    }
}
