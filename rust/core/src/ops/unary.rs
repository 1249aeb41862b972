//! Element-wise unary ops: math functions with their derivatives, rounding, logic and tests.
use crate::autograd::Recorder;
use crate::cpu::unary_map;
use crate::dtype::{DType, Float};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Log2,
    Log10,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Square,
    Reciprocal,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Sigmoid,
    Relu,
    Erf,
    Sign,
    Floor,
    Ceil,
    Round,
    Trunc,
    Frac,
    LogicalNot,
    BitwiseNot,
    IsNan,
    IsInf,
    IsFinite,
}

impl UnaryOp {
    pub fn name(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Neg => "neg",
            Abs => "abs",
            Exp => "exp",
            Log => "log",
            Log2 => "log2",
            Log10 => "log10",
            Log1p => "log1p",
            Expm1 => "expm1",
            Sqrt => "sqrt",
            Rsqrt => "rsqrt",
            Square => "square",
            Reciprocal => "reciprocal",
            Sin => "sin",
            Cos => "cos",
            Tan => "tan",
            Asin => "asin",
            Acos => "acos",
            Atan => "atan",
            Sinh => "sinh",
            Cosh => "cosh",
            Tanh => "tanh",
            Sigmoid => "sigmoid",
            Relu => "relu",
            Erf => "erf",
            Sign => "sign",
            Floor => "floor",
            Ceil => "ceil",
            Round => "round",
            Trunc => "trunc",
            Frac => "frac",
            LogicalNot => "logical_not",
            BitwiseNot => "bitwise_not",
            IsNan => "isnan",
            IsInf => "isinf",
            IsFinite => "isfinite",
        }
    }
    /// Ops that compute in floating point (an integer input gives float32).
    pub(crate) fn is_float_op(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Exp | Log | Log2 | Log10 | Log1p | Expm1 | Sqrt | Rsqrt | Reciprocal | Sin | Cos | Tan | Asin | Acos | Atan | Sinh | Cosh | Tanh | Sigmoid | Erf
        )
    }
    fn backward_name(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Neg => "NegBackward0",
            Abs => "AbsBackward0",
            Exp => "ExpBackward0",
            Log => "LogBackward0",
            Log2 => "Log2Backward0",
            Log10 => "Log10Backward0",
            Log1p => "Log1PBackward0",
            Expm1 => "Expm1Backward0",
            Sqrt => "SqrtBackward0",
            Rsqrt => "RsqrtBackward0",
            Square => "PowBackward0",
            Reciprocal => "ReciprocalBackward0",
            Sin => "SinBackward0",
            Cos => "CosBackward0",
            Tan => "TanBackward0",
            Asin => "AsinBackward0",
            Acos => "AcosBackward0",
            Atan => "AtanBackward0",
            Sinh => "SinhBackward0",
            Cosh => "CoshBackward0",
            Tanh => "TanhBackward0",
            Sigmoid => "SigmoidBackward0",
            Relu => "ReluBackward0",
            Erf => "ErfBackward0",
            Sign => "SignBackward0",
            Floor => "FloorBackward0",
            Ceil => "CeilBackward0",
            Round => "RoundBackward0",
            Trunc => "TruncBackward0",
            Frac => "FracBackward0",
            _ => "NotDifferentiable",
        }
    }
}

/// Runs `op` over a float tensor, one monomorphised closure per op so each loop inlines
/// and vectorises (a function pointer per element would not).
macro_rules! float_fn {
    ($op:expr, $T:ty, $x:expr) => {{
        use UnaryOp::*;
        let x = $x;
        match $op {
            Neg => unary_map::<$T, $T>(x, |v| -v),
            Abs => unary_map::<$T, $T>(x, |v| v.abs()),
            Exp => unary_map::<$T, $T>(x, |v| Float::exp(v)),
            Log => unary_map::<$T, $T>(x, |v| v.ln()),
            Log2 => unary_map::<$T, $T>(x, |v| v.log2()),
            Log10 => unary_map::<$T, $T>(x, |v| v.log10()),
            Log1p => unary_map::<$T, $T>(x, |v| v.ln_1p()),
            Expm1 => unary_map::<$T, $T>(x, |v| v.exp_m1()),
            Sqrt => unary_map::<$T, $T>(x, |v| v.sqrt()),
            Rsqrt => unary_map::<$T, $T>(x, |v| 1.0 / v.sqrt()),
            Square => unary_map::<$T, $T>(x, |v| v * v),
            Reciprocal => unary_map::<$T, $T>(x, |v| 1.0 / v),
            Sin => unary_map::<$T, $T>(x, |v| v.sin()),
            Cos => unary_map::<$T, $T>(x, |v| v.cos()),
            Tan => unary_map::<$T, $T>(x, |v| v.tan()),
            Asin => unary_map::<$T, $T>(x, |v| v.asin()),
            Acos => unary_map::<$T, $T>(x, |v| v.acos()),
            Atan => unary_map::<$T, $T>(x, |v| v.atan()),
            Sinh => unary_map::<$T, $T>(x, |v| v.sinh()),
            Cosh => unary_map::<$T, $T>(x, |v| v.cosh()),
            Tanh => unary_map::<$T, $T>(x, |v| v.tanh()),
            Sigmoid => unary_map::<$T, $T>(x, |v| 1.0 / (1.0 + Float::exp(-v))),
            // max(v, 0) keeps NaN (NaN > 0 is false, so the select returns v).
            Relu => unary_map::<$T, $T>(x, |v| if v < 0.0 { 0.0 } else { v }),
            Erf => unary_map::<$T, $T>(x, |v| libm::erf(v as f64) as $T),
            // NaN and -0.0 give 0, as in PyTorch.
            Sign => unary_map::<$T, $T>(x, |v| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { 0.0 }),
            Floor => unary_map::<$T, $T>(x, |v| v.floor()),
            Ceil => unary_map::<$T, $T>(x, |v| v.ceil()),
            Round => unary_map::<$T, $T>(x, |v| v.round_ties_even()),
            Trunc => unary_map::<$T, $T>(x, |v| v.trunc()),
            Frac => unary_map::<$T, $T>(x, |v| v.fract()),
            LogicalNot | BitwiseNot | IsNan | IsInf | IsFinite => unreachable!("not a float->float op"),
        }
    }};
}

