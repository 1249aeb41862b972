//! Element-wise binary ops with broadcasting and PyTorch's type promotion: arithmetic,
//! comparison, logic. Each arithmetic op's backward reduces the gradient to its input's shape.
use crate::autograd::Recorder;
use crate::cpu::binary_map;
use crate::dtype::{result_type, DType, Element};
use crate::error::{Error, Result};
use crate::layout::broadcast_shapes;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    FloorDivide,
    Remainder,
    /// C's fmod: the remainder of the quotient truncated toward zero (sign of the dividend).
    Fmod,
    /// div(rounding_mode="trunc").
    DivTrunc,
    Atan2,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
    BitAnd,
    BitOr,
    BitXor,
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Pow => "pow",
            Maximum => "maximum",
            Minimum => "minimum",
            FloorDivide => "floor_divide",
            Remainder => "remainder",
            Fmod => "fmod",
            DivTrunc => "div_trunc",
            Atan2 => "atan2",
            Eq => "eq",
            Ne => "ne",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
            LogicalAnd => "logical_and",
            LogicalOr => "logical_or",
            LogicalXor => "logical_xor",
            BitAnd => "bitwise_and",
            BitOr => "bitwise_or",
            BitXor => "bitwise_xor",
        }
    }
    fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
    fn is_logical(self) -> bool {
        matches!(self, BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::LogicalXor)
    }
    fn is_bitwise(self) -> bool {
        matches!(self, BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor)
    }
    /// Division-like ops: exact on integers, where a zero divisor raises.
    pub fn is_integer_division(self) -> bool {
        use BinaryOp::*;
        matches!(self, FloorDivide | Remainder | Fmod | DivTrunc)
    }
}

/// Arithmetic the element-wise kernels need, on the numeric element types.
pub trait Arith: Element {
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn pow(self, o: Self) -> Self;
    fn floor_div(self, o: Self) -> Self;
    fn rem(self, o: Self) -> Self;
    fn fmod(self, o: Self) -> Self;
    fn div_trunc(self, o: Self) -> Self;
    fn atan2(self, o: Self) -> Self;
    fn max_nan(self, o: Self) -> Self;
    fn min_nan(self, o: Self) -> Self;
}

impl Arith for i64 {
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    fn sub(self, o: Self) -> Self {
        self.wrapping_sub(o)
    }
    fn mul(self, o: Self) -> Self {
        self.wrapping_mul(o)
    }
    fn div(self, o: Self) -> Self {
        self.wrapping_div(o)
    }
    fn pow(self, o: Self) -> Self {
        match o {
            0 => 1,
            e if e < 0 => match self {
                1 => 1,
                -1 => if e % 2 == 0 { 1 } else { -1 },
                _ => 0,
            },
            e => {
                // Wrapping power by squaring over all 63 exponent bits, as PyTorch's.
                let (mut base, mut e, mut r) = (self, e as u64, 1i64);
                while e > 0 {
                    if e & 1 == 1 {
                        r = r.wrapping_mul(base);
                    }
                    base = base.wrapping_mul(base);
                    e >>= 1;
                }
                r
            }
        }
    }
    fn floor_div(self, o: Self) -> Self {
        let q = self.wrapping_div(o);
        if (self.wrapping_rem(o) != 0) && ((self < 0) != (o < 0)) { q - 1 } else { q }
    }
    fn rem(self, o: Self) -> Self {
        let r = self.wrapping_rem(o);
        if r != 0 && ((r < 0) != (o < 0)) { r + o } else { r }
    }
    fn fmod(self, o: Self) -> Self {
        // wrapping_rem: i64::MIN % -1 is 0, as in PyTorch.
        self.wrapping_rem(o)
    }
    fn div_trunc(self, o: Self) -> Self {
        self.wrapping_div(o)
    }
    fn atan2(self, o: Self) -> Self {
        (self as f64).atan2(o as f64) as i64
    }
    fn max_nan(self, o: Self) -> Self {
        self.max(o)
    }
    fn min_nan(self, o: Self) -> Self {
        self.min(o)
    }
}

