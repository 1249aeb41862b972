"""ferrograd.optim against trajectories recorded from PyTorch (tests/fixtures/optim_reference.json,
made by tests/fixtures/make_optim_reference.py; CI has no PyTorch).

In float64 on the CPU: the optimizers added with NAdam follow PyTorch's parameters step for
step, their state_dicts have PyTorch's structure (state names, dtypes, shapes, group keys and
defaults) and values, a state_dict saved by PyTorch loads and the run continues as PyTorch's
does after loading it; LBFGS
(with and without the strong-Wolfe line search) returns PyTorch's losses, reaches its
parameters and counts the same closure evaluations and iterations.
"""
import json
import os

import numpy as np
import pytest

import ferrograd as torch
from ferrograd import nn

with open(os.path.join(os.path.dirname(__file__), "fixtures", "optim_reference.json")) as f:
    REFERENCE = json.load(f)
OPTIMIZER_CASES = REFERENCE["optimizers"]
SHAPES = [(3, 4), (5,), (2, 3, 2)]


def _tensor(entry):
    return torch.tensor(np.array(entry["data"]).reshape(entry["shape"]), dtype=getattr(torch, entry["dtype"]))


def _kwargs(case):
    # JSON turned tuples into lists; PyTorch's signatures take tuples.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()}


def _params(values):
    return [nn.Parameter(torch.tensor(np.array(v).reshape(s), dtype=torch.float64)) for v, s in zip(values, SHAPES)]


def _run(opt, params, grads):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(np.array(g).reshape(p.shape), dtype=torch.float64)
        opt.step()


def _group_json(group):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in group.items()}


def _ids(cases):
    return [f"{c['optimizer']}-{i}" for i, c in enumerate(cases)]


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=_ids(OPTIMIZER_CASES))
def test_follows_pytorch(case):
    params = _params(case["params"])
    opt = getattr(torch.optim, case["optimizer"])(params, **_kwargs(case))
    _run(opt, params, case["grads"])
    for p, start, want in zip(params, case["params"], case["final"]):
        got = p.detach().numpy().reshape(-1)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        assert not np.allclose(got, start)


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=_ids(OPTIMIZER_CASES))
def test_state_dict_both_ways(case):
    half = len(case["grads"]) // 2
    cls = getattr(torch.optim, case["optimizer"])
    params = _params(case["params"])
    opt = cls(params, **_kwargs(case))
    _run(opt, params, case["grads"][:half])

    # Ours has PyTorch's structure and values.
    ours, theirs = opt.state_dict(), case["state_dict_mid"]
    assert [_group_json(g) for g in ours["param_groups"]] == theirs["param_groups"]
    assert sorted(ours["state"]) == sorted(int(k) for k in theirs["state"])
    for k, st in ours["state"].items():
        want = theirs["state"][str(k)]
        assert set(st) == set(want), case["optimizer"]
        for name, value in st.items():
            assert str(value.dtype).split(".")[-1] == want[name]["dtype"], name
            assert list(value.shape) == want[name]["shape"], name
            np.testing.assert_allclose(value.numpy().reshape(-1), want[name]["data"], rtol=1e-10, atol=1e-12,
                                       err_msg=name)

    # PyTorch's loads into a fresh optimizer and continues as PyTorch's does after loading.
    params2 = [nn.Parameter(p.detach().clone()) for p in params]
    opt2 = cls(params2, lr=123.0)
    loaded = {"state": {int(k): {name: _tensor(v) for name, v in st.items()} for k, st in theirs["state"].items()},
              "param_groups": theirs["param_groups"]}
    opt2.load_state_dict(loaded)
    _run(opt2, params2, case["grads"][half:])
    for p, want in zip(params2, case["final_after_load"]):
        np.testing.assert_allclose(p.detach().numpy().reshape(-1), want, rtol=1e-10, atol=1e-12)


def _lbfgs_problem(case):
    data = case["data"]
    if case["problem"] == "rosenbrock":
        x = nn.Parameter(torch.tensor(data["x0"], dtype=torch.float64))
        return [x], lambda: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    w = nn.Parameter(torch.tensor(data["w0"], dtype=torch.float64))
    bias = nn.Parameter(torch.zeros((), dtype=torch.float64))
    a, b = torch.tensor(data["a"], dtype=torch.float64), torch.tensor(data["b"], dtype=torch.float64)
    return [w, bias], lambda: ((torch.tanh(a @ w + bias) - b) ** 2).sum()


@pytest.mark.parametrize("case", REFERENCE["lbfgs"], ids=[f"{c['problem']}-{c['line_search_fn']}" for c in REFERENCE["lbfgs"]])
def test_lbfgs_follows_pytorch(case):
    params, loss_fn = _lbfgs_problem(case)
    opt = torch.optim.LBFGS(params, lr=1, max_iter=case["max_iter"], history_size=case["history_size"],
                            line_search_fn=case["line_search_fn"])

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    for loss_want, after, counters in zip(case["losses"], case["after"], case["counters"]):
        loss = opt.step(closure)
        assert loss.item() == pytest.approx(loss_want, rel=1e-9)
        for p, want in zip(params, after):
            np.testing.assert_allclose(p.detach().numpy().reshape(-1), want, rtol=1e-8, atol=1e-10)
        st = opt.state[params[0]]
        assert [st["func_evals"], st["n_iter"]] == counters
