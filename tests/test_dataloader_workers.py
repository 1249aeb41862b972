"""DataLoader(num_workers > 0): worker processes with PyTorch's semantics — the batches of
num_workers=0 in the same order, seeding, get_worker_info, IterableDataset sharding, errors
carried back, killed and slow workers, persistent workers, tensors through shared memory."""
import os
import pickle
import random
import time

import numpy as np
import pytest

import ferrograd as torch
from ferrograd.utils.data import DataLoader, TensorDataset, get_worker_info
from ferrograd.utils.data import _shared_memory, _worker
import helpers
from loader_datasets import Failing, KillsItself, Shards, Slow, Squares, WhoLoads, mark_init


def batches_of(loader):
    return [[np.asarray(x.numpy() if isinstance(x, torch.Tensor) else x).tolist() for x in batch] for batch in loader]


def shm_files(prefix=""):
    return [f for f in os.listdir(_shared_memory.SHM_DIR) if f.startswith("ferrograd-loader-" + prefix)]


def test_same_batches_in_the_same_order_as_in_process_loading():
    data = Squares(23)

    def run(**kw):
        return [batches_of(DataLoader(data, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(5), **kw))
                for _ in range(1)]

    def two_epochs(**kw):
        torch.manual_seed(3)
        loader = DataLoader(data, batch_size=4, shuffle=True, **kw)
        return [batches_of(loader) for _ in range(2)]

    assert run(num_workers=2) == run(num_workers=0)
    in_process = two_epochs(num_workers=0)
    assert in_process[0] != in_process[1]                                # a new order every epoch
    assert two_epochs(num_workers=2, persistent_workers=True) == in_process
    assert two_epochs(num_workers=2, prefetch_factor=1, pin_memory=True) == in_process
    assert two_epochs(num_workers=2, multiprocessing_context="fork") == in_process   # allowed when asked for


def test_worker_info_seeds_and_init_fn():
    assert get_worker_info() is None
    torch.manual_seed(7)
    loader = DataLoader(WhoLoads(), batch_size=None, num_workers=2, worker_init_fn=mark_init)
    samples = list(loader)
    assert [s["index"] for s in samples] == list(range(8))
    assert [s["id"] for s in samples] == [0, 1] * 4                      # indices handed out round-robin
    assert all(s["num_workers"] == 2 and s["info_dataset_is_self"] for s in samples)
    assert [s["init"] for s in samples[:2]] == ["initialised 0", "initialised 1"]
    base = samples[0]["seed"]
    assert samples[1]["seed"] == base + 1 and samples[0]["pid"] != samples[1]["pid"] != os.getpid()
    for worker_id in (0, 1):
        mine = [s for s in samples if s["id"] == worker_id]
        random.seed(base + worker_id)
        np.random.seed(_worker.numpy_seed(base, worker_id))
        torch.manual_seed(base + worker_id)
        assert [s["random"] for s in mine] == [random.random() for _ in mine]
        assert [s["numpy"] for s in mine] == [float(np.random.random()) for _ in mine]
        assert [s["torch"] for s in mine] == [torch.rand(1).item() for _ in mine]


def test_numpy_worker_seed_matches_pytorch():
    # the values of torch.utils.data._utils.worker._generate_state for these arguments
    assert _worker.numpy_seed(12345, 0) == [1617105738, 966875728, 3978802469, 1788008128]
    assert _worker.numpy_seed(2 ** 40 + 7, 1) == [1152389008, 3270329042, 2442107819, 4106971920]


def test_in_order_false_yields_every_batch():
    batches = list(DataLoader(Slow(), batch_size=None, num_workers=2, in_order=False))
    assert batches[-1] == 2 and sorted(batches) == [0, 1, 2, 3]     # the slow sample 2 comes last


