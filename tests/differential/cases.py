"""The differential table: small PyTorch expressions whose results ferrograd must reproduce.

Each case is (family, source, gpu): `source` is a Python program ending in an expression, run
with `torch` bound to PyTorch by record.py and to ferrograd by tests/test_differential.py;
`gpu` says the case also runs with factories defaulting to ferrograd's "gpu" device (float64
has no GPU kernels, so cases using it are CPU-only). Families are generated as ops x dtypes x
edge inputs; the hand-written lists hold the cases of issue #18 and the bugs found with it.
"""
import itertools

DTYPES = ("float32", "float64", "int64", "bool")

# Edge inputs per dtype, written as Python literals (nan/inf are names bound in each case).
EDGE = {
    "float32": [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.5, -3.7, 100.0, -100.0, float("inf"), float("-inf"), float("nan")],
    "int64": [0, 1, -1, 7, -7, 100, 2**62, -2**63, 2**63 - 1],
    "bool": [True, False, True],
}
EDGE["float64"] = EDGE["float32"] + [1e300, -1e-310]

# Aligned operand pairs for binary ops (the int pair has no zero divisor; zero is its own family).
PAIR = {
    "float32": ([5.5, -5.5, 0.0, float("inf"), float("-inf"), float("nan"), 7.0, -2.0, 1e30],
                [2.0, 2.0, 0.0, 3.0, float("inf"), 1.0, -0.0, -3.0, 1e-30]),
    "int64": ([7, -7, 0, 10**18 + 7, -2**63, 2**63 - 1, 5, -1, 3],
              [2, 2, 3, 10, 3, 7, -3, 1, -2]),
    "bool": ([True, True, False, False, True, False, True, False, True],
             [True, False, True, False, False, True, True, False, True]),
}
PAIR["float64"] = PAIR["float32"]

UNARY = ["abs", "neg", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos",
         "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "relu", "erf", "erfc", "floor", "ceil",
         "round", "trunc", "frac", "sign", "square", "reciprocal", "isnan", "isinf", "isfinite", "logical_not",
         "bitwise_not", "positive", "signbit", "isneginf", "isposinf", "nan_to_num", "fix", "negative"]
# Unary ops with an in-place form, tried as methods.
INPLACE = ["abs_", "neg_", "exp_", "sqrt_", "floor_", "ceil_", "round_", "trunc_", "sign_", "square_",
           "reciprocal_", "sigmoid_", "relu_", "clamp_", "zero_", "fill_"]

BINARY = ["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow", "maximum", "minimum", "atan2",
          "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "bitwise_and",
          "bitwise_or", "bitwise_xor", "fmax", "fmin", "hypot", "copysign", "true_divide"]
BINARY_PAIRS = [("float32", "float32"), ("float64", "float64"), ("int64", "int64"), ("bool", "bool"),
                ("float32", "int64"), ("int64", "float32"), ("bool", "float32"), ("int64", "bool"),
                ("float32", "float64")]
SCALARS = ["2", "-3", "2.5", "0.0", "True", "inf", "nan", "10**18 + 7", "2**63"]

REDUCE = ["sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "std", "var", "nansum", "nanmean",
          "logsumexp", "count_nonzero", "any", "all", "norm", "max", "min", "median", "cumsum", "cumprod"]
REDUCE_INPUTS = {
    "f32": "torch.tensor([[1.5, -2.0, 3.0], [0.0, 4.0, -1.0]])",
    "f32nan": "torch.tensor([[1.0, nan, 3.0], [0.0, 2.0, -1.0]])",
    "f64": "torch.tensor([[1.5, -2.0, 3.0], [0.0, 4.0, -1.0]], dtype=torch.float64)",
    "i64": "torch.tensor([[1, -2, 3], [0, 4, 2**62]])",
    "bool": "torch.tensor([[True, False, True], [False, False, True]])",
    "empty": "torch.ones(0, 3)",
    "scalar": "torch.tensor(2.5)",
}
REDUCE_ARGS = ["", "dim=0", "dim=1", "dim=-1", "dim=()", "dim=(0, 1)", "dim=2", "dim=1, keepdim=True", "0"]


def lit(values):
    return repr(list(values))


def tensor_src(dtype, values):
    return f"torch.tensor({lit(values)}, dtype=torch.{dtype})"


def _gpu(*dtypes):
    return "float64" not in dtypes


def creation():
    cases = [
        "torch.linspace(0, 1, 1)", "torch.linspace(1, 0, 1)", "torch.linspace(0, 1, 0)", "torch.linspace(0, 1, 5)",
        "torch.linspace(-1, 1, 4, dtype=torch.float64)", "torch.linspace(0, 10, 6, dtype=torch.int64)",
        "torch.linspace(0, 1, -1)", "torch.linspace(2, 2, 3)",
        "torch.arange(5)", "torch.arange(0, 1, 0.25)", "torch.arange(5, 0, -2)", "torch.arange(0, 10, 0)",
        "torch.arange(0, 10, -1)", "torch.arange(10, 0, 1)", "torch.arange(1.5)", "torch.arange(-3)",
        "torch.arange(0, nan)", "torch.arange(0, inf)", "torch.arange(3, dtype=torch.float64)",
        "torch.arange(0, 3, dtype=torch.bool)", "torch.arange(2**62, 2**62 + 3)",
        "torch.tensor(2**63)", "torch.tensor(2**63 - 1)", "torch.tensor(-2**63)", "torch.tensor(-2**63 - 1)",
        "torch.tensor([1, 2**63])", "torch.tensor(np.uint64(2**64 - 1))", "torch.tensor(np.array([2**64 - 1], dtype=np.uint64))",
        "torch.tensor(np.uint64(3))", "torch.tensor([])", "torch.tensor([[]])", "torch.tensor(3)", "torch.tensor(3.5)",
        "torch.tensor(True)", "torch.tensor([1, 2.5])", "torch.tensor([True, 2])", "torch.tensor([[1, 2], [3]])",
        "torch.tensor('a')", "torch.tensor([1.0, nan, inf])", "torch.tensor(1e300)", "torch.tensor(1e300, dtype=torch.float64)",
        "torch.tensor(nan, dtype=torch.int64)", "torch.tensor(inf, dtype=torch.int64)", "torch.tensor(2.7, dtype=torch.int64)",
        "torch.tensor(-2.7, dtype=torch.int64)", "torch.tensor(2, dtype=torch.bool)", "torch.tensor(0.5, dtype=torch.bool)",
        "torch.tensor(np.array([1, 2], dtype=np.int32))", "torch.tensor(np.float32(1.5))", "torch.tensor(np.bool_(True))",
        "torch.full((2,), inf, dtype=torch.int64)", "torch.full((2,), nan, dtype=torch.int64)",
        "torch.full((2,), -inf, dtype=torch.int64)", "torch.full((2,), 2.5, dtype=torch.int64)",
        "torch.full((2,), 7)", "torch.full((2,), 7.5)", "torch.full((2,), True)", "torch.full((2,), 2**63)",
        "torch.full((2,), 2**63 - 1)", "torch.full((2,), -2**63)", "torch.full((2,), 10**18 + 7)",
        "torch.full((2,), 3, dtype=torch.bool)", "torch.full((-1,), 1.0)", "torch.full((2, 0), 1.0)",
        "torch.full(2**63, 1.0)", "torch.full((2,), 1e300, dtype=torch.float32)",
        "torch.zeros(2, 3)", "torch.zeros((2, 3), dtype=torch.int64)", "torch.zeros(0)", "torch.zeros(())",
        "torch.zeros(-1)", "torch.zeros(2, -3)", "torch.zeros(2.5)", "torch.ones(2, dtype=torch.bool)",
        "torch.ones([2, 2]) * 2", "torch.empty(0, 3).shape", "torch.empty(2, 3).shape", "torch.empty(-2)",
        "torch.eye(3)", "torch.eye(2, 3)", "torch.eye(0)", "torch.eye(-1)", "torch.eye(2, dtype=torch.int64)",
        "torch.zeros_like(torch.ones(2, dtype=torch.int64))", "torch.ones_like(torch.ones(2), dtype=torch.bool)",
        "torch.full_like(torch.ones(2), 3)", "torch.full_like(torch.ones(2, dtype=torch.int64), 2.7)",
        "torch.full_like(torch.ones(2, dtype=torch.int64), nan)",
        "x = torch.ones(3, dtype=torch.int64); x.fill_(nan)", "x = torch.ones(3, dtype=torch.int64); x.fill_(inf)",
        "x = torch.ones(3, dtype=torch.int64); x.fill_(2.7)", "x = torch.ones(3, dtype=torch.int64); x.fill_(2**63)",
        "x = torch.ones(3, dtype=torch.int64); x.fill_(10**18 + 7)", "x = torch.ones(3, dtype=torch.bool); x.fill_(2)",
        "x = torch.ones(3); x.fill_(torch.tensor(2.5))", "x = torch.ones(3); x.fill_(torch.ones(2))",
        "torch.randint(0, 10, (3,)).shape", "torch.randint(5, 5, (3,))", "torch.randint(5, 2, (3,))",
        "torch.randint(10, (2, 2)).dtype", "torch.randint(-5, -2, (100,)).min() >= -5",
        "torch.randint(0, 2**63 - 1, (2,)).shape", "torch.randint(0, 1, (4,))", "torch.randint(3, (0,))",
        "torch.randperm(0)", "torch.randperm(-1)", "torch.randperm(1)", "torch.randperm(5).sort().values",
        "torch.randperm(4, dtype=torch.float32).sort().values", "torch.rand(2, 3).shape", "torch.rand(0).shape",
        "torch.rand(-1)", "torch.randn(3, dtype=torch.int64)", "torch.rand(2, dtype=torch.float64).dtype",
        "torch.normal(0.0, 1.0, (3,)).shape", "torch.normal(0.0, -1.0, (3,))", "torch.normal(torch.zeros(3), -1.0)",
        "torch.normal(torch.zeros(3), torch.ones(3)).shape", "torch.normal(torch.zeros(3), torch.tensor([1.0, -1.0, 1.0]))",
        "torch.normal(0.0, 0.0, (3,))", "torch.bernoulli(torch.tensor([1.5, 0.5]))", "torch.bernoulli(torch.tensor([-0.5]))",
        "torch.bernoulli(torch.tensor([0.0, 1.0, 1.0]))", "torch.bernoulli(torch.tensor([nan]))",
        "torch.bernoulli(torch.ones(3), 2.0)", "torch.bernoulli(torch.zeros(3), 0.0)",
        "torch.multinomial(torch.tensor([0.0, 1.0]), 1)", "torch.multinomial(torch.tensor([0.0, 0.0]), 1)",
        "torch.multinomial(torch.tensor([-1.0, 2.0]), 1)", "torch.multinomial(torch.tensor([1.0, 1.0]), 3)",
        "torch.multinomial(torch.tensor([1.0, 1.0]), 3, replacement=True).shape",
        "torch.multinomial(torch.tensor([nan, 1.0]), 1)", "torch.multinomial(torch.tensor([1.0, inf]), 1)",
        "torch.as_tensor([1, 2]).dtype", "torch.as_tensor(np.arange(3)).dtype", "torch.from_numpy(np.array([1.5])).dtype",
        "torch.from_numpy(np.array([2, 255, 1, 0], dtype=np.uint8).view(np.bool_)).sum()",
        "torch.from_numpy(np.array([2, 255, 1, 0], dtype=np.uint8).view(np.bool_)).long()",
        "torch.tensor(np.array([2, 255, 1, 0], dtype=np.uint8).view(np.bool_)).sum()",
        "m = torch.from_numpy(np.array([2, 0, 1, 0], dtype=np.uint8).view(np.bool_)); torch.arange(4.0)[m]",
        "torch.from_numpy(np.array([2, 0], dtype=np.uint8).view(np.bool_)) == torch.tensor([True, False])",
        "torch.from_numpy(np.array([2, 0], dtype=np.uint8).view(np.bool_)).logical_not()",
        "torch.from_numpy(np.array([1, 2], dtype=np.uint64))", "torch.from_numpy(np.array(['a']))",
    ]
    gpu_bad = ("np.", "float64", "from_numpy")
    return [("creation", c, not any(b in c for b in gpu_bad)) for c in cases]


