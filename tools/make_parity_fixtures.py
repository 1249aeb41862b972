"""Records PyTorch's outputs and gradients for tests/parity_cases.py into tests/data/parity_torch.npz.

Run with a Python that has PyTorch (ferrograd's CI does not need it):
    /work/torchvenv/bin/python tools/make_parity_fixtures.py
Each case runs in float64 from the case's inputs and a module seeded with torch.manual_seed(0);
the module's state_dict (before the call, and after it for cases in training mode), the outputs and the gradients of
sum(w * output) for fixed random weights w (stored too) with respect to the float inputs and the
parameters are saved under '<case>/...' keys.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import parity_cases  # noqa: E402


def flat_outputs(out):
    """The case's output tensors, nested tuples (values, indices) flattened in order."""
    if isinstance(out, (tuple, list)):
        return tuple(t for o in out for t in flat_outputs(o))
    return (out,)


def record(case, store):
    torch.manual_seed(0)
    module = case.build(torch).double() if case.build else None
    if module is not None:
        module.train(case.train)
        for k, v in module.state_dict().items():
            store[f"{case.name}/state/{k}"] = v.detach().numpy().copy()
    inputs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in case.inputs]
    outs = flat_outputs(case.call(torch, module, *inputs))
    rng = np.random.default_rng(7)
    total = 0
    for j, o in enumerate(outs):
        store[f"{case.name}/out{j}"] = o.detach().numpy()
        if o.dtype.is_floating_point:
            w = rng.uniform(-1, 1, size=tuple(o.shape))
            store[f"{case.name}/weight{j}"] = w
            total = total + (o * torch.tensor(w)).sum()
    leaves = [t for t in inputs if t.requires_grad]
    params = dict(module.named_parameters()) if module is not None else {}
    grads = torch.autograd.grad(total, leaves + list(params.values()), allow_unused=True)
    for i, g in enumerate(grads[:len(leaves)]):
        store[f"{case.name}/grad_in{i}"] = np.zeros(leaves[i].shape) if g is None else g.numpy()
    for (k, p), g in zip(params.items(), grads[len(leaves):]):
        store[f"{case.name}/grad_param/{k}"] = np.zeros(p.shape) if g is None else g.numpy()
    if module is not None and case.train:  # (in eval mode the state stays as loaded)
        for k, v in module.state_dict().items():
            store[f"{case.name}/state_after/{k}"] = v.detach().numpy().copy()


def main():
    torch.set_default_dtype(torch.float64)
    store = {}
    for case in parity_cases.CASES.values():
        record(case, store)
    path = os.path.join(HERE, "..", "tests", "data", "parity_torch.npz")
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **store)
    os.replace(tmp, path)
    print(f"{len(parity_cases.CASES)} cases, {len(store)} arrays -> {os.path.relpath(path)} "
          f"({os.path.getsize(path)} bytes), torch {torch.__version__}")


if __name__ == "__main__":
    main()
