"""`Adadelta`: per-element step sizes from running averages of squared gradients and updates."""
from .optimizer import Optimizer, _check_lr, _float, _new_scalar

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """PyTorch's `torch.optim.Adadelta`.

    `square_avg = rho * square_avg + (1 - rho) * g * g`,
    `delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g`,
    `acc_delta = rho * acc_delta + (1 - rho) * delta * delta`, `p -= lr * delta`.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    _kernel = "adadelta"

    def _state_names(self, group, p):
        return ("step", "square_avg", "acc_delta")

    def _init_state(self, name, p, group):
        import ferrograd as torch
        return _new_scalar(0.0) if name == "step" else torch.zeros_like(p)

    def _kernel_options(self, group):
        return dict(lr=_float(group["lr"]), rho=_float(group["rho"]), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]), maximize=bool(group["maximize"]))

    def step(self, closure=None):
        """Performs a single optimization step."""
        return self._fused_step(closure)