def unary():
    out = []
    for op, dt in itertools.product(UNARY, DTYPES):
        src = tensor_src(dt, EDGE[dt])
        out.append(("unary", f"torch.{op}({src})", _gpu(dt)))
        out.append(("unary", f"torch.{op}({tensor_src(dt, [])})", _gpu(dt)))
    for op, dt in itertools.product(["abs", "neg", "exp", "floor", "sign", "sigmoid", "isnan", "square"], DTYPES):
        out.append(("unary", f"{tensor_src(dt, EDGE[dt][:4])}.{op}()", _gpu(dt)))
        out.append(("unary", f"torch.{op}(torch.tensor({EDGE[dt][-1]!r}, dtype=torch.{dt}))", _gpu(dt)))
    for op, dt in itertools.product(INPLACE, DTYPES):
        arg = {"clamp_": "min=0", "fill_": "3"}.get(op, "")
        out.append(("unary", f"x = {tensor_src(dt, EDGE[dt][:5])}; x.{op}({arg}); x", _gpu(dt)))
    # Non-contiguous and broadcast views go through the strided kernels.
    for op in ["abs", "exp", "sign", "neg", "sqrt"]:
        out.append(("unary", f"torch.{op}(torch.arange(-3.0, 3.0).view(2, 3).t())", True))
        out.append(("unary", f"torch.{op}(torch.arange(-3.0, 3.0)[::2])", True))
    for dt in DTYPES:
        src = tensor_src(dt, EDGE[dt])
        for args in ["min=0", "max=1", "min=-1, max=1", "min=2, max=1", "min=nan", "max=10**18 + 6", "min=2**63"]:
            out.append(("unary", f"torch.clamp({src}, {args})", _gpu(dt)))
        for args in ["", "nan=1.0", "posinf=5.0, neginf=-5.0"]:
            out.append(("unary", f"torch.nan_to_num({src}{', ' if args else ''}{args})", _gpu(dt)))
        out.append(("unary", f"torch.round({src}, decimals=1)", _gpu(dt)))
    return out


def binary():
    out = []
    for op, (da, db) in itertools.product(BINARY, BINARY_PAIRS):
        a, b = tensor_src(da, PAIR[da][0]), tensor_src(db, PAIR[db][1])
        out.append(("binary", f"torch.{op}({a}, {b})", _gpu(da, db)))
    for op, dt, s in itertools.product(["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow",
                                        "maximum", "eq", "lt", "bitwise_and", "atan2"], DTYPES, SCALARS):
        a = tensor_src(dt, PAIR[dt][0][:4])
        fn = f"torch.{op}({a}, {s})"
        if op in ("maximum", "atan2"):  # tensor-only second operand
            fn = f"torch.{op}({a}, torch.tensor({s}))"
        out.append(("binary", fn, _gpu(dt)))
    for mode, dt in itertools.product(["trunc", "floor", None], DTYPES):
        a, b = tensor_src(dt, PAIR[dt][0]), tensor_src(dt, PAIR[dt][1])
        out.append(("binary", f"torch.div({a}, {b}, rounding_mode={mode!r})", _gpu(dt)))
    # Integer division and remainder by zero raise ZeroDivisionError-style RuntimeError; floats give inf/nan.
    for op, dt in itertools.product(["floor_divide", "remainder", "fmod", "div"], DTYPES):
        a = tensor_src(dt, PAIR[dt][0][:4])
        out.append(("binary", f"torch.{op}({a}, 0)", _gpu(dt)))
        out.append(("binary", f"torch.{op}({a}, torch.zeros(4, dtype=torch.{dt}))", _gpu(dt)))
    for mode in ["trunc", "floor"]:
        out.append(("binary", f"torch.div(torch.tensor([5]), 0, rounding_mode={mode!r})", True))
        out.append(("binary", f"torch.div(torch.tensor([5]), torch.tensor([0]), rounding_mode={mode!r})", True))
    out += [("binary", c, True) for c in [
        "torch.fmod(torch.tensor([10**18 + 7]), 10)", "torch.remainder(torch.tensor([10**18 + 7]), 10)",
        "torch.fmod(torch.tensor([-2**63]), -1)", "torch.remainder(torch.tensor([-2**63]), -1)",
        "torch.div(torch.tensor([-2**63]), -1, rounding_mode='floor')", "torch.tensor([-2**63]) // -1",
        # (div(-2**63, -1, rounding_mode='trunc') kills PyTorch 2.15 with SIGFPE: no reference to record.)
        "torch.div(torch.tensor([10**18 + 7]), 3, rounding_mode='trunc')",
        "torch.div(torch.tensor([10**18 + 7]), 3, rounding_mode='floor')", "torch.tensor([10**18 + 7]) // 3",
        "torch.tensor([-(10**18) - 7]) // 3", "torch.tensor([10**18 + 7]) % -3",
        "torch.tensor([10**18 + 7]) * 3", "torch.tensor([2**62]) * 4", "torch.tensor([2**63 - 1]) + 1",
        "torch.tensor([3]) ** 40", "torch.tensor([-2]) ** 63", "torch.tensor([2]) ** -1", "torch.tensor([2]) ** torch.tensor([-1])",
        "torch.tensor([10**18 + 7]) == 10**18 + 6", "torch.tensor([10**18 + 7]) > 10**18 + 6",
        "torch.tensor([10**18 + 7]).max()", "torch.tensor([10**18 + 7, 10**18 + 9]).sum()",
        "torch.tensor([10**18 + 7]).cumsum(0)", "torch.abs(torch.tensor([-2**63]))", "-torch.tensor([-2**63])",
        "float('inf') // torch.tensor([2.0])", "torch.tensor([inf]) // 2", "torch.tensor([-inf]) // 2",
        "torch.tensor([5.0]) // 0", "torch.tensor([-5.0]) // 0.0", "torch.tensor([5.0]) % 0", "torch.tensor([5.0]) % inf",
        "torch.tensor([-5.0]) % inf", "torch.atan2(torch.tensor([nan]), torch.tensor([1.0]))",
        "torch.atan2(torch.tensor([True, False]), torch.tensor([True, True]))",
        "torch.atan2(torch.tensor([1, 0]), torch.tensor([-1, 1]))",
        "torch.tensor([1.0, 2.0]) + torch.tensor([1, 2])", "torch.tensor([1, 2]) / torch.tensor([2, 4])",
        "torch.tensor([True]) + torch.tensor([True])", "torch.tensor([True]) - torch.tensor([True])",
        "torch.tensor([True]) * 2.5", "torch.tensor([1, 2]) * 2.5", "torch.tensor([1, 2]) + True",
        "torch.ones(2) + torch.ones(3)", "torch.ones(2, 1) + torch.ones(3)", "torch.ones(0) + torch.ones(1)",
        "torch.ones(0) + torch.ones(2)", "torch.tensor(2.0) * torch.tensor([1, 2])",
        "torch.tensor(2.0, dtype=torch.float64) * torch.ones(2)", "torch.tensor(2) * torch.ones(2, dtype=torch.bool)",
        "torch.lerp(torch.zeros(3), torch.ones(3), 0.5)", "torch.lerp(torch.zeros(3), torch.ones(3), torch.tensor([0.0, 0.5, 2.0]))",
        "torch.isclose(torch.tensor([1.0, nan]), torch.tensor([1.0 + 1e-9, nan]))",
        "torch.isclose(torch.tensor([1.0, nan]), torch.tensor([1.0, nan]), equal_nan=True)",
        "torch.allclose(torch.ones(2), torch.ones(2) + 1e-9)", "torch.equal(torch.ones(2), torch.ones(3))",
        "torch.equal(torch.tensor([nan]), torch.tensor([nan]))",
    ]]
    return out


