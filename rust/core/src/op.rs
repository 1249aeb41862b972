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

/// The unary op table, one row per op: variant = GPU kernel code, PyTorch name, dtype kind,
/// then the gradient: `[autograd node name, what the rule reads (Input or Output), rule]` with
/// the rule `|g, v| -> Result<Tensor>` giving the input's gradient from the output's gradient
/// `g` and the saved value `v`, or `[]` for ops without a gradient. This module expands the
/// rows into `UnaryOp` (names, codes, kinds); `ops::unary` expands the same rows into the
/// backward rules, so one row is an op's whole description.
macro_rules! unary_table {
    ($expand:ident) => {
        $expand! {
            Neg = 0, "neg", Exact, ["NegBackward0", Input, |g, _x| g.neg()];
            Abs = 1, "abs", Exact, ["AbsBackward0", Input, |g, x| g.mul(&x.unary(Sign)?)];
            Exp = 2, "exp", Float, ["ExpBackward0", Output, |g, y| g.mul(y)];
            Log = 3, "log", Float, ["LogBackward0", Input, |g, x| g.div(x)];
            Log2 = 4, "log2", Float, ["Log2Backward0", Input, |g, x| g.div(&x.mul_scalar(std::f64::consts::LN_2)?)];
            Log10 = 5, "log10", Float, ["Log10Backward0", Input, |g, x| g.div(&x.mul_scalar(std::f64::consts::LN_10)?)];
            Log1p = 6, "log1p", Float, ["Log1PBackward0", Input, |g, x| g.div(&x.add_scalar(1.0)?)];
            Expm1 = 7, "expm1", Float, ["Expm1Backward0", Output, |g, y| g.mul(&y.add_scalar(1.0)?)];
            Sqrt = 8, "sqrt", Float, ["SqrtBackward0", Output, |g, y| g.div(&y.mul_scalar(2.0)?)];
            Rsqrt = 9, "rsqrt", Float, ["RsqrtBackward0", Output, |g, y| g.mul(&y.mul(y)?.mul(y)?.mul_scalar(-0.5)?)];
            Square = 10, "square", Exact, ["PowBackward0", Input, |g, x| g.mul(&x.mul_scalar(2.0)?)];
            Reciprocal = 11, "reciprocal", Float, ["ReciprocalBackward0", Output, |g, y| g.mul(&y.mul(y)?.neg()?)];
            Sin = 12, "sin", Float, ["SinBackward0", Input, |g, x| g.mul(&x.unary(Cos)?)];
            Cos = 13, "cos", Float, ["CosBackward0", Input, |g, x| g.mul(&x.unary(Sin)?.neg()?)];
            Tan = 14, "tan", Float, ["TanBackward0", Output, |g, y| g.mul(&y.mul(y)?.add_scalar(1.0)?)];
            Asin = 15, "asin", Float, ["AsinBackward0", Input, |g, x| g.mul(&one_minus_square(x)?.unary(Rsqrt)?)];
            Acos = 16, "acos", Float, ["AcosBackward0", Input, |g, x| g.mul(&one_minus_square(x)?.unary(Rsqrt)?.neg()?)];
            Atan = 17, "atan", Float, ["AtanBackward0", Input, |g, x| g.div(&x.mul(x)?.add_scalar(1.0)?)];
            Sinh = 18, "sinh", Float, ["SinhBackward0", Input, |g, x| g.mul(&x.unary(Cosh)?)];
            Cosh = 19, "cosh", Float, ["CoshBackward0", Input, |g, x| g.mul(&x.unary(Sinh)?)];
            Tanh = 20, "tanh", Float, ["TanhBackward0", Output, |g, y| g.mul(&one_minus_square(y)?)];
            Sigmoid = 21, "sigmoid", Float, ["SigmoidBackward0", Output, |g, y| g.mul(&y.sub(&y.mul(y)?)?)];
            Relu = 22, "relu", Exact, ["ReluBackward0", Output, |g, y| g.relu_backward(y)];
            Erf = 23, "erf", Float, ["ErfBackward0", Input, |g, x| g.mul(&x.mul(x)?.neg()?.unary(Exp)?.mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)?)];
            Sign = 24, "sign", Exact, ["SignBackward0", Input, |g, _x| g.zeros_like()];
            Floor = 25, "floor", Exact, ["FloorBackward0", Input, |g, _x| g.zeros_like()];
            Ceil = 26, "ceil", Exact, ["CeilBackward0", Input, |g, _x| g.zeros_like()];
            Round = 27, "round", Exact, ["RoundBackward0", Input, |g, _x| g.zeros_like()];
            Trunc = 28, "trunc", Exact, ["TruncBackward0", Input, |g, _x| g.zeros_like()];
            Frac = 29, "frac", Exact, ["FracBackward0", Input, |g, _x| Ok(g.clone())];
            Logit = 30, "logit", Float, ["LogitBackward0", Input, |g, x| g.div(&x.sub(&x.mul(x)?)?)];
            IsNan = 40, "isnan", Predicate, [];
            IsInf = 41, "isinf", Predicate, [];
            IsFinite = 42, "isfinite", Predicate, [];
            LogicalNot = 43, "logical_not", Logic, [];
            BitwiseNot = 44, "bitwise_not", Logic, [];
        }
    };
}
pub(crate) use unary_table;

