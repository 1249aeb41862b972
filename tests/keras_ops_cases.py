"""Inputs for tests/test_keras_ops.py: (op name, args, kwargs), shared with the Keras reference run."""
import copy

import numpy as np

RNG = np.random.default_rng(0)
A = RNG.uniform(-2, 2, (3, 4)).astype(np.float32)
B = RNG.uniform(-2, 2, (3, 4)).astype(np.float32)
P = RNG.uniform(0.1, 2, (3, 4)).astype(np.float32)          # positive
U = RNG.uniform(-0.9, 0.9, (3, 4)).astype(np.float32)        # inside (-1, 1)
C = RNG.uniform(-2, 2, (2, 3, 4)).astype(np.float32)
M = RNG.uniform(-1, 1, (4, 5)).astype(np.float32)
V = RNG.uniform(-1, 1, (4,)).astype(np.float32)
LABELS = np.array([0, 3, 1])
PROBS = np.exp(A) / np.exp(A).sum(-1, keepdims=True)
ONEHOT = np.eye(4, dtype=np.float32)[LABELS]
BIN = (RNG.uniform(size=(3, 4)) > 0.5).astype(np.float32)
SIG = 1 / (1 + np.exp(-A))
IDX = np.array([[0, 2], [1, 1], [3, 0]])
IMG = RNG.uniform(-1, 1, (2, 7, 6, 4)).astype(np.float32)     # NHWC
K2 = RNG.uniform(-1, 1, (3, 2, 2, 8)).astype(np.float32)      # (kh, kw, in / groups, out): 2 groups
SEQ = RNG.uniform(-1, 1, (2, 9, 3)).astype(np.float32)        # NWC
K1 = RNG.uniform(-1, 1, (3, 3, 4)).astype(np.float32)
DW = RNG.uniform(-1, 1, (3, 3, 4, 2)).astype(np.float32)      # (kh, kw, in, multiplier)
PW = RNG.uniform(-1, 1, (1, 1, 8, 3)).astype(np.float32)
SPECIAL = np.array([1.0, np.nan, np.inf, -np.inf], np.float32)

