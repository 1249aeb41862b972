"""`SGD` with momentum, dampening, Nesterov, weight decay and maximize (PyTorch's rule)."""
from .. import _core
from .optimizer import Optimizer, _Contiguous, _float

__all__ = ["SGD"]


class SGD(Optimizer):
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

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def step(self, closure=None):
        """Performs a single optimization step."""
        loss = self._run_closure(closure)
        import ferrograd as torch
        for group in self.param_groups:
            momentum = _float(group["momentum"])
            params, grads, bufs, init = [], [], [], []
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                params.append(p)
                grads.append(g)
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = torch.zeros_like(p)
                        state["momentum_buffer"] = buf
                        init.append(True)
                    else:
                        init.append(False)
                    bufs.append(buf)
            if not params:
                continue
            if group["nesterov"] and (momentum <= 0 or _float(group["dampening"]) != 0):
                raise ValueError("Nesterov momentum requires a momentum and zero dampening")
            c = _Contiguous(params)
            try:
                _core.optim_sgd(c.work, grads, bufs, init, _float(group["lr"]), momentum,
                                _float(group["dampening"]), _float(group["weight_decay"]),
                                bool(group["nesterov"]), bool(group["maximize"]))
            except BaseException:
                # A failed step must not leave half-initialised buffers behind.
                for p, fresh in zip(params, init):
                    if fresh:
                        self.state[p].pop("momentum_buffer", None)
                raise
            c.write_back()
        return loss