/// The first column of a gradient cell: the autograd node's name.
macro_rules! grad_fn_name {
    () => {
        None
    };
    ($name:literal, $($rest:tt)*) => {
        Some($name)
    };
}

/// Expands the unary table's rows into `UnaryOp`.
macro_rules! define_unary_ops {
    ($($variant:ident = $code:literal, $name:literal, $kind:ident, [$($grad:tt)*];)*) => {
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

            /// The autograd node's name, PyTorch's where it has one; None: no gradient.
            pub fn grad_fn_name(self) -> Option<&'static str> {
                match self {
                    $(UnaryOp::$variant => grad_fn_name!($($grad)*),)*
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

unary_table!(define_unary_ops);

/// How a binary op treats dtypes (the dtype plan `ops::binary` applies before the kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    /// Arithmetic in the operands' common dtype.
    Arith,
    /// Division-like: exact on integers, where a zero divisor raises.
    IntegerDivision,
    /// Always in floating point (integers compute in float32).
    Float,
    /// Compares in the common dtype; the output is bool.
    Comparison,
    /// Logic on bool (other dtypes are tested for non-zero first).
    Logical,
    /// Bits of bool or integer operands.
    Bitwise,
}

/// Defines `BinaryOp` from its table: variant = GPU kernel code, Python name, autograd node
/// name (`None` for ops with no gradient), dtype kind.
macro_rules! binary_ops {
    ($($variant:ident = $code:literal, $name:literal, $grad_fn:expr, $kind:ident;)*) => {
        /// An element-wise op of two broadcast tensors.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum BinaryOp {
            $($variant = $code,)*
        }

        impl BinaryOp {
            /// Every binary op, in table order.
            pub const ALL: &'static [BinaryOp] = &[$(BinaryOp::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(BinaryOp::$variant => $name,)*
                }
            }

            pub fn from_name(name: &str) -> Option<BinaryOp> {
                match name {
                    $($name => Some(BinaryOp::$variant),)*
                    _ => None,
                }
            }

            /// The autograd node's name (PyTorch's), for the differentiable ops.
            pub fn grad_fn_name(self) -> Option<&'static str> {
                match self {
                    $(BinaryOp::$variant => $grad_fn,)*
                }
            }

            pub fn kind(self) -> BinaryKind {
                match self {
                    $(BinaryOp::$variant => BinaryKind::$kind,)*
                }
            }

            /// The code the WGSL kernels switch on (emitted as `BINARY_<NAME>`).
            pub fn code(self) -> u32 {
                self as u32
            }
        }
    };
}

