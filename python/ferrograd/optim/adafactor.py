"""`Adafactor`: second moments factored into row and column statistics (Shazeer and Stern, 2018)."""
from .optimizer import _FusedOptimizer, _float, _new_scalar

__all__ = ["Adafactor"]


class Adafactor(_FusedOptimizer):
    """PyTorch's `torch.optim.Adafactor`.

    A parameter of 2 or more dims keeps the running means of `g * g` over its last dim
    ('row_var', shape `[..., R, 1]`) and its second-to-last ('col_var', `[..., 1, C]`); others
    keep 'variance'. The update `g / sqrt(max(v, eps1**2))` is clipped by its RMS over `d` and
    scaled by `max(eps2, RMS(p)) * min(lr, 1 / sqrt(t))`; weight decay is decoupled.
    """

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
                 foreach=None, maximize=False):
        from .._core import Tensor
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    _group_defaults = dict(foreach=None)

    _kernel = "adafactor"
    _states_per_param = True

    def _state_names(self, group, p):
        return ("step", "row_var", "col_var") if p.grad.dim() > 1 else ("step", "variance")

    def _init_state(self, name, p, group):
        import ferrograd as torch
        if name == "step":
            return _new_scalar(0.0)
        if name == "variance":
            return torch.zeros_like(p.grad)
        shape = list(p.grad.shape)
        shape[-1 if name == "row_var" else -2] = 1
        return torch.zeros(shape, dtype=p.grad.dtype, device=p.grad.device)

    def _kernel_options(self, group):
        eps1, eps2 = group["eps"]
        return dict(lr=_float(group["lr"]), beta2_decay=_float(group["beta2_decay"]),
                    eps1=None if eps1 is None else _float(eps1), eps2=_float(eps2), d=_float(group["d"]),
                    weight_decay=_float(group["weight_decay"]), maximize=bool(group["maximize"]))
