"""`Adamax`: Adam with the infinity norm of past gradients in place of their second moment."""
from .optimizer import _FusedOptimizer, _check_nonnegative, _check_betas, _check_lr, _float

__all__ = ["Adamax"]


class Adamax(_FusedOptimizer):
    """PyTorch's `torch.optim.Adamax`.

    `exp_inf = maximum(beta2 * exp_inf, |g| + eps)`, `p -= lr / (1 - beta1**t) * m / exp_inf`.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        _check_nonnegative(eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)


    _kernel = "adamax"

    def _state_names(self, group, p):
        return ("step", "exp_avg", "exp_inf")

    def _kernel_options(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=_float(group["lr"]), beta1=_float(beta1), beta2=_float(beta2), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]), maximize=bool(group["maximize"]))