/// The forward computation of a unary op, no autograd.
pub fn unary_forward(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    use UnaryOp::*;
    if x.dtype() == DType::Bool && matches!(op, Abs | Relu | Floor | Ceil | Round | Trunc | Frac) {
        return Err(Error::DType(format!("\"{}_cpu\" not implemented for 'Bool'", op.name())));
    }
    if x.dtype().is_float() && op == BitwiseNot {
        return Err(Error::DType(format!("\"bitwise_not_cpu\" not implemented for '{}'", crate::ops::copy::titled(x.dtype()))));
    }
    if x.device().is_gpu() {
        return crate::gpu::ops::unary(op, x);
    }
    let dt = x.dtype();
    match op {
        LogicalNot => return unary_map::<bool, bool>(&x.to_dtype(DType::Bool)?, |v| !v),
        IsNan => {
            return match dt {
                DType::F32 => unary_map::<f32, bool>(x, |v| v.is_nan()),
                DType::F64 => unary_map::<f64, bool>(x, |v| v.is_nan()),
                _ => Tensor::full(x.shape(), false),
            }
        }
        IsInf => {
            return match dt {
                DType::F32 => unary_map::<f32, bool>(x, |v| v.is_infinite()),
                DType::F64 => unary_map::<f64, bool>(x, |v| v.is_infinite()),
                _ => Tensor::full(x.shape(), false),
            }
        }
        IsFinite => {
            return match dt {
                DType::F32 => unary_map::<f32, bool>(x, |v| v.is_finite()),
                DType::F64 => unary_map::<f64, bool>(x, |v| v.is_finite()),
                _ => Tensor::full(x.shape(), true),
            }
        }
        BitwiseNot => {
            return match dt {
                DType::Bool => unary_map::<bool, bool>(x, |v| !v),
                _ => unary_map::<i64, i64>(x, |v| !v),
            }
        }
        _ => {}
    }
    if dt == DType::Bool && op == Neg {
        return Err(Error::DType("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.".into()));
    }
    if !dt.is_float() && !op.is_float_op() {
        // Integer versions: rounding is the identity, the rest stay integral.
        let xi = x.cast_plain(DType::I64)?;
        let out = match op {
            Floor | Ceil | Round | Trunc => return Ok(x.clone_data()?.detach()),
            Frac => return Err(Error::DType("\"frac_cpu\" not implemented for 'Long'".into())),
            Neg => unary_map::<i64, i64>(&xi, |v| v.wrapping_neg())?,
            Abs => unary_map::<i64, i64>(&xi, |v| v.wrapping_abs())?,
            Square => unary_map::<i64, i64>(&xi, |v| v.wrapping_mul(v))?,
            Relu => unary_map::<i64, i64>(&xi, |v| v.max(0))?,
            Sign => unary_map::<i64, i64>(&xi, |v| v.signum())?,
            _ => unreachable!("float ops handled below"),
        };
        // square of a bool is int64 in PyTorch; the others keep bool.
        return if dt == DType::Bool && op != Square { out.to_dtype(DType::Bool) } else { Ok(out) };
    }
    let xf = x.cast_plain(dt.to_float())?;
    match xf.dtype() {
        DType::F32 if op == Exp => crate::cpu::unary_map_f32_wide(&xf, crate::dtype::exp_f32),
        DType::F32 if op == Sigmoid => crate::cpu::unary_map_f32_wide(&xf, |v| 1.0 / (1.0 + crate::dtype::exp_f32(-v))),
        DType::F32 => float_fn!(op, f32, &xf),
        _ => float_fn!(op, f64, &xf),
    }
}

impl Tensor {
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        use UnaryOp::*;
        let out = unary_forward(op, self)?;
        if !out.dtype().is_float() || matches!(op, LogicalNot | BitwiseNot | IsNan | IsInf | IsFinite) {
            return Ok(out);
        }
        let Some(mut rec) = Recorder::new(op.backward_name(), &[self]) else { return Ok(out) };
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
        if crate::gpu::op_device(&[self, out])?.is_gpu() {
            return crate::gpu::ops::relu_backward_autograd(self, out);
        }
        let shape = crate::layout::broadcast_shapes(self.shape(), out.shape())?;
        let o = out.cast_plain(self.dtype())?;
        let r = crate::with_float!(
            self.dtype(),
            T,
            crate::cpu::binary_map::<T, T>(self, &o, &shape, |g, y| if y > 0.0 { g } else { 0.0 })?,
            return Err(Error::Runtime(format!("relu backward of a {} gradient", self.dtype())))
        );
        let Some(rec) = Recorder::new("ReluBackwardBackward0", &[self]) else { return Ok(r) };
        let o = out.detach();
        Ok(rec.finish(r, false, move |_, gg| Ok(vec![Some(gg.relu_backward(&o)?)])))
    }
}
