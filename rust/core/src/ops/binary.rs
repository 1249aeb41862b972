//! Element-wise binary ops with broadcasting and PyTorch's type promotion: arithmetic,
//! comparison, logic. Each arithmetic op's backward reduces the gradient to its input's shape.
use crate::autograd::Recorder;
use crate::dtype::{result_type, DType};
use crate::error::{Error, Result};
use crate::layout::broadcast_shapes;
use crate::op::{op_device, BinaryKind, BinaryOp, Op};
use crate::ops::dispatch::run1;
use crate::tensor::Tensor;

/// The forward computation of a binary op, no autograd: checks, the dtype plan from the op's
/// kind, then one kernel call.
pub fn binary_forward(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if op == BinaryOp::Sub && (a.dtype() == DType::Bool || b.dtype() == DType::Bool) {
        return Err(Error::DType("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.".into()));
    }
    // A Python-number exponent: PyTorch refuses a negative one for integer bases (a tensor of
    // exponents computes 0, 1 or -1 instead).
    if op == BinaryOp::Pow && b.is_wrapped_number() && !b.dtype().is_float() && b.dtype() != DType::Bool
        && !a.dtype().is_float() && b.item::<i64>()? < 0 {
        return Err(Error::Runtime("Integers to negative integer powers are not allowed.".into()));
    }
    op_device(&[a, b])?;
    broadcast_shapes(a.shape(), b.shape())?;
    let common = result_type(&[a.operand(), b.operand()]);
    // PyTorch has no bool ** bool kernel (a Python bool exponent is a scalar, and keeps bool).
    if op == BinaryOp::Pow && common == DType::Bool && !b.is_wrapped_number() {
        return Err(Error::NotImplemented("\"pow\" not implemented for 'Bool'".into()));
    }
    let not_for = |d: DType| Error::DType(format!("\"{}_cpu\" not implemented for '{}'", op.name(), d.titled()));
    let compute = match (op.kind(), common) {
        (BinaryKind::Logical, _) | (BinaryKind::Bitwise, DType::Bool) => DType::Bool,
        (BinaryKind::Bitwise, d) if d.is_int() => d,
        (BinaryKind::Bitwise, d) | (BinaryKind::IntegerDivision, d @ DType::Bool) => return Err(not_for(d)),
        (BinaryKind::Float, d) => d.to_float(),
        // Bools compute as int64 (comparisons too); arithmetic casts back below.
        (_, DType::Bool) => DType::I64,
        (_, d) => d,
    };
    if compute.is_int() && op.kind() == BinaryKind::IntegerDivision && has_zero(b)? {
        return Err(Error::Runtime("ZeroDivisionError".into()));
    }
    let out = run1(&Op::Binary(op), &[&a.cast_plain(compute)?, &b.cast_plain(compute)?])?;
    if common == DType::Bool && compute == DType::I64 && op.kind() != BinaryKind::Comparison {
        return out.cast_plain(DType::Bool);
    }
    Ok(out)
}

