"""Autograd node names of the reduction / scan / sort / softmax / matmul family: the same on
the CPU and the GPU, and PyTorch's. The expected names were read once from PyTorch 2.x
(`type(out.grad_fn).__name__` of the same call) and are written out here, so the test needs
no PyTorch; ferrograd exposes the name as `out.grad_fn.name()`."""
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F
from helpers import GPU, needs_gpu

# (case, call on x [3, 4], b [2, 3, 4], v [4], PyTorch's node name)
CASES = [
    ("sum", lambda x, b, v: x.sum(), "SumBackward0"),
    ("sum_dim", lambda x, b, v: x.sum(1), "SumBackward1"),
    ("sum_dims", lambda x, b, v: x.sum((0, 1)), "SumBackward1"),
    ("prod", lambda x, b, v: x.prod(), "ProdBackward0"),
    ("prod_dim", lambda x, b, v: x.prod(1), "ProdBackward1"),
    ("amax", lambda x, b, v: x.amax(1), "AmaxBackward0"),
    ("amin", lambda x, b, v: x.amin(1), "AminBackward0"),
    ("max_dim", lambda x, b, v: x.max(1)[0], "MaxBackward0"),
    ("min_dim", lambda x, b, v: x.min(1)[0], "MinBackward0"),
    ("cumsum", lambda x, b, v: x.cumsum(1), "CumsumBackward0"),
    ("cumprod", lambda x, b, v: x.cumprod(1), "CumprodBackward0"),
    ("sort", lambda x, b, v: x.sort(1)[0], "SortBackward0"),
    ("msort", lambda x, b, v: x.msort(), "SortBackward0"),
    ("softmax", lambda x, b, v: x.softmax(1), "SoftmaxBackward0"),
    ("log_softmax", lambda x, b, v: x.log_softmax(1), "LogSoftmaxBackward0"),
    ("mm", lambda x, b, v: x @ x.T, "MmBackward0"),
    ("bmm", lambda x, b, v: b.bmm(b.transpose(1, 2)), "BmmBackward0"),
    ("dot", lambda x, b, v: v.dot(v), "DotBackward0"),
    ("linear", lambda x, b, v: F.linear(x, x, v[:3]), "AddmmBackward0"),
    ("flip", lambda x, b, v: x.flip(0), "FlipBackward0"),
    # matmul's decomposition in PyTorch: the node of its last step (fold + view, or a clone of
    # the transposed fold), and dim=() as an explicit dim list.
    ("linear_3d", lambda x, b, v: F.linear(b, x), "UnsafeViewBackward0"),
    ("linear_3d_bias", lambda x, b, v: F.linear(b, x, v[:3]), "UnsafeViewBackward0"),
    ("matmul_3d_2d", lambda x, b, v: b @ x.T, "UnsafeViewBackward0"),
    ("matmul_3d_3d", lambda x, b, v: b @ b.transpose(1, 2), "UnsafeViewBackward0"),
    ("matmul_2d_3d", lambda x, b, v: x.T @ b, "CloneBackward0"),
    ("matmul_1d_3d", lambda x, b, v: v[:3] @ b, "UnsafeViewBackward0"),
    ("matmul_3d_1d", lambda x, b, v: b @ v, "UnsafeViewBackward0"),
    ("matmul_1d_2d", lambda x, b, v: v[:3] @ x, "SqueezeBackward4"),
    ("sum_empty_dims", lambda x, b, v: x.sum(dim=()), "SumBackward1"),
    ("mean_empty_dims", lambda x, b, v: x.mean(dim=()), "MeanBackward1"),
    ("mean_half", lambda x, b, v: x.half().mean(), "MeanBackward0"),
    ("var_bfloat16", lambda x, b, v: x.bfloat16().var(1), "VarBackward0"),
    ("cat", lambda x, b, v: torch.cat([x, x]), "CatBackward0"),
    # Ops with a node of their own although they could be composed (PyTorch records one node).
    ("mean", lambda x, b, v: x.mean(), "MeanBackward0"),
    ("mean_dim", lambda x, b, v: x.mean(1), "MeanBackward1"),
    ("max", lambda x, b, v: x.max(), "MaxBackward1"),
    ("var", lambda x, b, v: x.var(1), "VarBackward0"),
    ("std", lambda x, b, v: x.std(1), "StdBackward0"),
    ("logsumexp", lambda x, b, v: x.logsumexp(1), "LogsumexpBackward0"),
    ("norm", lambda x, b, v: x.norm(), "LinalgVectorNormBackward0"),
    ("mv", lambda x, b, v: x @ v, "MvBackward0"),
    ("topk", lambda x, b, v: x.topk(2)[0], "TopkBackward0"),
    ("median", lambda x, b, v: x.median(1)[0], "MedianBackward1"),
    ("linear_no_bias", lambda x, b, v: F.linear(x, x), "MmBackward0"),
    ("min", lambda x, b, v: x.min(), "MinBackward1"),
    ("amax_all", lambda x, b, v: x.amax(), "AmaxBackward0"),
    ("kthvalue", lambda x, b, v: x.kthvalue(2, 1)[0], "KthvalueBackward0"),
    ("norm_p1", lambda x, b, v: x.norm(1, dim=1), "LinalgVectorNormBackward0"),
    ("norm_inf", lambda x, b, v: x.norm(float("inf")), "LinalgVectorNormBackward0"),
]

DEVICES = ["cpu", pytest.param(GPU, marks=needs_gpu)]


def _node_name(call, device):
    x = torch.randn(3, 4).to(device).requires_grad_(True)
    b = torch.randn(2, 3, 4).to(device).requires_grad_(True)
    v = torch.randn(4).to(device).requires_grad_(True)
    out = call(x, b, v)
    assert out.device.type == torch.device(device).type
    return out.grad_fn.name()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case,call,expected", CASES, ids=[c[0] for c in CASES])
def test_grad_fn_name_is_pytorchs(case, call, expected, device):
    assert _node_name(call, device) == expected


@needs_gpu
@pytest.mark.parametrize("case,call,expected", CASES, ids=[c[0] for c in CASES])
def test_grad_fn_name_same_on_both_devices(case, call, expected):
    assert _node_name(call, GPU) == _node_name(call, "cpu")
