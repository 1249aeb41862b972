"""`RMSprop` with momentum, centering, weight decay and maximize."""
from .optimizer import _FusedOptimizer, _check_nonnegative, _float

__all__ = ["RMSprop"]


class RMSprop(_FusedOptimizer):
    """PyTorch's `torch.optim.RMSprop`.

    `square_avg = alpha * square_avg + (1 - alpha) * g * g`; centered subtracts the square of
    the running gradient mean; `avg = sqrt(...) + eps`; the step is `g / avg`, through a
    momentum buffer when `momentum > 0`.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        _check_nonnegative(eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    _group_defaults = dict(_FusedOptimizer._group_defaults, momentum=0, centered=False)

    _kernel = "rmsprop"

    def _state_names(self, group, p):
        names = ("step", "square_avg")
        if _float(group["momentum"]) > 0:
            names += ("momentum_buffer",)
        if group["centered"]:
            names += ("grad_avg",)
        return names

    def _kernel_options(self, group):
        return dict(lr=_float(group["lr"]), alpha=_float(group["alpha"]), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]), momentum=_float(group["momentum"]),
                    centered=bool(group["centered"]), maximize=bool(group["maximize"]))
