//! Element types, PyTorch's promotion rules, and the element trait kernels are generic over.
use std::fmt;

/// The element types a tensor can hold, ordered by promotion rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    I64,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 4] = [DType::Bool, DType::I64, DType::F32, DType::F64];

    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }
    /// PyTorch's legacy type name, used in autograd error messages ("torch.FloatTensor").
    pub fn tensor_type_name(self) -> &'static str {
        match self {
            DType::Bool => "BoolTensor",
            DType::I64 => "LongTensor",
            DType::F32 => "FloatTensor",
            DType::F64 => "DoubleTensor",
        }
    }
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "bool" => DType::Bool,
            "int64" | "long" => DType::I64,
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            _ => return None,
        })
    }
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
    pub fn size_of(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I64 | DType::F64 => 8,
            DType::F32 => 4,
        }
    }
    /// 0 bool, 1 integer, 2 floating: the categories PyTorch's promotion compares.
    pub fn category(self) -> u8 {
        match self {
            DType::Bool => 0,
            DType::I64 => 1,
            DType::F32 | DType::F64 => 2,
        }
    }
    /// The float type an op that needs floats computes in (int and bool go to float32).
    pub fn to_float(self) -> DType {
        if self.is_float() {
            self
        } else {
            DType::F32
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Promotion of two dtypes; with our four types the lattice is a chain.
pub fn promote(a: DType, b: DType) -> DType {
    a.max(b)
}

/// How an operand takes part in type promotion (PyTorch's ResultTypeState).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A tensor with at least one dim.
    Dim(DType),
    /// A 0-d tensor.
    ZeroDim(DType),
    /// A Python number wrapped into a tensor.
    Wrapped(DType),
}

fn combine_categories(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
    match (higher, lower) {
        (None, l) => l,
        (Some(h), None) => Some(h),
        (Some(h), Some(l)) => {
            if h.is_float() {
                Some(h)
            } else if h == DType::Bool || l.is_float() {
                Some(promote(h, l))
            } else {
                Some(h)
            }
        }
    }
}

/// PyTorch's `result_type`: dimensioned tensors decide unless a 0-d tensor or a Python number
/// is of a higher category (bool < integer < float).
pub fn result_type(operands: &[Operand]) -> DType {
    let (mut dim, mut zero, mut wrapped) = (None::<DType>, None::<DType>, None::<DType>);
    let fold = |slot: &mut Option<DType>, d: DType| *slot = Some(slot.map_or(d, |s| promote(s, d)));
    for op in operands {
        match *op {
            Operand::Dim(d) => fold(&mut dim, d),
            Operand::ZeroDim(d) => fold(&mut zero, d),
            // A Python float becomes the default dtype, never float64.
            Operand::Wrapped(d) => fold(&mut wrapped, if d.is_float() { DType::F32 } else { d }),
        }
    }
    combine_categories(dim, combine_categories(zero, wrapped)).unwrap_or(DType::F32)
}

/// The element trait the CPU kernels are generic over.
pub trait Element: Copy + Send + Sync + PartialOrd + PartialEq + Default + fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn to_i64(self) -> i64;
    fn from_i64(v: i64) -> Self;
    fn zero() -> Self;
    fn one() -> Self;
    fn into_owned_vec(v: Vec<Self>) -> crate::storage::OwnedVec;
    /// Conversion between element types with PyTorch's cast semantics.
    #[inline]
    fn cast<U: Element>(self) -> U {
        // Integers convert directly (one rounding: int64 -> float32 through float64 would round twice).
        if Self::DTYPE == DType::I64 || Self::DTYPE == DType::Bool {
            U::from_i64(self.to_i64())
        } else {
            U::from_f64(self.to_f64())
        }
    }
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    #[inline]
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    fn zero() -> Self {
        false
    }
    fn one() -> Self {
        true
    }
    fn into_owned_vec(v: Vec<Self>) -> crate::storage::OwnedVec {
        crate::storage::OwnedVec::Bool(v)
    }
}

impl Element for i64 {
    const DTYPE: DType = DType::I64;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as i64
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v
    }
    fn zero() -> Self {
        0
    }
    fn one() -> Self {
        1
    }
    fn into_owned_vec(v: Vec<Self>) -> crate::storage::OwnedVec {
        crate::storage::OwnedVec::I64(v)
    }
}

