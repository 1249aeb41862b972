"""What runs inside a DataLoader worker process, following `torch.utils.data._utils.worker`:
seeding, `get_worker_info()`, the fetch loop, and exceptions carried back to the main process.
Imported by every `import ferrograd` (for get_worker_info), so what only workers need is
imported in `worker_loop`."""
import os
import sys

# How often a waiting worker checks that the main process still lives, and the main process
# that its workers do (seconds).
STATUS_CHECK_INTERVAL = 0.2

_worker_info = None


class WorkerInfo:
    """What `get_worker_info()` returns inside a worker: its `id` (0 to `num_workers` - 1),
    `num_workers`, the `seed` it was seeded with, and its copy of the `dataset`. Read-only."""
    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, id, num_workers, seed, dataset):  # noqa: A002 (PyTorch's field name)
        for name, value in zip(self.__slots__, (id, num_workers, seed, dataset)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}' of WorkerInfo")

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, dataset={self.dataset!r})"


def get_worker_info():
    """The current worker's WorkerInfo in a DataLoader worker process; None in the main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback text
    and re-raised there with the same type (as PyTorch's `ExceptionWrapper`)."""

    def __init__(self, exc_info=None, where="in background"):
        import traceback
        exc_info = exc_info or sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # noqa: BLE001 (a type that takes other arguments: say what happened anyway)
            raise RuntimeError(msg) from None
        raise exception


class KeyErrorMessage(str):
    """A KeyError shows repr() of its message; this keeps the traceback's line breaks."""

    def __repr__(self):
        return self


class IterableDatasetStopIteration:
    """A worker's iterable dataset is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


class ResumeIteration:
    """Sent to persistent workers at a new epoch; echoed back once they have reset."""


def numpy_seed(base_seed, worker_id):
    """The 4-word numpy seed of a worker, computed as PyTorch's `_generate_state` does."""
    mask = 0xFFFFFFFF
    hash_a, mult_a, mult_b = 0x43B0D7E5, 0x931E8875, 0x58F38DED
    entropy = [worker_id, base_seed & mask, base_seed >> 32, 0]

    def hash_(value):
        nonlocal hash_a
        value = (value ^ hash_a) & mask
        hash_a = (hash_a * mult_a) & mask
        value = (value * hash_a) & mask
        return (value ^ (value >> 16)) & mask

    def mix(x, y):
        r = ((0xCA01F9DD * x) - (0x4973F715 * y)) & mask
        return (r ^ (r >> 16)) & mask

    pool = [hash_(e) for e in entropy]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hash_(pool[src]))
    hash_b, state = 0x8B51F9DD, []
    for value in pool:
        value = (value ^ hash_b) & mask
        hash_b = (hash_b * mult_b) & mask
        value = (value * hash_b) & mask
        state.append((value ^ (value >> 16)) & mask)
    return state


def worker_loop(kind, dataset_payload, index_queue, result_queue, done_event, auto_collation, collate_fn, drop_last,
                base_seed, init_fn, worker_id, num_workers, shm_prefix):
    """Fetches the batches the main process asks for until it sends None (or dies)."""
    global _worker_info
    import pickle
    import queue
    import random

    import numpy as np

    import ferrograd
    from . import _shared_memory
    from ._fetch import create_fetcher
    ferrograd.set_num_threads(1)  # the workers are the parallelism; a thread team each would oversubscribe
    parent = os.getppid()
    seed = base_seed + worker_id
    random.seed(seed)
    ferrograd.manual_seed(seed)
    np.random.seed(numpy_seed(base_seed, worker_id))
    where = f"in DataLoader worker process {worker_id}"
    init_exception = None
    try:
        dataset = pickle.loads(dataset_payload)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last)
    except Exception:  # noqa: BLE001 (re-raised in the main process at the first batch)
        init_exception = ExceptionWrapper(where=where)
    iteration_end = False
    try:
        while True:
            try:
                request = index_queue.get(timeout=STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent:  # the main process died: nobody will read our batches
                    break
                continue
            if request is None:
                break
            if isinstance(request, ResumeIteration):
                iteration_end = False
                if init_exception is None:
                    fetcher = create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last)
                result_queue.put((request, None))
                continue
            if done_event.is_set() or iteration_end:
                continue
            idx, index = request
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if kind != "iterable":
                        data = ExceptionWrapper(where=where)
                    else:
                        data, iteration_end = IterableDatasetStopIteration(worker_id), True
                except Exception:  # noqa: BLE001
                    data = ExceptionWrapper(where=where)
            try:
                payload = _shared_memory.dumps(data, shm_prefix)
            except Exception:  # noqa: BLE001 (e.g. an unpicklable sample)
                payload = _shared_memory.dumps(ExceptionWrapper(where=where), shm_prefix)
            result_queue.put((idx, payload))
            del data, request
    except KeyboardInterrupt:  # the main process handles Ctrl-C
        pass
    finally:
        _worker_info = None
    if done_event.is_set():
        result_queue.cancel_join_thread()
        result_queue.close()
