//! Unary kernels: one monomorphised closure per op so each loop inlines and vectorises (a
//! function pointer per element would not).
use super::{unary_map, unary_map_f32_wide};
use crate::dtype::{DType, Float};
use crate::error::Result;
use crate::op::{no_kernel, Op, UnaryOp};
use crate::tensor::Tensor;

/// Runs float op `$op` over `$x` of float type `$T`.
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
            // max(v, 0) keeps NaN (NaN < 0 is false, so the select returns v).
            Relu => unary_map::<$T, $T>(x, |v| if v < 0.0 { 0.0 } else { v }),
            Erf => unary_map::<$T, $T>(x, |v| libm::erf(v as f64) as $T),
            // NaN and -0.0 give 0, as in PyTorch.
            Sign => unary_map::<$T, $T>(x, |v| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { 0.0 }),
            Floor => unary_map::<$T, $T>(x, |v| v.floor()),
            Ceil => unary_map::<$T, $T>(x, |v| v.ceil()),
            Round => unary_map::<$T, $T>(x, |v| v.round_ties_even()),
            Trunc => unary_map::<$T, $T>(x, |v| v.trunc()),
            Frac => unary_map::<$T, $T>(x, |v| v.fract()),
            IsNan => unary_map::<$T, bool>(x, |v| v.is_nan()),
            IsInf => unary_map::<$T, bool>(x, |v| v.is_infinite()),
            IsFinite => unary_map::<$T, bool>(x, |v| v.is_finite()),
            LogicalNot | BitwiseNot => Err(no_kernel(&Op::Unary($op), x.dtype(), x.device())),
        }
    }};
}

/// `op` over `x` in `x`'s dtype, as `Op::Unary` describes.
pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    use UnaryOp::*;
    match (x.dtype(), op) {
        (DType::F32, Exp) => unary_map_f32_wide(x, crate::dtype::exp_f32),
        (DType::F32, Sigmoid) => unary_map_f32_wide(x, |v| 1.0 / (1.0 + crate::dtype::exp_f32(-v))),
        (DType::F32, _) => float_fn!(op, f32, x),
        (DType::F64, _) => float_fn!(op, f64, x),
        (DType::Bool, LogicalNot | BitwiseNot) => unary_map::<bool, bool>(x, |v| !v),
        (DType::I64, Neg) => unary_map::<i64, i64>(x, |v| v.wrapping_neg()),
        (DType::I64, Abs) => unary_map::<i64, i64>(x, |v| v.wrapping_abs()),
        (DType::I64, Square) => unary_map::<i64, i64>(x, |v| v.wrapping_mul(v)),
        (DType::I64, Relu) => unary_map::<i64, i64>(x, |v| v.max(0)),
        (DType::I64, Sign) => unary_map::<i64, i64>(x, |v| v.signum()),
        (DType::I64, BitwiseNot) => unary_map::<i64, i64>(x, |v| !v),
        (dt, _) => Err(no_kernel(&Op::Unary(op), dt, x.device())),
    }
}

/// ReLU's backward: `g` where `y > 0`, else 0 (`y` in `g`'s dtype).
pub fn relu_backward(g: &Tensor, y: &Tensor) -> Result<Tensor> {
    let shape = crate::layout::broadcast_shapes(g.shape(), y.shape())?;
    crate::with_float!(g.dtype(), T, super::binary_map::<T, T>(g, y, &shape, |g, y| if y > 0.0 { g } else { 0.0 }), Err(no_kernel(&Op::ReluBackward, g.dtype(), g.device())))
}
