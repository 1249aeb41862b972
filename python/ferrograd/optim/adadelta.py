"""`Adadelta`: per-element step sizes from running averages of squared gradients and updates."""
from .optimizer import _FusedOptimizer, _check_nonnegative, _check_lr, _float

__all__ = ["Adadelta"]


class Adadelta(_FusedOptimizer):
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
        _check_nonnegative(eps=eps, weight_decay=weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)


    _kernel = "adadelta"

    def _state_names(self, group, p):
        return ("step", "square_avg", "acc_delta")

    def _kernel_options(self, group):
        return dict(lr=_float(group["lr"]), rho=_float(group["rho"]), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]), maximize=bool(group["maximize"]))
