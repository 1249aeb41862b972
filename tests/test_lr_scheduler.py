"""ferrograd.optim.lr_scheduler: lr curves against closed forms and hand-computed values."""
import io
import math
import warnings
from bisect import bisect_right

import pytest

import ferrograd as torch
import ferrograd.optim.lr_scheduler as lr_scheduler
from ferrograd import nn
from ferrograd.optim.lr_scheduler import (CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR,
                                          LambdaLR, LinearLR, MultiStepLR, OneCycleLR, ReduceLROnPlateau, StepLR)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _opt(lr=1.0, cls=torch.optim.SGD, groups=1, **kw):
    params = [{"params": [nn.Parameter(torch.ones(2))]} for _ in range(groups)]
    return cls(params, lr=lr, **kw)


def _curve(opt, sched, n):
    """The lr of group 0 before each of n optimizer steps (step, then scheduler.step())."""
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr()[0] == opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    return out


def test_module_paths():
    assert torch.optim.lr_scheduler is lr_scheduler
    import ferrograd.optim.lr_scheduler as m
    assert m.StepLR is StepLR
    assert issubclass(StepLR, lr_scheduler.LRScheduler)


def test_step_lr():
    opt = _opt(0.5)
    s = StepLR(opt, step_size=3, gamma=0.1)
    assert opt.param_groups[0]["initial_lr"] == 0.5
    got = _curve(opt, s, 10)
    expected = [0.5 * 0.1 ** (e // 3) for e in range(10)]
    assert got == pytest.approx(expected, rel=1e-12)
    assert got[:4] == [0.5, 0.5, 0.5, pytest.approx(0.05)]
    assert s.last_epoch == 10


def test_multistep_lr_with_repeated_milestone():
    opt = _opt(1.0)
    s = MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.5)
    got = _curve(opt, s, 8)
    ms = [2, 5, 5]
    assert got == pytest.approx([0.5 ** bisect_right(ms, e) for e in range(8)], rel=1e-12)
    assert got == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.125, 0.125, 0.125])


def test_exponential_lr():
    opt = _opt(0.1)
    s = ExponentialLR(opt, gamma=0.9)
    assert _curve(opt, s, 12) == pytest.approx([0.1 * 0.9 ** e for e in range(12)], rel=1e-12)


def test_cosine_annealing_recursive_matches_closed_form():
    opt = _opt(0.1)
    T, eta_min = 10, 0.001
    s = CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    got = _curve(opt, s, 3 * T + 2)  # keeps following the cosine wave past T_max
    expected = [eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(3 * T + 2)]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert got[T] == pytest.approx(eta_min)
    assert got[2 * T] == pytest.approx(0.1)


def test_cosine_annealing_is_chainable_with_external_change():
    # The recursive form scales the current lr: an outside change carries through.
    opt = _opt(1.0)
    s = CosineAnnealingLR(opt, T_max=4)
    opt.step()
    s.step()
    lr1 = opt.param_groups[0]["lr"]
    opt.param_groups[0]["lr"] = lr1 * 2
    opt.step()
    s.step()
    factor = (1 + math.cos(math.pi * 2 / 4)) / (1 + math.cos(math.pi * 1 / 4))
    assert opt.param_groups[0]["lr"] == pytest.approx(2 * lr1 * factor)


def test_lambda_lr_per_group():
    opt = _opt(1.0, groups=2)
    opt.param_groups[1]["lr"] = 0.5
    s = LambdaLR(opt, lr_lambda=[lambda e: 0.95 ** e, lambda e: 1.0 / (e + 1)])
    lrs = []
    for e in range(6):
        lrs.append(s.get_last_lr())
        opt.step()
        s.step()
    for e, (a, b) in enumerate(lrs):
        assert a == pytest.approx(0.95 ** e)
        assert b == pytest.approx(0.5 / (e + 1))
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        LambdaLR(opt, lr_lambda=[lambda e: 1.0])


def test_linear_lr():
    opt = _opt(0.05)
    s = LinearLR(opt, start_factor=0.25, total_iters=4)
    got = _curve(opt, s, 7)
    assert got == pytest.approx([0.05 * (0.25 + 0.75 * min(e, 4) / 4) for e in range(7)], rel=1e-12)


