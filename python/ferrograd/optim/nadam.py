"""`NAdam`: Adam with Nesterov momentum and momentum decay (Dozat, 2016)."""
from .optimizer import _FusedOptimizer, _check_nonnegative, _check_betas, _check_lr, _float, _new_scalar

__all__ = ["NAdam"]


class NAdam(_FusedOptimizer):
    """PyTorch's `torch.optim.NAdam`.

    `mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))`; the step adds
    `-lr * (1 - mu_t) / (1 - prod mu) * g / denom` and `-lr * mu_{t+1} / (1 - prod mu * mu_{t+1})
    * m / denom` with `denom = sqrt(v / (1 - beta2**t)) + eps`. The running product of the
    `mu_t` is the state 'mu_product'.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_lr(lr)
        _check_nonnegative(eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay, momentum_decay=momentum_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    _group_defaults = dict(_FusedOptimizer._group_defaults, decoupled_weight_decay=False)

    _cpu_states = ("step", "mu_product")
    _kernel = "nadam"

    def _state_names(self, group, p):
        return ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def _init_state(self, name, p, group):
        import ferrograd as torch
        if name in ("step", "mu_product"):
            return _new_scalar(0.0 if name == "step" else 1.0)
        return torch.zeros_like(p)

    def _kernel_options(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=_float(group["lr"]), beta1=_float(beta1), beta2=_float(beta2), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]), momentum_decay=_float(group["momentum_decay"]),
                    decoupled_weight_decay=bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]))