impl Tensor {
    /// A binary op with autograd for the differentiable ones.
    pub fn binary(&self, op: BinaryOp, other: &Tensor) -> Result<Tensor> {
        use BinaryOp::*;
        let out = binary_forward(op, self, other)?;
        let Some(grad_fn) = op.grad_fn_name().filter(|_| out.dtype().is_float()) else { return Ok(out) };
        let Some(mut rec) = Recorder::new(grad_fn, &[self, other]) else { return Ok(out) };
        let (sa, sb) = (self.clone_meta_shape(), other.clone_meta_shape());
        let (na, nb) = (rec.needs(0), rec.needs(1));
        let rule_inputs = match op {
            Add | Sub => None,
            Mul => Some((nb.then(|| rec.save(self)), na.then(|| rec.save(other)))),
            _ => Some((Some(rec.save(self)), Some(rec.save(other)))),
        };
        let save_out = op == Pow;
        let out_index = rule_inputs.map_or(0, |_| 2);
        Ok(rec.finish(out, save_out, move |ctx, g| {
            let a = |i: Option<usize>| ctx.saved(i.expect("saved when needed"));
            let (ga, gb): (Option<Tensor>, Option<Tensor>) = match op {
                Add => (Some(g.clone()), Some(g.clone())),
                Sub => (Some(g.clone()), Some(g.neg()?)),
                Mul => {
                    let (ia, ib) = rule_inputs.expect("mul saves inputs");
                    let ga = if na { Some(g.mul(&a(ib)?)?) } else { None };
                    let gb = if nb { Some(g.mul(&a(ia)?)?) } else { None };
                    (ga, gb)
                }
                Div => {
                    let (x, y) = (ctx.saved(0)?, ctx.saved(1)?);
                    let ga = if na { Some(g.div(&y)?) } else { None };
                    let gb = if nb { Some(g.neg()?.mul(&x)?.div(&y.mul(&y)?)?) } else { None };
                    (ga, gb)
                }
                Pow => {
                    let (x, y) = (ctx.saved(0)?, ctx.saved(1)?);
                    let ga = if na {
                        let one = Tensor::wrapped_scalar(1i64);
                        let d = y.mul(&x.binary(Pow, &y.sub(&one)?)?)?;
                        // 0 ** 0 has derivative 0 with respect to the base.
                        let zero_exp = y.binary(Eq, &Tensor::wrapped_scalar(0i64))?;
                        Some(g.mul(&zero_exp.where_(&Tensor::wrapped_scalar(0.0f64), &d)?)?)
                    } else {
                        None
                    };
                    let gb = if nb {
                        let outv = ctx.saved(out_index)?;
                        let d = outv.mul(&x.unary(crate::ops::UnaryOp::Log)?)?;
                        // Where the base is 0 (and the exponent >= 0) the derivative is 0.
                        let mask = x.binary(Eq, &Tensor::wrapped_scalar(0i64))?.binary(LogicalAnd, &y.binary(Ge, &Tensor::wrapped_scalar(0i64))?)?;
                        Some(g.mul(&mask.where_(&Tensor::wrapped_scalar(0.0f64), &d)?)?)
                    } else {
                        None
                    };
                    (ga, gb)
                }
                Maximum | Minimum => {
                    let (x, y) = (ctx.saved(0)?, ctx.saved(1)?);
                    // Ties split the gradient evenly, as PyTorch does.
                    let half = g.mul(&Tensor::wrapped_scalar(0.5f64))?;
                    let zero = Tensor::wrapped_scalar(0.0f64);
                    let eq = x.binary(Eq, &y)?;
                    let x_wins = x.binary(if op == Maximum { Gt } else { Lt }, &y)?;
                    let y_wins = y.binary(if op == Maximum { Gt } else { Lt }, &x)?;
                    let ga = eq.where_(&half, &x_wins.where_(g, &zero)?)?;
                    let gb = eq.where_(&half, &y_wins.where_(g, &zero)?)?;
                    (Some(ga), Some(gb))
                }
                Remainder | Fmod => {
                    // a - b * q with q = floor(a / b) (remainder) or trunc(a / b) (fmod), q piecewise constant.
                    let (x, y) = (ctx.saved(0)?, ctx.saved(1)?);
                    let q = x.binary(if op == Remainder { FloorDivide } else { DivTrunc }, &y)?;
                    (Some(g.clone()), Some(g.neg()?.mul(&q)?))
                }
                Atan2 => {
                    let (y, x) = (ctx.saved(0)?, ctx.saved(1)?);
                    let denom = x.mul(&x)?.add(&y.mul(&y)?)?;
                    (Some(g.mul(&x)?.div(&denom)?), Some(g.neg()?.mul(&y)?.div(&denom)?))
                }
                _ => unreachable!("only differentiable ops are recorded"),
            };
            let ga = if na { reduce_grad(ga, &sa)? } else { None };
            let gb = if nb { reduce_grad(gb, &sb)? } else { None };
            Ok(vec![ga, gb])
        }))
    }

    fn clone_meta_shape(&self) -> (Vec<usize>, DType) {
        (self.shape().to_vec(), self.dtype())
    }

    pub fn add(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Add, o)
    }
    pub fn sub(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Sub, o)
    }
    pub fn mul(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Mul, o)
    }
    pub fn div(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Div, o)
    }
    pub fn mul_scalar(&self, v: f64) -> Result<Tensor> {
        self.mul(&Tensor::wrapped_scalar(v))
    }
    pub fn add_scalar(&self, v: f64) -> Result<Tensor> {
        self.add(&Tensor::wrapped_scalar(v))
    }
}

/// Whether integer tensor `t` holds a 0 (one readback on a GPU).
fn has_zero(t: &Tensor) -> Result<bool> {
    let zeros = run1(&Op::Binary(BinaryOp::Eq), &[&t.cast_plain(DType::I64)?, &Tensor::wrapped_scalar(0i64)])?;
    zeros.any(None, false)?.to_device(crate::Device::Cpu)?.item::<bool>()
}

/// Sums a broadcast gradient back to an input's shape and casts it to the input's dtype.
pub(crate) fn reduce_grad(g: Option<Tensor>, (shape, dtype): &(Vec<usize>, DType)) -> Result<Option<Tensor>> {
    let Some(g) = g else { return Ok(None) };
    let g = g.sum_to_shape(shape)?;
    Ok(Some(if dtype.is_float() { g.to_dtype(*dtype)? } else { g }))
}