binary_ops! {
    Add = 0, "add", Some("AddBackward0"), Arith;
    Sub = 1, "sub", Some("SubBackward0"), Arith;
    Mul = 2, "mul", Some("MulBackward0"), Arith;
    Div = 3, "div", Some("DivBackward0"), Float;
    Pow = 4, "pow", Some("PowBackward1"), Arith;
    Maximum = 5, "maximum", Some("MaximumBackward0"), Arith;
    Minimum = 6, "minimum", Some("MinimumBackward0"), Arith;
    Atan2 = 7, "atan2", Some("Atan2Backward0"), Float;
    Remainder = 8, "remainder", Some("RemainderBackward0"), IntegerDivision;
    FloorDivide = 9, "floor_divide", None, IntegerDivision;
    // C's fmod: the remainder of the quotient truncated toward zero (sign of the dividend).
    Fmod = 11, "fmod", Some("FmodBackward0"), IntegerDivision;
    // div(rounding_mode="trunc").
    DivTrunc = 12, "div_trunc", None, IntegerDivision;
    BitAnd = 13, "bitwise_and", None, Bitwise;
    BitOr = 14, "bitwise_or", None, Bitwise;
    BitXor = 15, "bitwise_xor", None, Bitwise;
    Eq = 20, "eq", None, Comparison;
    Ne = 21, "ne", None, Comparison;
    Lt = 22, "lt", None, Comparison;
    Le = 23, "le", None, Comparison;
    Gt = 24, "gt", None, Comparison;
    Ge = 25, "ge", None, Comparison;
    LogicalAnd = 30, "logical_and", None, Logical;
    LogicalOr = 31, "logical_or", None, Logical;
    LogicalXor = 32, "logical_xor", None, Logical;
}

/// Kernel codes of the element-wise shader's ops that are not rows of the tables: ReLU's
/// backward, copies and casts (emitted under these names).
pub mod elementwise_codes {
    pub const THRESHOLD_BACKWARD: u32 = 10;
    pub const COPY: u32 = 50;
    pub const CAST_F32_BOOL: u32 = 51;
    pub const CAST_BOOL_F32: u32 = 52;
    pub const CAST_I64_F32: u32 = 60;
    pub const CAST_F32_I64: u32 = 61;
    pub const CAST_I64_BOOL: u32 = 62;
    pub const CAST_BOOL_I64: u32 = 63;
    pub const COPY_I64: u32 = 64;
    pub const ALL: &[(&str, u32)] = &[
        ("THRESHOLD_BACKWARD", THRESHOLD_BACKWARD),
        ("COPY", COPY),
        ("CAST_F32_BOOL", CAST_F32_BOOL),
        ("CAST_BOOL_F32", CAST_BOOL_F32),
        ("CAST_I64_F32", CAST_I64_F32),
        ("CAST_F32_I64", CAST_F32_I64),
        ("CAST_I64_BOOL", CAST_I64_BOOL),
        ("CAST_BOOL_I64", CAST_BOOL_I64),
        ("COPY_I64", COPY_I64),
    ];
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

/// The sizes of one conv2d: `n` samples of `c` planes of `size`, `out` output channels in
/// `groups` groups, the window (its kernel is the weight's) and the output planes' size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvShape {
    pub n: usize,
    pub c: usize,
    pub size: (usize, usize),
    pub out: usize,
    pub groups: usize,
    pub window: Window,
    pub out_size: (usize, usize),
}

impl ConvShape {
    pub fn plane(&self) -> usize {
        self.size.0 * self.size.1
    }
    /// Output positions per plane: L = oh * ow.
    pub fn l(&self) -> usize {
        self.out_size.0 * self.out_size.1
    }
    pub fn kk(&self) -> usize {
        self.window.kernel.0 * self.window.kernel.1
    }
    /// Column rows per group: C/groups * kh * kw.
    pub fn group_rows(&self) -> usize {
        self.c / self.groups * self.kk()
    }
    pub fn out_per_group(&self) -> usize {
        self.out / self.groups
    }
    pub fn input_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.size.0, self.size.1]
    }
    pub fn weight_shape(&self) -> [usize; 4] {
        [self.out, self.c / self.groups, self.window.kernel.0, self.window.kernel.1]
    }
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.out, self.out_size.0, self.out_size.1]
    }
}

