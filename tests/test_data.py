"""ferrograd.utils.data: datasets, samplers, DataLoader, default_collate, random_split."""
import collections
import warnings

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.utils.data as data
from ferrograd.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, Generator,
                                  IterableDataset, RandomSampler, SequentialSampler, Subset,
                                  SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                                  default_collate, random_split)


def _ds(n=10):
    return TensorDataset(torch.arange(n).float().reshape(n, 1) * 10, torch.arange(n))


def _order(loader):
    return [int(v) for _, yb in loader for v in yb.tolist()]


# ---------------------------------------------------------------------------- datasets

def test_tensor_dataset_indexing_and_len():
    ds = _ds(5)
    assert len(ds) == 5
    x, y = ds[3]
    assert x.tolist() == [30.0] and y.item() == 3
    x, y = ds[-1]
    assert y.item() == 4


def test_tensor_dataset_size_mismatch():
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(torch.zeros(3, 2), torch.zeros(4))


def test_subset_and_concat():
    ds = _ds(6)
    sub = Subset(ds, [5, 0, 2])
    assert len(sub) == 3 and sub[0][1].item() == 5 and sub[2][1].item() == 2
    cat = ConcatDataset([ds, sub])
    assert len(cat) == 9
    assert cat[6][1].item() == 5 and cat[-1][1].item() == 2 and cat[5][1].item() == 5
    with pytest.raises(IndexError):
        cat[9]
    both = ds + sub
    assert isinstance(both, ConcatDataset) and len(both) == 9


def test_base_dataset_is_abstract():
    with pytest.raises(NotImplementedError):
        Dataset()[0]


# ---------------------------------------------------------------------------- DataLoader basics

def test_batching_sequential():
    loader = DataLoader(_ds(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    xb, yb = batches[0]
    assert tuple(xb.shape) == (4, 1) and xb.dtype == torch.float32
    assert yb.tolist() == [0, 1, 2, 3] and yb.dtype == torch.int64
    assert batches[-1][1].tolist() == [8, 9]


def test_drop_last():
    loader = DataLoader(_ds(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(yb) for _, yb in loader] == [4, 4]
    assert len(DataLoader(_ds(8), batch_size=4, drop_last=True)) == 2


def test_iterating_twice_gives_everything_both_times():
    loader = DataLoader(_ds(7), batch_size=3)
    assert _order(loader) == list(range(7))
    assert _order(loader) == list(range(7))


def test_shuffle_reproducible_with_seeded_generator():
    a = DataLoader(_ds(50), batch_size=8, shuffle=True, generator=Generator().manual_seed(123))
    b = DataLoader(_ds(50), batch_size=8, shuffle=True, generator=Generator().manual_seed(123))
    ea1, ea2 = _order(a), _order(a)
    eb1, eb2 = _order(b), _order(b)
    assert ea1 == eb1 and ea2 == eb2           # same seed -> same orders, epoch by epoch
    assert sorted(ea1) == list(range(50))      # a permutation
    assert ea1 != list(range(50))              # actually shuffled
    assert ea1 != ea2                          # a new order each epoch
    c = DataLoader(_ds(50), batch_size=8, shuffle=True, generator=Generator().manual_seed(124))
    assert _order(c) != ea1


def test_shuffle_follows_global_seed():
    torch.manual_seed(7)
    first = _order(DataLoader(_ds(30), batch_size=4, shuffle=True))
    torch.manual_seed(7)
    again = _order(DataLoader(_ds(30), batch_size=4, shuffle=True))
    assert first == again and sorted(first) == list(range(30))


def test_generator_api():
    g = Generator()
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    state = g.get_state()
    p1 = g._randperm(20).tolist()
    g.set_state(state)
    assert g._randperm(20).tolist() == p1


def test_batch_size_none_disables_batching():
    loader = DataLoader([np.float32(1.5), np.float32(2.5)], batch_size=None)
    items = list(loader)
    assert len(loader) == 2 and isinstance(items[0], torch.Tensor) and items[0].shape == ()
    with pytest.raises(ValueError):
        DataLoader(_ds(), batch_size=None, drop_last=True)


def test_option_conflicts():
    ds = _ds()
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 2, False), batch_size=4)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)


def test_sampler_and_batch_sampler_arguments():
    ds = _ds(10)
    loader = DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 6])
    assert [yb.tolist() for _, yb in loader] == [[9, 8, 7], [6]]
    bs = BatchSampler(SequentialSampler(range(5)), 2, drop_last=False)
    loader = DataLoader(ds, batch_sampler=bs)
    assert len(loader) == 3 and [yb.tolist() for _, yb in loader] == [[0, 1], [2, 3], [4]]


def test_custom_collate_fn():
    loader = DataLoader(_ds(4), batch_size=2, collate_fn=lambda batch: len(batch))
    assert list(loader) == [2, 2]


