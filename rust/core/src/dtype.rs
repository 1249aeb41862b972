//! Element types, PyTorch's promotion rules, and the element trait kernels are generic over.
use std::fmt;

/// The element types a tensor can hold, ordered by category (bool, integers, floats) and, in
/// each, by width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

/// Each dtype's names: ours (PyTorch's), PyTorch's alias, the legacy tensor type and the
/// capitalised scalar type name of PyTorch's messages.
const NAMES: [(DType, &str, &str, &str, &str); 10] = [
    (DType::Bool, "bool", "bool", "BoolTensor", "Bool"),
    (DType::U8, "uint8", "byte", "ByteTensor", "Byte"),
    (DType::I8, "int8", "char", "CharTensor", "Char"),
    (DType::I16, "int16", "short", "ShortTensor", "Short"),
    (DType::I32, "int32", "int", "IntTensor", "Int"),
    (DType::I64, "int64", "long", "LongTensor", "Long"),
    (DType::F16, "float16", "half", "HalfTensor", "Half"),
    (DType::BF16, "bfloat16", "bfloat16", "BFloat16Tensor", "BFloat16"),
    (DType::F32, "float32", "float", "FloatTensor", "Float"),
    (DType::F64, "float64", "double", "DoubleTensor", "Double"),
];

impl DType {
    pub const ALL: [DType; 10] =
        [DType::Bool, DType::U8, DType::I8, DType::I16, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64];

    fn names(self) -> &'static (DType, &'static str, &'static str, &'static str, &'static str) {
        &NAMES[self as usize]
    }
    pub fn name(self) -> &'static str {
        self.names().1
    }
    /// PyTorch's other name for it ("half", "long"; the name itself where there is none).
    pub fn alias(self) -> &'static str {
        self.names().2
    }
    /// PyTorch's legacy type name, used in autograd error messages ("torch.FloatTensor").
    pub fn tensor_type_name(self) -> &'static str {
        self.names().3
    }
    /// PyTorch's capitalised scalar type name ("Float", "Long") used in some messages.
    pub fn titled(self) -> &'static str {
        self.names().4
    }
    pub fn from_name(name: &str) -> Option<DType> {
        NAMES.iter().find(|n| n.1 == name || n.2 == name).map(|n| n.0)
    }
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }
    /// An integer type (bool is not one).
    pub fn is_int(self) -> bool {
        matches!(self, DType::U8 | DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }
    pub fn size_of(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }
    /// 0 bool, 1 integer, 2 floating: the categories PyTorch's promotion compares.
    pub fn category(self) -> u8 {
        match self {
            DType::Bool => 0,
            d if d.is_int() => 1,
            _ => 2,
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
    /// float16 or bfloat16: floats that compute in float32.
    pub fn is_reduced_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16)
    }
    /// The type kernels compute this one in (PyTorch's "opmath" type): 16-bit floats in
    /// float32, narrow integers in int64 (exact: their wrapping arithmetic is int64's, truncated).
    pub fn compute_type(self) -> DType {
        match self {
            DType::F16 | DType::BF16 => DType::F32,
            DType::U8 | DType::I8 | DType::I16 | DType::I32 => DType::I64,
            d => d,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// PyTorch's `promoteTypes`: the higher category wins; within integers an unsigned and a
/// signed type meet in a signed type wide enough for both; float16 and bfloat16 meet in float32.
pub fn promote(a: DType, b: DType) -> DType {
    use DType::*;
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    match (lo, hi) {
        _ if lo == hi || lo.category() < hi.category() => hi,
        (U8, I8) => I16,
        (F16, BF16) => F32,
        _ => hi,
    }
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
    #[inline]
    fn to_f32(self) -> f32 {
        self.to_f64() as f32
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        Self::from_f64(v as f64)
    }
    /// Conversion between element types with PyTorch's cast semantics.
    #[inline]
    fn cast<U: Element>(self) -> U {
        if !Self::DTYPE.is_float() {
            // Integers convert directly (one rounding: int64 -> float32 through float64 would round twice).
            U::from_i64(self.to_i64())
        } else if Self::DTYPE.size_of() <= 4 && U::DTYPE.is_float() && U::DTYPE.size_of() <= 4 {
            // float32 and the 16-bit floats meet exactly in float32 (one rounding, no float64 detour).
            U::from_f32(self.to_f32())
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

macro_rules! int_element {
    ($($t:ty, $variant:ident;)*) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            /// Through int64, so out-of-range values wrap as PyTorch's casts do on x86.
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as i64 as $t
            }
            #[inline]
            fn to_i64(self) -> i64 {
                self as i64
            }
            /// Wraps (keeps the low bits), as PyTorch's integer casts.
            #[inline]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn zero() -> Self {
                0
            }
            fn one() -> Self {
                1
            }
            fn into_owned_vec(v: Vec<Self>) -> crate::storage::OwnedVec {
                crate::storage::OwnedVec::$variant(v)
            }
        }
    )*};
}
int_element!(u8, U8; i8, I8; i16, I16; i32, I32; i64, I64;);

/// The 16-bit floats convert through float32, as PyTorch's `c10::Half`/`BFloat16`
/// constructors do (a float64 or int64 value is rounded to float32 first).
macro_rules! half_element {
    ($($t:ty, $variant:ident;)*) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            #[inline]
            fn to_f64(self) -> f64 {
                self.to_f64()
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                <$t>::from_f32(v as f32)
            }
            #[inline]
            fn to_f32(self) -> f32 {
                <$t>::to_f32(self)
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                <$t>::from_f32(v)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                <$t>::to_f32(self) as i64
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                <$t>::from_f32(v as f32)
            }
            fn zero() -> Self {
                <$t>::ZERO
            }
            fn one() -> Self {
                <$t>::ONE
            }
            fn into_owned_vec(v: Vec<Self>) -> crate::storage::OwnedVec {
                crate::storage::OwnedVec::$variant(v)
            }
        }
    )*};
}
half_element!(half::f16, F16; half::bf16, BF16;);

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
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
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

