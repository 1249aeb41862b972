"""`SGD` with momentum, dampening, Nesterov, weight decay and maximize (PyTorch's rule)."""
from .optimizer import _FusedOptimizer, _float

__all__ = ["SGD"]


class SGD(_FusedOptimizer):
    """Stochastic gradient descent, PyTorch's `torch.optim.SGD`.

    The momentum buffer starts as a copy of the first gradient; then
    `buf = momentum * buf + (1 - dampening) * grad` and the step uses `buf` (or
    `grad + momentum * buf` with Nesterov).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    _group_defaults = dict(nesterov=False, maximize=False, foreach=None, differentiable=False, fused=False)

    _kernel = "sgd"

    def _state_names(self, group, p):
        return ("momentum_buffer",) if _float(group["momentum"]) != 0 else ()

    def _init_state(self, name, p, group):
        import ferrograd as torch
        return torch.zeros_like(p)

    def _kernel_options(self, group):
        momentum = _float(group["momentum"])
        if group["nesterov"] and (momentum <= 0 or _float(group["dampening"]) != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        return dict(lr=_float(group["lr"]), momentum=momentum, dampening=_float(group["dampening"]),
                    weight_decay=_float(group["weight_decay"]), nesterov=bool(group["nesterov"]),
                    maximize=bool(group["maximize"]))
