"""Finite-difference checks of autograd gradients (float64 inputs recommended)."""
import numpy as np

from .. import _core
from .._core import Tensor


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _flat_outputs(func, inputs):
    with _NoGrad():
        outs = _as_tuple(func(*inputs))
    return [o.detach().double().numpy().reshape(-1).copy() for o in outs if isinstance(o, Tensor)]


class _NoGrad:
    def __enter__(self):
        self.prev = _core.set_grad_enabled(False)

    def __exit__(self, *exc):
        _core.set_grad_enabled(self.prev)


def _check_cpu(inputs):
    for x in inputs:
        if isinstance(x, Tensor) and str(x.device) != "cpu":
            raise NotImplementedError(
                f"gradcheck on {x.device} is not implemented (finite differences perturb the inputs in host "
                "memory); run it on CPU float64 inputs")


def _numerical_jacobians(func, inputs, eps):
    """One Jacobian per (output, differentiable input): shape [out_numel, in_numel]."""
    outs0 = _flat_outputs(func, inputs)
    jac = {}
    for k, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        arr = x.detach().numpy()
        flat_view = arr.reshape(-1) if arr.flags.c_contiguous else None
        if flat_view is None:
            raise GradcheckError("gradcheck needs contiguous inputs")
        cols = [np.zeros((o.size, arr.size)) for o in outs0]
        for i in range(arr.size):
            orig = flat_view[i]
            flat_view[i] = orig + eps
            plus = _flat_outputs(func, inputs)
            flat_view[i] = orig - eps
            minus = _flat_outputs(func, inputs)
            flat_view[i] = orig
            for j, (p, m) in enumerate(zip(plus, minus)):
                cols[j][:, i] = (p - m) / (2 * eps)
        for j, c in enumerate(cols):
            jac[(j, k)] = c
    return jac


def _analytical_jacobians(func, inputs, create_graph=False):
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)]
    diff_ids = {id(x) for x in diff}
    jac = {}
    for j, o in enumerate(outs):
        rows = {k: np.zeros((o.numel(), x.numel())) for k, x in enumerate(inputs) if id(x) in diff_ids}
        if not o.requires_grad:
            for k in rows:
                jac[(j, k)] = rows[k]
            continue
        for r in range(o.numel()):
            g = np.zeros(o.numel())
            g[r] = 1.0
            gt = _core.from_numpy(g.reshape(tuple(o.shape))).to(o.dtype)
            grads = _core.grad([o], [gt], diff, True, create_graph, True)
            gi = iter(grads)
            for k, x in enumerate(inputs):
                if id(x) in diff_ids:
                    gk = next(gi)
                    if gk is not None:
                        rows[k][r] = gk.detach().double().numpy().reshape(-1)
        for k in rows:
            jac[(j, k)] = rows[k]
    return jac


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_ignored):
    """Compares autograd's Jacobian of `func` at `inputs` with central finite differences."""
    inputs = _as_tuple(inputs)
    _check_cpu(inputs)
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad and x.dtype.name != "float64":
            import warnings
            warnings.warn("gradcheck: input is not float64; finite differences may be inaccurate", stacklevel=2)
    numerical = _numerical_jacobians(func, inputs, eps)
    analytical = _analytical_jacobians(func, inputs)
    for key, num in numerical.items():
        ana = analytical.get(key)
        if ana is None or not np.allclose(ana, num, rtol=rtol, atol=atol):
            if raise_exception:
                raise GradcheckError(
                    f"Jacobian mismatch for output {key[0]} with respect to input {key[1]},\n"
                    f"numerical:{num}\nanalytical:{ana}\n")
            return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_ignored):
    """Checks second derivatives: gradcheck of the function x -> d<func(x), v>/dx."""
    inputs = _as_tuple(inputs)
    _check_cpu(inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    with _NoGrad():
        outs = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [_core.from_numpy(rng.standard_normal(tuple(o.shape)).astype(np.float64)).to(o.device, o.dtype)
                        for o in outs]

    def first_grad(*xs):
        # Finite differences call this under no_grad; the inner gradient still needs a graph.
        prev = _core.set_grad_enabled(True)
        try:
            outs = [o for o in _as_tuple(func(*xs)) if isinstance(o, Tensor)]
            d = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
            gs = _core.grad(outs, list(grad_outputs), d, True, True, True)
        finally:
            _core.set_grad_enabled(prev)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grad, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)