macro_rules! float_element {
    ($t:ty, $d:expr, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn zero() -> Self {
                0.0
            }
            fn one() -> Self {
                1.0
            }
            fn into_owned_vec(v: Vec<Self>) -> crate::storage::OwnedVec {
                crate::storage::OwnedVec::$variant(v)
            }
        }
    };
}
float_element!(f32, DType::F32, F32);
float_element!(f64, DType::F64, F64);

/// Float element types, for kernels that only make sense on floats.
pub trait Float: Element + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self> + std::ops::Div<Output = Self> + std::ops::Neg<Output = Self>
    + std::iter::Sum
{
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn max_val() -> Self;
    fn neg_inf() -> Self;
    fn is_nan(self) -> bool;
}
/// e^x in float32 without a libm call: Cephes' expf (x = n ln2 + r, |r| <= ln2/2, a degree-6
/// polynomial for e^r, 2^n from the exponent bits, in two halves so results down to the
/// subnormal range and overflow to inf come out of the multiplies), branch-free so element-wise
/// loops vectorise. Within 2 ulp of the correctly rounded result; NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n * LN2_HI is exact for the n that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to the nearest integer n and leaves it in the low mantissa
    // bits, so n is read from the bits (no float -> int conversion, which does not vectorise).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-104.0, 89.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    let n = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let half = n >> 1;
    y * pow2(half) * pow2(n - half)
}

macro_rules! float_impl {
    ($t:ty, $exp:expr) => {
        impl Float for $t {
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn max_val() -> Self {
                <$t>::MAX
            }
            fn neg_inf() -> Self {
                <$t>::NEG_INFINITY
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}
float_impl!(f32, exp_f32);
float_impl!(f64, f64::exp);

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident, $body:expr) => {
        match $dtype {
            $crate::dtype::DType::Bool => {
                type $T = bool;
                $body
            }
            $crate::dtype::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::dtype::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::dtype::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

/// Like `with_dtype!` for float dtypes; other dtypes run `$other`.
#[macro_export]
macro_rules! with_float {
    ($dtype:expr, $T:ident, $body:expr, $other:expr) => {
        match $dtype {
            $crate::dtype::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::dtype::DType::F64 => {
                type $T = f64;
                $body
            }
            _ => $other,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operand::*;

    #[test]
    fn promotion_follows_pytorch() {
        assert_eq!(result_type(&[Dim(DType::I64), Wrapped(DType::F64)]), DType::F32);
        assert_eq!(result_type(&[Dim(DType::F32), Wrapped(DType::F64)]), DType::F32);
        assert_eq!(result_type(&[Dim(DType::F32), ZeroDim(DType::F64)]), DType::F32);
        assert_eq!(result_type(&[Dim(DType::I64), ZeroDim(DType::F64)]), DType::F64);
        assert_eq!(result_type(&[Dim(DType::Bool), Wrapped(DType::I64)]), DType::I64);
        assert_eq!(result_type(&[Dim(DType::F32), Dim(DType::F64)]), DType::F64);
        assert_eq!(result_type(&[Dim(DType::I64), Wrapped(DType::I64)]), DType::I64);
    }
}

#[cfg(test)]
mod exp_tests {
    use super::exp_f32;

    #[test]
    fn exp_f32_is_within_two_ulp_everywhere() {
        // Every 97th float32 bit pattern plus the edges of the range.
        let mut xs: Vec<f32> = (0..u32::MAX / 97).map(|k| f32::from_bits(k * 97)).filter(|v| v.is_finite() && v.abs() < 110.0).collect();
        xs.extend([0.0, -0.0, 88.72283, 88.7229, -87.33655, -103.0, -103.97, 1e-30, -1e-30]);
        for x in xs {
            let want = (x as f64).exp();
            let got = exp_f32(x) as f64;
            if want > f32::MAX as f64 {
                assert_eq!(got, f64::INFINITY, "exp({x})");
                continue;
            }
            let ulp = ((want as f32).abs().max(f32::MIN_POSITIVE * f32::EPSILON) as f64) * f32::EPSILON as f64;
            assert!((got - want).abs() <= 2.0 * ulp.max(f32::from_bits(1) as f64), "exp({x}) = {got}, want {want}");
        }
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
    }
}
