"""`ferrograd.distributed`: `torch.distributed`'s API on MPI (mpi4py).

Rank and world size come from MPI (start the processes with `mpirun`, or with
`python -m ferrograd.distributed.run -n N script.py`). CPU tensors go to MPI as buffers over
their own memory (no copies); GPU tensors are staged through host memory.

A blocking collective is posted as MPI's non-blocking variant (`Iallreduce`, `Ibarrier`, ...)
in the caller's thread and polled (`Test`) until it completes; past the process group's
`timeout` it raises a RuntimeError naming the op, the rank and the timeout. For larger buffers
(from 64 KiB per rank) a polled `Ibarrier` comes first, with the same timeout, and then MPI's
blocking call, whose algorithms are faster there: once every rank has reached the collective,
only MPI itself could stall it. With `async_op=True` the call goes to the process's
communication thread, which makes the blocking MPI calls one after another in the order they
were issued, and a `Work` comes back at once: communication overlaps whatever the caller does
next (DDP's backward). `Work.wait()` raises the same RuntimeError once the timeout has passed.
(Non-blocking collectives left to progress on their own measured 20-40x slower here: Open MPI
moves them forward only inside MPI calls.) A blocking call made while async work is still
queued waits for that work first. `isend`/`irecv` post MPI's non-blocking sends and receives.

MPI cannot cancel a started collective: after a timeout every later operation raises at once,
and the process exits without finalizing MPI (which would wait for the lost peer); mpirun then
ends the other ranks. A rank that dies makes mpirun end the job; one that hangs, or leaves
without joining a collective, makes the others' call raise within the timeout.
"""
import atexit
import datetime
import enum
import os
import pickle
import queue
import sys
import threading
import time
import warnings

import numpy as np

from .. import _core
from .._core import Tensor

__all__ = ["is_available", "is_initialized", "init_process_group", "destroy_process_group", "get_rank",
           "get_world_size", "get_backend", "new_group", "ReduceOp", "Backend", "Work", "ProcessGroup",
           "GroupMember", "all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor",
           "reduce_scatter_tensor", "gather", "scatter", "all_to_all_single", "barrier", "send", "recv",
           "isend", "irecv", "all_gather_object", "broadcast_object_list", "default_pg_timeout"]

default_pg_timeout = datetime.timedelta(minutes=30)

# MPI has no 16-bit float types: float16/bfloat16 tensors are refused by name.
_DTYPES = ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")


def is_available():
    """Whether MPI can be used: mpi4py (and so an MPI library) is installed."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


class Backend(str):
    """Backend names; ferrograd has one, MPI."""

    MPI = "mpi"

    def __new__(cls, name):
        name = name.lower()
        if name != cls.MPI:
            raise ValueError(f"Invalid backend: '{name}': ferrograd.distributed runs on MPI only (backend='mpi')")
        return str.__new__(cls, name)


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"

    def __repr__(self):
        return f"<RedOpType.{self.name}: {list(ReduceOp).index(self)}>"


class _NotInitializedError(ValueError, RuntimeError):
    """torch raises ValueError here; the issue asked for RuntimeError: both catch it."""


class _NonGroupMember:
    def __repr__(self):
        return "GroupMember.NON_GROUP_MEMBER"


class GroupMember:
    WORLD = None
    NON_GROUP_MEMBER = _NonGroupMember()


def _seconds(timeout):
    return timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)


class _Broken:
    """Set once an operation timed out: its MPI request can never be completed or cancelled."""

    reason = None


def _exit_if_broken():
    if _Broken.reason is not None:
        sys.stderr.write(f"ferrograd.distributed: exiting without MPI_Finalize: {_Broken.reason}\n")
        sys.stderr.flush()
        os._exit(1)


atexit.register(_exit_if_broken)


def _timed_out(op, group, seconds):
    _Broken.reason = (f"[Rank {group._ranks[group.rank()]}] {op} on a group of {group.size()} ranks timed out after "
                      f"{seconds:g} s: another rank died, hangs, or did not call it")
    return RuntimeError(_Broken.reason)


def _check_usable(op):
    if _Broken.reason is not None:
        raise RuntimeError(f"{op}: ferrograd.distributed cannot be used after an operation timed out "
                           f"({_Broken.reason})")


def _wait_for(request, op, group):
    """Polls a non-blocking MPI request until it completes, or raises past the group's timeout."""
    if request.Test():
        return
    seconds = _seconds(group._timeout)
    deadline = time.monotonic() + seconds
    while not request.Test():
        if time.monotonic() > deadline:
            raise _timed_out(op, group, seconds)


