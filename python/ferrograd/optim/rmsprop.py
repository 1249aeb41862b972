"""`RMSprop` with momentum, centering, weight decay and maximize."""
from .. import _core
from .optimizer import Optimizer, _Contiguous, _as_step, _float, _new_step

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """PyTorch's `torch.optim.RMSprop`.

    `square_avg = alpha * square_avg + (1 - alpha) * g * g`; centered subtracts the square of
    the running gradient mean; `avg = sqrt(...) + eps`; the step is `g / avg`, through a
    momentum buffer when `momentum > 0`.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    def step(self, closure=None):
        """Performs a single optimization step."""
        loss = self._run_closure(closure)
        import ferrograd as torch
        for group in self.param_groups:
            momentum = _float(group["momentum"])
            centered = bool(group["centered"])
            params, grads, sq, ga, mb, steps = [], [], [], [], [], []
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                params.append(p)
                grads.append(g)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["square_avg"] = torch.zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    if centered:
                        state["grad_avg"] = torch.zeros_like(p)
                state["step"] = _as_step(state["step"])
                sq.append(state["square_avg"])
                if momentum > 0:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    mb.append(state["momentum_buffer"])
                if centered:
                    if "grad_avg" not in state:
                        state["grad_avg"] = torch.zeros_like(p)
                    ga.append(state["grad_avg"])
                steps.append(state["step"])
            if not params:
                continue
            c = _Contiguous(params)
            _core.optim_rmsprop(c.work, grads, sq, ga, mb, steps, _float(group["lr"]), _float(group["alpha"]),
                                _float(group["eps"]), _float(group["weight_decay"]), momentum, centered,
                                bool(group["maximize"]))
            c.write_back()
        return loss