/// Which part of a conv2d a kernel call computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPart {
    /// The output, from the input, the weight and an optional bias.
    Forward,
    /// The input's gradient, from the output's gradient and the weight.
    InputGrad,
    /// The weight's gradient, from the output's gradient and the input.
    WeightGrad,
    /// Both gradients in one pass (input's, weight's), from the output's gradient, the input
    /// and the weight.
    Grads,
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

            /// The variant's name, upper-cased in its WGSL constant.
            pub fn wgsl_name(self) -> &'static str {
                match self {
                    $($kind::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

pub mod optim;
pub use optim::{OptimKind, OptimOptions};

op_kinds! {
    /// An index-driven op along one dim. Inputs: the indexed tensor, the int64 index and, for
    /// the writes, the source (in the indexed tensor's dtype and on its device). Its kernels are
    /// picked by entry point, so its codes are not emitted into the shaders.
    IndexOp, "INDEX" {
        Gather = 0, "gather", Some("GatherBackward0");
        Scatter = 1, "scatter", Some("ScatterBackward0");
        ScatterAdd = 2, "scatter_add", Some("ScatterAddBackward0");
        IndexSelect = 3, "index_select", Some("IndexSelectBackward0");
        IndexAdd = 4, "index_add", Some("IndexAddBackward0");
    }
}

op_kinds! {
    /// A sliding-window op over [N, C, H, W] planes (im2col and its adjoint, max pooling and
    /// the in-plane scatter/gather pair of its backward); kernels picked by entry point.
    WindowOp, "WINDOW" {
        Im2Col = 0, "im2col", Some("Im2ColBackward0");
        Col2Im = 1, "col2im", Some("Col2ImBackward0");
        MaxPool2d = 2, "max_pool2d", Some("MaxPool2DWithIndicesBackward0");
        PlaneScatterAdd = 3, "max_pool2d_backward", Some("MaxPool2DWithIndicesBackwardBackward0");
        PlaneGather = 4, "max_pool2d_gather", Some("MaxPool2DGatherBackward0");
    }
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
    for op in BinaryOp::ALL {
        s.push_str(&format!("const BINARY_{}: u32 = {}u;\n", op.name().to_uppercase(), op.code()));
    }
    for (name, code) in elementwise_codes::ALL {
        s.push_str(&format!("const {name}: u32 = {code}u;\n"));
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
    /// `op` of two operands broadcast together, both already in the dtype `ops::binary`'s plan
    /// names (0-d CPU tensors take part as scalars on any device); comparisons give bool.
    Binary(BinaryOp),
    /// `where(cond, a, b)`: `cond` bool, `a` and `b` in the output dtype, broadcast.
    Where,
    /// A contiguous copy in `dtype` on the input's device (a plain copy when it is the same).
    Cast(DType),
    /// A contiguous copy on `device` (runs on the GPU backend, whichever side it is on).
    ToDevice(Device),
    /// Writes input 1 (broadcast, cast to input 0's dtype) into input 0's memory through its
    /// layout. No output.
    Write,
    /// Adds input 1 (broadcast, same float dtype) into input 0's memory. No output.
    AddInto,
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
    /// A part of a conv2d of `shape` (checked), all operands float of one dtype: `Forward`
    /// takes the input [N, C, H, W], the weight [O, C/groups, kh, kw] and optionally a bias
    /// [O] and gives [N, O, oh, ow]; the backward parts take the output's gradient and the
    /// tensors their `ConvPart` names, and give those gradients.
    Conv2d { shape: ConvShape, part: ConvPart },
    /// Cross-entropy per row of float logits [N, C] (input 0) against int64 classes [N]
    /// (input 1), with optional class weights [C] (input 2, the logits' dtype): each row's loss
    /// `w[t] * (logsumexp(x) - x[t])` and its weight `w[t]` (both 0 for an ignored row). The
    /// kernels check the class values, which they read.
    CrossEntropyRows { ignore_index: i64 },
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
    /// One fused optimizer step over `params` parameters, updating them and their states in
    /// place (no output). The inputs are in `optim::OptimOperands`' order, checked by
    /// `ops::optim`; the scalar states (step counts, ...) are read and advanced by the kernels,
    /// so the same `Op` serves every step. `fresh[i]` says parameter `i`'s states were created
    /// for this call (SGD starts a new momentum buffer as the gradient).
    OptimStep { options: OptimOptions, params: usize, fresh: &'a [bool] },
    /// A new CPU tensor of `shape` drawn from the process's seedable generator (no inputs).
    Random { dist: RandomDist, shape: &'a [usize], dtype: DType },
    /// A chain of element-wise calls run as one kernel (made by graph capture's fusion pass):
    /// one output per entry of `outputs`.
    Fused(&'a Fused),
    /// The int64 [n, ndim] positions of the true elements of a bool input, in row-major order.
    Nonzero,
    /// 1-D int64 positions along a dim of `size` elements (`dim` names it in the error; a
    /// flattened tensor's is 0), wrapped into `0..size` (negative ones count from the end). The
    /// kernels read the positions, so they raise PyTorch's IndexError for one out of range.
    WrapIndex { size: usize, dim: usize },
}

/// An operand of a fused chain's step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FusedOperand {
    /// Input `k` of the fused call.
    Input(usize),
    /// The result of step `s`.
    Step(usize),
}

/// A chain of element-wise calls (unary, binary, casts, ReLU's backward) whose results all have
/// `shape`; inputs are broadcast to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    pub steps: Vec<(Op<'static>, Vec<FusedOperand>)>,
    /// Each step's result dtype.
    pub dtypes: Vec<DType>,
    /// The steps whose results leave the kernel, in output order.
    pub outputs: Vec<usize>,
    pub shape: Vec<usize>,
}

impl Fused {
    /// Whether `op` may be a step of a fused chain.
    pub fn can_fuse(op: &Op<'_>) -> bool {
        matches!(op, Op::Unary(_) | Op::Binary(_) | Op::Cast(_) | Op::ReluBackward | Op::Where)
    }

    /// The chain as nested calls, one expression per output: `exp(mul(relu(%0), %1))`.
    pub fn expressions(&self, input: impl Fn(usize) -> String) -> Vec<String> {
        fn expr(f: &Fused, s: usize, input: &dyn Fn(usize) -> String) -> String {
            let (op, operands) = &f.steps[s];
            let args: Vec<String> = operands
                .iter()
                .map(|o| match *o {
                    FusedOperand::Input(k) => input(k),
                    FusedOperand::Step(t) => expr(f, t, input),
                })
                .collect();
            format!("{}({})", op.name(), args.join(", "))
        }
        self.outputs.iter().map(|&s| expr(self, s, &input)).collect()
    }
}

/// What `Op::Random` draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RandomDist {
    /// Uniform on [low, high), float dtypes.
    Uniform { low: f64, high: f64 },
    /// Normal with the given mean and std (std >= 0), float dtypes.
    Normal { mean: f64, std: f64 },
    /// Integers uniform on [low, high) (low < high), drawn as int64 and cast to the dtype.
    Int { low: i64, high: i64 },
    /// A permutation of 0..shape[0], int64.
    Permutation,
}

impl Op<'_> {
    /// The op's name in error messages and graph printouts.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Where => "where",
            Op::Cast(_) => "_to_copy",
            Op::ToDevice(_) => "to",
            Op::Write => "copy_",
            Op::AddInto => "add_",
            Op::ReluBackward => "threshold_backward",
            Op::Full { .. } => "full",
            Op::Index { op, .. } => op.name(),
            Op::Im2Col { .. } => WindowOp::Im2Col.name(),
            Op::Col2Im { .. } => WindowOp::Col2Im.name(),
            Op::MaxPool2d { .. } => WindowOp::MaxPool2d.name(),
            Op::PlaneScatterAdd { .. } => WindowOp::PlaneScatterAdd.name(),
            Op::PlaneGather => WindowOp::PlaneGather.name(),
            Op::Conv2d { part: ConvPart::Forward, .. } => "conv2d",
            Op::Conv2d { .. } => "convolution_backward",
            Op::CrossEntropyRows { .. } => "cross_entropy",
            Op::Reduce { op, .. } => op.name(),
            Op::ArgReduce { op, .. } => op.name(),
            Op::Scan { op, .. } => op.name(),
            Op::Sort { .. } => "sort",
            Op::Softmax { op, .. } => op.name(),
            Op::Matmul { .. } => "matmul",
            Op::Flip { .. } => "flip",
            Op::Random { dist: RandomDist::Uniform { .. }, .. } => "uniform",
            Op::Random { dist: RandomDist::Normal { .. }, .. } => "normal",
            Op::Random { dist: RandomDist::Int { .. }, .. } => "randint",
            Op::Random { dist: RandomDist::Permutation, .. } => "randperm",
            Op::Fused(_) => "fused",
            Op::OptimStep { options, .. } => options.kind().name(),
            Op::Nonzero => "nonzero",
            Op::WrapIndex { .. } => "index",
        }
    }
}

