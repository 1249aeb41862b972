"""Writes tests/data/torch_api_names.txt: the public classes of torch.nn and torch.optim and the
public functions of torch.nn.functional, one `module.Name` a line, which tests/test_api_coverage.py
requires ferrograd to have; and tests/data/torch_trailing_underscore_names.txt: PyTorch's public
names ending in `_` (its in-place ops) in torch, torch.Tensor and torch.nn.functional, the only
such names tests/test_registry.py lets ferrograd have. Run with a Python that has PyTorch:
    /work/torchvenv/bin/python tools/list_torch_api.py
Left out: what the issue (17) names as deprecated or internal, and F's helpers imported from
typing, torch.overrides and torch._jit_internal, its own argument check and the __torch_function__
dispatch helpers."""
import inspect
import os

import torch
import torch.nn
import torch.nn.functional
import torch.optim

EXCLUDED = {
    "nn": {"Container", "NLLLoss2d", "UninitializedParameter", "UninitializedBuffer", "DataParallel"},
    "optim": {"SparseAdam", "Muon"},
    # F's argument check and the __torch_function__ dispatch helpers (for tensor subclasses).
    "nn.functional": {"assert_int_or_pair", "has_torch_function", "has_torch_function_unary",
                      "has_torch_function_variadic"},
}
INTERNAL_MODULES = ("typing", "torch.overrides", "torch._jit_internal")


def public(module, want_class):
    names = []
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if want_class and inspect.isclass(obj):
            names.append(name)
        elif not want_class and callable(obj) and not inspect.isclass(obj):
            if getattr(obj, "__module__", "") in INTERNAL_MODULES:
                continue
            names.append(name)
    return names


def main():
    lines = []
    for label, module, want_class in (("nn", torch.nn, True), ("nn.functional", torch.nn.functional, False),
                                      ("optim", torch.optim, True)):
        lines += [f"{label}.{n}" for n in public(module, want_class) if n not in EXCLUDED[label]]
    _write("torch_api_names.txt", lines)
    _write("torch_trailing_underscore_names.txt", [
        f"{label}.{n}" for label, namespace in (("torch", torch), ("Tensor", torch.Tensor), ("nn.functional", torch.nn.functional))
        for n in sorted(dir(namespace)) if n.endswith("_") and not n.startswith("_")])


def _write(name, lines):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", name)
    with open(path + ".tmp", "w") as f:
        f.write(f"# torch {torch.__version__}: written by tools/list_torch_api.py\n")
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
    print(f"{len(lines)} names -> {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
