"""ferrograd.optim against NumPy references of PyTorch's published update rules.

Each reference performs PyTorch's single-tensor operations in the same order, with
hyper-parameters cast to the parameter dtype where PyTorch passes them to a tensor op as a
scalar, and in Python floats where PyTorch computes them in Python (bias corrections, step
sizes). float64 results must agree to ~1e-12, float32 results to float32 rounding.
"""
import copy
import io
import math

import numpy as np
import pytest

import ferrograd as torch
from ferrograd import nn
from helpers import on_gpu

SHAPES = [(5, 7), (3,), (200, 250)]  # the last one is big enough for the chunked parallel path
STEPS = 10
# float64 parameters against float64 references (1e-12): the GPU kernels compute in float32.
FLOAT64_ONLY_CPU = pytest.mark.cpu_only("float64 parameters; the GPU computes in float32")


def _np_dtype(dtype):
    return np.float32 if dtype == torch.float32 else np.float64


def _tol(dtype):
    return dict(rtol=1e-6, atol=1e-7) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) * (1 + k) * 0.5 for s in SHAPES] for k in range(STEPS)]
    return p0, grads


def _lerp(a, b, w, dt):
    w = dt(w)
    if abs(float(w)) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (dt(1) - w)


# ---- NumPy references (one parameter; state passed in and out) ----

def ref_sgd(p, grads, dt, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    p = p.astype(dt)
    buf = None
    for g in grads:
        g = g.astype(dt)
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + dt(weight_decay) * p
        if momentum != 0:
            if buf is None:
                buf = g.copy()
            else:
                buf = buf * dt(momentum) + dt(1 - dampening) * g
            g = g + dt(momentum) * buf if nesterov else buf
        p = p + dt(-lr) * g
    return p


def ref_adam(p, grads, dt, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
             decoupled=False):
    p = p.astype(dt)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    b1, b2 = betas
    step = 0
    for g in grads:
        g = g.astype(dt)
        step += 1
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled:
                p = p * dt(1 - lr * weight_decay)
            else:
                g = g + dt(weight_decay) * p
        m = _lerp(m, g, 1 - b1, dt)
        v = v * dt(b2) + dt(1 - b2) * g * g
        bc1 = 1 - b1 ** step
        bc2 = 1 - b2 ** step
        step_size = lr / bc1
        bc2_sqrt = math.sqrt(bc2)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            denom = np.sqrt(vmax) / dt(bc2_sqrt) + dt(eps)
        else:
            denom = np.sqrt(v) / dt(bc2_sqrt) + dt(eps)
        p = p + dt(-step_size) * m / denom
    return p


def ref_adamw(p, grads, dt, weight_decay=1e-2, **kw):
    return ref_adam(p, grads, dt, weight_decay=weight_decay, decoupled=True, **kw)


def ref_rmsprop(p, grads, dt, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                maximize=False):
    p = p.astype(dt)
    sq = np.zeros_like(p)
    ga = np.zeros_like(p)
    buf = np.zeros_like(p)
    for g in grads:
        g = g.astype(dt)
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + dt(weight_decay) * p
        sq = sq * dt(alpha) + dt(1 - alpha) * g * g
        if centered:
            ga = _lerp(ga, g, 1 - alpha, dt)
            avg = np.sqrt(sq + dt(-1) * ga * ga)
        else:
            avg = np.sqrt(sq)
        avg = avg + dt(eps)
        if momentum > 0:
            buf = buf * dt(momentum) + dt(1) * g / avg
            p = p + dt(-lr) * buf
        else:
            p = p + dt(-lr) * g / avg
    return p


def ref_adagrad(p, grads, dt, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                maximize=False):
    p = p.astype(dt)
    s = np.full_like(p, initial_accumulator_value)
    step = 0
    for g in grads:
        g = g.astype(dt)
        step += 1
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + dt(weight_decay) * p
        clr = lr / (1 + (step - 1) * lr_decay)
        s = s + dt(1) * g * g
        std = np.sqrt(s) + dt(eps)
        p = p + dt(-clr) * g / std
    return p


def ref_nadam(p, grads, dt, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
              decoupled_weight_decay=False, maximize=False):
    p = p.astype(dt)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    b1, b2 = betas
    mu_product = np.float32(1.0)  # a float32 scalar state, as 'step'
    for step, g in enumerate(grads, 1):
        g = g.astype(dt)
        if maximize:
            g = -g
        bc2 = 1 - b2 ** step
        if weight_decay != 0:
            if decoupled_weight_decay:
                p = p * dt(1 - lr * weight_decay)
            else:
                g = g + dt(weight_decay) * p
        mu = b1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product = mu_product * np.float32(mu)
        m = _lerp(m, g, 1 - b1, dt)
        v = v * dt(b2) + dt(1 - b2) * g * g
        denom = np.sqrt(v / dt(bc2)) + dt(eps)
        p = p + dt(-lr * (1.0 - mu) / (1.0 - float(mu_product))) * g / denom
        p = p + dt((-lr * mu_next) / (1.0 - float(mu_product) * mu_next)) * m / denom
    return p


def ref_radam(p, grads, dt, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
              maximize=False):
    p = p.astype(dt)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    b1, b2 = betas
    for step, g in enumerate(grads, 1):
        g = g.astype(dt)
        if maximize:
            g = -g
        if weight_decay != 0:
            if decoupled_weight_decay:
                p = p * dt(1 - lr * weight_decay)
            else:
                g = g + dt(weight_decay) * p
        m = _lerp(m, g, 1 - b1, dt)
        v = v * dt(b2) + dt(1 - b2) * g * g
        bc1 = 1 - b1 ** step
        bc2 = 1 - b2 ** step
        corrected = m / dt(bc1)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2 ** step) / bc2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = dt(bc2 ** 0.5) / (np.sqrt(v) + dt(eps))
            p = p + dt(-1) * (corrected * dt(lr) * adaptive * dt(rect))
        else:
            p = p + dt(-1) * (corrected * dt(lr))
    return p


