"""`DistributedDataParallel`: torch's DDP on `ferrograd.distributed`.

Gradients are averaged over the ranks in buckets, as torch's reducer does: parameters are
assigned to buckets in reverse order (the order backward usually produces their gradients; the
first bucket is capped at 1 MB so communication starts early, the others at `bucket_cap_mb`),
and after the first iteration the buckets are rebuilt in the order the gradients became ready. A
post-accumulate-grad hook on each parameter copies its gradient into its bucket's flat buffer;
when a bucket is complete, and every bucket before it has been launched, an asynchronous
all-reduce of the bucket starts on the communication thread while backward goes on (the last
bucket's is a blocking call: nothing is left to overlap with). Once the
last bucket is launched the reducer waits for all of them and writes the averages back into
`.grad` (with `gradient_as_bucket_view=True`, `.grad` is a view of the bucket, so nothing is copied).
"""
import contextlib
import itertools
import weakref
from collections.abc import Mapping

import numpy as np

from ... import _core
from ... import distributed as dist
from ..._core import Tensor
from ...autograd import is_grad_enabled, no_grad
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024


def _find_tensors(obj):
    """The tensors in a forward's output (nested tuples, lists and dicts), as torch's `_find_tensors`."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return list(itertools.chain.from_iterable(map(_find_tensors, obj)))
    if isinstance(obj, Mapping):
        return list(itertools.chain.from_iterable(map(_find_tensors, obj.values())))
    return []


class _Bucket:
    """Parameters whose gradients are all-reduced together through one flat buffer."""

    def __init__(self, params, indices):
        self.params = params
        self.indices = indices
        first = params[0]
        self.buffer = _core.full([sum(p.numel() for p in params)], 0.0, first._dtype).to(first.device)
        self.views = []
        offset = 0
        for p in params:
            self.views.append(self.buffer[offset:offset + p.numel()].view(p.shape))
            offset += p.numel()
        self.pending = set()
        self.work = None


def _assign_buckets(params, cap_bytes, order=None):
    """Indices of `params` grouped into buckets, walking the parameters in `order` (by default in
    reverse, the order backward usually produces their gradients); a bucket holds one dtype and
    device and is closed past its byte cap (the first one past 1 MB, as torch's, or past the cap
    when that is smaller)."""
    buckets, open_by_kind = [], {}
    for i in reversed(range(len(params))) if order is None else order:
        p = params[i]
        kind = (p._dtype, str(p.device))
        current = open_by_kind.setdefault(kind, [[], 0])
        current[0].append(i)
        current[1] += p.numel() * p.element_size()
        limit = min(_FIRST_BUCKET_BYTES, cap_bytes) if not buckets else cap_bytes
        if current[1] >= limit:
            buckets.append(current[0])
            del open_by_kind[kind]
    buckets.extend(b for b, _ in open_by_kind.values())
    return buckets


class DistributedDataParallel(Module):
    """Replicates `module` over the ranks of a process group and averages its gradients."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, init_sync=True):
        super().__init__()
        if not dist.is_initialized():
            dist._default()
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        self.module = module
        self.process_group = process_group if process_group is not None else dist.GroupMember.WORLD
        self.device_ids = device_ids
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self._world_size = dist.get_world_size(self.process_group)
        self._params = params
        self._verify_same_model()
        if init_sync:
            self._sync_module_states()
        self._set_buckets(_assign_buckets(params, self.bucket_bytes_cap))
        # As torch's reducer: the first backward records the order in which gradients become
        # ready, and the next forward rebuilds the buckets in that order (once; not with
        # find_unused_parameters, whose set of ready gradients may change every iteration).
        self._has_rebuilt_buckets = False
        self._ready_order = []
        self._expect_reduction = False
        self._next_bucket = 0
        self._locally_used = [False] * len(params)
        # The hooks hold the DDP object weakly: a strong reference would tie the model's
        # parameters to a cycle through the Rust hook lists that Python's collector cannot see.
        this = weakref.ref(self)
        self._hook_handles = [p.register_post_accumulate_grad_hook(_make_hook(this, i)) for i, p in enumerate(params)]

    # ------------------------------------------------------------------ set-up

    def _verify_same_model(self):
        shapes = [(list(p.shape), p._dtype) for p in self._params]
        everyone = [None] * self._world_size
        dist.all_gather_object(everyone, shapes, group=self.process_group)
        for rank, theirs in enumerate(everyone):
            if theirs != shapes:
                raise RuntimeError(
                    f"DDP expects same model across all ranks, but Rank {dist.get_rank(self.process_group)} has "
                    f"{len(shapes)} params {shapes}, while rank {rank} has {len(theirs)} params {theirs}.")

    def _sync_module_states(self):
        """Rank 0's parameters and buffers, on every rank."""
        with no_grad():
            for t in itertools.chain(self.module.parameters(), self.module.buffers()):
                dist.broadcast(t, src=self._global_rank(0), group=self.process_group)

    def _set_buckets(self, assignment):
        self._buckets = [_Bucket([self._params[i] for i in idx], idx) for idx in assignment]
        self._bucket_of = {}
        for b, bucket in enumerate(self._buckets):
            for slot, i in enumerate(bucket.indices):
                self._bucket_of[i] = (b, slot)

    def _rebuild_buckets(self):
        """Buckets in the order the first backward made gradients ready; rank 0's assignment is
        everyone's, so that the ranks' all-reduces line up."""
        assignment = [_assign_buckets(self._params, self.bucket_bytes_cap, self._ready_order)]
        dist.broadcast_object_list(assignment, src=self._global_rank(0), group=self.process_group)
        self._set_buckets(assignment[0])
        self._has_rebuilt_buckets = True
        self._ready_order = []

    def _global_rank(self, group_rank):
        group = self.process_group
        return group_rank if group is None or group is dist.GroupMember.WORLD else group._ranks[group_rank]

    # ------------------------------------------------------------------ forward

    @contextlib.contextmanager
    def no_sync(self):
        """Gradients accumulate locally inside; the first backward after it averages them all."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def forward(self, *inputs, **kwargs):
        if self._expect_reduction:
            missing = [i for b in self._buckets for i in b.indices if i in b.pending]
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. This error "
                "indicates that your module has parameters that were not used in producing loss. You can enable "
                "unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`. Parameter indices which did not receive grad for "
                f"rank {dist.get_rank(self.process_group)}: {' '.join(map(str, missing))}")
        if is_grad_enabled() and len(self._ready_order) == len(self._params):
            self._rebuild_buckets()
        if self.broadcast_buffers and self.training and self._world_size > 1:
            with no_grad():
                for buf in self.module.buffers():
                    dist.broadcast(buf, src=self._global_rank(0), group=self.process_group)
        output = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self._prepare_for_backward(output)
        return output

    def _prepare_for_backward(self, output):
        self._expect_reduction = True
        self._next_bucket = 0
        self._locally_used = [False] * len(self._params)
        for bucket in self._buckets:
            bucket.pending = set(bucket.indices)
            bucket.work = None
        if self.find_unused_parameters:
            used = {t._impl_id() for t in _core.reachable_leaves(_find_tensors(output))}
            for i, p in enumerate(self._params):
                if p._impl_id() not in used:
                    b, slot = self._bucket_of[i]
                    self._buckets[b].views[slot].zero_()
                    self._mark_ready(i)

    # ------------------------------------------------------------------ backward

    def _grad_ready(self, index):
        if not self._expect_reduction:
            return
        b, slot = self._bucket_of[index]
        bucket = self._buckets[b]
        if index not in bucket.pending:
            raise RuntimeError(
                f"Expected to mark a variable ready only once. Parameter index {index} was marked ready twice in one "
                "iteration (it took part in several backward passes, or is shared by several modules).")
        param = self._params[index]
        view = bucket.views[slot]
        with no_grad():
            if param.grad is None:
                view.zero_()
            elif not param.grad._same_storage(view):
                view.copy_(param.grad)
        self._locally_used[index] = True
        if not self._has_rebuilt_buckets and not self.find_unused_parameters:
            self._ready_order.append(index)
        self._mark_ready(index)

    def _mark_ready(self, index):
        b, _ = self._bucket_of[index]
        self._buckets[b].pending.discard(index)
        # Buckets go out in index order on every rank, so the ranks' collectives line up.
        while self._next_bucket < len(self._buckets) and not self._buckets[self._next_bucket].pending:
            bucket = self._buckets[self._next_bucket]
            self._next_bucket += 1
            # The last bucket has nothing left to overlap with: a blocking call skips the hand-off
            # to the communication thread (whose wake-ups cost milliseconds on a busy machine).
            last = self._next_bucket == len(self._buckets)
            bucket.work = dist.all_reduce(bucket.buffer, op=dist.ReduceOp.AVG, group=self.process_group,
                                          async_op=not last)
        if self._next_bucket == len(self._buckets):
            self._finish_reduction()

    def _finish_reduction(self):
        self._expect_reduction = False
        for bucket in self._buckets[:-1]:
            bucket.work.wait()
        globally_used = None
        if self.find_unused_parameters:
            globally_used = _core.from_numpy(np.array(self._locally_used, dtype=bool))
            dist.all_reduce(globally_used, op=dist.ReduceOp.MAX, group=self.process_group)
            globally_used = globally_used.tolist()
        with no_grad():
            for bucket in self._buckets:
                for i, param, view in zip(bucket.indices, bucket.params, bucket.views):
                    if globally_used is not None and not globally_used[i]:
                        continue
                    if self.gradient_as_bucket_view or param.grad is None:
                        if param.grad is None or not param.grad._same_storage(view):
                            param.grad = view if self.gradient_as_bucket_view else view.clone()
                    else:
                        param.grad.copy_(view)


def _make_hook(ddp_ref, index):
    def hook(param):
        ddp = ddp_ref()
        if ddp is not None:
            ddp._grad_ready(index)
    return hook
