"""Datasets for tests/test_dataloader_workers.py. They live apart from the test module so that a
spawned worker, which imports the module that defines its dataset, imports only this (not
pytest, nor the test helpers, which probe the GPU at import)."""
import os
import random
import signal
import time

import numpy as np

import ferrograd as torch
from ferrograd.utils.data import Dataset, IterableDataset, get_worker_info


class Squares(Dataset):
    def __init__(self, n=20):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor([float(i), float(i * i)]), i


class WhoLoads(Dataset):
    """Each sample says which worker loaded it, with what seed, and the worker's random draws."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"index": i, "id": info.id, "num_workers": info.num_workers, "seed": info.seed,
                "info_dataset_is_self": info.dataset is self,
                "pid": os.getpid(), "init": os.environ.get("FERROGRAD_TEST_INIT", ""),
                "random": random.random(), "numpy": float(np.random.random()), "torch": torch.rand(1).item()}


def mark_init(worker_id):
    os.environ["FERROGRAD_TEST_INIT"] = f"initialised {worker_id}"


class Shards(IterableDataset):
    """0..n-1, each worker yielding its contiguous share (PyTorch's documented recipe)."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        per = -(-self.n // info.num_workers)
        return iter(range(info.id * per, min(self.n, (info.id + 1) * per)))


class Failing(Dataset):
    def __init__(self, exc):
        self.exc = exc

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            raise_in_dataset(self.exc)
        return i


def raise_in_dataset(exc):
    raise exc


class KillsItself(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return i


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(2 if i == 2 else 0)
        return i