def ref_adamax(p, grads, dt, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False):
    p = p.astype(dt)
    m = np.zeros_like(p)
    u = np.zeros_like(p)
    b1, b2 = betas
    for step, g in enumerate(grads, 1):
        g = g.astype(dt)
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + dt(weight_decay) * p
        m = _lerp(m, g, 1 - b1, dt)
        u = np.maximum(u * dt(b2), np.abs(g) + dt(eps))
        clr = lr / (1 - b1 ** step)
        p = p + dt(-clr) * m / u
    return p


def ref_adadelta(p, grads, dt, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False):
    p = p.astype(dt)
    sq = np.zeros_like(p)
    acc = np.zeros_like(p)
    for g in grads:
        g = g.astype(dt)
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + dt(weight_decay) * p
        sq = sq * dt(rho) + dt(1 - rho) * g * g
        std = np.sqrt(sq + dt(eps))
        delta = np.sqrt(acc + dt(eps)) / std * g
        acc = acc * dt(rho) + dt(1 - rho) * delta * delta
        p = p + dt(-lr) * delta
    return p


def ref_asgd(p, grads, dt, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, maximize=False):
    p = p.astype(dt)
    ax = np.zeros_like(p)
    # 'eta' and 'mu' are float32 scalar states, as 'step'.
    eta, mu = float(np.float32(lr)), 1.0
    for step, g in enumerate(grads, 1):
        g = g.astype(dt)
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + dt(weight_decay) * p
        p = p * dt(1 - lambd * eta)
        p = p + dt(-eta) * g
        ax = ax + (p - ax) * dt(mu) if mu != 1 else p.copy()
        eta = float(np.float32(lr / ((1 + lambd * lr * step) ** alpha)))
        mu = float(np.float32(1 / max(1, step - t0)))
    return p


