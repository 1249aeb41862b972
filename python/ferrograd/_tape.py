"""`ferrograd.GradientTape`: TensorFlow's tape on top of ferrograd's autograd.

ferrograd records every op whose inputs require grad (PyTorch's model). A tape maps
TensorFlow's rules onto that graph:

- Recording: inside the `with` block grad mode is on. Trainable Variables and nn.Module
  Parameters (tensors that require grad) are recorded anyway, which is TensorFlow's automatic
  watching of accessed trainable variables.
- `watch(t)` on a float tensor that does not require grad turns `requires_grad` on for as long
  as the tape records (a count per tensor, so nested tapes watching the same tensor agree) and
  back off when recording ends; the graph built meanwhile keeps its edges to `t`, and
  `gradient()` turns it on again only for the duration of its own `autograd.grad` call. The
  user's tensor is thus unchanged outside the block: same object, same data, same
  `requires_grad`, no `.grad`.
- `gradient()` calls `autograd.grad` (never `backward`), so no `.grad` changes; it keeps the
  graph (another tape may share it) and builds the graph of the gradient when a tape is still
  recording, which gives nested tapes their second derivatives.
- What the tape recorded: every autograd node has a sequence number from one counter, and the
  tape keeps the spans of numbers handed out while it recorded (a span ends at `stop_recording`,
  at the end of the block and at `reset`). `gradient()` differentiates through those nodes only;
  the others — ops run before the block, after it, while it was paused or before a reset, even
  on trainable Variables — are constants, as in TensorFlow. (Ops other threads record meanwhile
  fall within the spans too; TensorFlow's tapes are per thread.)
- `watched_variables()`: the core logs, while tapes record, which leaves each new node reads;
  the tape maps them back to the live Parameters/Variables.
"""
import enum
import threading
import warnings

from . import _core, _tensor
from ._core import Tensor
from .nn.parameter import Parameter, live_parameters


class UnconnectedGradients(enum.Enum):
    """What `gradient` returns for a source the target does not depend on."""

    NONE = "none"
    ZERO = "zero"


_state = threading.local()


def _recording_tapes():
    if not hasattr(_state, "tapes"):
        _state.tapes = []
        _state.watch_counts = {}
    return _state.tapes


def _flatten(structure):
    """The tensors of a nested list/tuple/dict structure (or a single tensor), in order."""
    if isinstance(structure, dict):
        return [t for k in sorted(structure, key=repr) for t in _flatten(structure[k])]
    if isinstance(structure, (list, tuple)):
        return [t for s in structure for t in _flatten(s)]
    return [structure]


def _pack(structure, flat):
    """`structure` rebuilt with the values of the iterator `flat` in `_flatten`'s order."""
    if isinstance(structure, dict):
        packed = {k: _pack(structure[k], flat) for k in sorted(structure, key=repr)}
        return type(structure)((k, packed[k]) for k in structure)
    if isinstance(structure, (list, tuple)):
        items = [_pack(s, flat) for s in structure]
        if hasattr(structure, "_fields"):
            return type(structure)(*items)
        return type(structure)(items)
    return next(flat)


def _check_tensors(values, what):
    for v in values:
        if not isinstance(v, Tensor):
            raise ValueError(f"GradientTape.{what}: passed in object of type {type(v).__name__}, not a ferrograd "
                             f"Tensor or Variable")


def _unconnected_mode(value):
    mode = value.value if isinstance(value, UnconnectedGradients) else value
    if mode not in ("none", "zero"):
        raise ValueError(f"Unknown value for unconnected_gradients: {value!r}")
    return mode


class _Requiring:
    """Turns `requires_grad` on for the given tensors while the block runs (for `autograd.grad`)."""

    def __init__(self, tensors):
        self.tensors = [t for t in tensors if not t.requires_grad]

    def __enter__(self):
        for t in self.tensors:
            t.requires_grad_(True)

    def __exit__(self, *exc):
        for t in self.tensors:
            t.requires_grad_(False)
        return False