def reductions():
    out = []
    for op, (name, src), args in itertools.product(REDUCE, REDUCE_INPUTS.items(), REDUCE_ARGS):
        gpu = name != "f64"
        if op in ("cumsum", "cumprod") and args in ("", "dim=()", "dim=(0, 1)"):
            continue
        out.append(("reduce", f"torch.{op}({src}{', ' if args else ''}{args})", gpu))
    for op in ["sum", "mean", "prod", "nansum", "count_nonzero", "any", "all", "amax", "argmax", "logsumexp"]:
        out.append(("reduce", f"torch.{op}(torch.tensor([nan, 1.0, 0.0]))", True))
        out.append(("reduce", f"torch.{op}(torch.ones(2, 0), dim=1)", True))
    out += [("reduce", c, True) for c in [
        "torch.ones(0).any()", "torch.ones(0).all()", "torch.ones(0, dtype=torch.bool).any()",
        "torch.count_nonzero(torch.tensor([nan, 1.0, 0.0]))", "torch.tensor([nan, 0.0]).any()",
        "torch.tensor([nan, 1.0]).all()", "torch.nansum(torch.tensor([1, 2]))", "torch.nansum(torch.tensor([True, True]))",
        "torch.sum(torch.tensor([True, True]))", "torch.sum(torch.tensor([1, 2]), dtype=torch.float32)",
        "torch.mean(torch.tensor([1, 2]))", "torch.mean(torch.tensor([1, 2]), dtype=torch.float32)",
        "torch.prod(torch.tensor([True, False]))", "torch.tensor([2**62, 2**62]).sum()",
        "torch.std(torch.tensor([1.0]))", "torch.var(torch.tensor([1.0]), correction=0)",
        "torch.std(torch.ones(2, 3), dim=1, unbiased=False)", "torch.var(torch.ones(2, 3), 1, True)",
        "torch.var_mean(torch.tensor([1.0, 2.0, 4.0]))", "torch.std_mean(torch.tensor([[1.0, 2.0], [3.0, 5.0]]), dim=0)",
        "torch.max(torch.tensor([1.0, nan, 3.0]))", "torch.max(torch.tensor([1.0, nan, 3.0]), 0)",
        "torch.argmax(torch.tensor([1.0, nan, 3.0]))", "torch.argmin(torch.tensor([nan, nan]))",
        "torch.argmax(torch.tensor([[1, 5], [5, 1]]), dim=1)", "torch.argmax(torch.tensor([3.0, 3.0, 1.0]))",
        "torch.max(torch.tensor([2.0, 7.0, 7.0]), dim=0)", "torch.min(torch.tensor([2.0, 1.0, 1.0]), dim=0)",
        "torch.max(torch.ones(2, 3), torch.zeros(3))", "torch.aminmax(torch.tensor([3, 1, 2]))",
        "torch.median(torch.tensor([1.0, 4.0, 2.0, 3.0]))", "torch.median(torch.tensor([1.0, nan, 2.0]))",
        "torch.kthvalue(torch.tensor([3.0, 1.0, 2.0]), 2)", "torch.kthvalue(torch.tensor([3.0, 1.0, 2.0]), 4)",
        "torch.kthvalue(torch.tensor([3.0, 1.0, 2.0]), 0)", "torch.topk(torch.tensor([3.0, 1.0, 2.0]), 2)",
        "torch.topk(torch.tensor([3.0, 1.0, 2.0]), 4)", "torch.topk(torch.tensor([3.0, 1.0, 2.0]), 2, largest=False)",
        "torch.topk(torch.tensor([1.0, nan, 2.0]), 1)", "torch.sort(torch.tensor([2.0, nan, -inf, 1.0]))",
        "torch.sort(torch.tensor([2.0, nan, -inf, 1.0]), descending=True)", "torch.sort(torch.tensor([3, -2**63, 2**63 - 1]))",
        "torch.argsort(torch.tensor([2, 1, 2, 1]), stable=True)", "torch.sort(torch.tensor([True, False, True]))",
        "torch.norm(torch.tensor([3.0, 4.0]))", "torch.norm(torch.tensor([3.0, 4.0]), p=1)",
        "torch.norm(torch.tensor([3.0, -4.0]), p=float('inf'))", "torch.norm(torch.tensor([3, 4]))",
        "torch.logsumexp(torch.tensor([-inf, -inf]), 0)", "torch.logsumexp(torch.tensor([inf, 1.0]), 0)",
        "torch.logsumexp(torch.tensor([1, 2]), 0)", "torch.softmax(torch.tensor([1, 2]), 0)",
        "torch.log_softmax(torch.tensor([1.0, 2.0]), 0, dtype=torch.float64)",
        "torch.cumsum(torch.tensor([True, True]), 0)", "torch.cumsum(torch.tensor([1.0, nan, 2.0]), 0)",
        "torch.cumprod(torch.tensor([2, 3, 2**62]), 0)", "torch.cumsum(torch.ones(2, 2), dim=2)",
        "torch.sum(torch.ones(2, 2), dim=(0, 0))", "torch.sum(torch.ones(2, 2), dim=(0, -2))",
        "torch.mean(torch.ones(2, 2), dim=[])", "torch.sum(torch.ones(2, 3), dim=[], keepdim=True)",
        "torch.std(torch.ones(2, 3), dim=())", "torch.count_nonzero(torch.ones(2, 3), dim=())",
        "torch.logsumexp(torch.ones(2, 3), dim=())", "torch.nansum(torch.ones(2, 3), dim=())",
        "torch.amax(torch.ones(2, 3), dim=())", "torch.ones(2, 3).sum(())",
        "torch.square(torch.tensor([True, False]))", "torch.sign(torch.tensor([nan, -0.0, 2.0]))",
        "torch.addmm(torch.tensor([[nan]]), torch.ones(1, 2), torch.ones(2, 1), beta=0)",
        "torch.addmm(torch.tensor([[inf]]), torch.ones(1, 2), torch.ones(2, 1), beta=0)",
        "torch.addmm(torch.ones(1, 1), torch.ones(1, 2), torch.ones(2, 1), beta=2, alpha=0.5)",
        "torch.addmm(torch.ones(1, 1), torch.tensor([[nan, 1.0]]), torch.ones(2, 1), alpha=0)",
        "torch.baddbmm(torch.full((1, 1, 1), nan), torch.ones(1, 1, 2), torch.ones(1, 2, 1), beta=0)",
        "torch.trace(torch.arange(6.0).view(2, 3))", "torch.trace(torch.ones(2))", "torch.trace(torch.ones(2, 2, 2))",
        "torch.trace(torch.tensor([[1, 2], [3, 4]]))", "torch.dot(torch.ones(2), torch.ones(3))",
        "torch.dot(torch.tensor([1, 2]), torch.tensor([3, 4]))", "torch.mm(torch.ones(2, 3), torch.ones(2, 3))",
        "torch.matmul(torch.tensor([True]), torch.tensor([True]))", "torch.matmul(torch.ones(3), torch.ones(3))",
        "torch.matmul(torch.ones(2, 0), torch.ones(0, 3))", "torch.matmul(torch.ones(0, 2), torch.ones(2, 3))",
        "torch.matmul(torch.tensor(1.0), torch.ones(2))", "torch.mv(torch.ones(2, 3), torch.ones(2))",
        "torch.outer(torch.tensor([1, 2]), torch.tensor([3.0]))", "torch.tensordot(torch.ones(2, 3), torch.ones(3, 2), dims=-1)",
        "torch.tensordot(torch.ones(2, 3), torch.ones(3, 2), dims=1)", "torch.tensordot(torch.ones(2, 3), torch.ones(2, 3), dims=2)",
        "torch.tensordot(torch.ones(2, 3), torch.ones(3, 2), dims=3)",
        # Rows longer than 2**23 (the GPU's arg-reductions lost the index there).
        "x = torch.zeros(8_400_000); x[8_399_990] = 1.0; x.argmax(), x.max(0).indices, (-x).argmin()",
        "x = torch.zeros(2, 8_400_000); x[1, 8_399_990] = 1.0; x.argmax(1), x.max(1).indices",
        "torch.ones(3).item()", "torch.tensor([[2.5]]).item()", "torch.ones(0).item()", "torch.tensor([2**63 - 1]).item()",
    ]]
    return out