def ref_rprop(p, grads, dt, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
    p = p.astype(dt)
    prev = np.zeros_like(p)
    size = np.full_like(p, lr)
    etaminus, etaplus = etas
    for g in grads:
        g = g.astype(dt)
        if maximize:
            g = -g
        prod = g * prev
        factor = np.where(prod > 0, dt(etaplus), np.where(prod < 0, dt(etaminus), dt(1)))
        size = np.minimum(np.maximum(size * factor, dt(step_sizes[0])), dt(step_sizes[1]))
        g = np.where(factor == dt(etaminus), dt(0), g)
        p = p + dt(-1) * np.sign(g) * size
        prev = g
    return p


def ref_adafactor(p, grads, dt, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                  maximize=False):
    """Norms and means accumulate in float64 here: the kernel's reductions agree to rounding."""
    p = p.astype(dt)
    eps1, eps2 = eps
    eps1 = float(np.finfo(dt).eps) if eps1 is None else eps1
    factored = p.ndim > 1
    row = np.zeros(p.shape[:-1] + (1,), dt) if factored else None
    col = np.zeros(p.shape[:-2] + (1,) + p.shape[-1:], dt) if factored else None
    var = np.zeros_like(p)
    rms = lambda x: float(np.sqrt((x.astype(np.float64) ** 2).sum())) / x.size ** 0.5  # noqa: E731
    for step, g in enumerate(grads, 1):
        g = g.astype(dt)
        if maximize:
            g = -g
        w = step ** beta2_decay
        alpha = max(eps2, rms(p)) * min(lr, 1 / step ** 0.5)
        if weight_decay != 0:
            p = p * dt(1 - lr * weight_decay)
        if factored:
            g64 = g.astype(np.float64) ** 2
            row = _lerp(row, g64.mean(-1, keepdims=True).astype(dt), w, dt)
            col = _lerp(col, g64.mean(-2, keepdims=True).astype(dt), w, dt)
            est = row * col / np.maximum(row.astype(np.float64).mean(-2, keepdims=True).astype(dt), dt(eps1))
        else:
            var = _lerp(var, g * g, w, dt)
            est = var
        update = dt(1) / np.sqrt(np.maximum(est, dt(eps1 * eps1))) * g
        denom = max(1.0, rms(update) / d)
        p = p + dt(-alpha / denom) * update
    return p


CASES = [
    (torch.optim.SGD, ref_sgd, dict(lr=0.1)),
    (torch.optim.SGD, ref_sgd, dict(lr=0.1, momentum=0.9)),
    (torch.optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (torch.optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (torch.optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.5, maximize=True)),
    (torch.optim.Adam, ref_adam, dict(lr=0.01)),
    (torch.optim.Adam, ref_adam, dict(lr=0.01, amsgrad=True)),
    (torch.optim.Adam, ref_adam, dict(lr=0.02, weight_decay=0.1)),
    (torch.optim.Adam, ref_adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, maximize=True)),
    (torch.optim.Adam, ref_adam, dict(lr=0.02, betas=(0.3, 0.9), amsgrad=True, weight_decay=0.05)),
    (torch.optim.AdamW, ref_adamw, dict(lr=0.01)),
    (torch.optim.AdamW, ref_adamw, dict(lr=0.03, weight_decay=0.1, amsgrad=True, maximize=True)),
    (torch.optim.RMSprop, ref_rmsprop, dict()),
    (torch.optim.RMSprop, ref_rmsprop, dict(lr=0.01, centered=True)),
    (torch.optim.RMSprop, ref_rmsprop, dict(lr=0.01, momentum=0.9)),
    (torch.optim.RMSprop, ref_rmsprop, dict(lr=0.01, alpha=0.3, centered=True, momentum=0.5, weight_decay=0.1,
                                            maximize=True)),
    (torch.optim.Adagrad, ref_adagrad, dict()),
    (torch.optim.Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.5,
                                            weight_decay=0.01)),
    (torch.optim.Adagrad, ref_adagrad, dict(lr=0.1, eps=1e-5, maximize=True)),
    (torch.optim.NAdam, ref_nadam, dict()),
    (torch.optim.NAdam, ref_nadam, dict(lr=0.02, weight_decay=0.1, momentum_decay=0.01, maximize=True)),
    (torch.optim.NAdam, ref_nadam, dict(lr=0.02, betas=(0.3, 0.9), weight_decay=0.1, decoupled_weight_decay=True)),
    (torch.optim.RAdam, ref_radam, dict(lr=0.01)),
    (torch.optim.RAdam, ref_radam, dict(lr=0.02, betas=(0.8, 0.5), weight_decay=0.1, maximize=True)),
    (torch.optim.RAdam, ref_radam, dict(lr=0.02, betas=(0.3, 0.6), weight_decay=0.05, decoupled_weight_decay=True)),
    (torch.optim.Adamax, ref_adamax, dict()),
    (torch.optim.Adamax, ref_adamax, dict(lr=0.02, betas=(0.3, 0.9), eps=1e-3, weight_decay=0.1, maximize=True)),
    (torch.optim.Adadelta, ref_adadelta, dict()),
    (torch.optim.Adadelta, ref_adadelta, dict(lr=0.5, rho=0.5, eps=1e-4, weight_decay=0.1, maximize=True)),
    (torch.optim.ASGD, ref_asgd, dict(lr=0.05)),
    (torch.optim.ASGD, ref_asgd, dict(lr=0.05, lambd=0.1, alpha=0.5, t0=2, weight_decay=0.1, maximize=True)),
    (torch.optim.Rprop, ref_rprop, dict()),
    (torch.optim.Rprop, ref_rprop, dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(0.01, 0.1), maximize=True)),
]
# Adafactor's step has reductions (RMS of the parameter and the update, row and column means):
# compared to rounding, not bit for bit.
ADAFACTOR_CASES = [
    (torch.optim.Adafactor, ref_adafactor, dict()),
    (torch.optim.Adafactor, ref_adafactor, dict(lr=0.05, beta2_decay=-0.5, eps=(1e-3, 1e-2), d=1.5,
                                                weight_decay=0.1, maximize=True)),
]