/// float16 <-> float32 of a whole slice, None for other pairs. The slice conversions detect
/// the CPU's F16C instructions once per call; the per-element ones would at every element.
pub fn convert_f16_slice<S: Element, T: Element>(src: &[S]) -> Option<Vec<T>> {
    use half::slice::HalfFloatSliceExt;
    let n = src.len();
    let mut out = vec![T::zero(); n];
    match (S::DTYPE, T::DTYPE) {
        (DType::F16, DType::F32) => {
            // SAFETY: each dtype has exactly one Element type, so S is half::f16 and T is f32;
            // both slices hold n elements.
            let (src, dst) = unsafe { (std::slice::from_raw_parts(src.as_ptr() as *const half::f16, n), std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut f32, n)) };
            src.convert_to_f32_slice(dst);
        }
        (DType::F32, DType::F16) => {
            // SAFETY: as above, with S f32 and T half::f16.
            let (src, dst) = unsafe { (std::slice::from_raw_parts(src.as_ptr() as *const f32, n), std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut half::f16, n)) };
            dst.convert_from_f32_slice(src);
        }
        _ => return None,
    }
    Some(out)
}

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
            $crate::dtype::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::dtype::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::dtype::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::dtype::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::dtype::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::dtype::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::dtype::DType::BF16 => {
                type $T = half::bf16;
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
        assert_eq!(result_type(&[Dim(DType::U8), Wrapped(DType::I64)]), DType::U8);
        assert_eq!(result_type(&[Dim(DType::I32), Wrapped(DType::F64)]), DType::F32);
        assert_eq!(result_type(&[Dim(DType::F16), Wrapped(DType::F64)]), DType::F16);
        assert_eq!(result_type(&[Dim(DType::I32), Dim(DType::F16)]), DType::F16);
    }

    #[test]
    fn promotion_table_is_pytorchs() {
        use DType::*;
        let cases = [
            (U8, I8, I16), (U8, I16, I16), (U8, I32, I32), (U8, I64, I64), (I8, I16, I16), (I16, I32, I32),
            (F16, BF16, F32), (F16, F32, F32), (BF16, F64, F64), (I64, F16, F16), (U8, BF16, BF16),
            (Bool, U8, U8), (Bool, BF16, BF16), (I32, I32, I32),
        ];
        for (a, b, want) in cases {
            assert_eq!(promote(a, b), want, "{a} + {b}");
            assert_eq!(promote(b, a), want, "{b} + {a}");
        }
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