/// An op's borrowed slices, owned: what a captured graph keeps beside the op's `detached()` form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnedAttrs {
    /// A shape or dims.
    pub dims: Box<[usize]>,
    /// Per-parameter flags (an optimizer step's `fresh`).
    pub flags: Box<[bool]>,
}

impl<'a> Op<'a> {
    /// The op's borrowed slices, copied.
    pub fn owned_attrs(&self) -> OwnedAttrs {
        let dims: &[usize] = match *self {
            Op::Full { shape, .. } | Op::Random { shape, .. } => shape,
            Op::Reduce { dims, .. } | Op::Flip { dims } => dims,
            Op::Matmul { batch } => batch,
            _ => &[],
        };
        let flags: &[bool] = match *self {
            Op::OptimStep { fresh, .. } => fresh,
            _ => &[],
        };
        OwnedAttrs { dims: dims.into(), flags: flags.into() }
    }

    /// The same op with its borrowed slices taken from `attrs`: how a captured graph replays an
    /// op it keeps as `detached()` plus `owned_attrs()`.
    pub fn with_attrs<'b>(&self, attrs: &'b OwnedAttrs) -> Op<'b>
    where
        'a: 'b,
    {
        self.rebuild(&attrs.dims, &attrs.flags, |f| Some(f)).expect("every op rebuilds with its own borrows")
    }

    /// The op without borrows (its slices emptied), to keep beside `owned_attrs()`; None for a
    /// fused chain, which is kept whole.
    pub fn detached(&self) -> Option<Op<'static>> {
        self.rebuild(&[], &[], |_| None)
    }

    fn rebuild<'b>(&self, attr: &'b [usize], flags: &'b [bool], fused: impl FnOnce(&'a Fused) -> Option<&'b Fused>) -> Option<Op<'b>> {
        Some(match *self {
            Op::Unary(u) => Op::Unary(u),
            Op::Binary(b) => Op::Binary(b),
            Op::Where => Op::Where,
            Op::Cast(dtype) => Op::Cast(dtype),
            Op::ToDevice(device) => Op::ToDevice(device),
            Op::Write => Op::Write,
            Op::AddInto => Op::AddInto,
            Op::ReluBackward => Op::ReluBackward,
            Op::Full { value, dtype, device, .. } => Op::Full { shape: attr, value, dtype, device },
            Op::Index { op, dim } => Op::Index { op, dim },
            Op::Im2Col { window, pad_value, batch_major } => Op::Im2Col { window, pad_value, batch_major },
            Op::Col2Im { window, size, batch_major, n } => Op::Col2Im { window, size, batch_major, n },
            Op::MaxPool2d { window, out_size } => Op::MaxPool2d { window, out_size },
            Op::PlaneScatterAdd { size } => Op::PlaneScatterAdd { size },
            Op::PlaneGather => Op::PlaneGather,
            Op::CrossEntropyRows { ignore_index } => Op::CrossEntropyRows { ignore_index },
            Op::Reduce { op, keepdim, .. } => Op::Reduce { op, dims: attr, keepdim },
            Op::ArgReduce { op, dim, keepdim } => Op::ArgReduce { op, dim, keepdim },
            Op::Scan { op, dim } => Op::Scan { op, dim },
            Op::Sort { dim, descending } => Op::Sort { dim, descending },
            Op::Softmax { op, dim } => Op::Softmax { op, dim },
            Op::Matmul { .. } => Op::Matmul { batch: attr },
            Op::Flip { .. } => Op::Flip { dims: attr },
            Op::Random { dist, dtype, .. } => Op::Random { dist, shape: attr, dtype },
            Op::OptimStep { options, params, .. } => Op::OptimStep { options, params, fresh: flags },
            Op::Conv2d { shape, part } => Op::Conv2d { shape, part },
            Op::Nonzero => Op::Nonzero,
            Op::WrapIndex { size, dim } => Op::WrapIndex { size, dim },
            Op::Fused(f) => Op::Fused(fused(f)?),
        })
    }

    /// Whether the shape of the op's output depends on its inputs' values (which a captured graph
    /// cannot replay: it fixes shapes when it traces).
    pub fn has_value_dependent_shape(&self) -> bool {
        matches!(self, Op::Nonzero)
    }

    /// Whether `device`'s kernel takes every dtype as it is: the op moves, converts or draws
    /// elements without arithmetic (on a GPU, where the narrow dtypes are packed words: only
    /// casts, transfers, writes and fills). Other ops compute 16-bit floats and narrow integers
    /// in their compute type (`DType::compute_type`): `ops::dispatch` widens their operands and
    /// narrows their results, so a kernel needs only bool, int64, float32 and float64 arms.
    pub fn takes_every_dtype(&self, device: Device) -> bool {
        match self {
            Op::Cast(_) | Op::ToDevice(_) | Op::Write | Op::Full { .. } => true,
            Op::Where | Op::Index { .. } | Op::Flip { .. } | Op::PlaneGather | Op::Nonzero | Op::WrapIndex { .. }
            | Op::Random { .. } | Op::Sort { .. } => !device.is_gpu(),
            _ => false,
        }
    }

    /// Whether output `i` holds int64 positions (never the input's values or dtype).
    pub fn is_index_output(&self, i: usize) -> bool {
        matches!((self, i), (Op::ArgReduce { .. } | Op::Nonzero, 0) | (Op::Sort { .. } | Op::MaxPool2d { .. }, 1))
    }

    /// Whether the op only computes its outputs from its inputs: no writes into an input's
    /// memory, no draws from the generator. Pure calls with equal operands may be merged.
    pub fn is_pure(&self) -> bool {
        !matches!(self, Op::Write | Op::AddInto | Op::Random { .. } | Op::OptimStep { .. })
    }
}

