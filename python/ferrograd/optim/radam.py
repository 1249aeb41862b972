"""`RAdam`: Adam with the variance of the adaptive learning rate rectified (Liu et al., 2019)."""
from .optimizer import _FusedOptimizer, _check_nonnegative, _check_betas, _check_lr, _float

__all__ = ["RAdam"]


class RAdam(_FusedOptimizer):
    """PyTorch's `torch.optim.RAdam`.

    `rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)`; while `rho_t <= 5` the step is
    `-lr * m / (1 - beta1**t)`, after that it is scaled by the adaptive rate
    `sqrt(1 - beta2**t) / (sqrt(v) + eps)` and the rectification term.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_lr(lr)
        _check_nonnegative(eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    _group_defaults = dict(_FusedOptimizer._group_defaults, decoupled_weight_decay=False)

    _kernel = "radam"

    def _state_names(self, group, p):
        return ("step", "exp_avg", "exp_avg_sq")

    def _kernel_options(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=_float(group["lr"]), beta1=_float(beta1), beta2=_float(beta2), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]),
                    decoupled_weight_decay=bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]))
