"""`Adamax`: Adam with the infinity norm of past gradients in place of their second moment."""
from .optimizer import Optimizer, _check_lr, _float, _new_scalar

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """PyTorch's `torch.optim.Adamax`.

    `exp_inf = maximum(beta2 * exp_inf, |g| + eps)`, `p -= lr / (1 - beta1**t) * m / exp_inf`.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    _kernel = "adamax"

    def _state_names(self, group, p):
        return ("step", "exp_avg", "exp_inf")

    def _init_state(self, name, p, group):
        import ferrograd as torch
        return _new_scalar(0.0) if name == "step" else torch.zeros_like(p)

    def _kernel_options(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=_float(group["lr"]), beta1=_float(beta1), beta2=_float(beta2), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]), maximize=bool(group["maximize"]))

    def step(self, closure=None):
        """Performs a single optimization step."""
        return self._fused_step(closure)
