"""`Adagrad` with learning-rate decay, initial accumulator value, weight decay and maximize."""
from .optimizer import _FusedOptimizer, _check_nonnegative, _float, _new_scalar

__all__ = ["Adagrad"]


class Adagrad(_FusedOptimizer):
    """PyTorch's `torch.optim.Adagrad`.

    `clr = lr / (1 + (t - 1) * lr_decay)`, `sum += g * g`, `p -= clr * g / (sqrt(sum) + eps)`.
    The state ('step', 'sum' filled with `initial_accumulator_value`) is created with the
    optimizer, as in PyTorch.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        _check_nonnegative(lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                for name in self._state_names(group, p):
                    state[name] = self._init_state(name, p, group)

    _group_defaults = dict(foreach=None, maximize=False, differentiable=False, fused=None)

    _kernel = "adagrad"

    def _state_names(self, group, p):
        return ("step", "sum")

    def _init_state(self, name, p, group):
        import ferrograd as torch
        if name == "step":
            return _new_scalar(0.0)
        return torch.full_like(p, _float(group["initial_accumulator_value"]))

    def _kernel_options(self, group):
        return dict(lr=_float(group["lr"]), lr_decay=_float(group["lr_decay"]),
                    weight_decay=_float(group["weight_decay"]), eps=_float(group["eps"]),
                    maximize=bool(group["maximize"]))
