"""`ferrograd.compile` and `ferrograd.jit.trace`: capture a function's kernel calls once, replay
them from Rust.

The first call with a given signature runs the function eagerly while the core records every
kernel call it makes (forward, `backward()`, `optimizer.step()`); later calls whose signature
matches replay that graph with no Python per op. The signature (the guards): the structure and
non-tensor values of the arguments; each tensor argument's shape, strides, dtype, device and
`requires_grad`; grad mode; for a module, every submodule's `training` flag and the identity
and memory of its parameters and buffers; the settings of optimizers stepped inside (their
hyper-parameters, such as `lr`, are graph inputs: a scheduler changing them needs no new trace).

As with `tf.function`, Python side effects (printing, appending to a list) happen while tracing
only, and tensors the function reaches through closures or globals are read by reference: a
replay sees their current values, but rebinding such a name to a new tensor is not seen.
"""
import functools
import linecache
import os
import sys
import threading
import warnings

from . import _core
from ._core import Tensor
from .autograd import is_grad_enabled

__all__ = ["compile", "trace"]

# Graphs cached per function before it falls back to running eagerly (torch._dynamo's limit).
CACHE_SIZE_LIMIT = 8
# Traces that cannot be replayed because they create state kept after them (an optimizer's
# first step) before the signature is given up.
_RETRACE_LIMIT = 3

_LOGS = frozenset(x.strip() for x in os.environ.get("FERROGRAD_LOGS", "").split(",") if x.strip())
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_local = threading.local()


def _log(kind, message):
    if kind in _LOGS:
        print(f"[ferrograd {kind}] {message}", file=sys.stderr)


def _user_frame():
    """The innermost frame outside this package: where a user's code read a value."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE_DIR):
        f = f.f_back
    return f


def _locate():
    f = _user_frame()
    if f is None:
        return ""
    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f"{f.f_code.co_filename}:{f.f_lineno}: {line}"


_core.set_graph_break_locator(_locate)


def note_step(optimizer, group_index, first, end):
    """Called by an optimizer's fused step while tracing: the kernel calls recorded between trace
    marks `first` and `end` are param group `group_index`'s step. A replay takes that step's
    hyper-parameters from the group as it is then (they are graph inputs)."""
    steps = getattr(_local, "steps", None)
    if steps is not None:
        steps.append((optimizer, group_index, first, end))


def _structure(optimizer):
    """What of an optimizer's settings a graph is specialised on: the parameter groups, the
    switches (bools, strings), and which numbers are zero (momentum 0 or not changes the
    states a step uses). Nonzero numbers such as `lr` may change between replays."""
    def setting(v):
        if isinstance(v, (bool, str, type(None))):
            return v
        if isinstance(v, (int, float)):
            return v == 0
        if isinstance(v, tuple):
            return tuple(setting(x) for x in v)
        return type(v)
    return tuple((tuple(id(p) for p in g["params"]), tuple((k, setting(v)) for k, v in g.items() if k != "params"))
                 for g in optimizer.param_groups)


def _flatten(obj, tensors):
    """The structure of `obj` with tensors replaced by their index in `tensors` (appended); a
    module argument counts with its submodules' training flags."""
    from .nn import Module
    if isinstance(obj, Tensor):
        tensors.append(obj)
        return ("T", len(tensors) - 1)
    if isinstance(obj, Module):
        return ("M", id(obj), tuple(m.training for m in obj.modules()))
    if isinstance(obj, (list, tuple)):
        return (type(obj), tuple(_flatten(x, tensors) for x in obj))
    if isinstance(obj, dict):
        return (dict, tuple((k, _flatten(v, tensors)) for k, v in obj.items()))
    try:
        hash(obj)
        return ("C", obj)
    except TypeError:
        return ("C", id(obj))


def _unflatten(spec, tensors):
    kind, body = spec
    if kind == "T":
        return tensors[body]
    if kind == "C":
        return body
    if kind is dict:
        return {k: _unflatten(v, tensors) for k, v in body}
    items = [_unflatten(x, tensors) for x in body]
    return kind(items) if kind is not tuple else tuple(items)


def _output_spec(obj, tensors):
    """As `_flatten`, keeping non-tensor leaves themselves (they are returned as traced)."""
    if isinstance(obj, Tensor):
        tensors.append(obj)
        return ("T", len(tensors) - 1)
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return (type(obj), tuple(_output_spec(x, tensors) for x in obj))
    if isinstance(obj, dict) and type(obj) is dict:
        return (dict, tuple((k, _output_spec(v, tensors)) for k, v in obj.items()))
    return ("C", obj)