def _ids():
    return [f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)]


def _params(p0, dtype):
    return [nn.Parameter(torch.tensor(a, dtype=dtype)) for a in p0]


def _set_grads(params, gs, dtype):
    for p, g in zip(params, gs):
        p.grad = None if g is None else torch.tensor(g, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, pytest.param(torch.float64, marks=FLOAT64_ONLY_CPU)], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_ten_steps_match_reference(case, dtype):
    cls, ref, kw = case
    p0, grads = _data()
    params = _params(p0, dtype)
    opt = cls(params, **kw)
    for gs in grads:
        _set_grads(params, gs, dtype)
        opt.step()
    dt = _np_dtype(dtype)
    for i, p in enumerate(params):
        expected = ref(p0[i], [gs[i] for gs in grads], dt, **kw)
        got = p.detach().cpu().numpy()
        assert got.dtype == dt
        np.testing.assert_allclose(got, expected, **_tol(dtype))
        # Same operations in the same order on IEEE floats: the results agree bit for bit.
        np.testing.assert_array_equal(got, expected)
        # The parameters did move (the test can fail on a no-op).
        assert not np.allclose(got, p0[i].astype(dt))


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_state_names_and_step_counts(case):
    cls, _, kw = case
    p0, grads = _data(1)
    params = _params(p0, torch.float32)
    opt = cls(params, **kw)
    for gs in grads[:3]:
        _set_grads(params, gs, torch.float32)
        opt.step()
    st = opt.state[params[0]]
    name = cls.__name__
    if name == "SGD":
        assert ("momentum_buffer" in st) == (kw.get("momentum", 0) != 0)
    else:
        assert isinstance(st["step"], torch.Tensor) and st["step"].dtype == torch.float32
        assert st["step"].item() == 3.0
    if name in ("Adam", "AdamW"):
        assert {"exp_avg", "exp_avg_sq"} <= set(st)
        assert ("max_exp_avg_sq" in st) == kw.get("amsgrad", False)
    if name == "RMSprop":
        assert "square_avg" in st
        assert ("grad_avg" in st) == kw.get("centered", False)
        assert ("momentum_buffer" in st) == (kw.get("momentum", 0) > 0)
    if name == "Adagrad":
        assert "sum" in st
    if name in NEW_STATE_NAMES:
        assert set(st) == NEW_STATE_NAMES[name]
        for scalar in {"mu_product", "eta", "mu"} & set(st):
            assert st[scalar].device.type == "cpu" and st[scalar].dtype == torch.float32 and st[scalar].dim() == 0


# PyTorch's state names of the optimizers added with NAdam (checked against PyTorch's own
# state_dicts in test_optim_torch_reference.py).
NEW_STATE_NAMES = {
    "NAdam": {"step", "mu_product", "exp_avg", "exp_avg_sq"},
    "RAdam": {"step", "exp_avg", "exp_avg_sq"},
    "Adamax": {"step", "exp_avg", "exp_inf"},
    "Adadelta": {"step", "square_avg", "acc_delta"},
    "ASGD": {"step", "eta", "mu", "ax"},
    "Rprop": {"step", "prev", "step_size"},
}


@pytest.mark.parametrize("dtype", [torch.float32, pytest.param(torch.float64, marks=FLOAT64_ONLY_CPU)], ids=["f32", "f64"])
@pytest.mark.parametrize("case", ADAFACTOR_CASES, ids=["default", "options"])
def test_adafactor_matches_reference(case, dtype):
    cls, ref, kw = case
    p0, grads = _data(8)
    p0.append(np.random.default_rng(9).standard_normal((2, 3, 4)))  # factored over the last two dims
    grads = [gs + [np.random.default_rng(10 + k).standard_normal((2, 3, 4))] for k, gs in enumerate(grads)]
    params = _params(p0, dtype)
    opt = cls(params, **kw)
    for gs in grads:
        _set_grads(params, gs, dtype)
        opt.step()
    dt = _np_dtype(dtype)
    # The GPU's reductions accumulate in float32 (the CPU's in float64).
    tol = dict(rtol=1e-11, atol=1e-13) if dtype == torch.float64 else dict(rtol=1e-4 if on_gpu() else 2e-5, atol=1e-6)
    for i, p in enumerate(params):
        expected = ref(p0[i], [gs[i] for gs in grads], dt, **kw)
        got = p.detach().cpu().numpy()
        assert got.dtype == dt
        np.testing.assert_allclose(got, expected, **tol)
        assert not np.allclose(got, p0[i].astype(dt))
    st = opt.state[params[3]]
    assert set(st) == {"step", "row_var", "col_var"}
    assert tuple(st["row_var"].shape) == (2, 3, 1) and tuple(st["col_var"].shape) == (2, 1, 4)
    assert set(opt.state[params[1]]) == {"step", "variance"} and st["step"].item() == STEPS