def test_one_cycle_cos_sgd_momentum():
    opt = _opt(0.1, momentum=0.9)
    s = OneCycleLR(opt, max_lr=1.0, total_steps=10)
    # Hand-computed: warm-up over steps 0..2 from 1/25 to 1, then down to 0.04/1e4 at step 9.
    lo, hi, end = 0.04, 1.0, 0.04 / 1e4
    assert opt.param_groups[0]["initial_lr"] == pytest.approx(lo)
    assert opt.param_groups[0]["max_lr"] == 1.0 and opt.param_groups[0]["min_lr"] == pytest.approx(end)
    lrs, moms = [], []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        s.step()

    def cos_anneal(a, b, pct):
        return b + (a - b) * (1 + math.cos(math.pi * pct)) / 2

    exp_lr = [cos_anneal(lo, hi, e / 2) if e <= 2 else cos_anneal(hi, end, (e - 2) / 7) for e in range(10)]
    exp_m = [cos_anneal(0.95, 0.85, e / 2) if e <= 2 else cos_anneal(0.85, 0.95, (e - 2) / 7) for e in range(10)]
    assert lrs == pytest.approx(exp_lr, rel=1e-12)
    assert moms == pytest.approx(exp_m, rel=1e-12)
    assert lrs[0] == pytest.approx(0.04) and lrs[1] == pytest.approx(0.52) and lrs[2] == pytest.approx(1.0)
    assert lrs[9] == pytest.approx(4e-6)
    assert moms[0] == pytest.approx(0.95) and moms[2] == pytest.approx(0.85) and moms[9] == pytest.approx(0.95)
    # Ten scheduler steps reached last_epoch == total_steps (allowed, as in PyTorch); one more is refused.
    assert s.last_epoch == 10
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of total steps is 10"):
        s.step()


def test_one_cycle_linear_three_phase_adam_betas():
    opt = _opt(0.1, cls=torch.optim.Adam, betas=(0.9, 0.99))
    s = OneCycleLR(opt, max_lr=0.5, epochs=2, steps_per_epoch=5, pct_start=0.3, anneal_strategy="linear",
                   three_phase=True, div_factor=10.0, final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)
    assert s.total_steps == 10
    lrs, b1s = [], []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        b1s.append(opt.param_groups[0]["betas"][0])
        assert opt.param_groups[0]["betas"][1] == 0.99
        opt.step()
        s.step()
    # Phase ends: 0.3*10-1 = 2, 2*0.3*10-2 = 4, 9.
    exp_lr = [0.05, 0.275, 0.5, 0.275, 0.05] + [0.05 + (0.0005 - 0.05) * (e - 4) / 5 for e in range(5, 10)]
    exp_b1 = [0.9, 0.85, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    assert lrs == pytest.approx(exp_lr, rel=1e-12)
    assert b1s == pytest.approx(exp_b1, rel=1e-12)


def test_one_cycle_errors():
    opt = _opt(0.1, momentum=0.9)
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="Expected positive integer total_steps"):
        OneCycleLR(opt, max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="Expected float between 0 and 1 pct_start"):
        OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be one of"):
        OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        OneCycleLR(_opt(0.1, cls=torch.optim.Adagrad), max_lr=1.0, total_steps=10)


def test_reduce_lr_on_plateau_abs_cooldown_min_lr():
    opt = _opt(1.0)
    s = ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, threshold=0.1, threshold_mode="abs",
                          cooldown=1, min_lr=0.2)
    metrics = [10, 9.95, 9.95, 5, 5, 5, 5, 5, 5, 5, 5]
    got = []
    for m in metrics:
        s.step(m)
        got.append(opt.param_groups[0]["lr"])
    assert got == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2])
    assert s.get_last_lr() == [pytest.approx(0.2)]


def test_reduce_lr_on_plateau_rel_max_and_tensor_metric():
    opt = _opt(0.1, groups=2)
    s = ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, min_lr=[0.0, 0.05])
    got = []
    for m in [1.0, 1.00005, 2.0, 1.0]:  # 1.00005 is within the 1e-4 relative threshold
        s.step(torch.tensor(m))
        got.append([g["lr"] for g in opt.param_groups])
    assert got == [[0.1, 0.1], [pytest.approx(0.01), 0.05], [pytest.approx(0.01), 0.05],
                   [pytest.approx(0.001), 0.05]]
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown!"):
        ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="threshold mode x is unknown!"):
        ReduceLROnPlateau(opt, threshold_mode="x")


