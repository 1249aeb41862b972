"""`RAdam`: Adam with the variance of the adaptive learning rate rectified (Liu et al., 2019)."""
from .optimizer import Optimizer, _check_lr, _float, _new_scalar

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """PyTorch's `torch.optim.RAdam`.

    `rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)`; while `rho_t <= 5` the step is
    `-lr * m / (1 - beta1**t)`, after that it is scaled by the adaptive rate
    `sqrt(1 - beta2**t) / (sqrt(v) + eps)` and the rectification term.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("capturable", False)

    _kernel = "radam"

    def _state_names(self, group, p):
        return ("step", "exp_avg", "exp_avg_sq")

    def _init_state(self, name, p, group):
        import ferrograd as torch
        return _new_scalar(0.0) if name == "step" else torch.zeros_like(p)

    def _kernel_options(self, group):
        beta1, beta2 = group["betas"]
        return dict(lr=_float(group["lr"]), beta1=_float(beta1), beta2=_float(beta2), eps=_float(group["eps"]),
                    weight_decay=_float(group["weight_decay"]),
                    decoupled_weight_decay=bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]))

    def step(self, closure=None):
        """Performs a single optimization step."""
        return self._fused_step(closure)