macro_rules! float_arith {
    ($t:ty) => {
        impl Arith for $t {
            #[inline]
            fn add(self, o: Self) -> Self {
                self + o
            }
            #[inline]
            fn sub(self, o: Self) -> Self {
                self - o
            }
            #[inline]
            fn mul(self, o: Self) -> Self {
                self * o
            }
            #[inline]
            fn div(self, o: Self) -> Self {
                self / o
            }
            #[inline]
            fn pow(self, o: Self) -> Self {
                if o == 2.0 { self * self } else { self.powf(o) }
            }
            #[inline]
            fn floor_div(self, o: Self) -> Self {
                // Python's floor division: the floor of the exact quotient.
                if o == 0.0 {
                    return self / o;
                }
                let m = self % o;
                let mut d = (self - m) / o;
                if m != 0.0 && ((o < 0.0) != (m < 0.0)) {
                    d -= 1.0;
                }
                let fd = d.floor();
                if d - fd > 0.5 { fd + 1.0 } else { fd }
            }
            #[inline]
            fn rem(self, o: Self) -> Self {
                let r = self % o;
                if r != 0.0 && ((r < 0.0) != (o < 0.0)) { r + o } else { r }
            }
            #[inline]
            fn fmod(self, o: Self) -> Self {
                self % o
            }
            #[inline]
            fn div_trunc(self, o: Self) -> Self {
                (self / o).trunc()
            }
            #[inline]
            fn atan2(self, o: Self) -> Self {
                self.atan2(o)
            }
            #[inline]
            fn max_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() { <$t>::NAN } else { self.max(o) }
            }
            #[inline]
            fn min_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() { <$t>::NAN } else { self.min(o) }
            }
        }
    };
}
float_arith!(f32);
float_arith!(f64);

fn arith_kernel<T: Arith>(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    use BinaryOp::*;
    match op {
        Add => binary_map::<T, T>(a, b, shape, |x, y| x.add(y)),
        Sub => binary_map::<T, T>(a, b, shape, |x, y| x.sub(y)),
        Mul => binary_map::<T, T>(a, b, shape, |x, y| x.mul(y)),
        Div => binary_map::<T, T>(a, b, shape, |x, y| x.div(y)),
        Pow => binary_map::<T, T>(a, b, shape, |x, y| x.pow(y)),
        Maximum => binary_map::<T, T>(a, b, shape, |x, y| x.max_nan(y)),
        Minimum => binary_map::<T, T>(a, b, shape, |x, y| x.min_nan(y)),
        FloorDivide => binary_map::<T, T>(a, b, shape, |x, y| x.floor_div(y)),
        Remainder => binary_map::<T, T>(a, b, shape, |x, y| x.rem(y)),
        Fmod => binary_map::<T, T>(a, b, shape, |x, y| x.fmod(y)),
        DivTrunc => binary_map::<T, T>(a, b, shape, |x, y| x.div_trunc(y)),
        Atan2 => binary_map::<T, T>(a, b, shape, |x, y| x.atan2(y)),
        Eq => binary_map::<T, bool>(a, b, shape, |x, y| x == y),
        Ne => binary_map::<T, bool>(a, b, shape, |x, y| x != y),
        Lt => binary_map::<T, bool>(a, b, shape, |x, y| x < y),
        Le => binary_map::<T, bool>(a, b, shape, |x, y| x <= y),
        Gt => binary_map::<T, bool>(a, b, shape, |x, y| x > y),
        Ge => binary_map::<T, bool>(a, b, shape, |x, y| x >= y),
        LogicalAnd | LogicalOr | LogicalXor | BitAnd | BitOr | BitXor => unreachable!("handled by logical_kernel"),
    }
}

fn logical_kernel(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let (a, b) = (a.cast_plain(DType::Bool)?, b.cast_plain(DType::Bool)?);
    match op {
        BinaryOp::LogicalAnd | BinaryOp::BitAnd => binary_map::<bool, bool>(&a, &b, shape, |x, y| x && y),
        BinaryOp::LogicalOr | BinaryOp::BitOr => binary_map::<bool, bool>(&a, &b, shape, |x, y| x || y),
        _ => binary_map::<bool, bool>(&a, &b, shape, |x, y| x != y),
    }
}