class GradientTape:
    """Records operations for automatic differentiation, with TensorFlow's semantics.

    Args:
        persistent: whether `gradient`/`jacobian` may be called more than once.
        watch_accessed_variables: whether trainable Variables (tensors that require grad) are
            watched automatically; otherwise only what `watch` is given is differentiable.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = bool(persistent)
        self._watch_accessed_variables = bool(watch_accessed_variables)
        self._watched = {}
        self._turned_on = []
        self._forget_records()
        self._recording = False
        self._used = False
        self._prev_grad_mode = None

    # ------------------------------------------------------------------ recording
    def __enter__(self):
        if self._recording:
            raise ValueError("Tape is still recording, This can happen if you try to re-enter an already-active tape.")
        self._push()
        return self

    def __exit__(self, *exc):
        if self._recording:
            self._pop()
        return False

    def _forget_records(self):
        self._spans = []          # [start, end) sequence numbers of the nodes recorded
        self._reads = []          # (sequence number, _impl_id) of leaves read in closed spans
        self._explicit = []       # (sequence number, Parameter) given to watch()

    def _push(self):
        _recording_tapes().append(self)
        self._prev_grad_mode = _core.set_grad_enabled(True)
        self._recording = True
        self._spans.append((_core.next_sequence_nr(), None))
        _core.log_leaf_reads(True)
        for t in self._turned_on:
            self._count_watch(t, +1)

    def _pop(self):
        if not self._recording:
            raise ValueError("Tape is not recording.")
        _recording_tapes().remove(self)
        _core.set_grad_enabled(self._prev_grad_mode)
        self._recording = False
        self._spans[-1] = (self._spans[-1][0], _core.next_sequence_nr())
        self._reads += _core.leaf_reads(self._spans[-1:])
        _core.log_leaf_reads(False)
        for t in self._turned_on:
            self._count_watch(t, -1)

    @staticmethod
    def _count_watch(t, step):
        """Per-thread count of recording tapes that turned `requires_grad` on for `t`."""
        counts = _state.watch_counts
        n = counts.get(id(t), 0) + step
        if n > 0:
            counts[id(t)] = n
            if step > 0 and not t.requires_grad:
                t.requires_grad_(True)
        else:
            counts.pop(id(t), None)
            t.requires_grad_(False)

    def watch(self, tensor):
        """Makes the tape differentiable with respect to `tensor` (a tensor, Variable or a
        nested structure of them)."""
        flat = _flatten(tensor)
        _check_tensors(flat, "watch")
        for t in flat:
            if not t.is_floating_point():
                warnings.warn(f"The dtype of the watched tensor must be floating (e.g. float32), got {t.dtype.name}",
                              stacklevel=2)
                continue
            if id(t) in self._watched:
                continue
            self._watched[id(t)] = t
            if isinstance(t, Parameter):
                self._explicit.append((_core.next_sequence_nr(), t))
            if not t.requires_grad:
                self._turned_on.append(t)
                if self._recording:
                    self._count_watch(t, +1)

    def stop_recording(self):
        """A context manager in which operations are not recorded."""
        if not self._recording:
            raise RuntimeError("Trying to stop recording a tape which is not recording.")
        return _Paused(self)

    def reset(self):
        """Forgets what the tape recorded and watched and whether it was used; it keeps recording."""
        self._pop()
        self._watched = {}
        self._turned_on = []
        self._forget_records()
        self._used = False
        self._push()

    def _recorded(self):
        """The spans of sequence numbers of the nodes this tape recorded, up to now."""
        now = _core.next_sequence_nr()
        return [(start, now if end is None else end) for start, end in self._spans]

    def watched_variables(self):
        """The Variables (and nn.Module Parameters) the tape watched — given to `watch` or, with
        `watch_accessed_variables`, trainable ones read by a recorded op — in order of first watch."""
        reads = list(self._reads)
        if self._recording:
            reads += _core.leaf_reads(self._recorded()[-1:])
        first = list(self._explicit)
        if self._watch_accessed_variables and reads:
            by_impl = {p._impl_id(): p for p in list(live_parameters.values())}
            # trainable ones only: another tape's watch() may have made a frozen one require grad
            first += [(seq, by_impl[i]) for seq, i in reads if i in by_impl and getattr(by_impl[i], "trainable", True)]
        watched = {}
        for _, v in sorted(first, key=lambda seq_and_var: seq_and_var[0]):
            watched.setdefault(id(v), v)
        return tuple(watched.values())

    # ------------------------------------------------------------------ differentiation
    def _begin_use(self):
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of gradients "
                               "(or jacobians)")
        if self._recording and not self._persistent:
            # TensorFlow stops a non-persistent tape when it is used inside its own block.
            self._pop()
        self._used = True

    def _is_watched(self, t):
        if id(t) in self._watched:
            return True
        if t.grad_fn is not None:
            seq = t.grad_fn._sequence_nr()
            return any(start <= seq < end for start, end in self._recorded())
        return self._watch_accessed_variables and t.requires_grad

    def _grads(self, targets, output_gradients, sources):
        """Gradients of `targets` (weighted by `output_gradients`) for each of `sources`; None
        where a source is unwatched or unconnected."""
        live = [(t, g) for t, g in zip(targets, output_gradients) if t.requires_grad]
        unique = {}
        for s in sources:
            if s.is_floating_point() and self._is_watched(s):
                unique.setdefault(id(s), s)
        found = {}
        if live and unique:
            roots = [t for t, _ in live]
            seeds = [g if g is not None else _tensor.ones_like(t) for t, g in live]
            inputs = list(unique.values())
            create_graph = bool(_recording_tapes()) and _core.is_grad_enabled()
            with _Requiring(inputs):
                grads = _core.grad(roots, seeds, inputs, True, create_graph, True, self._recorded())
            found = {id(s): g for s, g in zip(inputs, grads)}
        return [found.get(id(s)) for s in sources]

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """The gradient of `target` with respect to each of `sources`, in the structure of
        `sources`; a non-scalar target is summed (or weighted by `output_gradients`)."""
        mode = _unconnected_mode(unconnected_gradients)
        targets, flat_sources = _flatten(target), _flatten(sources)
        _check_tensors(targets, "gradient")
        _check_tensors(flat_sources, "gradient")
        seeds = [None] * len(targets) if output_gradients is None else _flatten(output_gradients)
        if len(seeds) != len(targets):
            raise ValueError(f"GradientTape.gradient: got {len(seeds)} output_gradients for {len(targets)} targets")
        seeds = [None if g is None else _seed_like(g, t) for g, t in zip(seeds, targets)]
        self._begin_use()
        grads = self._grads(targets, seeds, flat_sources)
        grads = [_fill_unconnected(g, s, mode) for g, s in zip(grads, flat_sources)]
        return _pack(sources, iter(grads))

    def jacobian(self, target, sources, unconnected_gradients="none", parallel_iterations=None,
                 experimental_use_pfor=True):
        """For each source, the tensor of shape `target.shape + source.shape` whose entry
        [i..., j...] is d target[i...] / d source[j...]."""
        mode = _unconnected_mode(unconnected_gradients)
        flat_sources = _flatten(sources)
        _check_tensors([target], "jacobian")
        _check_tensors(flat_sources, "jacobian")
        self._begin_use()
        rows = [self._grads([target], [_one_hot_like(target, i)], flat_sources) for i in range(target.numel())]
        jacobians = [_stack_rows([row[k] for row in rows], target, s, mode) for k, s in enumerate(flat_sources)]
        return _pack(sources, iter(jacobians))

    def batch_jacobian(self, target, source, unconnected_gradients="none", parallel_iterations=None,
                       experimental_use_pfor=True):
        """The jacobian of each example: shape `(batch,) + target.shape[1:] + source.shape[1:]`,
        for a target whose example b depends only on example b of `source`."""
        if target.dim() < 1 or source.dim() < 1 or target.shape[0] != source.shape[0]:
            raise ValueError(f"GradientTape.batch_jacobian: target {tuple(target.shape)} and source "
                             f"{tuple(source.shape)} need the same first (batch) dimension")
        full = self.jacobian(target, source, unconnected_gradients)
        if full is None:
            return None
        return _tensor.stack([full[b].select(target.dim() - 1, b) for b in range(target.shape[0])], 0)


class _Paused:
    """`GradientTape.stop_recording()`: the tape stops recording inside the block. Grad mode is
    off there unless an enclosing tape still records (which then records the block, as an outer
    TensorFlow tape would; the paused tape's spans leave those ops out)."""

    def __init__(self, tape):
        self.tape = tape

    def __enter__(self):
        self.tape._pop()
        self._prev_grad_mode = _core.set_grad_enabled(bool(_recording_tapes()) and _core.is_grad_enabled())
        return self

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev_grad_mode)
        self.tape._push()
        return False


def _seed_like(g, target):
    if not isinstance(g, Tensor):
        g = _tensor.tensor(g, dtype=target.dtype, device=target.device)
    if tuple(g.shape) != tuple(target.shape):
        raise ValueError(f"GradientTape.gradient: output_gradients of shape {tuple(g.shape)} for a target of "
                         f"shape {tuple(target.shape)}")
    return g.detach()


def _one_hot_like(target, i):
    flat = _tensor.zeros(target.numel(), dtype=target.dtype, device=target.device)
    flat[i] = 1.0
    return flat.view(tuple(target.shape))


def _fill_unconnected(g, source, mode):
    if g is None and mode == "zero":
        return _tensor.zeros_like(source)
    return g


def _stack_rows(rows, target, source, mode):
    if all(r is None for r in rows) and mode == "none":
        return None
    rows = [_fill_unconnected(r, source, "zero") for r in rows]
    return _tensor.stack(rows, 0).view(tuple(target.shape) + tuple(source.shape))
