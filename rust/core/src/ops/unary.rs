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
    let not_for = |d: DType| Error::DType(format!("\"{}_cpu\" not implemented for '{}'", op.name(), d.titled()));
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
        UnaryKind::Exact if op == Frac => Err(not_for(dt)),
        UnaryKind::Exact if dt.is_int() => kernel(x),
        UnaryKind::Exact => {
            // Bools compute as int64; the square of a bool is int64 in PyTorch, the rest stay bool.
            let out = kernel(&x.cast_plain(DType::I64)?)?;
            if op != Square { out.cast_plain(DType::Bool) } else { Ok(out) }
        }
    }
}

/// `1 - v * v`, shared by several derivatives.
fn one_minus_square(v: &Tensor) -> Result<Tensor> {
    Tensor::wrapped_scalar(1.0f64).sub(&v.mul(v)?)
}

/// Which value a unary op's backward rule reads.
#[derive(PartialEq)]
enum Saved {
    Input,
    Output,
}

/// Expands the unary table's gradient cells into `saved_value` and `input_grad`.
macro_rules! define_unary_backward {
    ($($variant:ident = $code:literal, $name:literal, $kind:ident, [$($grad:tt)*];)*) => {
        /// The value `op`'s backward rule reads (ops with a gradient only).
        fn saved_value(op: UnaryOp) -> Saved {
            match op {
                $(UnaryOp::$variant => define_unary_backward!(@saved $($grad)*),)*
            }
        }

        /// The input's gradient from the output's gradient `g` and the saved value `v`.
        fn input_grad(op: UnaryOp, g: &Tensor, v: &Tensor) -> Result<Tensor> {
            use UnaryOp::*;
            match op {
                $(UnaryOp::$variant => define_unary_backward!(@rule g, v, $($grad)*),)*
            }
        }
    };
    (@saved) => { Saved::Input };
    (@saved $name:literal, $saved:ident, $rule:expr) => { Saved::$saved };
    (@rule $g:ident, $v:ident,) => { unreachable!("ops without a gradient record no node") };
    (@rule $g:ident, $v:ident, $name:literal, $saved:ident, $rule:expr) => {{
        let rule: fn(&Tensor, &Tensor) -> Result<Tensor> = $rule;
        rule($g, $v)
    }};
}

crate::op::unary_table!(define_unary_backward);

impl Tensor {
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let out = unary_forward(op, self)?;
        let Some(grad_fn) = op.grad_fn_name().filter(|_| out.dtype().is_float()) else { return Ok(out) };
        let Some(mut rec) = Recorder::new(grad_fn, &[self]) else { return Ok(out) };
        let uses_output = saved_value(op) == Saved::Output;
        if !uses_output {
            rec.save(self);
        }
        Ok(rec.finish(out, uses_output, move |ctx, g| Ok(vec![Some(input_grad(op, g, &ctx.saved(0)?)?)])))
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
