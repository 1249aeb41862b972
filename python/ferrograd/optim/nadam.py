"""`NAdam`: Adam with Nesterov momentum and momentum decay (Dozat, 2016)."""
from .optimizer import Optimizer, _check_lr, _float, _new_scalar

__all__ = ["NAdam"]


class NAdam(Optimizer):
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
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)

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

    def step(self, closure=None):
        """Performs a single optimization step."""
        return self._fused_step(closure)