def shapes():
    x = "torch.arange(6.0).view(2, 3)"
    cases = [
        f"{x}.permute(0, 2)", f"{x}.permute(0, 0)", f"{x}.permute(0)", f"{x}.permute(-1, 0)", f"{x}.permute(1, -3)",
        f"{x}.narrow(2, 0, 1)", f"{x}.narrow(0, 3, 1)", f"{x}.narrow(1, -1, 1)", f"{x}.narrow(0, 0, -1)", f"{x}.narrow(1, 1, 3)",
        f"{x}.narrow(1, -4, 1)", f"torch.tril({x}, 5)", f"torch.tril({x}, -5)", f"torch.tril(torch.ones(3))",
        f"torch.triu(torch.ones(3))", f"torch.tril(torch.ones(2, 2, 2))", f"torch.triu({x}, 1)",
        f"torch.cross(torch.ones(2, 3), torch.ones(2, 3), dim=2)", f"torch.cross(torch.ones(2, 3), torch.ones(2, 3), dim=0)",
        f"torch.cross(torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), dim=0)", f"torch.cross(torch.ones(3, 2), torch.ones(3, 2), dim=0)",
        f"torch.diag(torch.ones(2, 2, 2))", f"torch.diag({x})", f"torch.diag({x}, 1)", f"torch.diag(torch.tensor([1, 2]))",
        f"torch.diag(torch.tensor([1.0, 2.0]), -1)", f"torch.diag(torch.tensor(1.0))", f"torch.diagonal({x})",
        f"torch.diagonal({x}, 0, 0, 0)", f"torch.diagonal({x}, offset=5)",
        f"torch.movedim({x}, (0, 0), (1, 0))", f"torch.movedim({x}, 0, 2)", f"torch.movedim({x}, 0, 1)",
        f"torch.movedim({x}, (0, 1), (1, 1))", f"torch.movedim({x}, (0,), (1, 0))",
        f"torch.tensor_split({x}, 0)", f"torch.tensor_split({x}, 2)", f"torch.tensor_split({x}, -1)", f"torch.tensor_split({x}, 4, dim=1)",
        f"torch.tensor_split({x}, [1, 5], dim=1)", f"torch.tensor_split({x}, 2, dim=3)",
        f"torch.repeat_interleave(torch.tensor([1, 2]), -1)", f"torch.repeat_interleave(torch.tensor([1, 2]), 2)",
        f"torch.repeat_interleave(torch.tensor([1, 2]), torch.tensor([1, 2]))", f"torch.repeat_interleave(torch.tensor([1, 2]), torch.tensor([1, -1]))",
        f"torch.repeat_interleave(torch.tensor([1, 2]), torch.tensor([1, 2, 3]))", f"torch.repeat_interleave(torch.tensor([1, 2]), 0)",
        f"torch.repeat_interleave({x}, 2, dim=1)", f"torch.repeat_interleave({x}, 2, dim=2)",
        f"{x}.view(3, 2)", f"{x}.view(-1)", f"{x}.view(4)", f"{x}.view(-1, -1)", f"{x}.view(0, -1)", f"{x}.t().view(6)",
        f"{x}.reshape(3, -1)", f"{x}.reshape(-2, 3)", f"{x}.reshape(7)", f"torch.ones(0, 3).reshape(-1, 0)",
        f"{x}.squeeze(3)", f"{x}.squeeze(0)", f"torch.ones(1, 2, 1).squeeze()", f"torch.ones(1, 2, 1).squeeze((0, 2))",
        f"{x}.unsqueeze(3)", f"{x}.unsqueeze(-3)", f"{x}.unsqueeze(-4)", f"{x}.flatten(1, 0)", f"{x}.flatten(0, 5)",
        f"{x}.flatten()", f"torch.tensor(2.0).flatten()", f"{x}.unflatten(1, (3, 1))", f"{x}.unflatten(1, (2, 2))",
        f"{x}.unflatten(1, (-1, 3))", f"{x}.transpose(0, 2)", f"{x}.transpose(-1, -2)", f"torch.tensor(1.0).t()",
        f"torch.ones(2, 2, 2).t()", f"{x}.expand(2, 2)", f"{x}.expand(4, 2, 3).shape", f"{x}.expand(-1, 3)",
        f"{x}.expand(2)", f"torch.ones(1).expand(-1)", f"{x}.flip(0)", f"{x}.flip(2)", f"{x}.flip((0, 0))", f"{x}.flip(-1)",
        f"{x}.roll(1)", f"{x}.roll(1, 0)", f"{x}.roll(-4, 1)", f"{x}.roll((1, 1), (0, 1))", f"{x}.roll(1, 2)",
        f"{x}.roll((1, 2), 0)", f"torch.ones(0).roll(1)",
        f"torch.cat([{x}, {x}])", f"torch.cat([{x}, {x}], 1)", f"torch.cat([{x}, {x}], 2)", f"torch.cat([])",
        f"torch.cat([{x}, torch.ones(3)])", f"torch.cat([{x}, torch.ones(0)])", f"torch.cat([{x}, torch.ones(2, 2)])",
        f"torch.cat([torch.tensor([1]), torch.tensor([1.5])])", f"torch.cat([torch.tensor([True]), torch.tensor([2])])",
        f"torch.cat([torch.ones(2), torch.ones(2, dtype=torch.float64)]).dtype",
        f"torch.stack([{x}, {x}], 2)", f"torch.stack([{x}, {x}], 3)", f"torch.stack([{x}, torch.ones(3, 2)])", f"torch.stack([])",
        f"torch.stack([torch.tensor(1), torch.tensor(2.0)])", f"{x}.split(2, 1)", f"{x}.split([1, 2], 1)", f"{x}.split([1, 1], 1)",
        f"{x}.split(0, 1)", f"{x}.split(-1, 1)", f"{x}.chunk(2, 1)", f"{x}.chunk(0)", f"{x}.chunk(4, 1)",
        f"{x}.unbind(1)", f"{x}.unbind(2)", f"{x}.repeat(2, 1)", f"{x}.repeat(2)", f"{x}.repeat(-1, 1)", f"{x}.repeat(1, 1, 2)",
        f"{x}.tile((2,))", f"{x}.unfold(1, 2, 1)", f"{x}.unfold(1, 4, 1)", f"{x}.unfold(1, 2, 0)", f"{x}.unfold(1, 0, 1)",
        f"{x}.select(0, -1)", f"{x}.select(0, 2)", f"{x}.select(2, 0)", f"torch.atleast_2d(torch.tensor(1.0))",
        f"torch.broadcast_shapes((2, 1), (3,))", f"torch.broadcast_shapes((2,), (3,))", f"torch.broadcast_to({x}, (3, 3))",
        f"torch.broadcast_to(torch.ones(3), (2, 3))", f"torch.vstack([torch.ones(2), torch.ones(2)])",
        f"torch.hstack([torch.ones(2), torch.ones(3)])", f"torch.swapaxes({x}, 0, 1)", f"{x}.T", f"{x}.mT",
        f"{x}.numel()", f"{x}.dim()", f"{x}.size()", f"{x}.size(1)", f"{x}.size(2)", f"{x}.stride()", f"{x}.t().stride()",
        f"{x}.t().is_contiguous()", f"{x}.is_contiguous()", f"{x}.t().contiguous().stride()",
        f"{x}[:, ::2].stride()", f"len({x})", "len(torch.tensor(1.0))", f"{x}.ndim", f"{x}.dtype", f"{x}.shape",
        "torch.einsum('ii->i', torch.ones(2, 3))", "torch.einsum('ii->i', torch.arange(4.0).view(2, 2))",
        "torch.einsum('ii', torch.arange(4.0).view(2, 2))", "torch.einsum('ij,jk->ik', torch.ones(2, 3))",
        "torch.einsum('ij->ik', torch.ones(2, 3))", "torch.einsum('ij,jk->ik', torch.ones(2, 3), torch.ones(2, 3))",
        "torch.einsum('ij,jk', torch.ones(2, 3), torch.ones(3, 2))", "torch.einsum('i,i->', torch.ones(3), torch.ones(3))",
        "torch.einsum('...i,...i->...', torch.ones(2, 3), torch.ones(2, 3))", "torch.einsum('ijk->i', torch.ones(2, 3))",
        "torch.einsum('i,j->ij', torch.tensor([1, 2]), torch.tensor([3, 4]))", "torch.einsum('ij->ji', torch.ones(2, 3)).shape",
        "torch.einsum('i->', torch.ones(3), torch.ones(3))", "torch.einsum('ij,ij->i', torch.ones(2, 3), torch.ones(2, 3))",
    ]
    return [("shape", c, True) for c in cases]


def indexing():
    x = "torch.arange(6.0).view(2, 3)"
    idx = "torch.tensor([[0, 1], [1, 0]])"
    out = []
    # Negative and out-of-range indices raise in every index-taking op (they wrapped before).
    for index in ["[[0, -1], [1, 0]]", "[[0, 3], [1, 0]]", "[[0, 1], [1, 0]]", "[[0, 2**62], [0, 0]]"]:
        t = f"torch.tensor({index})"
        out += [
            f"torch.gather({x}, 1, {t})", f"torch.scatter(torch.zeros(2, 3), 1, {t}, 1.0)",
            f"torch.scatter_add(torch.zeros(2, 3), 1, {t}, torch.ones(2, 2))",
            f"torch.scatter(torch.zeros(2, 3), 1, {t}, torch.ones(2, 2))",
            f"torch.index_select({x}, 1, {t}[0])", f"torch.index_add(torch.zeros(2, 3), 1, {t}[0], torch.ones(2, 2))",
            f"F.embedding({t}, torch.arange(12.0).view(4, 3))", f"torch.take({x}, {t})",
            f"{x}[{t}]", f"{x}[:, {t}[0]]", f"torch.index_fill({x}, 1, {t}[0], -1.0)",
            f"torch.take_along_dim({x}, {t}, 1)", f"torch.zeros(2, 3).index_put_(({t}[0], {t}[1]), torch.tensor(1.0))",
            f"torch.zeros(2, 3).index_put_(({t}[0], {t}[1]), torch.tensor(1.0), accumulate=True)",
            f"x = torch.zeros(2, 3); x[{t}[0], {t}[1]] = 5.0; x",
        ]
    out += [
        f"torch.gather({x}, 1, torch.tensor([[0.0]]))", f"torch.gather({x}, 2, {idx})", f"torch.gather({x}, 1, torch.tensor([0, 1]))",
        f"torch.gather({x}, 1, torch.tensor([[0, 1, 2, 0]]))", f"torch.gather({x}, 0, torch.zeros(3, 3, dtype=torch.int64))",
        f"torch.gather({x}, 1, torch.zeros(0, 1, dtype=torch.int64))", f"torch.scatter(torch.zeros(2, 3), 2, {idx}, 1.0)",
        f"torch.index_select({x}, 0, torch.tensor([[0]]))", f"torch.index_select({x}, 0, torch.tensor([0.0]))",
        f"torch.index_select({x}, 2, torch.tensor([0]))", f"torch.index_select({x}, 0, torch.tensor(1))",
        f"{x}[5]", f"{x}[-3]", f"{x}[1, -1]", f"{x}[:, 3]", f"{x}[0, 0, 0]", f"{x}[..., None].shape", f"{x}[None, ..., 1]",
        f"{x}[..., ...]", f"{x}[1:0]", f"{x}[::-1]", f"{x}[:, ::0]", f"{x}[-5:5]", f"{x}[torch.tensor([True, False])]",
        f"{x}[torch.tensor([True, False, True])]", f"{x}[torch.tensor([[True, False, True], [False, False, True]])]",
        f"{x}[torch.tensor([0, 1]), torch.tensor([0, 1, 2])]", f"{x}[torch.tensor([[0], [1]]), torch.tensor([0, 1, 2])]",
        f"{x}[[0, 1], [2, 0]]", f"{x}[[0, 1]]", f"{x}[torch.tensor([], dtype=torch.int64)]", f"{x}[torch.tensor([0.0])]",
        f"{x}[1.0]", f"{x}[True]", f"{x}[False].shape", f"{x}[None]", f"{x}['a']",
        f"x = {x}; x[1:] = x[:-1]; x", f"x = torch.arange(5.0); x[1:] = x[:-1]; x",
        f"x = torch.zeros(3).expand(2, 3); x.add_(1)", f"x = torch.zeros(3).expand(2, 3); x[0] = 1.0; x",
        f"x = torch.zeros(1, 3).expand(2, 3); x.fill_(2.0)", f"x = torch.zeros(3); x[torch.tensor([0, 0])] = torch.tensor([1.0, 2.0]); x.shape",
        f"x = {x}; x[x > 2] = 0; x", f"x = {x}; x[:, 1] = torch.tensor([7.0, 8.0]); x", f"x = {x}; x[0] = torch.ones(2); x",
        f"x = {x}; x[0] = 'a'", f"x = torch.zeros(3, dtype=torch.int64); x[0] = 2.7; x", f"x = torch.zeros(3, dtype=torch.int64); x[0] = nan; x",
        f"x = torch.zeros(3, dtype=torch.int64); x[0] = 2**63; x",
        f"torch.where(torch.tensor([1.0, 0.0]), torch.ones(2), torch.zeros(2))",
        f"torch.where(torch.tensor([1, 0]), torch.ones(2), torch.zeros(2))",
        f"torch.where(torch.tensor([True, False]), torch.ones(2), torch.zeros(2, dtype=torch.int64))",
        f"torch.where(torch.tensor([True, False]), 1.0, 0)", f"torch.where(torch.tensor([True, False]), torch.tensor([1, 2]), 2.5)",
        f"torch.where(torch.tensor([[True], [False]]), torch.ones(3), torch.zeros(2, 1))",
        f"torch.where(torch.tensor([True, False, True]))", f"torch.where(torch.tensor([[0, 1], [2, 0]]))",
        f"torch.masked_fill({x}, {x} > 2, -1.0)", f"torch.masked_fill({x}, torch.tensor([1, 0, 1]), -1.0)",
        f"torch.masked_fill({x}, {x} > 2, torch.tensor([1.0, 2.0]))", f"torch.masked_fill(torch.tensor([1, 2]), torch.tensor([True, False]), 2.5)",
        f"torch.masked_select({x}, {x} > 2)", f"torch.masked_select({x}, torch.tensor([True, False, True]))",
        f"torch.masked_select({x}, torch.tensor([1, 0, 1]))", f"torch.nonzero({x})", f"torch.nonzero(torch.tensor([nan, 0.0, -0.0]))",
        f"torch.nonzero({x}, as_tuple=True)", f"torch.argwhere({x})", f"torch.nonzero(torch.tensor(0.0))",
        f"torch.nonzero(torch.tensor(3.0))", f"torch.take({x}, torch.tensor([-1, 0]))", f"torch.take({x}, torch.tensor([6]))",
        f"F.embedding(torch.tensor([0, 1]), torch.ones(3, 2), padding_idx=5)",
        f"F.embedding(torch.tensor([0, 1]), torch.ones(3, 2), padding_idx=-4)",
        f"F.embedding(torch.tensor([0, 1]), torch.ones(3, 2), padding_idx=-1)",
        f"F.embedding(torch.tensor([0.0, 1.0]), torch.ones(3, 2))", f"F.embedding(torch.tensor([3]), torch.ones(3, 2))",
        f"torch.scatter(torch.zeros(3), 0, torch.tensor([0, 0]), torch.tensor([1.0, 2.0])).shape",
        f"torch.scatter(torch.zeros(2, 2), 0, torch.tensor([[1, 0]]), 5, reduce='add')",
        f"torch.scatter_add(torch.zeros(2), 0, torch.tensor([0, 0, 1]), torch.ones(2))",
        f"torch.index_add(torch.zeros(3), 0, torch.tensor([0, 0]), torch.ones(3))",
        f"torch.index_add(torch.zeros(3), 0, torch.tensor([0, 0]), torch.ones(2), alpha=2)",
        f"torch.index_add(torch.zeros(3, dtype=torch.int64), 0, torch.tensor([0, 2]), torch.tensor([10**18 + 7, 3]))",
    ]
    return [("index", c, True) for c in out]