@pytest.mark.parametrize("cls", [torch.optim.NAdam, torch.optim.RAdam, torch.optim.Adamax, torch.optim.Adadelta,
                                 torch.optim.ASGD, torch.optim.Rprop, torch.optim.Adam])
@pytest.mark.cpu_only("checks PyTorch's behaviour for CPU parameters")
def test_capturable_raises_on_cpu_as_pytorch(cls):
    p = nn.Parameter(torch.ones(3, device="cpu"))
    p.grad = torch.ones(3, device="cpu")
    opt = cls([p], capturable=True)
    with pytest.raises(AssertionError, match="If capturable=True, params and state_steps must be on supported devices"):
        opt.step()
    assert len(opt.state[p]) == 0  # no half-made state is left behind


def test_sgd_momentum_buffer_starts_as_grad():
    p = nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    p.grad = torch.tensor([0.5, -1.0])
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].cpu().numpy(), np.array([0.5, -1.0], np.float32))
    opt.step()
    expected = np.array([0.5, -1.0], np.float32) * np.float32(0.9) + np.float32(0.5) * np.array([0.5, -1.0], np.float32)
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].cpu().numpy(), expected)


@FLOAT64_ONLY_CPU
def test_params_without_grad_are_skipped():
    p0, grads = _data(2)
    params = _params(p0, torch.float64)
    opt = torch.optim.Adam(params, lr=0.01)
    # Parameter 1 has a gradient only on even steps.
    for k, gs in enumerate(grads):
        gs = list(gs)
        if k % 2:
            gs[1] = None
        _set_grads(params, gs, torch.float64)
        opt.step()
    assert opt.state[params[1]]["step"].item() == 5
    assert opt.state[params[0]]["step"].item() == 10
    expected = ref_adam(p0[1], [gs[1] for k, gs in enumerate(grads) if k % 2 == 0], np.float64, lr=0.01)
    np.testing.assert_allclose(params[1].detach().cpu().numpy(), expected, rtol=1e-12)
    # A parameter that never gets a gradient keeps its value and has no state.
    q = nn.Parameter(torch.ones(3))
    opt.add_param_group({"params": [q]})
    opt.step()
    np.testing.assert_array_equal(q.detach().cpu().numpy(), np.ones(3, np.float32))
    assert len(opt.state[q]) == 0


@FLOAT64_ONLY_CPU
def test_mixed_dtypes_in_one_group():
    p0, grads = _data(3)
    a = nn.Parameter(torch.tensor(p0[0], dtype=torch.float32))
    b = nn.Parameter(torch.tensor(p0[1], dtype=torch.float64))
    opt = torch.optim.RMSprop([a, b], lr=0.01, centered=True)
    for gs in grads:
        a.grad = torch.tensor(gs[0], dtype=torch.float32)
        b.grad = torch.tensor(gs[1], dtype=torch.float64)
        opt.step()
    np.testing.assert_allclose(a.detach().cpu().numpy(), ref_rmsprop(p0[0], [g[0] for g in grads], np.float32, lr=0.01,
                                                               centered=True), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b.detach().cpu().numpy(), ref_rmsprop(p0[1], [g[1] for g in grads], np.float64, lr=0.01,
                                                               centered=True), rtol=1e-12)


def test_non_contiguous_parameter():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((4, 3))
    p = nn.Parameter(torch.tensor(base, dtype=torch.float32).t())
    assert not p.is_contiguous()
    opt = torch.optim.Adam([p], lr=0.1)
    grads = [rng.standard_normal((3, 4)) for _ in range(STEPS)]
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    np.testing.assert_allclose(p.detach().cpu().numpy(), ref_adam(base.T, grads, np.float32, lr=0.1), rtol=1e-6, atol=1e-7)


def test_step_bumps_version():
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    p.grad = torch.ones(3)
    v0 = p._version
    opt.step()
    assert p._version > v0


@FLOAT64_ONLY_CPU
def test_lr_changes_between_steps():
    p0, grads = _data(5)
    params = _params(p0[:1], torch.float64)
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    lrs = [0.1 * (0.5 ** k) for k in range(STEPS)]
    buf = None
    expected = p0[0].copy()
    for k, gs in enumerate(grads):
        opt.param_groups[0]["lr"] = lrs[k]
        _set_grads(params, gs[:1], torch.float64)
        opt.step()
        g = gs[0]
        buf = g.copy() if buf is None else buf * 0.9 + 1.0 * g
        expected = expected + (-lrs[k]) * buf
    np.testing.assert_allclose(params[0].detach().cpu().numpy(), expected, rtol=1e-12)