def test_iterable_dataset_split_by_worker_info():
    assert [b.tolist() for b in DataLoader(Shards(10), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    batches = [b.tolist() for b in DataLoader(Shards(10), batch_size=3, num_workers=2)]
    # worker 0 holds 0..4, worker 1 holds 5..9; batches alternate between them, each ends short
    assert batches == [[0, 1, 2], [5, 6, 7], [3, 4], [8, 9]]
    assert [b.tolist() for b in DataLoader(Shards(10), batch_size=3, num_workers=2, drop_last=True)] == [[0, 1, 2], [5, 6, 7]]


@pytest.mark.parametrize("exc", [ValueError("bad sample 3"), KeyError("missing 3")])
def test_worker_exception_reraised_with_type_worker_id_and_traceback(exc):
    loader = DataLoader(Failing(exc), batch_size=2, num_workers=2)
    with pytest.raises(type(exc)) as info:
        list(loader)
    message = str(info.value)
    assert f"Caught {type(exc).__name__} in DataLoader worker process 1" in message   # batch [2, 3] went to worker 1
    assert "Original Traceback (most recent call last):" in message
    assert "in raise_in_dataset" in message and "raise exc" in message and exc.args[0] in message


def test_killed_worker_raises_runtime_error_naming_it():
    start = time.time()
    with pytest.raises(RuntimeError, match=r"worker 1 \(pid \d+, killed by signal SIGKILL\)"):
        list(DataLoader(KillsItself(), batch_size=2, num_workers=2))
    assert time.time() - start < 60                # not a hang (spawning two workers included)


def test_timeout():
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.5 seconds"):
        list(DataLoader(Slow(), batch_size=None, num_workers=2, timeout=0.5))


def test_persistent_workers_keep_their_processes():
    loader = DataLoader(WhoLoads(), batch_size=None, num_workers=2, persistent_workers=True)
    first = {s["pid"] for s in loader}
    it = iter(loader)
    next(it)                                      # an epoch abandoned half-way ...
    second = [s["index"] for s in loader]         # ... and the next one starts cleanly
    assert second == list(range(8))
    assert {s["pid"] for s in loader} == first and len(first) == 2


def test_tensors_cross_through_shared_memory_without_pickling_their_data():
    prefix = _shared_memory.new_prefix()
    big = torch.arange(250_000, dtype=torch.float32).reshape(500, 500)
    payload = _shared_memory.dumps({"x": big, "y": [torch.tensor([1, 2]), "label"]}, prefix)
    assert len(payload) < 1000                    # 1 MB of floats, a few hundred bytes pickled
    assert len(shm_files(os.path.basename(prefix)[len("ferrograd-loader-"):])) == 2
    out = pickle.loads(payload)
    assert shm_files(os.path.basename(prefix)[len("ferrograd-loader-"):]) == []     # unlinked once mapped
    np.testing.assert_array_equal(out["x"].numpy(), big.numpy())
    assert out["y"][0].dtype == torch.int64 and out["y"][0].tolist() == [1, 2] and out["y"][1] == "label"
    out["x"][0, 0] = -1.0                         # a normal, writable tensor that owns the mapping
    assert out["x"][0, 0].item() == -1.0 and big[0, 0].item() == 0.0


def test_loader_leaves_no_shared_memory_behind():
    before = set(shm_files())
    data = TensorDataset(torch.arange(40.0).reshape(20, 2), torch.arange(20))
    loader = DataLoader(data, batch_size=3, num_workers=2)
    batches = list(loader)
    assert [b[1].tolist() for b in batches] == [list(range(i, min(i + 3, 20))) for i in range(0, 20, 3)]
    np.testing.assert_array_equal(batches[1][0].numpy(), [[6, 7], [8, 9], [10, 11]])
    # Other processes (a concurrent test run) may remove their own files meanwhile: only new ones count.
    assert set(shm_files()) <= before
    it = iter(loader)
    next(it)
    del it                                        # abandoned with batches in flight
    assert set(shm_files()) <= before


@helpers.needs_gpu
def test_gpu_tensors_do_not_cross_processes():
    with pytest.raises(RuntimeError, match="on gpu.*move batches to the GPU in the main process"):
        _shared_memory.dumps(torch.zeros(2, device="gpu"), _shared_memory.new_prefix())


def test_argument_checks():
    data = Squares()
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        DataLoader(data, prefetch_factor=2)
    with pytest.raises(ValueError, match="prefetch_factor option should be non-negative"):
        DataLoader(data, num_workers=1, prefetch_factor=-1)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(data, persistent_workers=True)
    with pytest.raises(ValueError, match="valid start method"):
        DataLoader(data, num_workers=1, multiprocessing_context="teleport")
    with pytest.raises(ValueError, match="num_workers > 0"):
        DataLoader(data, multiprocessing_context="spawn")
    with pytest.raises(TypeError, match="valid context object"):
        DataLoader(data, num_workers=1, multiprocessing_context=3)
    loader = DataLoader(data, batch_size=6, num_workers=2)
    assert loader.prefetch_factor == 2 and len(loader) == 4 and len(iter(loader)) == 4
