//! Ops as data. Each op family has one table (`unary_ops!`, ...) from which its kind enum, the
//! names both ways, the autograd node names and the GPU kernel codes come; `Op` is one kernel
//! call described as a value (kind + attributes; the operands travel beside it), which is what
//! `ops::dispatch` hands to a backend and what a graph recorder will store.
//!
//! This module sits below `ops`, `cpu`, `gpu` and `autograd`: it names no tensor op and
//! records nothing. Backends implement [`Backend`] over `Op`.
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// How a unary op treats dtypes (the dtype plan `ops::unary` applies before the kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryKind {
    /// Computes in floating point: an integer or bool input is cast to float32 first.
    Float,
    /// Exact on every numeric dtype (integers stay integers).
    Exact,
    /// A test of each element: the output is bool.
    Predicate,
    /// Logic on bool, or bits on integers.
    Logic,
}

/// Defines `UnaryOp` from its table: variant = GPU kernel code, Python name, autograd node name
/// (`None` for ops with no gradient), dtype kind.
macro_rules! unary_ops {
    ($($variant:ident = $code:literal, $name:literal, $grad_fn:expr, $kind:ident;)*) => {
        /// An element-wise op of one tensor.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum UnaryOp {
            $($variant = $code,)*
        }

        impl UnaryOp {
            /// Every unary op, in table order.
            pub const ALL: &'static [UnaryOp] = &[$(UnaryOp::$variant,)*];

            /// The PyTorch name (`torch.<name>`, `Tensor.<name>`).
            pub fn name(self) -> &'static str {
                match self {
                    $(UnaryOp::$variant => $name,)*
                }
            }

            pub fn from_name(name: &str) -> Option<UnaryOp> {
                match name {
                    $($name => Some(UnaryOp::$variant),)*
                    _ => None,
                }
            }

            /// The autograd node's name, PyTorch's where it has one.
            pub fn grad_fn_name(self) -> Option<&'static str> {
                match self {
                    $(UnaryOp::$variant => $grad_fn,)*
                }
            }

            pub fn kind(self) -> UnaryKind {
                match self {
                    $(UnaryOp::$variant => UnaryKind::$kind,)*
                }
            }

            /// The code the WGSL kernels switch on (emitted into the shaders as `UNARY_<NAME>`).
            pub fn code(self) -> u32 {
                self as u32
            }
        }
    };
}

unary_ops! {
    Neg = 0, "neg", Some("NegBackward0"), Exact;
    Abs = 1, "abs", Some("AbsBackward0"), Exact;
    Exp = 2, "exp", Some("ExpBackward0"), Float;
    Log = 3, "log", Some("LogBackward0"), Float;
    Log2 = 4, "log2", Some("Log2Backward0"), Float;
    Log10 = 5, "log10", Some("Log10Backward0"), Float;
    Log1p = 6, "log1p", Some("Log1PBackward0"), Float;
    Expm1 = 7, "expm1", Some("Expm1Backward0"), Float;
    Sqrt = 8, "sqrt", Some("SqrtBackward0"), Float;
    Rsqrt = 9, "rsqrt", Some("RsqrtBackward0"), Float;
    Square = 10, "square", Some("PowBackward0"), Exact;
    Reciprocal = 11, "reciprocal", Some("ReciprocalBackward0"), Float;
    Sin = 12, "sin", Some("SinBackward0"), Float;
    Cos = 13, "cos", Some("CosBackward0"), Float;
    Tan = 14, "tan", Some("TanBackward0"), Float;
    Asin = 15, "asin", Some("AsinBackward0"), Float;
    Acos = 16, "acos", Some("AcosBackward0"), Float;
    Atan = 17, "atan", Some("AtanBackward0"), Float;
    Sinh = 18, "sinh", Some("SinhBackward0"), Float;
    Cosh = 19, "cosh", Some("CoshBackward0"), Float;
    Tanh = 20, "tanh", Some("TanhBackward0"), Float;
    Sigmoid = 21, "sigmoid", Some("SigmoidBackward0"), Float;
    Relu = 22, "relu", Some("ReluBackward0"), Exact;
    Erf = 23, "erf", Some("ErfBackward0"), Float;
    Sign = 24, "sign", Some("SignBackward0"), Exact;
    Floor = 25, "floor", Some("FloorBackward0"), Exact;
    Ceil = 26, "ceil", Some("CeilBackward0"), Exact;
    Round = 27, "round", Some("RoundBackward0"), Exact;
    Trunc = 28, "trunc", Some("TruncBackward0"), Exact;
    Frac = 29, "frac", Some("FracBackward0"), Exact;
    IsNan = 40, "isnan", None, Predicate;
    IsInf = 41, "isinf", None, Predicate;
    IsFinite = 42, "isfinite", None, Predicate;
    LogicalNot = 43, "logical_not", None, Logic;
    BitwiseNot = 44, "bitwise_not", None, Logic;
}