CASES = [
    # element-wise math
    *[(n, (A,), {}) for n in ["abs", "negative", "sign", "exp", "expm1", "sin", "cos", "tan", "arctan", "sinh",
                              "cosh", "tanh", "floor", "ceil", "square", "erf", "isfinite", "arcsinh", "exp2"]],
    *[(n, (P,), {}) for n in ["log", "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal"]],
    ("arccosh", (P + 1,), {}),
    *[(n, (U,), {}) for n in ["arcsin", "arccos", "arctanh"]],
    ("round", (A * 10,), {}), ("round", (A,), {"decimals": 1}),
    *[(n, (A, B), {}) for n in ["add", "subtract", "multiply", "divide", "true_divide", "maximum", "minimum",
                                "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "arctan2",
                                "logaddexp", "hypot"]],
    *[(n, (A, P), {}) for n in ["floor_divide", "mod", "divide_no_nan"]],
    ("power", (P, B), {}), ("add", (A, 2.5), {}), ("multiply", (3, A), {}), ("subtract", (A, V), {}),
    ("clip", (A, -0.5, 0.7), {}), ("where", (A > 0, A, B), {}), ("where", (A > 0, A, 0.0), {}),
    ("logical_and", (A > 0, B > 0), {}), ("logical_or", (A > 0, B > 0), {}), ("logical_xor", (A > 0, B > 0), {}),
    ("logical_not", (A > 0,), {}), ("isclose", (A, A + 1e-7), {}),
    ("nan_to_num", (np.array([1.0, np.nan, np.inf, -np.inf], np.float32),), {}),
    *[(n, (A,), {}) for n in ["fabs", "cbrt", "deg2rad", "rad2deg", "signbit", "squareplus", "glu", "hard_shrink",
                              "soft_shrink", "tanh_shrink"]],
    *[(n, (SPECIAL,), {}) for n in ["isposinf", "isneginf", "signbit"]],
    ("heaviside", (np.array([-1.0, 0.0, 2.0], np.float32), np.float32(0.5)), {}),
    ("fmax", (SPECIAL, np.ones(4, np.float32)), {}), ("fmin", (SPECIAL, np.zeros(4, np.float32)), {}),
    ("threshold", (A, 0.3, -1.0), {}), ("ptp", (C,), {}), ("ptp", (C,), {"axis": 1}),
    ("nansum", (SPECIAL[:2],), {}), ("nanmean", (np.array([[1.0, np.nan], [3.0, 4.0]], np.float32),), {"axis": 0}),
    ("in_top_k", (LABELS, A, 2), {}),
    # reductions
    *[(n, (C,), kw) for n in ["sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "any", "all"]
      for kw in [{}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": -1, "keepdims": True}]],
    *[(n, (C,), kw) for n in ["argmax", "argmin"] for kw in [{}, {"axis": 1}, {"axis": -1, "keepdims": True}]],
    ("count_nonzero", (np.array([[0, 1, 2], [0, 0, 3]]),), {}), ("count_nonzero", (np.array([[0, 1, 2], [0, 0, 3]]),), {"axis": 1}),
    ("cumsum", (A,), {}), ("cumsum", (A,), {"axis": 1}), ("cumprod", (P,), {"axis": 0}),
    ("median", (C,), {}), ("median", (C,), {"axis": 1}), ("median", (A,), {"axis": -1, "keepdims": True}),
    ("norm", (A,), {}), ("norm", (V,), {"ord": 1}), ("norm", (A,), {"axis": 1}), ("norm", (A,), {"ord": 3, "axis": 0}),
    ("norm", (V,), {"ord": np.inf}),
    ("average", (A,), {"axis": 1, "weights": V}), ("average", (A,), {}),
    ("trace", (M[:4, :4],), {}),
    # linear algebra
    ("matmul", (A, M), {}), ("matmul", (C, M), {}), ("dot", (A, M), {}), ("dot", (V, V), {}), ("dot", (A, V), {}),
    ("dot", (C, np.ones((2, 4, 3), np.float32)), {}),
    ("tensordot", (C, M), {"axes": 1}), ("tensordot", (C, np.ones((3, 4, 2), np.float32)), {"axes": 2}),
    ("tensordot", (A, M), {"axes": ([1], [0])}),
    ("einsum", ("ij,jk->ik", A, M), {}), ("outer", (V, V), {}), ("inner", (A, B), {}), ("vdot", (A, B), {}),
    ("cross", (A[:, :3], B[:, :3]), {}),
    # shapes and indexing
    ("reshape", (C, (4, 6)), {}), ("reshape", (C, (-1, 2)), {}), ("transpose", (C,), {}),
    ("transpose", (C, (1, 0, 2)), {}), ("expand_dims", (A, 1), {}), ("expand_dims", (A, -1), {}),
    ("expand_dims", (A, (0, 3)), {}),
    ("squeeze", (A[:, :1],), {}), ("squeeze", (C[:1],), {"axis": 0}), ("ravel", (C,), {}),
    ("concatenate", ([A, B],), {"axis": 1}), ("concatenate", ([A, B],), {}), ("stack", ([A, B],), {"axis": 1}),
    ("hstack", ([A, B],), {}), ("vstack", ([A, B],), {}), ("append", (A, B), {}), ("append", (A, B), {"axis": 0}),
    ("broadcast_to", (V, (3, 4)), {}), ("moveaxis", (C, 0, -1), {}), ("swapaxes", (C, 0, 2), {}),
    ("flip", (A,), {}), ("flip", (A,), {"axis": 1}), ("roll", (A, 2), {}), ("roll", (A, 1), {"axis": 0}),
    ("tile", (A, (2, 1)), {}), ("repeat", (A, 2), {"axis": 1}), ("repeat", (A, 2), {}),
    ("pad", (A, ((1, 2), (0, 1))), {}), ("pad", (A, ((1, 1), (2, 2))), {"constant_values": 3.0}),
    ("pad", (A, ((1, 1), (2, 2))), {"mode": "reflect"}), ("pad", (A, 1), {}),
    ("tril", (A,), {}), ("triu", (A, 1), {}), ("tril", (A, -1), {}), ("diag", (V,), {}), ("diag", (A,), {}),
    ("diagonal", (A,), {}), ("diagonal", (C,), {"offset": 1, "axis1": 1, "axis2": 2}),
    ("take", (A, np.array([0, 5, 11])), {}), ("take", (A, np.array([[0, 2], [1, 1]])), {"axis": 1}),
    ("take_along_axis", (A, IDX), {"axis": 1}), ("take_along_axis", (A, np.array([[0, 2, 1, 0]])), {"axis": 0}),
    ("sort", (A,), {}), ("sort", (A,), {"axis": 0}), ("argsort", (A,), {}),
    ("split", (C, 2), {"axis": 2}), ("split", (C, [1, 3]), {"axis": 2}), ("unstack", (C,), {"axis": 1}),
    ("meshgrid", (V, V[:3]), {}), ("meshgrid", (V, V[:3]), {"indexing": "ij"}),
    ("diff", (A,), {}), ("diff", (A,), {"n": 2, "axis": 0}),
    ("slice", (C, (0, 1, 1), (2, 2, 2)), {}), ("slice_update", (A, (1, 1), np.ones((2, 2), np.float32)), {}),
    # creation
    ("zeros", ((2, 3),), {}), ("ones", ((2,),), {}), ("full", ((2, 2), 1.5), {}), ("zeros_like", (A,), {}),
    ("ones_like", (A,), {}), ("full_like", (A, 2.0), {}), ("arange", (5,), {}), ("arange", (1, 7, 2), {}),
    ("arange", (0.0, 1.0, 0.25), {}), ("linspace", (0, 1, 5), {}), ("linspace", (0, 1, 5), {"endpoint": False}),
    ("eye", (3,), {}), ("eye", (3, 4), {"k": 1}), ("identity", (2,), {}), ("tri", (3,), {}),
    # nn
    *[(n, (A,), {}) for n in ["relu", "relu6", "sigmoid", "log_sigmoid", "silu", "swish", "gelu", "elu", "selu",
                              "celu", "leaky_relu", "softplus", "softsign", "hard_sigmoid", "hard_silu",
                              "hard_swish", "hard_tanh", "softmax", "log_softmax", "normalize"]],
    ("gelu", (A,), {"approximate": False}), ("leaky_relu", (A,), {"negative_slope": 0.1}), ("elu", (A,), {"alpha": 0.5}),
    ("softmax", (C,), {"axis": 1}), ("log_softmax", (C,), {"axis": 0}), ("softmax", (C,), {"axis": (1, 2)}),
    ("normalize", (A,), {"axis": 0}), ("normalize", (A,), {"order": 1}),
    ("one_hot", (LABELS, 4), {}), ("one_hot", (np.array([0, -1, 3]), 4), {}), ("one_hot", (LABELS, 4), {"axis": 0}),
    ("multi_hot", (np.array([[0, 2], [1, 3]]), 4), {}),
    ("binary_crossentropy", (BIN, SIG), {}), ("binary_crossentropy", (BIN, A), {"from_logits": True}),
    ("categorical_crossentropy", (ONEHOT, PROBS), {}), ("categorical_crossentropy", (ONEHOT, A), {"from_logits": True}),
    ("sparse_categorical_crossentropy", (LABELS, PROBS), {}),
    ("sparse_categorical_crossentropy", (LABELS, A), {"from_logits": True}),
    ("moments", (C, [0, 1]), {}), ("moments", (C, [2]), {"keepdims": True}),
    ("batch_normalization", (C, V, P[0], -1), {"offset": V, "scale": P[1]}),
    # convolution and pooling (channels_last unless said)
    ("conv", (IMG, K2), {}), ("conv", (IMG, K2), {"padding": "same", "strides": 2}),
    ("conv", (IMG, K2), {"dilation_rate": 2}), ("conv", (IMG, K2[:, :, :1]), {"padding": "same"}),
    ("conv", (np.moveaxis(IMG, -1, 1), K2), {"data_format": "channels_first", "padding": "same"}),
    ("conv", (SEQ, K1), {}), ("conv", (SEQ, K1), {"padding": "same", "strides": 2}),
    ("depthwise_conv", (IMG, DW), {"padding": "same"}),
    ("separable_conv", (IMG, DW, PW), {"strides": (2, 1)}),
    ("max_pool", (IMG, 2), {"strides": 2}), ("max_pool", (IMG, 3), {"strides": 2, "padding": "same"}), ("max_pool", (SEQ, 2), {"strides": 2}),
    ("average_pool", (IMG, 2), {"strides": (2, 1)}), ("average_pool", (IMG, (3, 2)), {"strides": 2, "padding": "same"}),
    ("average_pool", (SEQ, 3), {"strides": 1, "padding": "same"}),
    ("top_k", (A, 2), {}), ("nonzero", (A > 0,), {}),
    ("cast", (A, "int32"), {}), ("cast", (np.array([0, 1, 2]), "float32"), {}),
    ("convert_to_tensor", ([[1.0, 2.0]],), {}), ("convert_to_tensor", (3,), {}),
    ("stop_gradient", (A,), {}),
]


def _as_numpy(x):
    if isinstance(x, (list, tuple)):
        return [_as_numpy(v) for v in x]
    return np.asarray(x)


def keras_results(keras):
    """Keras's output for every case, and the names keras.ops exports. Each op gets copies: the
    numpy backend's slice_update writes into its input."""
    return {"names": sorted(n for n in dir(keras.ops) if not n.startswith("_")),
            "results": [_as_numpy(getattr(keras.ops, name)(*copy.deepcopy(args), **kw)) for name, args, kw in CASES]}