def test_param_group_specific_options():
    a = nn.Parameter(torch.ones(2))
    b = nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[1]["nesterov"] is False and "maximize" in opt.param_groups[1]
    a.grad = torch.ones(2)
    b.grad = torch.ones(2)
    opt.step()
    np.testing.assert_allclose(a.detach().cpu().numpy(), [0.9, 0.9])
    np.testing.assert_allclose(b.detach().cpu().numpy(), [0.5, 0.5])
    assert "momentum_buffer" in opt.state[b] and len(opt.state[a]) == 0


def test_closure():
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.SGD([p], lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        assert torch.is_grad_enabled()
        loss = (p * p).sum()
        loss.backward()
        calls.append(1)
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert calls == [1]
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.detach().cpu().numpy(), [1.0 - 0.1 * 2.0, -2.0 + 0.1 * 4.0], rtol=1e-6)
    assert opt.step() is None


def test_training_loop_with_autograd():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x = torch.randn(32, 4)
    y = x.sum(dim=1, keepdim=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < first * 0.05


def test_zero_grad():
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None
    np.testing.assert_array_equal(p.grad.cpu().numpy(), np.zeros(3, np.float32))
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_state_dict_round_trip(case):
    cls, ref, kw = case
    p0, grads = _data(6)
    params = _params(p0, torch.float32)
    opt = cls(params, **kw)
    for gs in grads[:5]:
        _set_grads(params, gs, torch.float32)
        opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    assert set(sd["state"]) <= {0, 1, 2}
    # Through a file, as a checkpoint would go.
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    loaded = torch.load(buf)

    params2 = [nn.Parameter(p.detach().clone()) for p in params]
    opt2 = cls(params2, lr=123.0)
    opt2.load_state_dict(loaded)
    assert opt2.param_groups[0]["lr"] == kw.get("lr", opt.defaults["lr"])
    assert opt2.param_groups[0]["params"] is not params  # our own parameters
    assert all(a is b for a, b in zip(opt2.param_groups[0]["params"], params2))
    for gs in grads[5:]:
        _set_grads(params, gs, torch.float32)
        _set_grads(params2, gs, torch.float32)
        opt.step()
        opt2.step()
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())
    expected = ref(p0[0], [gs[0] for gs in grads], np.float32, **kw)
    np.testing.assert_allclose(params2[0].detach().cpu().numpy(), expected, rtol=1e-6, atol=1e-7)