def autograd():
    cases = []
    for fn in ["x * x", "x.exp()", "x.sin()", "x.abs()", "x.relu()", "x.sqrt()", "x.log()", "x / (x + 2)", "x.sigmoid()",
               "x.tanh()", "x.clamp(-0.5, 0.5)", "x.pow(3)", "x.max()", "x.amax()", "x.norm()", "x.std()",
               "x.logsumexp(0)", "x.cumsum(0)", "x.prod()", "x.softmax(0)", "x.sign()", "x.floor()", "x.square()",
               "torch.maximum(x, torch.zeros(4))", "torch.where(x > 0, x, 2 * x)", "x[1:3] * 2", "x.flip(0) * x",
               "x.view(2, 2).t().reshape(4) * torch.arange(4.0)", "x.expand(3, 4) * 2", "torch.cat([x, x * 2])",
               "torch.stack([x, x]).sum(0)", "x.sort().values * torch.arange(4.0)", "x.topk(2).values",
               "x.median()", "x.mean()", "x.var()", "F.gelu(x)", "F.silu(x)", "F.elu(x)", "F.softplus(x)",
               "F.leaky_relu(x, 0.2)", "F.hardtanh(x)", "F.log_softmax(x, 0)", "x.atan2(torch.ones(4))",
               "x.remainder(1.5)", "x.fmod(1.5)", "x.lerp(torch.ones(4), 0.3)", "x.masked_fill(x > 0, 0.0)",
               "x.gather(0, torch.tensor([0, 0, 3]))", "x.index_select(0, torch.tensor([1, 1]))",
               "x.roll(1)", "x.repeat(2)", "torch.dot(x, x)", "x @ torch.ones(4, 2)", "x.unsqueeze(0) @ torch.ones(4, 1)",
               "x.amin()", "x.min()", "x.trunc()", "x.nansum()", "torch.nan_to_num(x / 0)", "x.erf()", "x.reciprocal()"]:
        for dt in ["float32", "float64"]:
            cases.append((f"x = torch.tensor([0.5, -1.5, 2.0, 3.0], dtype=torch.{dt}, requires_grad=True); "
                          f"y = {fn}; y.sum().backward(); x.grad", dt == "float32"))
    cases += [(c, True) for c in [
        "x = torch.tensor([1.0, 2.0], requires_grad=True); (x * x).sum().backward(); (x * x).sum().backward(); x.grad",
        "x = torch.ones(2, requires_grad=True); x.sum().backward(); g = x.grad; (2 * x).sum().backward(); g",
        "x = torch.ones(2, requires_grad=True); x.add_(1)", "x = torch.ones(2, requires_grad=True); x.data.add_(1); x",
        "x = torch.ones(2, requires_grad=True); y = x.exp(); y.add_(1); y.sum().backward()",
        "x = torch.ones(2, requires_grad=True); y = x * 2; y.backward()",
        "x = torch.ones(2, requires_grad=True); y = (x * 2).sum(); y.backward(); y.backward()",
        "x = torch.ones(2, requires_grad=True); y = (x * 2).sum(); y.backward(retain_graph=True); y.backward(); x.grad",
        "x = torch.ones(2); x.sum().backward()", "x = torch.ones(2, requires_grad=True); x.grad",
        "x = torch.tensor([1, 2], dtype=torch.int64, requires_grad=True)", "torch.ones(2, requires_grad=True).detach().requires_grad",
        "x = torch.ones(2, requires_grad=True); torch.autograd.grad((x * 3).sum(), x)",
        "x = torch.ones(2, requires_grad=True); torch.autograd.grad((x * 3).sum(), x, create_graph=True)[0].requires_grad",
        "x = torch.tensor([2.0], requires_grad=True); g, = torch.autograd.grad(x ** 3, x, create_graph=True); g.backward(); x.grad",
        "x = torch.ones(2, requires_grad=True); y = torch.ones(2, requires_grad=True); torch.autograd.grad(x.sum(), y)",
        "x = torch.ones(2, requires_grad=True); y = torch.ones(2, requires_grad=True); torch.autograd.grad(x.sum(), [x, y], allow_unused=True)",
        "x = torch.ones(3, requires_grad=True); v = x[:2]; v.detach_()",
        "x = torch.ones(3, requires_grad=True); y = x * 1; v = y[:2]; v.detach_()",
        "x = torch.ones(3); v = x[:2]; v.detach_(); v.requires_grad",
        "x = torch.tensor([1.0, 2.0], requires_grad=True); (x * 2).backward(torch.tensor([1.0, 3.0])); x.grad",
        "x = torch.tensor([1.0, 2.0], requires_grad=True); (x * 2).backward(torch.ones(3))",
        "x = torch.ones(2, requires_grad=True); x.grad = torch.ones(3)",
        "x = torch.ones(2, requires_grad=True); x.grad = torch.ones(2, dtype=torch.int64)",
        "x = torch.ones(2, requires_grad=True); x.grad = torch.ones(2) * 5; (x * 2).sum().backward(); x.grad",
        "x = torch.tensor([0.0], requires_grad=True); x.sqrt().backward(); x.grad",
        "x = torch.tensor([0.0], requires_grad=True); x.abs().backward(); x.grad",
        "x = torch.tensor([0.0], requires_grad=True); x.relu().backward(); x.grad",
        "x = torch.tensor([0.0], requires_grad=True); x.norm().backward(); x.grad",
        "x = torch.tensor([1.0, 1.0], requires_grad=True); x.max().backward(); x.grad",
        "x = torch.tensor([1.0, 1.0], requires_grad=True); x.amax().backward(); x.grad",
        "x = torch.tensor([2.0, 2.0, 1.0], requires_grad=True); x.median().backward(); x.grad",
        "x = torch.tensor([0.0, 1.0], requires_grad=True); torch.prod(x).backward(); x.grad",
        "x = torch.tensor([0.0, 0.0], requires_grad=True); torch.prod(x).backward(); x.grad",
        "x = torch.tensor([-1.0], requires_grad=True); x.log().backward(); x.grad",
        "x = torch.tensor([nan, 1.0], requires_grad=True); x.nansum().backward(); x.grad",
        "x = torch.tensor([1.0, 2.0], requires_grad=True); x.clamp(1.0, 2.0).sum().backward(); x.grad",
        "x = torch.tensor([1.0, 2.0], requires_grad=True); torch.maximum(x, torch.tensor([1.0, 1.0])).sum().backward(); x.grad",
        "x = torch.ones(2, requires_grad=True); with_grad = (x * 2).requires_grad; with_grad",
        "x = torch.ones(2, requires_grad=True); y = x.detach(); y.requires_grad",
        "x = torch.ones(2, requires_grad=True); (x * 2).grad_fn is not None",
        "x = torch.ones(2, requires_grad=True); x.is_leaf", "x = torch.ones(2, requires_grad=True); (x * 2).is_leaf",
        "x = torch.ones(2, requires_grad=True); y = x * 2; y.retain_grad(); y.sum().backward(); y.grad",
        "x = torch.ones(2, requires_grad=True); y = x * 2; y.sum().backward(); y.grad",
        "x = torch.ones(2, requires_grad=True); x.numpy()", "x = torch.ones(2, requires_grad=True); x.tolist()",
        "x = torch.ones(2, requires_grad=True); x.item()", "x = torch.ones(1, requires_grad=True); x.item()",
        "x = torch.ones(2, requires_grad=True); x.requires_grad_(False); x.requires_grad",
        "x = (torch.ones(2, requires_grad=True) * 2); x.requires_grad_(False)",
        "x = torch.ones(2, requires_grad=True); y = x * 2; y.sum().backward(inputs=[x]); x.grad",
        "x = torch.tensor([3.0], requires_grad=True); (x ** 2).backward(create_graph=True); x.grad.requires_grad",
        "x = torch.tensor([1.0, 2.0], requires_grad=True); torch.autograd.gradcheck(lambda a: (a * a).sum(), (x.double(),))",
    ]]
    return [("autograd", c, gpu) for c, gpu in cases]


