"""`DataLoader`: iterates a dataset in (optionally shuffled) batches, collated into tensors,
in the main process (`num_workers=0`) or in worker processes.

Workers follow PyTorch's design: each has an index queue; the main process keeps
`prefetch_factor` batches per worker in flight, hands out batch indices round-robin and yields
the results in sampler order, so the batches are those `num_workers=0` gives for the same seed.
Batches come back through shared memory (see `_shared_memory`).

Workers start with `spawn` unless `multiprocessing_context` names another start method. A
forked child has only the thread that forked: the CPU thread team's loops then run on that
thread alone (slower, but correct), while the gemm crate's rayon pool, which a convolution of a
single large sample uses, waits forever for its missing threads (measured: conv2d of a
[1, 16, 128, 128] input in a child forked after one such conv hung until killed); a GPU context
does not survive a fork either (and `set_num_threads(1)`, which workers call, does not keep that
convolution off rayon). "fork" stays available, as in PyTorch, for datasets that do none of that
in their workers. With `spawn` the script that creates the loader is imported again in each
worker, so it needs the `if __name__ == "__main__":` guard, as PyTorch scripts do on macOS.
"""
import itertools
import numbers
import pickle
import queue
import weakref

from . import _worker
from ._collate import default_collate, default_convert
from ._fetch import create_fetcher
from ._generator import _global_seed
from ._worker import get_worker_info
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info", "default_collate", "default_convert"]

DEFAULT_START_METHOD = "spawn"


class _InfiniteConstantSampler:
    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Combines a dataset and a sampler and iterates over the dataset in batches.

    Arguments follow `torch.utils.data.DataLoader`: `batch_size` (None disables batching),
    `shuffle` (a fresh permutation every epoch; pass `generator=ferrograd.Generator().manual_seed(s)`
    for reproducible orders), `sampler`, `batch_sampler`, `drop_last`, `collate_fn`
    (default: `default_collate`). With `num_workers > 0` batches are loaded by that many
    processes: `multiprocessing_context` (a start method name or a context; default "spawn"),
    `worker_init_fn(worker_id)`, `prefetch_factor` (batches in flight per worker, default 2),
    `persistent_workers` (keep the workers between epochs), `timeout` (seconds to wait for a
    batch, 0 = forever). Each worker seeds Python's, numpy's and ferrograd's RNGs from a base seed
    drawn from `generator` (or the global RNG) plus its id, as PyTorch does; `get_worker_info()`
    tells a dataset which worker it runs in (to split an IterableDataset). `pin_memory` is
    accepted and does nothing (there is no pinned memory to use on the CPU).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="", in_order=True):
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = _resolve_context(multiprocessing_context, num_workers)
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = "iterable"
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            self._dataset_kind = "map"
            shuffle = bool(shuffle)

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None:
            if self._dataset_kind == "iterable":
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self)
        if self._iterator is None:
            self._iterator = _MultiProcessIter(self)
        else:
            self._iterator._reset(self)
        return self._iterator

    def _base_seed(self):
        """The seed workers derive theirs from, drawn for every epoch (with or without workers,
        as PyTorch does, so both consume the generator alike and shuffle alike)."""
        if self.generator is None:
            return _global_seed()
        return int(self.generator._randint(2 ** 62, None))

    def __len__(self):
        if self._dataset_kind == "iterable":
            n = len(self.dataset)  # TypeError if the IterableDataset has no __len__, as in PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __repr__(self):
        return f"<ferrograd.utils.data.DataLoader batch_size={self.batch_size} len_dataset={len(self.dataset) if hasattr(self.dataset, '__len__') else '?'}>"


def _resolve_context(context, num_workers):
    if context is None:
        return None
    import multiprocessing
    if num_workers == 0:
        raise ValueError("multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                         f"but got num_workers={num_workers}")
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start method in {methods!r}, "
                             f"but got multiprocessing_context={context!r}")
        return multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a string specifying "
                        f"the start method, but got multiprocessing_context={context}")
    return context


class _SingleProcessIter:
    def __init__(self, loader):
        loader._base_seed()
        self._sampler_iter = iter(loader._index_sampler)
        self._fetcher = create_fetcher(loader._dataset_kind, loader.dataset, loader._auto_collation,
                                       loader.collate_fn, loader.drop_last)
        self._len = loader.__len__

    def __iter__(self):
        return self

    def __next__(self):
        return self._fetcher.fetch(next(self._sampler_iter))

    def __len__(self):
        return self._len()