class _CommThread:
    """Runs the process's queued MPI calls one after another, in the order they were issued."""

    def __init__(self):
        self._queue = queue.SimpleQueue()
        # Each counter is written by one thread only, so comparing them needs no lock.
        self._submitted = 0
        self._finished = 0
        threading.Thread(target=self._loop, name="ferrograd-distributed", daemon=True).start()

    def _loop(self):
        while True:
            work, fn = self._queue.get()
            try:
                fn()
            except BaseException as e:  # delivered to the waiting caller
                work._exception = e
            self._finished += 1
            work._done.set()

    def busy(self):
        return self._submitted != self._finished

    def submit(self, work, fn):
        self._submitted += 1
        self._queue.put((work, fn))
        return work


class Work:
    """The handle of an operation (`async_op=True`, `isend`, `irecv`): `wait()`,
    `is_completed()`, `result()`."""

    def __init__(self, op, group, outputs=()):
        self._op = op
        self._group = group
        self._outputs = list(outputs)
        self._done = threading.Event()
        self._exception = None

    def is_completed(self):
        return self._done.is_set()

    def is_success(self):
        return self.is_completed() and self._exception is None

    def exception(self):
        return self._exception

    def wait(self, timeout=None):
        """Blocks until the operation is done; raises its error, or RuntimeError once the
        timeout (the group's by default) has passed."""
        seconds = _seconds(self._group._timeout if timeout is None else timeout)
        if not self._done.wait(seconds):
            raise _timed_out(self._op, self._group, seconds)
        if self._exception is not None:
            raise self._exception
        return True

    def result(self):
        return self._outputs

    def __repr__(self):
        state = "completed" if self.is_completed() else "pending"
        return f"<ferrograd.distributed.Work {self._op} ({state})>"


class _RequestWork(Work):
    """A send or receive: an MPI request, completed by polling it (`finish` runs then)."""

    def __init__(self, op, group, request, outputs, finish):
        super().__init__(op, group, outputs)
        self._request = request
        self._status = _mpi().Status()
        self._finish = finish

    def is_completed(self):
        if not self._done.is_set() and self._request.Test(self._status):
            if self._finish is not None:
                self._finish()
            self._done.set()
        return self._done.is_set()

    def wait(self, timeout=None):
        seconds = _seconds(self._group._timeout if timeout is None else timeout)
        deadline = time.monotonic() + seconds
        while not self.is_completed():
            if time.monotonic() > deadline:
                raise _timed_out(self._op, self._group, seconds)
        return True


class ProcessGroup:
    """A set of ranks with its own MPI communicator."""

    def __init__(self, comm, ranks, timeout):
        self._comm = comm
        self._ranks = list(ranks)
        self._timeout = timeout

    def rank(self):
        return self._comm.Get_rank()

    def size(self):
        return self._comm.Get_size()

    def name(self):
        return "mpi"

    def _group_rank(self, global_rank, what):
        if global_rank not in self._ranks:
            raise ValueError(f"{what}: global rank {global_rank} is not part of the group (ranks {self._ranks})")
        return self._ranks.index(global_rank)

    def __repr__(self):
        return f"<ferrograd.distributed.ProcessGroup mpi ranks={self._ranks}>"


class _State:
    default = None
    comm_thread = None
    groups = []


def _mpi():
    from mpi4py import MPI
    return MPI


def _default():
    if _State.default is None:
        raise _NotInitializedError(
            "Default process group has not been initialized, please make sure to call init_process_group.")
    return _State.default


