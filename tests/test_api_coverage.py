"""Coverage of PyTorch's API: every public class of torch.nn and torch.optim and every public
function of torch.nn.functional in tests/data/torch_api_names.txt (written from PyTorch by
tools/list_torch_api.py) must exist in ferrograd, so coverage cannot slip back."""
import os

import pytest

import ferrograd
import ferrograd.nn
import ferrograd.nn.functional
import ferrograd.optim

NAMES_FILE = os.path.join(os.path.dirname(__file__), "data", "torch_api_names.txt")
MODULES = {"nn": ferrograd.nn, "nn.functional": ferrograd.nn.functional, "optim": ferrograd.optim}

# The optimizers of issue 17 come from another branch (`optim`); until it is merged here they are
# reported as expected failures, and checked like every other name once they exist.
FROM_OPTIM_BRANCH = {"optim.NAdam", "optim.RAdam", "optim.Adamax", "optim.Adadelta", "optim.ASGD", "optim.Rprop",
                     "optim.Adafactor", "optim.LBFGS"}
# Products of float8 tensors with per-tensor scales: they need a float8 dtype, which ferrograd
# lacks (the dtype issue adds float16/bfloat16 and small ints, not float8). Listed here so the gap
# shows in every run as an expected failure, not silently dropped from the names file.
NEED_FLOAT8 = {"nn.functional.scaled_mm", "nn.functional.scaled_addmm", "nn.functional.scaled_addmm_",
               "nn.functional.scaled_grouped_mm"}


def torch_names():
    with open(NAMES_FILE) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def test_names_file_is_complete():
    names = torch_names()
    assert len(names) == len(set(names))
    for label in MODULES:
        assert any(n.startswith(label + ".") for n in names), label
    assert FROM_OPTIM_BRANCH <= set(names)
    assert NEED_FLOAT8 <= set(names)


@pytest.mark.parametrize("name", torch_names())
def test_ferrograd_has(name):
    module, _, attr = name.rpartition(".")
    if not hasattr(MODULES[module], attr) and name in FROM_OPTIM_BRANCH:
        pytest.xfail(f"{name} is added by the `optim` branch (issue 17), not merged here yet")
    if not hasattr(MODULES[module], attr) and name in NEED_FLOAT8:
        pytest.xfail(f"{name} multiplies float8 tensors; ferrograd has no float8 dtype")
    assert hasattr(MODULES[module], attr), f"ferrograd.{name} is missing (torch.{name} exists)"
    assert callable(getattr(MODULES[module], attr))
