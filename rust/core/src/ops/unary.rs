//! Element-wise unary ops: math functions with their derivatives, rounding, logic and tests.
//! Element-wise unary ops: the dtype plan, the kernel call and the backward rule. Each op's
//! identity (name, autograd node name, kernel code, dtype kind) is its row in `crate::op`'s table.
use crate::autograd::Recorder;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::{Op, UnaryKind, UnaryOp};
use crate::ops::dispatch::run1;
use crate::tensor::Tensor;

/// The forward computation of a unary op, no autograd: checks, the dtype plan from the op's
/// kind, then one kernel call.
pub fn unary_forward(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    use UnaryOp::*;
    let dt = x.dtype();
    let kernel = |x: &Tensor| run1(&Op::Unary(op), &[x]);
    let not_for = |d: DType| Error::DType(format!("\"{}_cpu\" not implemented for '{}'", op.name(), crate::ops::copy::titled(d)));
    match op.kind() {
        UnaryKind::Float => kernel(&x.cast_plain(dt.to_float())?),
        UnaryKind::Predicate if dt.is_float() => kernel(x),
        // Integers are never NaN or infinite.
        UnaryKind::Predicate => Tensor::full_on(x.shape(), f64::from(u8::from(op == IsFinite)), DType::Bool, x.device()),
        UnaryKind::Logic if op == LogicalNot => kernel(&x.cast_plain(DType::Bool)?),
        UnaryKind::Logic if dt.is_float() => Err(not_for(dt)),
        UnaryKind::Logic => kernel(x),
        UnaryKind::Exact if dt == DType::Bool && op == Neg => Err(Error::DType(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.".into(),
        )),
        UnaryKind::Exact if dt == DType::Bool && matches!(op, Abs | Relu | Floor | Ceil | Round | Trunc | Frac) => Err(not_for(dt)),
        UnaryKind::Exact if dt.is_float() => kernel(x),
        // Rounding an integer is the identity.
        UnaryKind::Exact if matches!(op, Floor | Ceil | Round | Trunc) => Ok(x.clone_data()?.detach()),
        UnaryKind::Exact if op == Frac => Err(not_for(DType::I64)),
        UnaryKind::Exact => {
            // Bools compute as int64; the square of a bool is int64 in PyTorch, the rest stay bool.
            let out = kernel(&x.cast_plain(DType::I64)?)?;
            if dt == DType::Bool && op != Square { out.cast_plain(DType::Bool) } else { Ok(out) }
        }
    }
}

impl Tensor {
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        use UnaryOp::*;
        let out = unary_forward(op, self)?;
        let Some(grad_fn) = op.grad_fn_name().filter(|_| out.dtype().is_float()) else { return Ok(out) };
        let Some(mut rec) = Recorder::new(grad_fn, &[self]) else { return Ok(out) };
        let uses_output = matches!(op, Exp | Expm1 | Sqrt | Rsqrt | Reciprocal | Tan | Tanh | Sigmoid | Relu);
        if !uses_output {
            rec.save(self);
        }
        Ok(rec.finish(out, uses_output, move |ctx, g| {
            let s = |v: f64| Tensor::wrapped_scalar(v);
            let v = ctx.saved(0)?;
            let d = match op {
                Neg => return Ok(vec![Some(g.neg()?)]),
                Abs => v.unary(Sign)?,
                Exp => v,
                Log => return Ok(vec![Some(g.div(&v)?)]),
                Log2 => return Ok(vec![Some(g.div(&v.mul_scalar(std::f64::consts::LN_2)?)?)]),
                Log10 => return Ok(vec![Some(g.div(&v.mul_scalar(std::f64::consts::LN_10)?)?)]),
                Log1p => return Ok(vec![Some(g.div(&v.add_scalar(1.0)?)?)]),
                Expm1 => v.add_scalar(1.0)?,
                Sqrt => return Ok(vec![Some(g.div(&v.mul_scalar(2.0)?)?)]),
                Rsqrt => v.mul(&v)?.mul(&v)?.mul_scalar(-0.5)?,
                Square => v.mul_scalar(2.0)?,
                Reciprocal => v.mul(&v)?.neg()?,
                Sin => v.unary(Cos)?,
                Cos => v.unary(Sin)?.neg()?,
                Tan => v.mul(&v)?.add_scalar(1.0)?,
                Asin => s(1.0).sub(&v.mul(&v)?)?.unary(Rsqrt)?,
                Acos => s(1.0).sub(&v.mul(&v)?)?.unary(Rsqrt)?.neg()?,
                Atan => v.mul(&v)?.add_scalar(1.0)?.unary(Reciprocal)?,
                Sinh => v.unary(Cosh)?,
                Cosh => v.unary(Sinh)?,
                Tanh => s(1.0).sub(&v.mul(&v)?)?,
                Sigmoid => v.mul(&s(1.0).sub(&v)?)?,
                Relu => return Ok(vec![Some(g.relu_backward(&v)?)]),
                Erf => v.mul(&v)?.neg()?.unary(Exp)?.mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)?,
                Sign | Floor | Ceil | Round | Trunc => return Ok(vec![Some(Tensor::zeros_on(g.shape(), g.dtype(), g.device())?)]),
                Frac => return Ok(vec![Some(g.clone())]),
                LogicalNot | BitwiseNot | IsNan | IsInf | IsFinite => unreachable!("not recorded"),
            };
            Ok(vec![Some(g.mul(&d)?)])
        }))
    }
    pub fn neg(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Neg)
    }
    pub fn exp(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Exp)
    }
    pub fn log(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Log)
    }
    pub fn sqrt(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sqrt)
    }
}

impl Tensor {
    /// `self` (a gradient) where `out > 0`, else 0: ReLU's backward in one pass. Its own
    /// derivative with respect to the gradient is the same mask.
    pub fn relu_backward(&self, out: &Tensor) -> Result<Tensor> {
        let r = run1(&Op::ReluBackward, &[self, &out.cast_plain(self.dtype())?])?;
        let Some(rec) = Recorder::new("ReluBackwardBackward0", &[self]) else { return Ok(r) };
        let o = out.detach();
        Ok(rec.finish(r, false, move |_, gg| Ok(vec![Some(gg.relu_backward(&o)?)])))
    }
}
