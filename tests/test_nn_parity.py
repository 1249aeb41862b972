"""Layers, functions and losses against PyTorch: the cases of parity_cases.py run here with
ferrograd and are compared with PyTorch's outputs, gradients (inputs and parameters) and
state_dicts recorded by tools/make_parity_fixtures.py; on the CPU their input gradients are also
gradchecked in float64. Runs on both devices (float32 on the GPU)."""
import os

import numpy as np
import pytest

import ferrograd as torch
from ferrograd.autograd import gradcheck
from helpers import float_dtype, on_gpu
import helpers
import parity_cases

FIXTURES = np.load(os.path.join(os.path.dirname(__file__), "data", "parity_torch.npz"))


def fixture(case, key):
    return FIXTURES[f"{case.name}/{key}"]


def fixture_keys(case, prefix):
    start = f"{case.name}/{prefix}/"
    return {k[len(start):]: FIXTURES[k] for k in FIXTURES.files if k.startswith(start)}


def flat_outputs(out):
    if isinstance(out, (tuple, list)):
        return tuple(t for o in out for t in flat_outputs(o))
    return (out,)


def build_module(case):
    """The case's module in the test's dtype and device, with PyTorch's recorded state loaded."""
    if case.build is None:
        return None
    module = case.build(torch).to(helpers.DEVICE, float_dtype())
    module.train(case.train)
    state = fixture_keys(case, "state")
    ours = module.state_dict()
    # Same keys and shapes both ways: PyTorch's checkpoint loads here (strict), and ours there.
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: v.shape for k, v in state.items()}
    module.load_state_dict({k: torch.tensor(v, dtype=ours[k].dtype) for k, v in state.items()})
    return module


def make_inputs(case):
    out = []
    for a in case.inputs:
        if a.dtype.kind == "f":
            out.append(torch.tensor(a, dtype=float_dtype(), requires_grad=True))
        else:
            out.append(torch.tensor(a))
    return out


def tolerances(case):
    return (1e-4, case.atol_gpu) if on_gpu() else (1e-7, 1e-9)


@pytest.mark.parametrize("name", sorted(parity_cases.CASES))
def test_matches_pytorch(name):
    case = parity_cases.CASES[name]
    module = build_module(case)
    inputs = make_inputs(case)
    outs = flat_outputs(case.call(torch, module, *inputs))
    rtol, atol = tolerances(case)
    total = 0
    for j, o in enumerate(outs):
        want = fixture(case, f"out{j}")
        assert o.device.type == helpers.DEVICE, f"output {j} on {o.device}"
        assert tuple(o.shape) == want.shape, f"output {j}: shape {tuple(o.shape)} != {want.shape}"
        got = o.detach().cpu().numpy()
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"output {j}")
            w = torch.tensor(fixture(case, f"weight{j}"), dtype=o.dtype)
            total = total + (o * w).sum()
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"output {j}")
    leaves = [t for t in inputs if t.requires_grad]
    params = dict(module.named_parameters()) if module is not None else {}
    grads = torch.autograd.grad(total, leaves + list(params.values()), allow_unused=True)
    want_params = fixture_keys(case, "grad_param")
    for i, g in enumerate(grads):
        label = f"input {i}" if i < len(leaves) else f"parameter {list(params)[i - len(leaves)]}"
        want = fixture(case, f"grad_in{i}") if i < len(leaves) else want_params[list(params)[i - len(leaves)]]
        got = np.zeros(want.shape) if g is None else g.detach().cpu().numpy()
        np.testing.assert_allclose(got, want, rtol=rtol * 10, atol=atol * 10, err_msg=f"gradient of {label}")
    if module is not None:
        after = fixture_keys(case, "state_after" if case.train else "state")
        for k, v in module.state_dict().items():
            np.testing.assert_allclose(v.detach().cpu().numpy(), after[k], rtol=rtol, atol=atol,
                                       err_msg=f"state {k} after the call")


GRADCHECKED = sorted(n for n, c in parity_cases.CASES.items() if c.gradcheck and any(
    a.dtype.kind == "f" for a in c.inputs))


@pytest.mark.cpu_only("float64 finite differences; the GPU run compares its gradients with PyTorch's above")
@pytest.mark.parametrize("name", GRADCHECKED)
def test_gradcheck(name):
    case = parity_cases.CASES[name]
    module = build_module(case)
    inputs = make_inputs(case)
    floats = [i for i, t in enumerate(inputs) if t.requires_grad]

    def fn(*leaves):
        args = list(inputs)
        for i, leaf in zip(floats, leaves):
            args[i] = leaf
        outs = [o for o in flat_outputs(case.call(torch, module, *args)) if o.dtype.is_floating_point]
        return tuple(outs)
    assert gradcheck(fn, tuple(inputs[i] for i in floats), eps=1e-6, atol=1e-5, rtol=1e-4)