def is_initialized():
    return _State.default is not None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Joins the MPI job as the default process group; rank and size come from MPI."""
    if _State.default is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if backend is not None:
        Backend(str(backend))
    if not is_available():
        raise RuntimeError("ferrograd.distributed needs mpi4py and an MPI library: "
                           "pip install 'ferrograd[distributed]' (mpi4py with Open MPI)")
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"Expected timeout argument to be of type datetime.timedelta, got {type(timeout).__name__}")
    MPI = _mpi()
    if MPI.Query_thread() != MPI.THREAD_MULTIPLE:
        raise RuntimeError("ferrograd.distributed needs an MPI library initialised with MPI_THREAD_MULTIPLE "
                           f"(got thread level {MPI.Query_thread()})")
    world = MPI.COMM_WORLD
    for name, given, actual in (("world_size", world_size, world.Get_size()), ("rank", rank, world.Get_rank())):
        if given not in (-1, None) and given != actual:
            raise ValueError(f"init_process_group: {name}={given} but MPI started this process with {name} {actual}")
    if _State.comm_thread is None:
        _State.comm_thread = _CommThread()
    _State.default = ProcessGroup(world, range(world.Get_size()), timeout or default_pg_timeout)
    GroupMember.WORLD = _State.default


def destroy_process_group(group=None):
    """Frees a group's communicator; with no group, all of them and the default group."""
    pg = _default()
    if group is None or group is pg:
        if _Broken.reason is None:  # after a timeout MPI is left as it is: the process exits without it
            barrier()
            for g in _State.groups:
                g._comm.Free()
        _State.groups = []
        _State.default = None
        GroupMember.WORLD = None
        return
    if isinstance(group, ProcessGroup):
        _on_comm_thread("destroy_process_group", pg, group._comm.Free)
        _State.groups.remove(group)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A group of `ranks` (global ranks; all by default). Every rank must call it, as in torch;
    ranks outside the group get `GroupMember.NON_GROUP_MEMBER`."""
    pg = _default()
    if backend is not None:
        Backend(str(backend))
    world_size = pg.size()
    ranks = sorted(range(world_size) if ranks is None else {int(r) for r in ranks})
    for r in ranks:
        if not 0 <= r < world_size:
            raise ValueError(f"new_group: rank {r} is out of range for a world of size {world_size}")
    MPI = _mpi()

    def create():
        members = pg._comm.Get_group().Incl(ranks)
        return pg._comm.Create(members)

    comm = _on_comm_thread("new_group", pg, create)
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    group = ProcessGroup(comm, ranks, timeout or pg._timeout)
    _State.groups.append(group)
    return group


def _group(group):
    """The process group to use, or None when this rank is not a member (torch then does nothing)."""
    pg = _default()
    if group is None or group is GroupMember.WORLD:
        return pg
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup, got {type(group).__name__}")
    return group


def _not_member(op):
    warnings.warn(f"Running {op} on global rank {_default().rank()} which does not belong to the given group.")


def get_rank(group=None):
    pg = _group(group)
    return -1 if pg is None else pg.rank()


def get_world_size(group=None):
    pg = _group(group)
    return -1 if pg is None else pg.size()


def get_backend(group=None):
    _default()
    return Backend.MPI


def _src_rank(pg, global_rank, group_rank, what):
    """The group rank meant by torch's `src`/`dst` (a global rank) or `group_src`/`group_dst`."""
    if global_rank is not None and group_rank is not None:
        raise ValueError(f"{what}: can't specify both a global and a group rank")
    if group_rank is not None:
        if not 0 <= group_rank < pg.size():
            raise ValueError(f"{what}: group rank {group_rank} is out of range for a group of size {pg.size()}")
        return group_rank
    if global_rank is None:
        raise ValueError(f"{what}: either a global or a group rank must be specified")
    return pg._group_rank(global_rank, what)


# ------------------------------------------------------------------ buffers


class _Buffer:
    """A tensor's memory as a numpy array MPI reads and writes: the tensor's own storage on the
    CPU; a host copy of a GPU tensor, written back by `done()`."""

    def __init__(self, tensor, op, what="tensor", contiguous=True):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{op}: {what} must be a Tensor, got {type(tensor).__name__}")
        if tensor._dtype not in _DTYPES:
            raise TypeError(f"{op}: {what} has dtype {tensor.dtype}, which MPI cannot take here "
                            f"({', '.join(_DTYPES)})")
        if contiguous and not tensor.is_contiguous():
            raise RuntimeError(f"{op}: [Rank {get_rank()}] {what} must be contiguous, got shape "
                               f"{list(tensor.shape)} with strides {list(tensor.stride())}")
        self.tensor = tensor
        self.on_host = tensor._device == "cpu"
        if tensor.numel() == 0:
            # An empty tensor's data pointer may be null, which MPI refuses even for 0 elements.
            self.array = np.empty(tuple(tensor.shape), np.dtype(tensor._dtype))
        else:
            self.array = tensor.detach().numpy() if self.on_host else tensor.detach().cpu().numpy()

    def done(self):
        if not self.on_host:
            with _no_grad():
                self.tensor.copy_(_core.from_numpy(self.array).to(self.tensor.device))


