"""`RMSprop` with momentum, centering, weight decay and maximize."""
from .optimizer import Optimizer, _float, _new_scalar

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """PyTorch's `torch.optim.RMSprop`.

    `square_avg = alpha * square_avg + (1 - alpha) * g * g`; centered subtracts the square of
    the running gradient mean; `avg = sqrt(...) + eps`; the step is `g / avg`, through a
    momentum buffer when `momentum > 0`.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    _kernel = "rmsprop"

    def _state_names(self, group, p):
        names = ("step", "square_avg")
        if _float(group["momentum"]) > 0:
            names += ("momentum_buffer",)
        if group["centered"]:
            names += ("grad_avg",)
        return names

    def _init_state(self, name, p, group):
        import ferrograd as torch
        return _new_scalar(0.0) if name == "step" else torch.zeros_like(p)

    def _kernel_options(self, group):
        return dict(lr=_float(group["lr"]), alpha=_float(group["alpha"]), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]), momentum=_float(group["momentum"]),
                    centered=bool(group["centered"]), maximize=bool(group["maximize"]))

    def step(self, closure=None):
        """Performs a single optimization step."""
        return self._fused_step(closure)
