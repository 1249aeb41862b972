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
macro_rules! float_impl {
    ($t:ty) => {
        impl Float for $t {
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
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
float_impl!(f32);
float_impl!(f64);

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
