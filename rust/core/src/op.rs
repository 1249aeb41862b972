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

/// Defines a kind enum of an op family from its table: variant, name (in errors and graph
/// printouts), autograd node name (PyTorch's; `None` for ops with no gradient).
macro_rules! kind_table {
    ($(#[$doc:meta])* $kind:ident { $($variant:ident = $name:literal, $grad_fn:expr;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $kind {
            $($variant,)*
        }

        impl $kind {
            pub const ALL: &'static [$kind] = &[$($kind::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $($kind::$variant => $name,)*
                }
            }

            /// The autograd node's name, PyTorch's where it has one.
            pub fn grad_fn_name(self) -> Option<&'static str> {
                match self {
                    $($kind::$variant => $grad_fn,)*
                }
            }
        }
    };
}

kind_table! {
    /// An index-driven op along one dim. Inputs: the indexed tensor, the int64 index and, for
    /// the writes, the source (in the indexed tensor's dtype and on its device).
    IndexOp {
        Gather = "gather", Some("GatherBackward0");
        Scatter = "scatter", Some("ScatterBackward0");
        ScatterAdd = "scatter_add", Some("ScatterAddBackward0");
        IndexSelect = "index_select", Some("IndexSelectBackward0");
        IndexAdd = "index_add", Some("IndexAddBackward0");
    }
}

kind_table! {
    /// A sliding-window op over [N, C, H, W] planes (im2col and its adjoint, max pooling and
    /// the in-plane scatter/gather pair of its backward).
    WindowOp {
        Im2Col = "im2col", Some("Im2ColBackward0");
        Col2Im = "col2im", Some("Col2ImBackward0");
        MaxPool2d = "max_pool2d", Some("MaxPool2DWithIndicesBackward0");
        PlaneScatterAdd = "max_pool2d_backward", Some("MaxPool2DWithIndicesBackwardBackward0");
        PlaneGather = "max_pool2d_gather", Some("MaxPool2DGatherBackward0");
    }
}

/// Geometry of a 2-D sliding window (kernel, dilation, padding, stride) over an H x W input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub padding: (usize, usize),
    pub stride: (usize, usize),
}

impl Window {
    /// Output size along one axis, or an error naming the sizes when the window does not fit.
    fn out_len(input: usize, k: usize, d: usize, p: usize, s: usize) -> Result<usize> {
        let span = d * (k - 1) + 1;
        if input + 2 * p < span {
            return Err(Error::Shape(format!(
                "Calculated output size is too small: input size {input} with padding {p} is smaller than the effective kernel size {span}"
            )));
        }
        Ok((input + 2 * p - span) / s + 1)
    }
    pub fn output_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let Window { kernel: (kh, kw), dilation: (dh, dw), padding: (ph, pw), stride: (sh, sw) } = *self;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || dh == 0 || dw == 0 {
            return Err(Error::Runtime(format!("kernel size, stride and dilation must be greater than zero, got {self:?}")));
        }
        Ok((Window::out_len(h, kh, dh, ph, sh)?, Window::out_len(w, kw, dw, pw, sw)?))
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
    /// `op` along `dim` (checked, in range of the indexed tensor's dims; a 0-d tensor counts
    /// as one of one element). The kernels check the index values, which they read.
    Index { op: IndexOp, dim: usize },
    /// [N, C, H, W] -> [N, C*kh*kw, L] columns, or [C*kh*kw, N*L] when `batch_major`, padded
    /// with `pad_value` (float input).
    Im2Col { window: Window, pad_value: f64, batch_major: bool },
    /// The adjoint of `Im2Col`: columns (shape checked) -> [n, C, size.0, size.1].
    Col2Im { window: Window, size: (usize, usize), batch_major: bool, n: usize },
    /// Max pooling of a float [N, C, H, W] input to `out_size` planes: the values and the flat
    /// in-plane index of each window's first maximum.
    MaxPool2d { window: Window, out_size: (usize, usize) },
    /// [N, C, ...] values (input 0) added into zero [N, C, size.0, size.1] planes at the flat
    /// in-plane positions of the int64 input 1 (same shape as input 0).
    PlaneScatterAdd { size: (usize, usize) },
    /// out[n, c, j] = x[n, c, index[n, c, j]] over flattened planes, shaped like the index.
    PlaneGather,
    /// Cross-entropy per row of float logits [N, C] (input 0) against int64 classes [N]
    /// (input 1), with optional class weights [C] (input 2, the logits' dtype): each row's loss
    /// `w[t] * (logsumexp(x) - x[t])` and its weight `w[t]` (both 0 for an ignored row). The
    /// kernels check the class values, which they read.
    CrossEntropyRows { ignore_index: i64 },
}

impl Op<'_> {
    /// The op's name in error messages and graph printouts.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary(u) => u.name(),
            Op::ReluBackward => "threshold_backward",
            Op::Full { .. } => "full",
            Op::Index { op, .. } => op.name(),
            Op::Im2Col { .. } => WindowOp::Im2Col.name(),
            Op::Col2Im { .. } => WindowOp::Col2Im.name(),
            Op::MaxPool2d { .. } => WindowOp::MaxPool2d.name(),
            Op::PlaneScatterAdd { .. } => WindowOp::PlaneScatterAdd.name(),
            Op::PlaneGather => WindowOp::PlaneGather.name(),
            Op::CrossEntropyRows { .. } => "cross_entropy",
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
