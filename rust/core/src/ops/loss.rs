//! Cross-entropy over class indices, fused: one kernel pass per row computes the row's
//! log-sum-exp and picks the target's logit (`Op::CrossEntropyRows`); the reduction and the
//! backward rule, softmax(x) - onehot(target) scaled per row, are built from differentiable
//! ops, so double backward works on both devices.
use crate::autograd::Recorder;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::Op;
use crate::ops::dispatch::run;
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
        let x = self.detach();
        let op = Op::CrossEntropyRows { ignore_index };
        let (loss, row_weight) = match weight {
            Some(w) => run(&op, &[&x, target, w])?,
            None => run(&op, &[&x, target])?,
        }
        .two()?;
        // Each row's factor in the gradient: its weight, over the weight total for a mean.
        let (out, scale) = match reduction {
            Reduction::None => (loss, row_weight),
            Reduction::Sum => (loss.sum(None, false)?, row_weight),
            Reduction::Mean => {
                let total = row_weight.sum(None, false)?;
                // With every row ignored the loss is 0/0 = NaN, as PyTorch's, but its gradient
                // is zero: the rows' zero weights are divided by 1 instead of by 0.
                let nothing_counted = total.binary(BinaryOp::Eq, &Tensor::wrapped_scalar(0.0))?.to_dtype(total.dtype())?;
                (loss.sum(None, false)?.div(&total)?, row_weight.div(&total.add(&nothing_counted)?)?)
            }
        };
        let Some(mut rec) = Recorder::new("NllLossBackward0", &[self]) else { return Ok(out) };
        rec.save(self);
        let classes = Tensor::arange(0.0, c as f64, 1.0, DType::I64)?.to_device(self.device())?;
        let onehot = target.detach().unsqueeze(1)?.binary(BinaryOp::Eq, &classes)?.to_dtype(self.dtype())?;
        Ok(rec.finish(out, false, move |ctx, g| {
            let x = ctx.saved(0)?;
            let per_row = scale.mul(g)?.unsqueeze(1)?;
            Ok(vec![Some(x.softmax(1, crate::op::SoftmaxOp::Softmax)?.sub(&onehot)?.mul(&per_row)?)])
        }))
    }
}