def functional():
    x = "torch.tensor([[-2.0, -0.5, 0.0, 0.5, 3.0, nan]])"
    xi = "torch.tensor([[-2, 0, 3]])"
    out = []
    acts = ["relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "softsign", "sigmoid", "tanh",
            "hardtanh", "hardsigmoid", "hardswish", "leaky_relu", "logsigmoid", "tanhshrink", "softshrink", "hardshrink"]
    for act in acts:
        out += [(f"F.{act}({x})", True), (f"F.{act}({xi})", True), (f"F.{act}({x}.double())", False),
                (f"F.{act}(torch.tensor([True, False]))", True)]
    out += [(c, "double" not in c and "float64" not in c) for c in [
        f"F.gelu({x}, approximate='tanh')", f"F.gelu({x}, approximate='bad')", f"F.gelu({x}, approximate='none')",
        f"F.leaky_relu({x}, -0.5)", f"F.hardtanh({x}, 1.0, -1.0)", f"F.hardtanh({x}, 0.5, 0.5)", f"F.hardtanh({x}, -0.5, 2.0)",
        f"F.elu({x}, alpha=0.0)", f"F.softplus({x}, beta=2.0, threshold=1.0)", f"F.threshold({x}, 0.5, -1.0)",
        f"F.softmax({x}, 1)", f"F.softmax({xi}, 1)", f"F.softmax({xi}, 1, dtype=torch.float32)", f"F.log_softmax({xi}, 1)",
        f"F.softmax({x}, 2)", f"F.softmax(torch.tensor([-inf, -inf]), 0)", f"F.log_softmax(torch.tensor([-inf, 0.0]), 0)",
        f"F.softmax(torch.ones(0, 3), 1)", f"F.softmin({x}, 1)", f"F.normalize(torch.zeros(2, 3))", f"F.normalize(torch.tensor([[3.0, 4.0]]), p=1)",
        "F.one_hot(torch.tensor([], dtype=torch.int64))", "F.one_hot(torch.tensor([], dtype=torch.int64), 3)",
        "F.one_hot(torch.tensor([0, 2]))", "F.one_hot(torch.tensor([0, 2]), 2)", "F.one_hot(torch.tensor([-1]), 3)",
        "F.one_hot(torch.tensor([0.0]))", "F.one_hot(torch.tensor([[1], [0]]), 3)",
        "F.group_norm(torch.ones(2, 3, 4), 2)", "F.group_norm(torch.arange(24.0).view(2, 4, 3), 2)",
        "F.group_norm(torch.ones(2, 4, 3), 0)", "F.layer_norm(torch.arange(6.0).view(2, 3), (3,))",
        "F.layer_norm(torch.arange(6.0).view(2, 3), (2,))", "F.layer_norm(torch.ones(2, 3), [3], eps=0.0)",
        "F.batch_norm(torch.arange(6.0).view(3, 2), torch.zeros(2), torch.ones(2))",
        "F.batch_norm(torch.arange(6.0).view(3, 2), torch.zeros(3), torch.ones(3))",
        "F.batch_norm(torch.ones(1, 2), None, None, training=True)",
        "F.linear(torch.ones(2, 3), torch.ones(4, 3), torch.ones(4))", "F.linear(torch.ones(2, 3), torch.ones(3, 4))",
        "F.linear(torch.ones(3), torch.ones(4, 3))", "F.bilinear(torch.ones(2, 3), torch.ones(2, 4), torch.ones(5, 3, 4)).shape",
        "F.pad(torch.ones(2, 3), (1, 1))", "F.pad(torch.ones(2, 3), (1,))", "F.pad(torch.ones(2, 3), (1, 1, 1, 1, 1, 1))",
        "F.pad(torch.ones(2, 3), (-1, 0))", "F.pad(torch.ones(2, 3), (-2, -2))", "F.pad(torch.ones(2, 3), (1, 1), value=nan)",
        "F.pad(torch.ones(1, 2, 3), (2, 2), mode='reflect')", "F.pad(torch.ones(1, 2, 3), (3, 3), mode='reflect')",
        "F.pad(torch.arange(6.0).view(1, 2, 3), (1, 1), mode='replicate')", "F.pad(torch.ones(1, 2, 3), (1, 1), mode='bad')",
        "F.pad(torch.arange(6.0).view(1, 2, 3), (1, 2), mode='circular')",
        "F.pad(torch.tensor([1, 2]), (1, 1), value=2.5)",
        "F.dropout(torch.ones(4), p=0.0)", "F.dropout(torch.ones(4), p=1.0)", "F.dropout(torch.ones(4), p=1.5)",
        "F.dropout(torch.ones(4), p=-0.1)", "F.dropout(torch.ones(4), p=0.5, training=False)",
        "F.dropout(torch.tensor([1, 2]), p=0.5)",
        "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2))", "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), stride=0)",
        "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), stride=-1)", "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), padding=-1)",
        "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), dilation=0)", "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), groups=0)",
        "F.conv2d(torch.ones(1, 2, 3, 3), torch.ones(3, 1, 2, 2), groups=2)", "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 2, 2, 2))",
        "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 4, 4))", "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 4, 4), padding=1)",
        "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), padding='same')", "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), padding='valid')",
        "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), padding='bad')", "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), stride=2, padding='same')",
        "F.conv2d(torch.ones(1, 3, 3), torch.ones(1, 1, 2, 2))", "F.conv2d(torch.ones(3, 3), torch.ones(1, 1, 2, 2))",
        "F.conv2d(torch.ones(1, 1, 3, 3, dtype=torch.int64), torch.ones(1, 1, 2, 2, dtype=torch.int64))",
        "F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), bias=torch.ones(2))",
        "F.conv1d(torch.ones(1, 1, 5), torch.ones(1, 1, 2), stride=2)", "F.conv1d(torch.ones(1, 1, 5), torch.ones(1, 1, 2), padding=-1)",
        "F.conv1d(torch.ones(1, 1, 5), torch.ones(1, 1, 2), dilation=0)", "F.conv1d(torch.ones(1, 5), torch.ones(1, 1, 2))",
        "F.conv_transpose2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2))", "F.conv_transpose2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), stride=0)",
        "F.conv_transpose2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), output_padding=2)",
        "F.max_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 2)", "F.max_pool2d(torch.ones(4, 4), 2)", "F.max_pool2d(torch.ones(4), 2)",
        "F.max_pool2d(torch.ones(1, 1, 4, 4), 0)", "F.max_pool2d(torch.ones(1, 1, 4, 4), -1)", "F.max_pool2d(torch.ones(1, 1, 4, 4), 2, stride=0)",
        "F.max_pool2d(torch.ones(1, 1, 4, 4), 2, padding=2)", "F.max_pool2d(torch.ones(1, 1, 4, 4), 2, padding=-1)",
        "F.max_pool2d(torch.ones(1, 1, 2, 2), 3)", "F.max_pool2d(torch.arange(9.0).view(1, 1, 3, 3), 2, ceil_mode=True)",
        "F.max_pool2d(torch.tensor([[[[nan, 1.0], [0.0, 2.0]]]]), 2)", "F.max_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.int64), 2)",
        "F.max_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 2, return_indices=True)",
        "F.avg_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 2)", "F.avg_pool2d(torch.ones(4, 4), 2)", "F.avg_pool2d(torch.ones(1, 1, 4, 4), 0)",
        "F.avg_pool2d(torch.arange(9.0).view(1, 1, 3, 3), 2, padding=1)", "F.avg_pool2d(torch.arange(9.0).view(1, 1, 3, 3), 2, padding=1, count_include_pad=False)",
        "F.avg_pool2d(torch.ones(1, 1, 4, 4), 2, padding=2)", "F.avg_pool2d(torch.ones(1, 1, 4, 4, dtype=torch.int64), 2)",
        "F.max_pool1d(torch.arange(6.0).view(1, 1, 6), 2)", "F.max_pool1d(torch.ones(6), 2)", "F.avg_pool1d(torch.arange(6.0).view(1, 1, 6), 3)",
        "F.avg_pool1d(torch.ones(1, 1, 6), 0)", "F.max_pool1d(torch.ones(1, 1, 6), 2, stride=-1)",
        "F.adaptive_avg_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 0)", "F.adaptive_avg_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 2)",
        "F.adaptive_avg_pool2d(torch.arange(16.0).view(1, 1, 4, 4), (3, 1))", "F.adaptive_avg_pool2d(torch.arange(16.0).view(1, 1, 4, 4), (None, 2))",
        "F.adaptive_avg_pool2d(torch.arange(16.0).view(1, 1, 4, 4), -1)", "F.adaptive_avg_pool2d(torch.ones(1, 1, 0, 4), 2)",
        "F.adaptive_avg_pool2d(torch.arange(16.0).view(1, 4, 4), 3)", "F.adaptive_max_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 3)",
        "F.adaptive_max_pool2d(torch.arange(16.0).view(1, 1, 4, 4), 0)", "F.adaptive_avg_pool1d(torch.arange(5.0).view(1, 1, 5), 3)",
        "F.adaptive_avg_pool1d(torch.arange(5.0).view(1, 1, 5), 0)", "F.adaptive_avg_pool1d(torch.arange(5.0).view(1, 1, 5), 7)",
        "F.unfold(torch.arange(16.0).view(1, 1, 4, 4), 2)", "F.unfold(torch.ones(1, 1, 4, 4), 2, stride=0)", "F.unfold(torch.ones(1, 1, 4, 4), 5)",
        "F.fold(torch.ones(1, 4, 4), (3, 3), 2)", "F.fold(torch.ones(1, 5, 4), (3, 3), 2)",
        "F.cosine_similarity(torch.ones(2, 3), torch.zeros(2, 3))", "F.cosine_similarity(torch.ones(3), torch.tensor([1.0, 2.0, 3.0]), dim=0)",
        "F.pairwise_distance(torch.ones(2, 3), torch.zeros(2, 3))",
        "F.scaled_dot_product_attention(torch.ones(1, 2, 3), torch.ones(1, 2, 3), torch.ones(1, 2, 3))",
        "F.scaled_dot_product_attention(torch.ones(1, 2, 3), torch.ones(1, 2, 3), torch.ones(1, 2, 3), is_causal=True)",
    ]]
    logits = "torch.tensor([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])"
    target = "torch.tensor([2, 0])"
    out += [(c, True) for c in [
        f"F.cross_entropy({logits}, {target})", f"F.cross_entropy({logits}, torch.tensor([3, 0]))",
        f"F.cross_entropy({logits}, torch.tensor([-1, 0]))", f"F.cross_entropy({logits}, torch.tensor([-100, -100]))",
        f"F.cross_entropy({logits}, torch.tensor([1, 1]), ignore_index=1)", f"F.cross_entropy({logits}, {target}, reduction='sum')",
        f"F.cross_entropy({logits}, {target}, reduction='none')", f"F.cross_entropy({logits}, {target}, reduction='bad')",
        f"F.cross_entropy({logits}, {target}, weight=torch.tensor([1.0, 2.0]))", f"F.cross_entropy({logits}, {target}, weight=torch.tensor([1.0, 2.0, 3.0]))",
        f"F.cross_entropy({logits}, {target}, weight=torch.tensor([[1.0, 2.0, 3.0]]))",
        f"F.cross_entropy({logits}, {target}, label_smoothing=0.1)", f"F.cross_entropy({logits}, {target}, label_smoothing=1.5)",
        f"F.cross_entropy({logits}, {target}, label_smoothing=-0.1)", f"F.cross_entropy({logits}, {target}.float())",
        f"F.cross_entropy({logits}, {target}, label_smoothing=-1.0, weight=torch.tensor([1.0, 2.0, 3.0]))",
        f"F.cross_entropy({logits}, torch.softmax({logits}, 1), label_smoothing=-0.1)",
        f"x = {logits}.requires_grad_(); F.cross_entropy(x, {target}, label_smoothing=-0.5).backward(); x.grad",
        f"F.cross_entropy({logits}, torch.softmax({logits}, 1))", f"F.cross_entropy({logits}, torch.tensor([0, 1, 2]))",
        f"F.cross_entropy({logits}[0], torch.tensor(2))", f"F.cross_entropy({logits}, {target}, label_smoothing=0.2, weight=torch.tensor([1.0, 2.0, 3.0]))",
        f"x = {logits}.requires_grad_(); F.cross_entropy(x, torch.tensor([-100, -100])).backward(); x.grad",
        f"x = {logits}.requires_grad_(); F.cross_entropy(x, {target}, label_smoothing=0.1).backward(); x.grad",
        f"F.nll_loss({logits}, {target})", f"F.nll_loss({logits}, torch.tensor([5, 0]))", f"F.nll_loss({logits}, {target}.float())",
        f"F.nll_loss({logits}, torch.tensor([1, 1]), ignore_index=1)",
        "F.mse_loss(torch.ones(3), torch.zeros(3))", "F.mse_loss(torch.ones(3), torch.zeros(2))", "F.mse_loss(torch.ones(3), torch.zeros(1))",
        "F.mse_loss(torch.ones(3), torch.zeros(3), reduction='none')", "F.mse_loss(torch.ones(3), torch.zeros(3), reduction='x')",
        "F.mse_loss(torch.ones(3, dtype=torch.int64), torch.zeros(3, dtype=torch.int64))",
        "F.l1_loss(torch.ones(3), torch.zeros(3) - 1)", "F.smooth_l1_loss(torch.tensor([0.0, 2.0]), torch.zeros(2))",
        "F.smooth_l1_loss(torch.tensor([0.0, 2.0]), torch.zeros(2), beta=0.0)", "F.huber_loss(torch.tensor([0.0, 2.0]), torch.zeros(2), delta=0.5)",
        "F.huber_loss(torch.tensor([0.0, 2.0]), torch.zeros(2), delta=0.0)",
        "F.binary_cross_entropy(torch.tensor([0.5, 0.2]), torch.tensor([1.0, 0.0]))",
        "F.binary_cross_entropy(torch.tensor([0.5, 0.2]), torch.tensor([1.5, 0.0]))",
        "F.binary_cross_entropy(torch.tensor([0.5, 0.2]), torch.tensor([-0.5, 0.0]))",
        "F.binary_cross_entropy(torch.tensor([1.5, 0.2]), torch.tensor([1.0, 0.0]))",
        "F.binary_cross_entropy(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))",
        "F.binary_cross_entropy(torch.tensor([0.5, 0.2]), torch.tensor([1.0, 0.0, 1.0]))",
        "F.binary_cross_entropy(torch.tensor([0.5, 0.2]), torch.tensor([1.0, 0.0]), weight=torch.tensor([2.0, 1.0]))",
        "F.binary_cross_entropy_with_logits(torch.tensor([0.5, -20.0]), torch.tensor([1.0, 0.0]))",
        "F.binary_cross_entropy_with_logits(torch.tensor([0.5, -20.0]), torch.tensor([2.0, 0.0]))",
        "F.binary_cross_entropy_with_logits(torch.tensor([100.0, -100.0]), torch.tensor([0.0, 1.0]))",
        "F.binary_cross_entropy_with_logits(torch.tensor([0.5, 2.0]), torch.tensor([1.0, 0.0]), pos_weight=torch.tensor([3.0]))",
        "F.kl_div(torch.tensor([-1.0, -2.0]), torch.tensor([-0.5, 0.5]), reduction='sum')",
        "F.kl_div(torch.tensor([-1.0, -2.0]), torch.tensor([0.0, 0.5]), reduction='none')",
        "F.kl_div(torch.tensor([-1.0, -2.0]), torch.tensor([0.2, 0.8]), reduction='batchmean')",
        "F.kl_div(torch.tensor([-1.0, -2.0]), torch.tensor([-1.0, -2.0]), reduction='sum', log_target=True)",
        "F.kl_div(torch.tensor([-1.0, -2.0]), torch.tensor([0.2, 0.8]))",
    ]]
    return [("functional", c, gpu) for c, gpu in out]