def test_reduce_lr_on_plateau_defaults():
    opt = _opt(1.0)
    s = ReduceLROnPlateau(opt)
    for _ in range(11):
        s.step(1.0)
    assert opt.param_groups[0]["lr"] == 1.0  # patience 10: eleven steps, ten of them bad
    s.step(1.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_cyclic_lr_triangular():
    opt = _opt(0.1, momentum=0.9)
    s = CyclicLR(opt, base_lr=0.1, max_lr=1.0, step_size_up=2, step_size_down=3)
    got = _curve(opt, s, 11)
    exp = [0.1, 0.55, 1.0, 0.7, 0.4, 0.1, 0.55, 1.0, 0.7, 0.4, 0.1]
    assert got == pytest.approx(exp, rel=1e-12)


def test_warm_restarts():
    opt = _opt(1.0)
    s = CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2)
    got = _curve(opt, s, 10)
    tc = [0, 1, 2, 0, 1, 2, 3, 4, 5, 0]
    ti = [3, 3, 3, 6, 6, 6, 6, 6, 6, 12]
    assert got == pytest.approx([(1 + math.cos(math.pi * c / i)) / 2 for c, i in zip(tc, ti)], rel=1e-12)


def test_scheduler_drives_optimizer_updates():
    p = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=1.0)
    s = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = torch.tensor([1.0], dtype=torch.float64)
        opt.step()
        s.step()
    assert p.item() == pytest.approx(1.0 - (1 + 0.5 + 0.25))


def test_epoch_argument_uses_closed_form():
    opt = _opt(1.0)
    s = StepLR(opt, step_size=2, gamma=0.5)
    s.step(5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25)


def test_resume_requires_initial_lr():
    opt = _opt(1.0)
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
        StepLR(opt, step_size=2, last_epoch=3)


def test_warns_when_scheduler_steps_first():
    opt = _opt(1.0)
    s = StepLR(opt, step_size=2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s.step()
    assert any("before `optimizer.step()`" in str(x.message) for x in w)


def _round_trip(make, n_before, n_after, metrics=None):
    opt1 = _opt(0.1, momentum=0.9)
    s1 = make(opt1)
    for k in range(n_before):
        opt1.step()
        s1.step(*([metrics[k]] if metrics else []))
    buf = io.BytesIO()
    torch.save({"opt": opt1.state_dict(), "sched": s1.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf)
    opt2 = _opt(0.1, momentum=0.9)
    s2 = make(opt2)
    opt2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    assert s2.get_last_lr() == s1.get_last_lr()
    for k in range(n_after):
        for o, s in ((opt1, s1), (opt2, s2)):
            o.step()
            s.step(*([metrics[n_before + k]] if metrics else []))
        assert opt1.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]
        assert opt1.param_groups[0]["momentum"] == opt2.param_groups[0]["momentum"]
        assert s1.last_epoch == s2.last_epoch


@pytest.mark.parametrize("make", [
    lambda o: StepLR(o, step_size=2, gamma=0.5),
    lambda o: MultiStepLR(o, milestones=[3, 6]),
    lambda o: ExponentialLR(o, gamma=0.8),
    lambda o: CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    lambda o: LambdaLR(o, lambda e: 1 / (1 + e)),
    lambda o: OneCycleLR(o, max_lr=1.0, total_steps=12),
    lambda o: OneCycleLR(o, max_lr=1.0, total_steps=12, three_phase=True, anneal_strategy="linear"),
], ids=["step", "multistep", "exp", "cosine", "lambda", "onecycle", "onecycle3"])
def test_state_dict_round_trip(make):
    _round_trip(make, 4, 6)


def test_reduce_on_plateau_state_dict_round_trip():
    metrics = [5, 4, 4, 4, 4, 3, 3, 3, 3, 3]
    _round_trip(lambda o: ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1), 4, 6, metrics)
    s = ReduceLROnPlateau(_opt(0.1), patience=3)
    sd = s.state_dict()
    assert sd["patience"] == 3 and "optimizer" not in sd and sd["best"] == math.inf


def test_state_dict_contents():
    opt = _opt(0.1)
    s = StepLR(opt, step_size=2)
    sd = s.state_dict()
    assert "optimizer" not in sd
    assert sd["last_epoch"] == 0 and sd["base_lrs"] == [0.1] and sd["_last_lr"] == [0.1]
    ls = LambdaLR(opt, lambda e: 1.0)
    assert ls.state_dict()["lr_lambdas"] == [None]