/// What a kernel call returns.
#[derive(Debug)]
pub enum Outputs {
    /// An in-place op's (the result is in an input's memory).
    Nothing,
    One(Tensor),
    Two(Tensor, Tensor),
    Many(Vec<Tensor>),
}

impl Outputs {
    /// The outputs in order.
    pub fn tensors(&self) -> Vec<&Tensor> {
        match self {
            Outputs::Nothing => vec![],
            Outputs::One(a) => vec![a],
            Outputs::Two(a, b) => vec![a, b],
            Outputs::Many(ts) => ts.iter().collect(),
        }
    }
    /// The single output of a one-output op.
    pub fn one(self) -> Result<Tensor> {
        match self {
            Outputs::One(t) => Ok(t),
            _ => Err(Error::Runtime("a kernel was asked for one output it does not have".into())),
        }
    }
    pub fn two(self) -> Result<(Tensor, Tensor)> {
        match self {
            Outputs::Two(a, b) => Ok((a, b)),
            _ => Err(Error::Runtime("a kernel was asked for two outputs it does not have".into())),
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
    no_kernel_named(op.name(), dtype, device)
}

/// `no_kernel` for a step of a kernel that knows its op only by name.
pub fn no_kernel_named(op: &str, dtype: DType, device: Device) -> Error {
    Error::NotImplemented(format!("'{op}' on {device} is not implemented for dtype {dtype}"))
}

/// PyTorch's IndexError for a position `i` outside dim `dim` of `size` elements.
pub fn index_out_of_range(i: i64, dim: usize, size: usize) -> Error {
    Error::Index(format!("index {i} is out of bounds for dimension {dim} with size {size}"))
}

/// A tensor that takes part in a device's op as a scalar: a 0-d CPU tensor (Python numbers
/// become these), which PyTorch also lets mix with tensors on any device.
pub fn is_cpu_scalar(t: &Tensor) -> bool {
    t.device() == Device::Cpu && t.ndim() == 0
}