/// Defines a kind enum of an op family from its table: variant = GPU kernel code (emitted into
/// the shaders as `<PREFIX>_<VARIANT>`), name (error messages, graph printouts), autograd node
/// name (`None` for kinds with no gradient).
macro_rules! op_kinds {
    ($(#[$doc:meta])* $kind:ident, $prefix:literal { $($variant:ident = $code:literal, $name:literal, $grad_fn:expr;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum $kind {
            $($variant = $code,)*
        }

        impl $kind {
            pub const ALL: &'static [$kind] = &[$($kind::$variant,)*];
            /// The prefix of this table's constants in `shaders/op_codes.wgsl`.
            pub const WGSL_PREFIX: &'static str = $prefix;

            pub fn name(self) -> &'static str {
                match self {
                    $($kind::$variant => $name,)*
                }
            }

            /// The autograd node's name, PyTorch's.
            pub fn grad_fn_name(self) -> Option<&'static str> {
                match self {
                    $($kind::$variant => $grad_fn,)*
                }
            }

            /// The code the WGSL kernels switch on.
            pub fn code(self) -> u32 {
                self as u32
            }

            fn wgsl_name(self) -> &'static str {
                match self {
                    $($kind::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

op_kinds! {
    /// A reduction of runs of elements to one value. The autograd names are those of a
    /// reduction over given dims (PyTorch names a full `sum`/`prod` `...Backward0`).
    ReduceOp, "REDUCE" {
        Sum = 0, "sum", Some("SumBackward1");
        Max = 1, "amax", Some("AmaxBackward0");
        Min = 2, "amin", Some("AminBackward0");
        Prod = 3, "prod", Some("ProdBackward1");
        Any = 4, "any", None;
        All = 5, "all", None;
    }
}

op_kinds! {
    /// Which extreme `max(dim)`/`min(dim)` and `argmax`/`argmin` look for.
    Extremum, "EXTREMUM" {
        Max = 1, "max", Some("MaxBackward0");
        Min = 2, "min", Some("MinBackward0");
    }
}

op_kinds! {
    /// An inclusive scan along a dim.
    ScanOp, "SCAN" {
        Sum = 0, "cumsum", Some("CumsumBackward0");
        Prod = 1, "cumprod", Some("CumprodBackward0");
    }
}

op_kinds! {
    /// Softmax or its logarithm along a dim (fused, stable).
    SoftmaxOp, "SOFTMAX" {
        Softmax = 0, "softmax", Some("SoftmaxBackward0");
        LogSoftmax = 1, "log_softmax", Some("LogSoftmaxBackward0");
    }
}

/// `const <PREFIX>_<VARIANT>: u32 = <code>u;` for every kind of a table.
fn wgsl_kind_constants<K: Copy>(s: &mut String, prefix: &str, kinds: &[K], name: impl Fn(K) -> &'static str, code: impl Fn(K) -> u32) {
    for &k in kinds {
        s.push_str(&format!("const {prefix}_{}: u32 = {}u;\n", name(k).to_uppercase(), code(k)));
    }
}

/// WGSL declarations of every op table's kernel codes (`const UNARY_EXP: u32 = 2u;`): the
/// contents of `shaders/op_codes.wgsl`, which every shader includes (a test keeps the file equal
/// to this, so the kernels and the tables cannot disagree).
pub fn wgsl_constants() -> String {
    let mut s = String::from("// Generated from rust/core/src/op.rs by `FERROGRAD_BLESS=1 cargo test -p ferrograd-core --test gpu`; do not edit.\n");
    for op in UnaryOp::ALL {
        s.push_str(&format!("const UNARY_{}: u32 = {}u;\n", op.name().to_uppercase(), op.code()));
    }
    wgsl_kind_constants(&mut s, ReduceOp::WGSL_PREFIX, ReduceOp::ALL, ReduceOp::wgsl_name, ReduceOp::code);
    wgsl_kind_constants(&mut s, Extremum::WGSL_PREFIX, Extremum::ALL, Extremum::wgsl_name, Extremum::code);
    wgsl_kind_constants(&mut s, ScanOp::WGSL_PREFIX, ScanOp::ALL, ScanOp::wgsl_name, ScanOp::code);
    wgsl_kind_constants(&mut s, SoftmaxOp::WGSL_PREFIX, SoftmaxOp::ALL, SoftmaxOp::wgsl_name, SoftmaxOp::code);
    s
}

/// One kernel call as data: what to compute and its attributes. Attributes borrow, so that
/// describing a call allocates nothing on the eager path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op<'a> {
    /// `op` of the input, in the input's dtype (predicates give bool); the caller has cast the
    /// input to the dtype `ops::unary`'s plan names.
    Unary(UnaryOp),
    /// ReLU's backward: the gradient (input 0) where the output (input 1, same dtype) is
    /// positive, else 0, broadcast.
    ReluBackward,
    /// A new tensor of `shape` filled with `value` (no inputs).
    Full { shape: &'a [usize], value: f64, dtype: DType, device: Device },
    /// `op` over the runs along `dims` (sorted, unique) of the input. Sum and Prod take
    /// float32, float64 or int64 (the caller casts the rest to int64), Any and All take bool,
    /// Max and Min any dtype; the output keeps the input's dtype.
    Reduce { op: ReduceOp, dims: &'a [usize], keepdim: bool },
    /// The int64 index of the first max (or min) along `dim` of an input with at least one
    /// dim and a non-empty `dim`; NaN counts as the extreme.
    ArgReduce { op: Extremum, dim: usize, keepdim: bool },
    /// The inclusive scan along `dim` of a float or int64 input, in its dtype; contiguous.
    Scan { op: ScanOp, dim: usize },
    /// Stable sort along `dim` of an input with at least one dim, NaN largest: two contiguous
    /// outputs, the values and their int64 source indices.
    Sort { dim: usize, descending: bool },
    /// Softmax (or log-softmax) along `dim` of a float input; contiguous.
    Softmax { op: SoftmaxOp, dim: usize },
    /// Out[b] = A[b] @ B[b] of inputs [..batch, m, k] and [..batch, k, n] of one dtype (not
    /// bool) whose batch dims are broadcast to `batch`; contiguous.
    Matmul { batch: &'a [usize] },
    /// A contiguous copy of the input reversed along `dims` (sorted, unique).
    Flip { dims: &'a [usize] },
}

impl Op<'_> {
    /// The op's name in error messages and graph printouts.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary(u) => u.name(),
            Op::ReluBackward => "threshold_backward",
            Op::Full { .. } => "full",
            Op::Reduce { op, .. } => op.name(),
            Op::ArgReduce { op, .. } => op.name(),
            Op::Scan { op, .. } => op.name(),
            Op::Sort { .. } => "sort",
            Op::Softmax { op, .. } => op.name(),
            Op::Matmul { .. } => "matmul",
            Op::Flip { .. } => "flip",
        }
    }
}

/// What a kernel call returns.
#[derive(Debug)]
pub enum Outputs {
    One(Tensor),
    Two(Tensor, Tensor),
}

impl Outputs {
    /// The single output of a one-output op.
    pub fn one(self) -> Result<Tensor> {
        match self {
            Outputs::One(t) => Ok(t),
            Outputs::Two(..) => Err(Error::Runtime("a two-output kernel was asked for one output".into())),
        }
    }
    pub fn two(self) -> Result<(Tensor, Tensor)> {
        match self {
            Outputs::Two(a, b) => Ok((a, b)),
            Outputs::One(_) => Err(Error::Runtime("a one-output kernel was asked for two outputs".into())),
        }
    }
}

/// A device's kernels. `run` takes operands already checked and cast by `ops` and returns new
/// tensors; it never records autograd and never calls tensor ops.
pub trait Backend: Sync {
    fn run(&self, op: &Op<'_>, inputs: &[&Tensor]) -> Result<Outputs>;
}

/// The device an op over `ts` runs on: the tensors' common device, with 0-d CPU tensors
/// fitting any device; PyTorch's error when two devices mix.
pub fn op_device(ts: &[&Tensor]) -> Result<Device> {
    let mut dev: Option<Device> = None;
    let mut cpu_scalar = false;
    for t in ts {
        if is_cpu_scalar(t) {
            cpu_scalar = true;
            continue;
        }
        match dev {
            None => dev = Some(t.device()),
            Some(d) if d != t.device() => return Err(mixed(d, t.device())),
            _ => {}
        }
    }
    Ok(dev.unwrap_or(if cpu_scalar { Device::Cpu } else { Device::Cpu }))
}

/// PyTorch's error for tensors on two devices (the CPU named first).
pub fn mixed(a: Device, b: Device) -> Error {
    let (x, y) = if b == Device::Cpu { (b, a) } else { (a, b) };
    Error::Device(format!("Expected all tensors to be on the same device, but found at least two devices, {x} and {y}!"))
}

/// The error for an op a backend has no kernel for (with this dtype).
pub fn no_kernel(op: &Op<'_>, dtype: DType, device: Device) -> Error {
    Error::NotImplemented(format!("'{}' on {device} is not implemented for dtype {dtype}", op.name()))
}

/// A tensor that takes part in a device's op as a scalar: a 0-d CPU tensor (Python numbers
/// become these), which PyTorch also lets mix with tensors on any device.
pub fn is_cpu_scalar(t: &Tensor) -> bool {
    t.device() == Device::Cpu && t.ndim() == 0
}
