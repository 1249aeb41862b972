"""DataLoader worker processes: samples per second through a dataset whose `__getitem__` spends
about 1 ms in a pure-Python loop (the kind of decoding/augmenting work workers exist for),
batches of BATCH, with num_workers 0 and 2 (persistent workers, warmed up by one epoch, so
start-up is not counted). `track_two_worker_speedup` runs both in one process, epochs interleaved, and
returns the throughput ratio; the target on a 2-core machine is at least 1.7."""
import time

from ferrograd.utils.data import DataLoader, Dataset

ITEMS = 256
BATCH = 8
WORKERS = 2
ROUNDS = 5
# ~1 ms of a CPython 3.11 loop on the project's 2-core machine (0.6 ms for 20,000)
LOOP = 33_000


class BusyDataset(Dataset):
    def __init__(self, items, loop):
        self.items, self.loop = items, loop

    def __len__(self):
        return self.items

    def __getitem__(self, index):
        total = 0
        for i in range(self.loop):
            total += i
        return float(index), total


def _loader(num_workers):
    kw = dict(num_workers=num_workers, persistent_workers=True) if num_workers else {}
    loader = DataLoader(BusyDataset(ITEMS, LOOP), batch_size=BATCH, **kw)
    for _ in loader:  # warm-up: starts the workers
        pass
    return loader


def _samples_per_second(loader):
    start = time.perf_counter()
    count = sum(len(index) for index, _ in loader)
    return count / (time.perf_counter() - start)


class DataLoaderWorkers:
    params = [[0, WORKERS]]
    param_names = ["num_workers"]

    def setup(self, num_workers):
        self.loader = _loader(num_workers)

    def teardown(self, num_workers):
        del self.loader

    def track_samples_per_second(self, num_workers):
        return _samples_per_second(self.loader)
    track_samples_per_second.unit = "samples/s"


def track_two_worker_speedup():
    """Throughput with WORKERS workers over throughput with none: epochs of the two loaders
    alternate ROUNDS times (so both see the same machine load), best epoch of each."""
    loaders = [_loader(0), _loader(WORKERS)]
    rates = [[], []]
    for _ in range(ROUNDS):
        for rate, loader in zip(rates, loaders):
            rate.append(_samples_per_second(loader))
    return max(rates[1]) / max(rates[0])
track_two_worker_speedup.unit = "x"