def _fused_lines(graph):
    return [line for line in str(graph).splitlines() if " = fused[" in line]


class _Entry:
    __slots__ = ("graph", "out_spec", "single", "steps", "optimizers", "structure")

    def __init__(self, graph, out_spec, steps):
        self.graph, self.out_spec, self.steps = graph, out_spec, steps
        self.single = out_spec == ("T", 0)
        self.optimizers = list({id(o): o for o, *_ in steps}.values())
        self.structure = tuple(_structure(o) for o in self.optimizers)

    def current(self):
        """Whether the optimizers stepped in the trace still have its structure."""
        return not self.optimizers or self.structure == tuple(_structure(o) for o in self.optimizers)

    def step_options(self):
        """Each recorded optimizer step's span and its group's hyper-parameters now."""
        if not self.steps:
            return None
        return [(first, end, o._kernel, o._kernel_options(o.param_groups[g])) for o, g, first, end in self.steps]


def _describe_change(old, new):
    """Names the first Python-side guard that differs between two signatures."""
    names = ("argument structure and non-tensor values", "grad mode",
             "module state (training flags, parameters and buffers)")
    for name, a, b in zip(names, old, new):
        if a != b:
            return f"{name}: {a!r} -> {b!r}" if len(repr(a)) + len(repr(b)) < 300 else name
    return "optimizer settings"


class CompiledFunction:
    """The callable `ferrograd.compile` returns for a function."""

    def __init__(self, fn, *, fullgraph=False, module=None):
        self._fn = fn
        self._fullgraph = fullgraph
        self._module = module
        # Signature (Python-side guards) -> the graphs traced for it; the core checks each
        # graph's tensor arguments (layout, dtype, device, requires_grad) when it replays.
        self._cache = {}
        self._graphs = []
        self._latest = None
        self._eager_keys = {}
        self._retraces = {}
        self._given_up = None
        self._last_key = None
        self._last_miss = None
        functools.update_wrapper(self, fn)

    @property
    def graphs(self):
        """The captured graphs, in the order they were traced."""
        return list(self._graphs)

    @property
    def graph(self):
        """The most recently captured graph (None before the first call); `print` it."""
        return self._latest

    @property
    def code(self):
        """The fused kernels of the latest graph, one line each (the element-wise expression each
        runs in one pass)."""
        return "\n".join(_fused_lines(self._latest)) if self._latest is not None else ""

    def _module_state(self):
        m = self._module
        return (tuple(x.training for x in m.modules()),
                tuple((id(t), t.data_ptr(), t.requires_grad) for t in m.parameters()),
                tuple((id(t), t.data_ptr()) for t in m.buffers()))

    def __call__(self, *args, **kwargs):
        if self._given_up is not None or _core.is_tracing():
            # Past the cache limit, eager; inside another trace, the calls are recorded there.
            return self._fn(*args, **kwargs)
        if not kwargs and all(isinstance(a, Tensor) for a in args):
            tensors, structure = args, len(args)
        else:
            tensors = []
            structure = _flatten((args, kwargs), tensors)
        key = (structure, is_grad_enabled(), self._module_state() if self._module is not None else None)
        for entry in self._cache.get(key, ()):
            if entry.current():
                done, value = entry.graph.run(tensors, entry.step_options())
                if done:
                    return value[0] if entry.single else _unflatten(entry.out_spec, value)
                self._last_miss = value
        if key in self._eager_keys:
            return self._fn(*args, **kwargs)
        if len(self._graphs) >= CACHE_SIZE_LIMIT:
            changed = self._why_retrace(key)
            self._given_up = changed
            warnings.warn(f"ferrograd.compile: {self.__name__} was traced {CACHE_SIZE_LIMIT} times "
                          f"(cache_size_limit); it runs eagerly from now on. The changing guard: {changed}",
                          RuntimeWarning, stacklevel=2)
            return self._fn(*args, **kwargs)
        if self._last_key is not None:
            _log("recompiles", f"{self.__name__}: retracing, {self._why_retrace(key)}")
        self._last_key = key
        return self._trace(key, list(tensors), args, kwargs)

    def _why_retrace(self, key):
        if self._last_key is not None and self._last_key != key:
            return _describe_change(self._last_key, key)
        return self._last_miss or "optimizer settings (parameter groups, switches, zero or nonzero numbers)"

    def _trace(self, key, tensors, args, kwargs):
        self._last_miss = None
        _local.steps = []
        _core.trace_begin(tensors)
        try:
            result = self._fn(*args, **kwargs)
        except BaseException:
            _core.trace_abort()
            _local.steps = None
            raise
        steps, _local.steps = _local.steps, None
        outputs = []
        out_spec = _output_spec(result, outputs)
        graph, breaks, retry = _core.trace_end(outputs)
        if breaks:
            message = f"{self.__name__} cannot be captured: {breaks[0]}"
            if self._fullgraph:
                raise RuntimeError(f"ferrograd.compile(fullgraph=True): graph break: {message}")
            warnings.warn(f"ferrograd.compile: {message}; it runs eagerly for this signature", RuntimeWarning, stacklevel=3)
            self._eager_keys[key] = breaks[0]
        elif retry is not None:
            n = self._retraces[key] = self._retraces.get(key, 0) + 1
            _log("recompiles", f"{self.__name__}: traced again next call: {retry}")
            if n >= _RETRACE_LIMIT:
                warnings.warn(f"ferrograd.compile: {self.__name__} runs eagerly for this signature: {retry}",
                              RuntimeWarning, stacklevel=3)
                self._eager_keys[key] = retry
        else:
            self._cache.setdefault(key, []).append(_Entry(graph, out_spec, steps))
            self._graphs.append(graph)
            self._latest = graph
            dead, merged = graph.removed
            groups, calls = graph.fused
            _log("graph", f"{self.__name__}: {graph.kernel_count} kernel calls "
                          f"({dead} dead and {merged} common removed)\n{graph}")
            _log("fusion", f"{self.__name__}: {calls} element-wise calls fused into {groups} kernels\n"
                           + "\n".join(_fused_lines(graph)))
        return result


