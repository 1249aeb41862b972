"""`Optimizer`: param groups, per-parameter state, `zero_grad`, `state_dict` in PyTorch's format.

The built-in optimizers describe their state (names, initial values) and options, and
`Optimizer._fused_step` gathers the parameters of each group that have a gradient, with their
state tensors, and hands them to one fused Rust kernel (`ferrograd._core.optim_step`) that
updates all of them in place; no per-element work happens in Python.
"""
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain
import warnings

from .. import _core
from .._core import Tensor
from .._compile import note_step

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter that every param group must give (PyTorch's `required`)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj):
    if isinstance(obj, Tensor):
        return "torch." + obj.dtype._legacy
    t = type(obj)
    return t.__qualname__ if t.__module__ in ("builtins", "__builtin__") else f"{t.__module__}.{t.__qualname__}"


def _scalar_dtype():
    """The dtype of 'step' state tensors: float64 under a float64 default dtype, else float32."""
    import ferrograd as torch
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _new_scalar(value):
    """A one-element scalar state ('step', 'mu_product', ...), on the CPU as PyTorch keeps it."""
    import ferrograd as torch
    return torch.tensor(float(value), dtype=_scalar_dtype(), device="cpu")

# Where PyTorch runs `capturable=True` (ferrograd's "gpu" is its "cuda").
_CAPTURABLE_DEVICES = ["cuda", "gpu"]


def _check_lr(lr):
    """PyTorch's checks of a learning rate (which may be a one-element tensor)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_nonnegative(**values):
    """PyTorch's `Invalid <name> value` checks of hyper-parameters that must be >= 0, in order."""
    for name, value in values.items():
        if not 0.0 <= value:
            raise ValueError(f"Invalid {'epsilon' if name == 'eps' else name} value: {value}")


def _check_betas(betas):
    """PyTorch's checks of Adam-style `betas`: each in [0, 1)."""
    for i, beta in enumerate(betas[:2]):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


# Hyper-parameters may be given as one-element tensors; `float` reads them (no wrapper: the
# options are built on every step).
_float = float


class _Contiguous:
    """Contiguous stand-ins for parameters the kernels cannot write in place (strided views);
    their new values are copied back after the step."""

    def __init__(self, params):
        self.work = []
        self.back = []
        for p in params:
            if p.is_contiguous():
                self.work.append(p)
            else:
                w = p.detach().contiguous()
                self.work.append(w)
                self.back.append((p, w))

    def write_back(self):
        if self.back:
            import ferrograd as torch
            with torch.no_grad():
                for p, w in self.back:
                    p.copy_(w)


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of tensors, or of dicts defining parameter groups.
        defaults: the default value of every hyper-parameter (used by groups that omit it).
    """

    def __init__(self, params, defaults):
        if defaults.get("differentiable") and type(self).__module__.startswith("ferrograd.optim"):
            raise NotImplementedError(f"{type(self).__name__}(differentiable=True) is not supported: ferrograd's "
                                      "optimizers update parameters in one fused kernel that autograd does not record")
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_optimizer_step_pre_hooks", OrderedDict())
        self.__dict__.setdefault("_optimizer_step_post_hooks", OrderedDict())

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n"
            s += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        s += ")"
        return s

    # ---- param groups ----

    def add_param_group(self, param_group):
        """Adds a group of parameters with its own hyper-parameters (defaults fill the rest)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names

        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(p))
            if not self.defaults.get("differentiable", None) and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error; "
                          "see github.com/pytorch/pytorch/issues/40967 for more information", stacklevel=3)

        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                current = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {current} to the optimizer")
        if not seen.isdisjoint(id(p) for p in param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")

        self.param_groups.append(param_group)

    # ---- gradients ----

    def zero_grad(self, set_to_none=True):
        """Resets the gradients of all optimized tensors (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    # ---- stepping ----

    _states_per_param = False

    def _fused_step(self, closure):
        """`step()` of the built-in optimizers: per param group, the parameters that have a
        gradient, their gradients and states go to the kernel `self._kernel` in one call.

        Subclasses define `_kernel`, `_state_names(group, p)` (the states parameter `p` uses;
        `p` is None unless `_states_per_param`),
        `_init_state(name, p, group)` (a new state's value) and `_kernel_options(group)` (the
        fields of the kernel's options struct).
        """
        loss = self._run_closure(closure)
        tracing = _core.is_tracing()
        state_of = self.state
        for group_index, group in enumerate(self.param_groups):
            params, grads = [], []
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    params.append(p)
                    grads.append(g)
            if not params:
                continue
            if group.get("capturable", False) and params[0].device.type not in _CAPTURABLE_DEVICES:
                raise AssertionError("If capturable=True, params and state_steps must be on supported devices: "
                                     f"{_CAPTURABLE_DEVICES}.")
            # Most optimizers use the same states for every parameter of a group (Adafactor's
            # depend on each parameter's dims): then they are looked up once per group.
            group_names = None if self._states_per_param else self._state_names(group, None)
            states, fresh, created, rows = {}, [], [], []
            for p in params:
                names = self._state_names(group, p) if group_names is None else group_names
                if not names:
                    # Only a parameter with states gets an entry in `self.state` (as PyTorch's SGD).
                    fresh.append(False)
                    continue
                state = state_of[p]
                try:
                    values = [state[name] for name in names]
                    fresh.append(False)
                except KeyError:
                    new = [name for name in names if name not in state]
                    for name in new:
                        state[name] = self._init_state(name, p, group)
                    created.append((p, new))
                    fresh.append(True)
                    values = [state[name] for name in names]
                if group_names is None:
                    for name, value in zip(names, values):
                        states.setdefault(name, []).append(value)
                else:
                    rows.append(values)
            if rows:
                states = dict(zip(group_names, map(list, zip(*rows))))
            c = _Contiguous(params)
            first = _core.trace_mark() if tracing else 0
            try:
                _core.optim_step(self._kernel, c.work, grads, states, fresh, self._kernel_options(group))
            except BaseException:
                # A failed step must not leave half-initialised state behind.
                for p, new in created:
                    for name in new:
                        state_of[p].pop(name, None)
                raise
            if tracing:
                note_step(self, group_index, first, _core.trace_mark())
            c.write_back()
        return loss

    def _run_closure(self, closure):
        if closure is None:
            return None
        import ferrograd as torch
        with torch.enable_grad():
            return closure()

    def _call_pre_hooks(self, args, kwargs):
        for hook in list(self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(f"{hook} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
        return args, kwargs

    def register_step_pre_hook(self, hook):
        return _Handle(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        return _Handle(self._optimizer_step_post_hooks, hook)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is None or getattr(step, "_hooked", False):
            return

        def hooked_step(self, *args, **kwargs):
            # A subclass's step calling super().step() runs the hooks once, not twice.
            if self.__dict__.get("_in_hooked_step", False):
                return step(self, *args, **kwargs)
            self._in_hooked_step = True
            try:
                if self._optimizer_step_pre_hooks:
                    args, kwargs = self._call_pre_hooks(args, kwargs)
                out = step(self, *args, **kwargs)
                for hook in list(self._optimizer_step_post_hooks.values()):
                    hook(self, args, kwargs)
            finally:
                self._in_hooked_step = False
            return out

        hooked_step._hooked = True
        hooked_step.__doc__ = step.__doc__
        hooked_step.__name__ = "step"
        hooked_step.__qualname__ = step.__qualname__
        cls.step = hooked_step

    def step(self, closure=None):
        """Performs a single optimization step; `closure` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    # ---- state dict ----

    def state_dict(self):
        """The optimizer state: {'state': {param index: state dict}, 'param_groups': [...]}.

        Parameters are replaced by their index across all groups, in order.
        """
        mapping = {}
        start = 0

        def pack(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack(g) for g in self.param_groups]
        packed_state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": param_groups}

    # The one-element states kept on the CPU (as PyTorch keeps them without `capturable`):
    # the fused kernels read and write them on the host.
    _cpu_states = ("step",)

    @classmethod
    def _cast_state(cls, param, value, key=None):
        """A loaded state value for `param`: tensors are copied onto the parameter's device
        (floats into its dtype), except 'step', which is kept as it is, and the other
        `_cpu_states`, which stay on the CPU; containers are rebuilt."""
        if isinstance(value, Tensor):
            if key == "step":
                return value.clone()
            dtype = param.dtype if param.is_floating_point() and value.is_floating_point() else value.dtype
            device = "cpu" if key in cls._cpu_states and value.numel() == 1 else param.device
            return value.to(device, dtype, copy=True)
        if key in cls._cpu_states and isinstance(value, (int, float)):
            # A plain number (an old checkpoint) becomes the one-element tensor the kernels take.
            return _new_scalar(value)
        if isinstance(value, dict):
            return {k: cls._cast_state(param, v, key=k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(cls._cast_state(param, v, key=key) for v in value)
        return value

    def load_state_dict(self, state_dict):
        """Loads a state produced by `state_dict()` (of an optimizer over parameters of the same shapes)."""
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = self._cast_state(param, v)
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})


class _FusedOptimizer(Optimizer):
    """A built-in optimizer whose step is one fused kernel call per param group
    (`Optimizer._fused_step`). Subclasses give `_kernel`, `_state_names` and `_kernel_options`;
    the states default to a 'step' count and zero tensors like the parameter."""

    # Group keys that state dicts of older versions lack, with PyTorch's defaults.
    _group_defaults = dict(foreach=None, maximize=False, differentiable=False, capturable=False)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self._group_defaults.items():
                group.setdefault(key, value)

    def _init_state(self, name, p, group):
        import ferrograd as torch
        return _new_scalar(0.0) if name == "step" else torch.zeros_like(p)

    def step(self, closure=None):
        """Performs a single optimization step."""
        return self._fused_step(closure)


class _Handle:
    """Removable hook handle."""
    _next_id = 0

    def __init__(self, table, hook):
        self._table = table
        self.id = _Handle._next_id
        _Handle._next_id += 1
        table[self.id] = hook

    def remove(self):
        self._table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