class _MultiProcessIter:
    """Worker processes fed batch indices round-robin; results re-ordered to the sampler's order."""

    def __init__(self, loader):
        import multiprocessing
        from . import _shared_memory
        self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor * loader.num_workers
        self._persistent = loader.persistent_workers
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        context = loader.multiprocessing_context or multiprocessing.get_context(DEFAULT_START_METHOD)
        self._shm_prefix = _shared_memory.new_prefix()
        dataset_payload = _shared_memory.dumps(loader.dataset, self._shm_prefix, unlink_on_load=False)
        self._result_queue = context.Queue()
        self._done_event = context.Event()
        self._index_queues, self._workers = [], []
        # stops the workers and removes the shared memory when the iterator is shut down,
        # collected, or the interpreter exits
        self._finalizer = weakref.finalize(self, _stop_workers, self._workers, self._index_queues,
                                           self._result_queue, self._done_event, self._shm_prefix)
        base_seed = loader._base_seed()
        for worker_id in range(self._num_workers):
            index_queue = context.Queue()
            index_queue.cancel_join_thread()  # a worker that died must not block our exit
            worker = context.Process(
                target=_worker.worker_loop, name=f"DataLoader worker {worker_id}", daemon=True,
                args=(loader._dataset_kind, dataset_payload, index_queue, self._result_queue, self._done_event,
                      loader._auto_collation, loader.collate_fn, loader.drop_last, base_seed,
                      loader.worker_init_fn, worker_id, self._num_workers, self._shm_prefix))
            worker.start()
            self._index_queues.append(index_queue)
            self._workers.append(worker)
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(loader._index_sampler)
        self._len = loader.__len__
        self._send_idx = self._rcvd_idx = 0
        self._task_info = {}  # send index -> (worker id,) while in flight, (worker id, data) once early
        self._tasks_outstanding = 0
        self._active = [True] * self._num_workers
        self._next_worker = itertools.cycle(range(self._num_workers))
        if not first_iter:
            loader._base_seed()  # keep the generator in step with num_workers=0 (workers keep their seeds)
            for index_queue in self._index_queues:
                index_queue.put(_worker.ResumeIteration())
            resumed = 0
            while resumed < self._num_workers:  # drop what the last epoch left in flight
                idx, _ = self._get_data()
                resumed += isinstance(idx, _worker.ResumeIteration)
        for _ in range(self._prefetch):
            self._try_put_index()

    def __iter__(self):
        return self

    def __len__(self):
        return self._len()

    def _try_put_index(self):
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker_id = next(self._next_worker)
            if self._active[worker_id]:
                break
        else:
            return
        self._index_queues[worker_id].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker_id,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def __next__(self):
        while True:
            # skip tasks already returned out of order and those of workers whose iterable
            # dataset ran out
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None:
                    if len(info) == 2 or self._active[info[0]]:
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                data = self._task_info.pop(self._rcvd_idx)[1]
                self._rcvd_idx += 1
                return self._process(data)
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _worker.IterableDatasetStopIteration):
                self._active[data.worker_id] = False
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                if not self._in_order:  # in_order=False: whatever batch is ready comes first
                    del self._task_info[idx]
                    return self._process(data)
                self._task_info[idx] += (data,)
                continue
            del self._task_info[idx]
            self._rcvd_idx += 1
            return self._process(data)

    def _process(self, data):
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return data

    def _get_data(self):
        """The next (send index, data) from any worker, its tensors mapped from shared memory."""
        waited = 0.0
        while True:
            wait = _worker.STATUS_CHECK_INTERVAL
            if self._timeout > 0:
                wait = min(wait, self._timeout - waited)
            try:
                idx, payload = self._result_queue.get(timeout=wait)
            except queue.Empty:
                self._check_workers_alive()
                waited += wait
                if self._timeout > 0 and waited >= self._timeout:
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None
                continue
            return idx, (None if payload is None else pickle.loads(payload))  # maps the tensors' segments

    def _check_workers_alive(self):
        dead = [(i, w) for i, w in enumerate(self._workers) if not w.is_alive()]
        if dead:
            described = ", ".join(f"worker {i} (pid {w.pid}, {_exit_description(w.exitcode)})" for i, w in dead)
            self._shutdown_workers()
            raise RuntimeError(f"DataLoader worker exited unexpectedly: {described}")

    def _shutdown_workers(self):
        self._finalizer()


def _stop_workers(workers, index_queues, result_queue, done_event, shm_prefix):
    from . import _shared_memory
    done_event.set()
    for index_queue in index_queues:
        index_queue.put(None)
    for worker in workers:
        worker.join(timeout=5 * _worker.STATUS_CHECK_INTERVAL)
        if worker.is_alive():
            worker.terminate()
            worker.join()
    for q in (*index_queues, result_queue):
        q.cancel_join_thread()
        q.close()
    _shared_memory.remove_all(shm_prefix)


def _exit_description(exitcode):
    if exitcode is not None and exitcode < 0:
        import signal
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