def _no_grad():
    from ..autograd import no_grad
    return no_grad()


def _mpi_op(op, dtype, what):
    MPI = _mpi()
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be a ReduceOp, got {op!r}")
    if dtype == "bool":
        if op is ReduceOp.AVG:
            raise TypeError(f"{what}: ReduceOp.AVG is not supported for bool tensors")
        # As torch: SUM and MAX are a logical or, PRODUCT and MIN a logical and.
        return MPI.LOR if op in (ReduceOp.SUM, ReduceOp.MAX) else MPI.LAND
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


def _average(array, n):
    """Divides a sum by the group size in place (integers truncate toward zero, as NCCL)."""
    if array.dtype.kind == "f":
        array /= n
    else:
        np.copyto(array, np.sign(array) * (np.abs(array) // n))


def _debug_detail():
    return os.environ.get("FERROGRAD_DISTRIBUTED_DEBUG", "").upper() == "DETAIL"


def _check_same(pg, op, fingerprint):
    """FERROGRAD_DISTRIBUTED_DEBUG=DETAIL: every rank's op and shapes must match rank 0's."""
    everyone = _allgather_object(pg, op, fingerprint)
    mismatched = [r for r, f in enumerate(everyone) if f != everyone[0]]
    if mismatched:
        r = mismatched[0]
        raise RuntimeError(
            f"Detected mismatch between collectives on ranks. Rank {pg._ranks[0]} is running {everyone[0][0]} with "
            f"shapes and dtypes {everyone[0][1]}, but Rank {pg._ranks[r]} is running {everyone[r][0]} with shapes "
            f"and dtypes {everyone[r][1]} (this rank: {pg._ranks[pg.rank()]}, calling {op})")


def _fingerprint(op, *buffers):
    return (op, [(list(b.tensor.shape), str(b.tensor.dtype)) for b in buffers])


# From this many bytes per rank on, a blocking collective is MPI's blocking call, made once a
# polled Ibarrier shows that every rank has reached it: MPI's blocking algorithms move larger
# buffers faster than its non-blocking ones (all_reduce on 2 ranks of this loaded machine,
# non-blocking vs barrier + blocking: 64 KiB 50 vs 31 us, 1 MiB 2.7 vs 1.7 ms, 25 MB ~32 vs
# 24-28 ms), and below it one non-blocking round trip is as fast as the two.
# (Every rank chooses alike: a blocking MPI collective does not match a non-blocking one.)
_LARGE_BYTES = 64 * 1024


def _drain(op, pg):
    """Before a collective made in the caller's thread: the async work queued before it goes first."""
    if _State.comm_thread.busy():
        _State.comm_thread.submit(Work(op, pg), lambda: None).wait()


def _on_comm_thread(op, pg, fn):
    """A blocking MPI call made on the communication thread (after the work queued there) while
    this thread waits for it with the group's timeout; returns its result."""
    _check_usable(op)
    result = []
    _State.comm_thread.submit(Work(op, pg), lambda: result.append(fn())).wait()
    return result[0]


def _run(op, pg, mpi_call, args, async_op, finish=None, outputs=(), checked=()):
    """Calls `comm.<mpi_call>(*args)` then `finish()`: with `async_op`, on the communication
    thread (the Work comes back at once); otherwise here, once the queued async work is done, as
    the non-blocking variant (`Iallreduce`, ...) polled with the group's timeout, or, for large
    buffers (`checked`, the same size on every rank), as the blocking call after a polled barrier."""
    _check_usable(op)

    def check():
        if checked and _debug_detail():
            _check_same(pg, op, _fingerprint(op, *checked))

    if async_op:
        def call():
            check()
            getattr(pg._comm, mpi_call)(*args)
            if finish is not None:
                finish()
        return _State.comm_thread.submit(Work(op, pg, outputs), call)
    _drain(op, pg)
    check()
    if sum(b.array.nbytes for b in checked) >= _LARGE_BYTES:
        _wait_for(pg._comm.Ibarrier(), op, pg)
        getattr(pg._comm, mpi_call)(*args)
    else:
        _wait_for(getattr(pg._comm, "I" + mpi_call.lower())(*args), op, pg)
    if finish is not None:
        finish()
    return None


# ------------------------------------------------------------------ collectives


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces `tensor` over the group, in place on every rank."""
    pg = _group(group)
    if pg is None:
        return _not_member("all_reduce")
    buf = _Buffer(tensor, "all_reduce")
    mpi_op = _mpi_op(op, tensor._dtype, "all_reduce")

    def finish():
        if op is ReduceOp.AVG:
            _average(buf.array, pg.size())
        buf.done()

    return _run("all_reduce", pg, "Allreduce", (_mpi().IN_PLACE, buf.array, mpi_op), async_op, finish, [tensor],
                checked=[buf])


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copies `src`'s tensor into every rank's `tensor`."""
    pg = _group(group)
    if pg is None:
        return _not_member("broadcast")
    root = _src_rank(pg, src, group_src, "broadcast")
    buf = _Buffer(tensor, "broadcast")
    return _run("broadcast", pg, "Bcast", (buf.array, root), async_op, buf.done, [tensor], checked=[buf])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduces `tensor` over the group into `dst`'s tensor (the others keep theirs)."""
    pg = _group(group)
    if pg is None:
        return _not_member("reduce")
    root = _src_rank(pg, dst, group_dst, "reduce")
    buf = _Buffer(tensor, "reduce")
    mpi_op = _mpi_op(op, tensor._dtype, "reduce")
    if pg.rank() != root:
        return _run("reduce", pg, "Reduce", (buf.array, None, mpi_op, root), async_op, None, [tensor], checked=[buf])

    def finish():
        if op is ReduceOp.AVG:
            _average(buf.array, pg.size())
        buf.done()

    return _run("reduce", pg, "Reduce", (_mpi().IN_PLACE, buf.array, mpi_op, root), async_op, finish, [tensor],
                checked=[buf])


def _check_list(op, tensors, like, n, what):
    if not isinstance(tensors, (list, tuple)) or len(tensors) != n:
        got = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ValueError(f"{op}: {what} must be a list of {n} tensors (the group size), got {got}")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor) or t.shape != like.shape or t.dtype != like.dtype:
            desc = f"{list(t.shape)} {t.dtype}" if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{op}: {what}[{i}] is {desc}, expected {list(like.shape)} {like.dtype} like the input")


def _copy_rows(dests, rows):
    """Copies `rows[i]` into tensor `dests[i]` (the per-rank outputs of gather-like ops)."""
    with _no_grad():
        for dest, row in zip(dests, rows):
            dest.copy_(_core.from_numpy(np.ascontiguousarray(row)).to(dest.device).view(dest.shape))


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Every rank's `tensor`, into `tensor_list[rank]` on every rank."""
    pg = _group(group)
    if pg is None:
        return _not_member("all_gather")
    buf = _Buffer(tensor, "all_gather")
    _check_list("all_gather", tensor_list, tensor, pg.size(), "tensor_list")

    gathered = np.empty((pg.size(),) + buf.array.shape, buf.array.dtype)
    return _run("all_gather", pg, "Allgather", (buf.array, gathered), async_op,
                lambda: _copy_rows(tensor_list, gathered), tensor_list, checked=[buf])


def _check_stacked(op, big, small, n, big_name):
    """`big` must hold n of `small`: concatenated along dim 0, or stacked on a new dim 0."""
    cat = [small.shape[0] * n] + list(small.shape[1:]) if small.dim() else [n]
    stacked = [n] + list(small.shape)
    if list(big.shape) not in (cat, stacked) or big.dtype != small.dtype:
        raise ValueError(f"{op}: {big_name} is {list(big.shape)} {big.dtype}, expected {cat} or {stacked} "
                         f"{small.dtype} for a group of {n} ranks")


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's `input_tensor`, concatenated (or stacked) into `output_tensor`."""
    pg = _group(group)
    if pg is None:
        return _not_member("all_gather_into_tensor")
    inp = _Buffer(input_tensor, "all_gather_into_tensor", "input_tensor")
    out = _Buffer(output_tensor, "all_gather_into_tensor", "output_tensor")
    _check_stacked("all_gather_into_tensor", output_tensor, input_tensor, pg.size(), "output_tensor")

    return _run("all_gather_into_tensor", pg, "Allgather", (inp.array, out.array), async_op, out.done,
                [output_tensor], checked=[inp])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces `input` over the group and leaves rank i with its i-th block in `output`."""
    pg = _group(group)
    if pg is None:
        return _not_member("reduce_scatter_tensor")
    inp = _Buffer(input, "reduce_scatter_tensor", "input")
    out = _Buffer(output, "reduce_scatter_tensor", "output")
    _check_stacked("reduce_scatter_tensor", input, output, pg.size(), "input")
    mpi_op = _mpi_op(op, input._dtype, "reduce_scatter_tensor")

    def finish():
        if op is ReduceOp.AVG:
            _average(out.array, pg.size())
        out.done()

    return _run("reduce_scatter_tensor", pg, "Reduce_scatter_block", (inp.array, out.array, mpi_op), async_op,
                finish, [output], checked=[inp])


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Every rank's `tensor`, into `gather_list` on `dst` (None elsewhere)."""
    pg = _group(group)
    if pg is None:
        return _not_member("gather")
    root = _src_rank(pg, dst, group_dst, "gather")
    buf = _Buffer(tensor, "gather")
    is_root = pg.rank() == root
    if is_root:
        _check_list("gather", gather_list, tensor, pg.size(), "gather_list")
    elif gather_list:
        raise ValueError(f"gather: gather_list must be None or empty on non-destination rank {get_rank()}")

    gathered = np.empty((pg.size(),) + buf.array.shape, buf.array.dtype) if is_root else None
    finish = (lambda: _copy_rows(gather_list, gathered)) if is_root else None
    return _run("gather", pg, "Gather", (buf.array, gathered, root), async_op, finish, gather_list or [],
                checked=[buf])


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """`scatter_list[i]` on `src` into rank i's `tensor`."""
    pg = _group(group)
    if pg is None:
        return _not_member("scatter")
    root = _src_rank(pg, src, group_src, "scatter")
    buf = _Buffer(tensor, "scatter")
    is_root = pg.rank() == root
    if is_root:
        _check_list("scatter", scatter_list, tensor, pg.size(), "scatter_list")
        send = np.stack([t.detach().cpu().numpy() for t in scatter_list]) if scatter_list else None
    elif scatter_list:
        raise ValueError(f"scatter: scatter_list must be None or empty on non-source rank {get_rank()}")

    return _run("scatter", pg, "Scatter", (send if is_root else None, buf.array, root), async_op, buf.done,
                [tensor], checked=[buf])


def _split_counts(op, sizes, tensor, n, what):
    """Element counts and displacements of dim-0 splits (equal splits when `sizes` is None)."""
    rows = tensor.shape[0] if tensor.dim() else 1
    row_numel = tensor.numel() // rows if rows else int(np.prod(tensor.shape[1:], dtype=np.int64))
    if sizes is None:
        if rows % n:
            raise ValueError(f"{op}: {what} has {rows} rows, which do not split evenly over {n} ranks")
        sizes = [rows // n] * n
    sizes = [int(s) for s in sizes]
    if len(sizes) != n or sum(sizes) != rows:
        raise ValueError(f"{op}: {what} split sizes {sizes} must be {n} sizes summing to its {rows} rows")
    counts = [s * row_numel for s in sizes]
    return counts, [sum(counts[:i]) for i in range(n)]


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None,
                      async_op=False):
    """Rank i sends its j-th dim-0 block of `input` to rank j, which stores it as its i-th block of `output`."""
    pg = _group(group)
    if pg is None:
        return _not_member("all_to_all_single")
    inp = _Buffer(input, "all_to_all_single", "input")
    out = _Buffer(output, "all_to_all_single", "output")
    n = pg.size()
    send = _split_counts("all_to_all_single", input_split_sizes, input, n, "input")
    recv = _split_counts("all_to_all_single", output_split_sizes, output, n, "output")

    return _run("all_to_all_single", pg, "Alltoallv", ([inp.array, send], [out.array, recv]), async_op, out.done,
                [output])


def barrier(group=None, async_op=False, device_ids=None):
    """Returns once every rank of the group has called it."""
    pg = _group(group)
    if pg is None:
        return _not_member("barrier")
    return _run("barrier", pg, "Barrier", (), async_op)


# ------------------------------------------------------------------ point to point


def _p2p(op, tensor, peer, group, tag, group_peer, receive):
    """Posts a non-blocking send or receive and returns its Work."""
    pg = _group(group)
    if pg is None:
        return _not_member(op)
    if receive and peer is None and group_peer is None:
        peer_rank = _mpi().ANY_SOURCE
    else:
        peer_rank = _src_rank(pg, peer, group_peer, op)
        if peer_rank == pg.rank():
            raise ValueError(f"{op}: rank {get_rank()} cannot {'receive from' if receive else 'send to'} itself")
    buf = _Buffer(tensor, op)
    post = pg._comm.Irecv if receive else pg._comm.Isend
    return _RequestWork(op, pg, post(buf.array, peer_rank, tag), [tensor], buf.done if receive else None)


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    return _p2p("isend", tensor, dst, group, tag, group_dst, receive=False)


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    return _p2p("irecv", tensor, src, group, tag, group_src, receive=True)


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    work = _p2p("send", tensor, dst, group, tag, group_dst, receive=False)
    if work is not None:
        work.wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receives into `tensor`; returns the sender's global rank."""
    work = _p2p("recv", tensor, src, group, tag, group_src, receive=True)
    if work is None:
        return -1
    work.wait()
    return work._group._ranks[work._status.Get_source()]


# ------------------------------------------------------------------ Python objects


def _allgather_object(pg, op, obj):
    """Every rank's picklable `obj`, through non-blocking MPI (sizes, then the pickled bytes)."""
    data = np.frombuffer(bytearray(pickle.dumps(obj)), np.uint8)
    sizes = np.empty(pg.size(), np.int64)
    _wait_for(pg._comm.Iallgather(np.array([data.size], np.int64), sizes), op, pg)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    everything = np.empty(int(sizes.sum()), np.uint8)
    _wait_for(pg._comm.Iallgatherv(data, [everything, sizes, offsets, _mpi().BYTE]), op, pg)
    return [pickle.loads(everything[o:o + n].tobytes()) for o, n in zip(offsets, sizes)]


def all_gather_object(object_list, obj, group=None):
    """Every rank's picklable `obj`, into `object_list[rank]`."""
    pg = _group(group)
    if pg is None:
        return _not_member("all_gather_object")
    if len(object_list) != pg.size():
        raise ValueError(f"all_gather_object: object_list must have {pg.size()} entries (the group size), "
                         f"got {len(object_list)}")
    _check_usable("all_gather_object")
    _drain("all_gather_object", pg)
    object_list[:] = _allgather_object(pg, "all_gather_object", obj)


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """`src`'s picklable objects into every rank's `object_list`, in place."""
    pg = _group(group)
    if pg is None:
        return _not_member("broadcast_object_list")
    root = _src_rank(pg, src, group_src, "broadcast_object_list")
    op = "broadcast_object_list"
    _check_usable(op)
    _drain(op, pg)
    data = np.frombuffer(bytearray(pickle.dumps(list(object_list))), np.uint8)
    size = np.array([data.size], np.int64)
    _wait_for(pg._comm.Ibcast(size, root), op, pg)
    if pg.rank() != root:
        data = np.empty(int(size[0]), np.uint8)
    _wait_for(pg._comm.Ibcast(data, root), op, pg)
    received = pickle.loads(data.tobytes())
    if len(received) != len(object_list):
        raise ValueError(f"broadcast_object_list: rank {get_rank()} has a list of {len(object_list)} objects but "
                         f"the source sent {len(received)}")
    object_list[:] = received