def data():
    cases = [
        "ds = torch.utils.data.TensorDataset(torch.arange(6.0), torch.arange(6)); len(ds), ds[2]",
        "ds = torch.utils.data.TensorDataset(torch.arange(6.0), torch.arange(5))",
        "ds = torch.utils.data.TensorDataset(torch.arange(6.0)); ds[-1]",
        "ds = torch.utils.data.TensorDataset(torch.arange(6.0)); ds[6]",
        "dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(5.0)), batch_size=2); list(dl)",
        "dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(5.0)), batch_size=2, drop_last=True); len(dl), list(dl)",
        "dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(5.0), torch.arange(5)), batch_size=4); [b[1] for b in dl]",
        "dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(5.0)), batch_size=0)",
        "dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(5.0)), batch_size=-1)",
        "dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(5.0)), batch_size=2, shuffle=True); sorted(torch.cat([b[0] for b in dl]).tolist())",
        "dl = torch.utils.data.DataLoader([1, 2, 3], batch_size=2); list(dl)",
        "dl = torch.utils.data.DataLoader([(1, 2.0), (3, 4.0)], batch_size=2); list(dl)",
        "dl = torch.utils.data.DataLoader([{'a': 1}, {'a': 2}], batch_size=2); next(iter(dl))['a']",
        "dl = torch.utils.data.DataLoader([torch.ones(2), torch.ones(3)], batch_size=2); list(dl)",
        "dl = torch.utils.data.DataLoader([torch.ones(2), torch.zeros(2)], batch_size=None); list(dl)",
        "dl = torch.utils.data.DataLoader([1, 2, 3], batch_size=2, sampler=[2, 0, 1]); list(dl)",
        "dl = torch.utils.data.DataLoader([1, 2, 3], batch_size=2, shuffle=True, sampler=[2, 0, 1])",
        "dl = torch.utils.data.DataLoader(list(range(5)), batch_sampler=[[0, 1], [4]]); list(dl)",
        "dl = torch.utils.data.DataLoader(list(range(5)), batch_sampler=[[0, 1]], batch_size=2)",
        "len(torch.utils.data.DataLoader(list(range(10)), batch_size=3))",
        "a, b = torch.utils.data.random_split(list(range(10)), [7, 3]); len(a), len(b)",
        "a, b = torch.utils.data.random_split(list(range(10)), [0.7, 0.3]); len(a), len(b)",
        "torch.utils.data.random_split(list(range(10)), [7, 4])",
        "torch.utils.data.random_split(list(range(10)), [0.5, 0.6])",
        "a, b = torch.utils.data.random_split(list(range(10)), [7, 3]); sorted(list(a) + list(b))",
        "s = torch.utils.data.Subset(list(range(10)), [3, 1]); len(s), s[1]",
        "c = torch.utils.data.ConcatDataset([[1, 2], [3]]); len(c), c[2], c[-1]",
        "list(torch.utils.data.SequentialSampler(range(3)))", "list(torch.utils.data.BatchSampler(range(5), 2, False))",
        "list(torch.utils.data.BatchSampler(range(5), 2, True))", "torch.utils.data.BatchSampler(range(5), 0, True)",
        "sorted(torch.utils.data.RandomSampler(range(4)))", "len(list(torch.utils.data.RandomSampler(range(4), replacement=True, num_samples=7)))",
        "torch.utils.data.RandomSampler(range(4), num_samples=0)",
        "len(list(torch.utils.data.WeightedRandomSampler([0.1, 0.9], 5)))", "torch.utils.data.WeightedRandomSampler([0.1, -0.9], 5)",
        "list(torch.utils.data.WeightedRandomSampler([0.0, 1.0], 3))",
        "list(torch.utils.data.SubsetRandomSampler([3]))",
        "torch.utils.data.default_collate([torch.ones(2), torch.zeros(2)])", "torch.utils.data.default_collate([1, 2])",
        "torch.utils.data.default_collate([1.5, 2.0])", "torch.utils.data.default_collate([(1, 'a'), (2, 'b')])",
        "torch.utils.data.default_collate([np.array([1, 2]), np.array([3, 4])])",
        "torch.utils.data.default_collate([True, False])",
    ]
    return [("data", c, False) for c in cases]


def checkpoints():
    cases = [
        "torch.save({'a': torch.arange(3.0)}, path); torch.load(path)['a']",
        "torch.save({'__metadata__': torch.ones(2)}, path); torch.load(path)['__metadata__']",
        "torch.save({'__metadata__': torch.ones(2), 'b': torch.zeros(1)}, path); sorted(torch.load(path))",
        "torch.save({'gewicht_ä': torch.ones(2)}, path); torch.load(path)['gewicht_ä']",
        "torch.save({'权重': torch.arange(2)}, path); torch.load(path)['权重']",
        "torch.save({'a': torch.tensor([True, False])}, path); torch.load(path)['a']",
        "torch.save({'a': torch.tensor([2**63 - 1, -2**63])}, path); torch.load(path)['a']",
        "torch.save({'a': torch.tensor([nan, inf, -0.0])}, path); torch.load(path)['a']",
        "torch.save({'a': torch.ones(2, 3).t()}, path); torch.load(path)['a']",
        "torch.save({'a': torch.ones(0, 3)}, path); torch.load(path)['a'].shape",
        "torch.save({'a': torch.tensor(3.5)}, path); torch.load(path)['a']",
        "torch.save({'a': torch.ones(2, dtype=torch.float64)}, path); torch.load(path)['a'].dtype",
        "x = torch.arange(4.0); torch.save({'a': x[:2], 'b': x[2:]}, path); d = torch.load(path); d['a'], d['b']",
        "torch.save(torch.arange(3), path); torch.load(path)",
        "torch.save([torch.ones(1), torch.zeros(2)], path); torch.load(path)",
        "torch.save({'a': {'b': {'c': torch.ones(1)}}}, path); torch.load(path)['a']['b']['c']",
        "torch.save({'a': 1, 'b': 'text', 'c': [1.5, None]}, path); torch.load(path)",
        "torch.save({'step': 3, 'w': torch.ones(1)}, path); torch.load(path)['step']",
        "d = {'x': torch.ones(1)}\nfor _ in range(200):\n    d = {'n': d}\ntorch.save(d, path); e = torch.load(path)\nfor _ in range(200):\n    e = e['n']\ne['x']",
        "d = [torch.ones(1)]\nfor _ in range(200):\n    d = [d]\ntorch.save(d, path); e = torch.load(path)\nfor _ in range(200):\n    e = e[0]\ne[0]",
        "d = [torch.ones(1)]\nfor _ in range(900):\n    d = [d]\ntorch.save(d, path)",
        "torch.save({'a': torch.ones(1)}, tmp)", "torch.save({'a': torch.ones(1)}, tmp + '/missing/dir/x.pt')",
        "torch.load(tmp)", "torch.load(tmp + '/missing.pt')",
        "open(path, 'wb').write(b''); torch.load(path)", "open(path, 'wb').write(b'garbage!' * 4); torch.load(path)",
        "import os\ntarget = tmp + '/real.pt'\nopen(target, 'wb').write(b'x')\nos.symlink(target, path)\ntorch.save({'a': torch.ones(2)}, path)\nos.path.islink(path), torch.load(target)['a']",
        "import os, stat\ntorch.save({'a': torch.ones(1)}, path)\nos.chmod(path, 0o444)\ntorch.save({'a': torch.zeros(1)}, path)\noct(stat.S_IMODE(os.stat(path).st_mode)), torch.load(path)['a']",
        "import os, stat\nold = os.umask(0o022)\ntorch.save({'a': torch.ones(1)}, path)\nos.umask(old)\noct(stat.S_IMODE(os.stat(path).st_mode))",
        "import os, stat\nold = os.umask(0o077)\ntorch.save({'a': torch.ones(1)}, path)\nos.umask(old)\noct(stat.S_IMODE(os.stat(path).st_mode))",
        "import io; b = io.BytesIO(); torch.save({'a': torch.ones(2)}, b); b.seek(0); torch.load(b)['a']",
        "m = torch.nn.Linear(2, 1); torch.save(m.state_dict(), path); sorted(torch.load(path))",
        "m = torch.nn.Linear(2, 1); torch.save(m.state_dict(), path); m2 = torch.nn.Linear(2, 1); m2.load_state_dict(torch.load(path)); torch.equal(m.weight, m2.weight)",
        "m = torch.nn.Linear(2, 1); m.load_state_dict({'weight': torch.ones(1, 2)})",
        "m = torch.nn.Linear(2, 1); m.load_state_dict({'weight': torch.ones(1, 3), 'bias': torch.ones(1)})",
        "m = torch.nn.Linear(2, 1); m.load_state_dict({'weight': torch.ones(1, 2)}, strict=False)",
        "m = torch.nn.Linear(2, 1); m.load_state_dict({'weight': torch.ones(1, 2), 'bias': torch.ones(1), 'x': torch.ones(1)})",
    ]
    return [("checkpoint", c, False) for c in cases]


