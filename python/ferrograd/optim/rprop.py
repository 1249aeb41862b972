"""`Rprop`: resilient backpropagation, per-element step sizes driven by gradient signs."""
from .optimizer import _FusedOptimizer, _check_lr, _float, _new_scalar

__all__ = ["Rprop"]


class Rprop(_FusedOptimizer):
    """PyTorch's `torch.optim.Rprop`.

    Where the gradient keeps its sign the step size grows by `etas[1]`, where it flips it
    shrinks by `etas[0]` (and that gradient counts as zero, also for the next step); step sizes
    stay within `step_sizes`, start at `lr`, and the parameter moves by `-sign(g) * step_size`.
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)


    _kernel = "rprop"

    def _state_names(self, group, p):
        return ("step", "prev", "step_size")

    def _init_state(self, name, p, group):
        import ferrograd as torch
        if name == "step":
            return _new_scalar(0.0)
        return torch.full_like(p, _float(group["lr"])) if name == "step_size" else torch.zeros_like(p)

    def _kernel_options(self, group):
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        return dict(etaminus=_float(etaminus), etaplus=_float(etaplus), step_size_min=_float(step_size_min),
                    step_size_max=_float(step_size_max), maximize=bool(group["maximize"]))