def test_load_state_dict_does_not_alias_source():
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    q = nn.Parameter(torch.ones(3))
    opt2 = torch.optim.Adam([q], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    q.grad = torch.full((3,), 5.0)
    opt2.step()
    assert opt.state[p]["step"].item() == 1
    np.testing.assert_allclose(opt.state[p]["exp_avg"].cpu().numpy(), np.full(3, 0.1, np.float32), rtol=1e-6)


def test_load_state_dict_mismatch_errors():
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([a, b], lr=0.1)
    opt1 = torch.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt1.load_state_dict(opt.state_dict())
    opt3 = torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(opt3.state_dict())


def test_deepcopy_optimizer_state():
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = torch.ones(3)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    assert sd["state"][0]["momentum_buffer"] is not opt.state[p]["momentum_buffer"]


@pytest.mark.parametrize("make, msg", [
    (lambda ps: torch.optim.SGD(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda ps: torch.optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda ps: torch.optim.Adam(ps, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda ps: torch.optim.Adam(ps, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda ps: torch.optim.Adam(ps, betas=(1.0, 0.999)), r"Invalid beta parameter at index 0: 1.0"),
    (lambda ps: torch.optim.Adam(ps, betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0.1"),
    (lambda ps: torch.optim.AdamW(ps, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda ps: torch.optim.RMSprop(ps, alpha=-0.1), "Invalid alpha value: -0.1"),
    (lambda ps: torch.optim.RMSprop(ps, momentum=-0.1), "Invalid momentum value: -0.1"),
    (lambda ps: torch.optim.Adagrad(ps, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda ps: torch.optim.Adagrad(ps, initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (lambda ps: torch.optim.SGD([], lr=0.1), "optimizer got an empty parameter list"),
    (lambda ps: torch.optim.NAdam(ps, momentum_decay=-1), "Invalid momentum_decay value: -1"),
    (lambda ps: torch.optim.NAdam(ps, betas=(0.9, 1.0)), r"Invalid beta parameter at index 1: 1.0"),
    (lambda ps: torch.optim.RAdam(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: torch.optim.Adamax(ps, eps=-1), "Invalid epsilon value: -1"),
    (lambda ps: torch.optim.Adadelta(ps, rho=1.5), "Invalid rho value: 1.5"),
    (lambda ps: torch.optim.ASGD(ps, lambd=-1), "Invalid lambd value: -1"),
    (lambda ps: torch.optim.Rprop(ps, etas=(1.5, 1.2)), "Invalid eta values: 1.5, 1.2"),
    (lambda ps: torch.optim.Adafactor(ps, beta2_decay=0.5), "beta2_decay should be <= 0 but is: 0.5"),
    (lambda ps: torch.optim.Adafactor(ps, d=0.5), "Clipping threshold d should be >= 1 but is: 0.5"),
    (lambda ps: torch.optim.LBFGS(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: torch.optim.NAdam(ps, lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
])
def test_validation_errors(make, msg):
    with pytest.raises(ValueError, match=msg):
        make([nn.Parameter(torch.ones(2))])


def test_param_list_errors():
    p = nn.Parameter(torch.ones(2))
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        torch.optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        torch.optim.SGD([1.0], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        torch.optim.SGD([p], lr=0.1).add_param_group({"params": {nn.Parameter(torch.ones(2))}})
    x = nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        torch.optim.SGD([x * 2], lr=0.1)
    opt = torch.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.warns(UserWarning, match="duplicate parameters"):
        torch.optim.SGD([x, x], lr=0.1)
    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        from ferrograd.optim.optimizer import Optimizer, required
        Optimizer([p], {"lr": required})


def test_add_param_group_gets_defaults():
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([a], lr=0.01, betas=(0.5, 0.6))
    opt.add_param_group({"params": b, "lr": 0.1})
    g = opt.param_groups[1]
    assert g["params"] == [b] or g["params"][0] is b
    assert g["lr"] == 0.1 and g["betas"] == (0.5, 0.6) and g["amsgrad"] is False


def test_repr():
    opt = torch.optim.SGD([nn.Parameter(torch.ones(2))], lr=0.1)
    r = repr(opt)
    assert r.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.1\n" in r


def test_step_hooks():
    p = nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([p], lr=0.1)
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
    p.grad = torch.ones(2)
    opt.step()
    h1.remove()
    opt.step()
    assert seen == ["pre", "post", "post"]


def test_kernel_rejects_bad_state():
    p = nn.Parameter(torch.ones(4))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(4)
    opt.step()
    opt.state[p]["exp_avg"] = torch.zeros(3)
    with pytest.raises(RuntimeError, match="does not match parameter"):
        opt.step()
    opt.state[p]["exp_avg"] = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="float64"):
        opt.step()


@FLOAT64_ONLY_CPU
def test_non_contiguous_and_expanded_grads():
    p0, grads = _data(7)
    p = nn.Parameter(torch.tensor(p0[0], dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    for gs in grads:
        # The grad arrives transposed twice (a strided view) ...
        p.grad = torch.tensor(gs[0].T.copy(), dtype=torch.float64).t()
        assert not p.grad.is_contiguous()
        opt.step()
    expected = ref_sgd(p0[0], [gs[0] for gs in grads], np.float64, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(p.detach().cpu().numpy(), expected, rtol=1e-12)
    # ... or broadcast from one element (stride 0).
    q = nn.Parameter(torch.zeros(4))
    q.grad = torch.ones(1).expand(4)
    torch.optim.Adagrad([q], lr=0.5).step()
    np.testing.assert_allclose(q.detach().cpu().numpy(), np.full(4, -0.5, np.float32), rtol=1e-6)


def test_user_defined_optimizer_subclass():
    from ferrograd.optim import Optimizer

    class PlainSGD(Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        @torch.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self.state[p]["seen"] = self.state[p].get("seen", 0) + 1
                        p.add_(p.grad, alpha=-group["lr"])
            return loss

    p = nn.Parameter(torch.ones(3))
    opt = PlainSGD([p], lr=0.25)
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(1))
    p.grad = torch.ones(3)
    opt.step()
    np.testing.assert_allclose(p.detach().cpu().numpy(), np.full(3, 0.75, np.float32))
    assert calls == [1] and opt.state_dict()["state"] == {0: {"seen": 1}}
    from ferrograd.optim.lr_scheduler import StepLR
    sched = StepLR(opt, step_size=1, gamma=0.5)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.125


@FLOAT64_ONLY_CPU
def test_parameters_sharing_one_storage_and_aliased_grads():
    flat = torch.arange(10, dtype=torch.float64)
    a = nn.Parameter(flat[:4])
    b = nn.Parameter(flat[4:])
    opt = torch.optim.Adam([a, b], lr=0.1)
    a.grad = torch.ones(4, dtype=torch.float64)
    b.grad = torch.full((6,), -2.0, dtype=torch.float64)
    for _ in range(3):
        opt.step()
    expected = np.arange(10.0)
    expected[:4] = ref_adam(np.arange(4.0), [np.ones(4)] * 3, np.float64, lr=0.1)
    expected[4:] = ref_adam(np.arange(4.0, 10.0), [np.full(6, -2.0)] * 3, np.float64, lr=0.1)
    np.testing.assert_allclose(flat.cpu().numpy(), expected, rtol=1e-12)
    # A gradient that is the parameter's own memory.
    p = nn.Parameter(torch.tensor([1.0, -2.0, 4.0], dtype=torch.float64))
    p.grad = p.detach()
    torch.optim.SGD([p], lr=0.25, weight_decay=0.5).step()
    x = np.array([1.0, -2.0, 4.0])
    np.testing.assert_allclose(p.detach().cpu().numpy(), x + (-0.25) * (x + 0.5 * x), rtol=1e-12)


def test_hooks_run_once_for_subclass_calling_super_step():
    class LoggedSGD(torch.optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    p = nn.Parameter(torch.ones(2))
    opt = LoggedSGD([p], lr=0.5)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    p.grad = torch.ones(2)
    opt.step()
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(p.detach().cpu().numpy(), [0.5, 0.5])


def test_differentiable_is_refused():
    with pytest.raises(NotImplementedError, match=r"Adam\(differentiable=True\) is not supported"):
        torch.optim.Adam([nn.Parameter(torch.ones(2))], differentiable=True)
    # The other implementation switches are accepted (the step is always one fused kernel).
    torch.optim.Adam([nn.Parameter(torch.ones(2))], foreach=True, fused=True, capturable=False)
    torch.optim.SGD([nn.Parameter(torch.ones(2))], lr=0.1, foreach=False, fused=True)


def _lbfgs_regression(device, dtype, line_search_fn):
    """Three LBFGS steps on a small, well-conditioned least-squares problem with a quartic
    penalty; the parameter and the losses."""
    rng = np.random.default_rng(11)
    a = torch.tensor(rng.standard_normal((16, 3)), dtype=dtype, device=device)
    b = torch.tensor(rng.uniform(-0.9, 0.9, 16), dtype=dtype, device=device)
    w = nn.Parameter(torch.zeros(3, dtype=dtype, device=device))
    opt = torch.optim.LBFGS([w], max_iter=10, history_size=4, line_search_fn=line_search_fn)

    def closure():
        opt.zero_grad()
        loss = ((a @ w - b) ** 2).sum() + 0.1 * (w ** 4).sum()
        loss.backward()
        return loss
    return w, [opt.step(closure).item() for _ in range(3)]


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_float32_on_device_follows_float64(line_search_fn):
    # The float64 run follows PyTorch's (test_optim_torch_reference.py).
    device = "gpu" if on_gpu() else "cpu"
    w, losses = _lbfgs_regression(device, torch.float32, line_search_fn)
    w64, losses64 = _lbfgs_regression("cpu", torch.float64, line_search_fn)
    assert w.device.type == device
    np.testing.assert_allclose(w.detach().cpu().numpy(), w64.detach().numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(losses, losses64, rtol=1e-4)
    assert losses64[1] < losses64[0] - 0.1  # it moved (from w = 0)


def test_lbfgs_errors():
    p = nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        torch.optim.LBFGS([{"params": [p]}, {"params": [nn.Parameter(torch.ones(2))]}])
    opt = torch.optim.LBFGS([p], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)
    assert torch.optim.LBFGS([p]).defaults["max_eval"] == 25


def test_scalar_states_saved_as_numbers_load_as_cpu_tensors():
    # Old PyTorch checkpoints hold 'step' (and ASGD's 'eta'/'mu') as plain numbers.
    p = nn.Parameter(torch.ones(3))
    opt = torch.optim.ASGD([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0].update({k: sd["state"][0][k].item() for k in ("step", "eta", "mu")})
    q = nn.Parameter(p.detach().clone())
    opt2 = torch.optim.ASGD([q], lr=0.1)
    opt2.load_state_dict(sd)
    st = opt2.state[q]
    assert all(isinstance(st[k], torch.Tensor) and st[k].device.type == "cpu" for k in ("step", "eta", "mu"))
    q.grad = torch.ones(3)
    p.grad = torch.ones(3)
    opt2.step()
    opt.step()
    np.testing.assert_array_equal(q.detach().cpu().numpy(), p.detach().cpu().numpy())
    assert st["step"].item() == 2
