//! Binary kernels over two broadcast operands of one dtype (the plan in `ops::binary` casts
//! them): arithmetic and comparisons per element type, logic on bool, bits on int64.
use super::binary_map;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::layout::broadcast_shapes;
use crate::op::{no_kernel, BinaryOp, Op};
use crate::tensor::Tensor;

/// `op` of `a` and `b` (same dtype), as `Op::Binary` describes.
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    use BinaryOp::*;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let shape = &shape;
    match (a.dtype(), op) {
        (DType::Bool, LogicalAnd | BitAnd) => binary_map::<bool, bool>(a, b, shape, |x, y| x && y),
        (DType::Bool, LogicalOr | BitOr) => binary_map::<bool, bool>(a, b, shape, |x, y| x || y),
        (DType::Bool, LogicalXor | BitXor) => binary_map::<bool, bool>(a, b, shape, |x, y| x != y),
        (DType::I64, BitAnd) => binary_map::<i64, i64>(a, b, shape, |x, y| x & y),
        (DType::I64, BitOr) => binary_map::<i64, i64>(a, b, shape, |x, y| x | y),
        (DType::I64, BitXor) => binary_map::<i64, i64>(a, b, shape, |x, y| x ^ y),
        (DType::F32, _) => arith_kernel::<f32>(op, a, b, shape),
        (DType::F64, _) => arith_kernel::<f64>(op, a, b, shape),
        (DType::I64, _) => arith_kernel::<i64>(op, a, b, shape),
        (dt, _) => Err(no_kernel(&Op::Binary(op), dt, a.device())),
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
        LogicalAnd | LogicalOr | LogicalXor | BitAnd | BitOr | BitXor => Err(no_kernel(&Op::Binary(op), T::DTYPE, a.device())),
    }
}

/// `where(cond, a, b)` with `a` and `b` of one dtype, broadcast together.
pub fn where_select(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let shape = broadcast_shapes(&broadcast_shapes(cond.shape(), a.shape())?, b.shape())?;
    crate::with_dtype!(a.dtype(), T, {
        let (lc, la, lb) = (cond.layout().expand(&shape)?, a.layout().expand(&shape)?, b.layout().expand(&shape)?);
        let (dc, da, db) = (cond.storage().slice::<bool>(), a.storage().slice::<T>(), b.storage().slice::<T>());
        let mut offs_c = Vec::with_capacity(lc.numel());
        lc.for_each_offset(|o| offs_c.push(o));
        let mut out: Vec<T> = crate::storage::try_with_capacity(offs_c.len())?;
        let mut i = 0;
        super::for_each_offset2(&la, &lb, |oa, ob| {
            out.push(if dc[offs_c[i]] { da[oa] } else { db[ob] });
            i += 1;
        });
        Tensor::from_vec(out, &shape)
    })
}