def test_iterable_dataset():
    class Stream(IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    loader = DataLoader(Stream(7), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(loader) == 3
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(3), shuffle=True)


# ---------------------------------------------------------------------------- collate

def test_collate_numbers():
    f = default_collate([1.5, 2.0])
    assert f.dtype == torch.float64 and f.tolist() == [1.5, 2.0]
    i = default_collate([1, 2, 3])
    assert i.dtype == torch.int64 and i.tolist() == [1, 2, 3]
    b = default_collate([True, False])
    assert b.dtype == torch.bool and b.tolist() == [True, False]
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_collate_numpy():
    batch = [np.ones((2, 3), dtype=np.float32), np.zeros((2, 3), dtype=np.float32)]
    out = default_collate(batch)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 2, 3) and out.dtype == torch.float32
    assert out[0].sum().item() == 6 and out[1].sum().item() == 0
    d = default_collate([np.zeros(2, dtype=np.float64)] * 3)
    assert d.dtype == torch.float64 and tuple(d.shape) == (3, 2)
    s = default_collate([np.float64(1.0), np.float64(2.0)])
    assert s.dtype == torch.float64 and s.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_collate_tensors_stack():
    out = default_collate([torch.ones(2), torch.zeros(2)])
    assert tuple(out.shape) == (2, 2) and out.tolist() == [[1, 1], [0, 0]]


def test_collate_dicts_tuples_lists_namedtuples():
    batch = [{"x": torch.ones(3), "y": 1, "name": "a"}, {"x": torch.zeros(3), "y": 2, "name": "b"}]
    out = default_collate(batch)
    assert set(out) == {"x", "y", "name"}
    assert tuple(out["x"].shape) == (2, 3) and out["y"].tolist() == [1, 2] and out["name"] == ["a", "b"]

    out = default_collate([(torch.ones(2), 0), (torch.zeros(2), 1)])
    assert isinstance(out, list) and len(out) == 2           # tuples collate to a list, as in PyTorch
    assert tuple(out[0].shape) == (2, 2) and out[1].tolist() == [0, 1]

    out = default_collate([[1, 2.5], [3, 4.5]])
    assert isinstance(out, list) and out[0].tolist() == [1, 3] and out[1].dtype == torch.float64

    Point = collections.namedtuple("Point", ["x", "y"])
    out = default_collate([Point(1, torch.ones(1)), Point(2, torch.zeros(1))])
    assert isinstance(out, Point) and out.x.tolist() == [1, 2] and tuple(out.y.shape) == (2, 1)

    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])


def test_dataloader_collates_dict_samples():
    class D(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"img": np.full((2, 2), i, dtype=np.float32), "label": i}

    batches = list(DataLoader(D(), batch_size=2))
    assert len(batches) == 3
    assert tuple(batches[0]["img"].shape) == (2, 2, 2) and batches[1]["label"].tolist() == [2, 3]


# ---------------------------------------------------------------------------- samplers

def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = Generator().manual_seed(0)
    r = list(RandomSampler(range(20), generator=g))
    assert sorted(r) == list(range(20)) and r != list(range(20))
    r2 = list(RandomSampler(range(5), replacement=True, num_samples=12, generator=g))
    assert len(r2) == 12 and all(0 <= i < 5 for i in r2)
    sub = list(SubsetRandomSampler([10, 20, 30, 40], generator=g))
    assert sorted(sub) == [10, 20, 30, 40]
    w = list(WeightedRandomSampler([0.0, 0.0, 1.0], 6, generator=g))
    assert w == [2] * 6
    assert list(BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, drop_last=False)) == 3
    assert len(BatchSampler(range(7), 3, drop_last=True)) == 2
    with pytest.raises(ValueError):
        BatchSampler(range(7), 0, drop_last=False)


# ---------------------------------------------------------------------------- random_split

def test_random_split_lengths():
    ds = _ds(10)
    a, b = random_split(ds, [7, 3], generator=Generator().manual_seed(1))
    assert len(a) == 7 and len(b) == 3
    ids = sorted([a[i][1].item() for i in range(7)] + [b[i][1].item() for i in range(3)])
    assert ids == list(range(10))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [5, 4])


def test_random_split_fractions_and_reproducible():
    ds = list(range(11))
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=Generator().manual_seed(3))
    assert [len(p) for p in parts] == [6, 3, 2]   # floor(5.5, 3.3, 2.2) = 5, 3, 2, remainder to the first
    again = random_split(ds, [0.5, 0.3, 0.2], generator=Generator().manual_seed(3))
    assert [list(p) for p in parts] == [list(p) for p in again]
    other = random_split(ds, [0.5, 0.3, 0.2], generator=Generator().manual_seed(4))
    assert [list(p) for p in parts] != [list(p) for p in other]
    assert sorted(sum((list(p) for p in parts), [])) == ds


def test_random_split_zero_length_warns():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        parts = random_split(list(range(2)), [0.9, 0.1], generator=Generator().manual_seed(0))
    assert [len(p) for p in parts] == [2, 0]
    assert any("Length of split at index 1 is 0" in str(x.message) for x in w)


def test_module_import_forms():
    assert data.DataLoader is DataLoader and data.TensorDataset is TensorDataset
    from ferrograd.utils.data import DataLoader as DL, TensorDataset as TD  # noqa: F401
    assert DL is DataLoader and TD is TensorDataset