# The narrower dtypes (issue #15): edge values each can hold.
NARROW = ("float16", "bfloat16", "int32", "int16", "int8", "uint8")
NARROW_EDGE = {
    "float16": [0.0, -0.0, 0.5, -1.0, 2.5, -3.7, 100.0, 65504.0, 1e-6, 3e-8, float("inf"), float("-inf"), float("nan")],
    "int32": [0, 1, -1, 7, -7, 100, 2**31 - 1, -2**31],
    "int16": [0, 1, -1, 7, -7, 100, 2**15 - 1, -2**15],
    "int8": [0, 1, -1, 7, -7, 100, 127, -128],
    "uint8": [0, 1, 7, 100, 200, 255],
}
NARROW_EDGE["bfloat16"] = NARROW_EDGE["float16"][:7] + [3e38, 1e-38, float("inf"), float("-inf"), float("nan")]
NARROW_PAIR = {
    "float16": ([5.5, -5.5, 0.0, 1000.0, -2.0, 7.0], [2.0, 3.0, 1.5, 100.0, -3.0, 0.25]),
    "int32": ([7, -7, 0, 2**31 - 1, -2**31, 5], [2, 3, 5, 2, 3, -3]),
    "int16": ([7, -7, 0, 2**15 - 1, -2**15, 5], [2, 3, 5, 2, 3, -3]),
    "int8": ([7, -7, 0, 127, -128, 5], [2, 3, 5, 2, 3, -3]),
    "uint8": ([7, 200, 0, 255, 128, 5], [2, 3, 5, 2, 3, 100]),
}
NARROW_PAIR["bfloat16"] = NARROW_PAIR["float16"]


def narrow_dtypes():
    """Every family again over the narrow dtypes, and their promotion with each other."""
    out = []
    floats = ("float16", "bfloat16")
    for op, dt in itertools.product(["abs", "neg", "exp", "log", "sqrt", "sin", "tanh", "sigmoid", "relu", "floor",
                                     "round", "sign", "square", "reciprocal", "isnan", "isinf", "logical_not",
                                     "bitwise_not", "erf", "expm1", "log1p", "rsqrt", "frac", "trunc"], NARROW):
        out.append(("narrow", f"torch.{op}({tensor_src(dt, NARROW_EDGE[dt])})", True))
    for op, dt in itertools.product(["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow", "maximum",
                                     "minimum", "eq", "lt", "bitwise_and", "bitwise_xor", "atan2"], NARROW):
        a, b = tensor_src(dt, NARROW_PAIR[dt][0]), tensor_src(dt, NARROW_PAIR[dt][1])
        out.append(("narrow", f"torch.{op}({a}, {b})", True))
    mixed = [("uint8", "int8"), ("int32", "float16"), ("float16", "bfloat16"), ("int16", "int64"), ("uint8", "bool"),
             ("bfloat16", "float32"), ("int8", "float32"), ("int32", "uint8"), ("float16", "float64"), ("int16", "int8")]
    for op, (da, db) in itertools.product(["add", "mul", "div", "eq", "maximum"], mixed):
        a = f"torch.tensor([1, 2, 3], dtype=torch.{da})"
        b = f"torch.tensor([4, 5, 6], dtype=torch.{db})"
        out.append(("narrow", f"torch.{op}({a}, {b})", _gpu(da, db)))
    for dt, scalar in itertools.product(NARROW, ["2", "2.5", "True", "-1", "torch.tensor(2.5)", "torch.tensor(300)"]):
        out.append(("narrow", f"{tensor_src(dt, NARROW_PAIR[dt][0])} * {scalar}", True))
    for dt, (op, args) in itertools.product(NARROW, [("sum", ""), ("sum", "0"), ("prod", ""), ("max", ""), ("min", "0"),
                                                     ("argmax", ""), ("cumsum", "1"), ("amax", "1"), ("any", ""),
                                                     ("count_nonzero", ""), ("mean", ""), ("var", "1"), ("logsumexp", "1")]):
        x = f"torch.tensor({lit(NARROW_PAIR[dt][0])}, dtype=torch.{dt}).view(2, 3)"
        out.append(("narrow", f"{x}.{op}({args})", True))
    for dt in NARROW:
        x = tensor_src(dt, NARROW_PAIR[dt][0])
        for other in ("float32", "int64", "bool") + NARROW:
            out.append(("narrow", f"{x}.to(torch.{other})", True))
        out.append(("narrow", f"{tensor_src('float32', NARROW_EDGE['float16'][:10])}.to(torch.{dt})", True))
        out += [("narrow", c, True) for c in [
            f"torch.zeros(2, 3, dtype=torch.{dt})", f"torch.ones(3, dtype=torch.{dt})", f"torch.arange(5, dtype=torch.{dt})",
            f"torch.full((2,), 7, dtype=torch.{dt})", f"torch.full((2,), 300, dtype=torch.{dt})",
            f"torch.full((2,), 1e6, dtype=torch.{dt})", f"torch.eye(2, dtype=torch.{dt})",
            f"torch.cat([{x}, {x}[:2]])", f"torch.cat([{x}, torch.tensor([1.5])])", f"torch.stack([{x}, {x}])",
            f"torch.where({x} > 2, {x}, torch.zeros(6, dtype=torch.{dt}))", f"{x}.sort()", f"{x}.topk(2)",
            f"{x}.flip(0)", f"{x}[1:5:2]", f"{x}[torch.tensor([0, 3])]", f"{x}.gather(0, torch.tensor([5, 0]))",
            f"{x}.masked_fill({x} > 2, 1)", f"{x}.clamp(0, 6)", f"x = {x}; x[::2] = 9; x", f"x = {x}; x.add_(1); x",
            f"{x}.view(2, 3).t().contiguous()", f"torch.promote_types(torch.{dt}, torch.int8)",
            f"torch.result_type({x}, 2.5)", f"torch.can_cast(torch.{dt}, torch.int8)",
            f"{x}.view(2, 3) @ {x}.view(3, 2)", f"{x}.type()", f"{x}.element_size()",
        ]]
    for dt in floats:
        x = f"torch.tensor([[0.5, -1.5, 2.0], [3.0, 0.25, -4.0]], dtype=torch.{dt})"
        out += [("narrow", c, True) for c in [
            f"F.softmax({x}, 1)", f"F.log_softmax({x}, 0)", f"F.layer_norm({x}, (3,))", f"F.gelu({x})",
            f"F.linear({x}, {x})", f"F.cross_entropy({x}, torch.tensor([0, 2]))", f"F.mse_loss({x}, {x}.flip(0))",
            f"F.conv2d({x}.view(1, 1, 2, 3), {x}[:, :2].reshape(1, 1, 2, 2))",
            f"x = {x}.requires_grad_(); (x * x).sum().backward(); x.grad",
            f"x = {x}.requires_grad_(); F.softmax(x, 1)[:, 0].sum().backward(); x.grad",
            f"x = {x}.requires_grad_(); (x @ x.t()).tanh().sum().backward(); x.grad",
            f"torch.randn(3, dtype=torch.{dt}).dtype", f"torch.finfo(torch.{dt}).eps", f"torch.finfo(torch.{dt}).max",
        ]]
    for dt in ("int32", "int16", "int8", "uint8"):
        out += [("narrow", c, True) for c in [f"torch.iinfo(torch.{dt}).max", f"torch.iinfo(torch.{dt}).min",
                                             f"torch.tensor([5], dtype=torch.{dt}) // 0",
                                             f"torch.randint(0, 5, (3,), dtype=torch.{dt}).dtype"]]
    i32 = "torch.tensor([0, 3], dtype=torch.int32)"
    out += [("narrow", c, True) for c in [
        f"torch.arange(10.0)[{i32}]", f"torch.arange(10.0).index_select(0, {i32})", f"torch.arange(10.0).gather(0, {i32})",
        f"F.embedding({i32}, torch.arange(10.0).view(5, 2))", f"x = torch.zeros(5); x[{i32}] = 1.0; x",
        f"torch.zeros(5).index_add(0, {i32}, torch.ones(2))", f"torch.zeros(5).scatter(0, {i32}, 1.0)",
        f"torch.arange(10.0)[{i32}.short()]", f"torch.arange(10.0).index_select(0, {i32}.char())",
        f"F.cross_entropy(torch.zeros(2, 3), {i32}.clamp(max=2))", f"F.one_hot({i32})",
    ]]
    out += [("narrow", c, False) for c in [
        "torch.from_numpy(np.array([1, 2], dtype=np.int8))", "torch.from_numpy(np.array([1, 2], dtype=np.uint8))",
        "torch.from_numpy(np.array([1.5, 2], dtype=np.float16))", "torch.tensor(np.array([1, 2], dtype=np.int16))",
        "torch.tensor([1, 2], dtype=torch.int32).numpy().dtype.name", "torch.tensor([1.0]).half().numpy().dtype.name",
    ]]
    return out


def all_cases():
    cases = (creation() + unary() + binary() + reductions() + shapes() + indexing() + autograd() + functional()
             + data() + checkpoints() + narrow_dtypes())
    seen = set()
    out = []
    for family, src, gpu in cases:
        if src not in seen:
            seen.add(src)
            out.append((family, src, gpu and "float64" not in src and ".double()" not in src))
    return out