fn bitwise_i64(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    match op {
        BinaryOp::BitAnd => binary_map::<i64, i64>(a, b, shape, |x, y| x & y),
        BinaryOp::BitOr => binary_map::<i64, i64>(a, b, shape, |x, y| x | y),
        _ => binary_map::<i64, i64>(a, b, shape, |x, y| x ^ y),
    }
}

/// The forward computation of a binary op, no autograd.
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
    if crate::op::op_device(&[a, b])?.is_gpu() {
        return crate::gpu::ops::binary(op, a, b);
    }
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let common = result_type(&[a.operand(), b.operand()]);
    if op.is_logical() {
        return logical_kernel(op, a, b, &shape);
    }
    if op.is_bitwise() {
        return match common {
            DType::Bool => logical_kernel(op, a, b, &shape),
            DType::I64 => bitwise_i64(op, &a.to_dtype(common)?, &b.to_dtype(common)?, &shape),
            d => Err(Error::DType(format!("\"{}_cpu\" not implemented for '{}'", op.name(), crate::ops::copy::titled(d)))),
        };
    }
    if common == DType::Bool && op.is_integer_division() {
        return Err(Error::DType(format!("\"{}_cpu\" not implemented for 'Bool'", op.name())));
    }
    // True division and atan2 always produce floats; bool arithmetic runs in int64.
    let compute = match (op, common) {
        (BinaryOp::Div | BinaryOp::Atan2, d) => d.to_float(),
        (_, DType::Bool) if !op.is_comparison() => DType::I64,
        (_, d) => d,
    };
    if compute == DType::I64 && op.is_integer_division() {
        let bi = b.to_dtype(DType::I64)?;
        if bi.contiguous_data::<i64>().contains(&0) {
            return Err(Error::Runtime("ZeroDivisionError".into()));
        }
    }
    let (ac, bc) = (a.cast_plain(compute)?, b.cast_plain(compute)?);
    let out = match compute {
        DType::F32 => arith_kernel::<f32>(op, &ac, &bc, &shape)?,
        DType::F64 => arith_kernel::<f64>(op, &ac, &bc, &shape)?,
        DType::I64 => arith_kernel::<i64>(op, &ac, &bc, &shape)?,
        DType::Bool => {
            // Comparisons of bools: compare as integers.
            let (ai, bi) = (ac.cast_plain(DType::I64)?, bc.cast_plain(DType::I64)?);
            arith_kernel::<i64>(op, &ai, &bi, &shape)?
        }
    };
    if common == DType::Bool && matches!(op, BinaryOp::Add | BinaryOp::Mul | BinaryOp::Maximum | BinaryOp::Minimum) {
        return out.cast_plain(DType::Bool);
    }
    Ok(out)
}

impl Tensor {
    /// A binary op with autograd for the differentiable ones.
    pub fn binary(&self, op: BinaryOp, other: &Tensor) -> Result<Tensor> {
        use BinaryOp::*;
        let out = binary_forward(op, self, other)?;
        if !out.dtype().is_float() || !matches!(op, Add | Sub | Mul | Div | Pow | Maximum | Minimum | Atan2 | Remainder | Fmod) {
            return Ok(out);
        }
        let Some(mut rec) = Recorder::new(backward_name(op), &[self, other]) else { return Ok(out) };
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

fn backward_name(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
        Add => "AddBackward0",
        Sub => "SubBackward0",
        Mul => "MulBackward0",
        Div => "DivBackward0",
        Pow => "PowBackward1",
        Maximum => "MaximumBackward0",
        Minimum => "MinimumBackward0",
        Atan2 => "Atan2Backward0",
        Remainder => "RemainderBackward0",
        Fmod => "FmodBackward0",
        _ => "BinaryBackward",
    }
}

/// Sums a broadcast gradient back to an input's shape and casts it to the input's dtype.
pub(crate) fn reduce_grad(g: Option<Tensor>, (shape, dtype): &(Vec<usize>, DType)) -> Result<Option<Tensor>> {
    let Some(g) = g else { return Ok(None) };
    let g = g.sum_to_shape(shape)?;
    Ok(Some(if dtype.is_float() { g.to_dtype(*dtype)? } else { g }))
}
