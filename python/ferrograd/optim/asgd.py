"""`ASGD`: averaged stochastic gradient descent (Polyak and Juditsky, 1992)."""
from .optimizer import _FusedOptimizer, _check_nonnegative, _check_lr, _float, _new_scalar

__all__ = ["ASGD"]


class ASGD(_FusedOptimizer):
    """PyTorch's `torch.optim.ASGD`.

    `p *= 1 - lambd * eta`, `p -= eta * g`, and the average `ax` follows `p` (`ax += (p - ax) *
    mu` once `mu != 1`); then `eta = lr / (1 + lambd * lr * t) ** alpha` and
    `mu = 1 / max(1, t - t0)` for the next step. 'eta' and 'mu' are one-element states.
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        _check_nonnegative(lambd=lambd, alpha=alpha, weight_decay=weight_decay)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)


    _cpu_states = ("step", "eta", "mu")
    _kernel = "asgd"

    def _state_names(self, group, p):
        return ("step", "eta", "mu", "ax")

    def _init_state(self, name, p, group):
        import ferrograd as torch
        if name == "ax":
            return torch.zeros_like(p)
        return _new_scalar({"step": 0.0, "eta": _float(group["lr"]), "mu": 1.0}[name])

    def _kernel_options(self, group):
        import ferrograd as torch
        return dict(lr=_float(group["lr"]), lambd=_float(group["lambd"]), alpha=_float(group["alpha"]),
                    t0=_float(group["t0"]), weight_decay=_float(group["weight_decay"]),
                    maximize=bool(group["maximize"]), default_float32=torch.get_default_dtype() == torch.float32)