def compile(model=None, *, fullgraph=False, dynamic=False, backend="ferrograd", mode=None, options=None, disable=False):
    """Compiles a function or module (`torch.compile`'s signature and meaning).

    The first call with a new signature traces (runs eagerly while the core records every kernel
    call); later calls with the same signature replay the graph from Rust. `fullgraph=True`
    makes a graph break (a value read into Python: `.item()`, `.tolist()`, `.numpy()`, `bool(t)`,
    `print(t)`) a RuntimeError naming the source line; otherwise the function runs eagerly for
    that signature, with one warning. `dynamic` and `mode` are accepted for compatibility:
    every new shape is traced anew.
    """
    if mode not in (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"):
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: default, reduce-overhead, max-autotune, "
                           "max-autotune-no-cudagraphs")
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, disable=disable)
    if disable:
        return model
    from .nn import Module
    if isinstance(model, Module):
        return _optimized_module_class()(model, fullgraph=fullgraph)
    if not callable(model):
        raise RuntimeError(f"compile expects a callable or an nn.Module, got {type(model).__name__}")
    return CompiledFunction(model, fullgraph=fullgraph)


@functools.lru_cache(maxsize=None)
def _optimized_module_class():
    from .nn import Module

    class OptimizedModule(Module):
        """A compiled module: calls go through the compiled forward; everything else (state_dict,
        parameters, train/eval, attributes) is the original module's (`_orig_mod`)."""

        def __init__(self, mod, fullgraph=False):
            super().__init__()
            self._orig_mod = mod
            self.__dict__["_compiled_call"] = CompiledFunction(mod.__call__, fullgraph=fullgraph, module=mod)

        def __call__(self, *args, **kwargs):
            return self._compiled_call(*args, **kwargs)

        def forward(self, *args, **kwargs):
            return self._compiled_call(*args, **kwargs)

        def __getattr__(self, name):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.__dict__["_modules"]["_orig_mod"], name)

        def state_dict(self, *args, **kwargs):
            return self._orig_mod.state_dict(*args, **kwargs)

        def load_state_dict(self, *args, **kwargs):
            return self._orig_mod.load_state_dict(*args, **kwargs)

        @property
        def graph(self):
            return self._compiled_call.graph

    return OptimizedModule


def trace(func, example_inputs=None, *, example_kwarg_inputs=None, check_trace=False, strict=True):
    """`ferrograd.jit.trace`: traces `func` once on `example_inputs` (a tensor or a tuple) and
    returns a callable replaying that graph; `.graph` prints it. A graph break raises."""
    compiled = compile(func, fullgraph=True)
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    compiled(*inputs, **(example_kwarg_inputs or {}))
    return compiled
