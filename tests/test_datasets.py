"""ferrograd.datasets: the IDX reader, MNIST/FashionMNIST, the checked downloader (against a
loopback HTTP server) and the shipped digits."""
import contextlib
import functools
import gzip
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

import ferrograd as torch
from ferrograd.datasets import (MIRROR_ENV, Digits, FashionMNIST, IDXError, MNIST, load_digits, read_idx,
                                write_idx)
from ferrograd.utils.data import DataLoader

NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _fake_mnist(d, n_train=12, n_test=5, gz=True, seed=0):
    """Writes four small IDX files into d; returns the arrays."""
    rng = np.random.RandomState(seed)
    arrays = {
        NAMES[0]: rng.randint(0, 256, (n_train, 28, 28)).astype(np.uint8),
        NAMES[1]: (np.arange(n_train) % 10).astype(np.uint8),
        NAMES[2]: rng.randint(0, 256, (n_test, 28, 28)).astype(np.uint8),
        NAMES[3]: ((np.arange(n_test) * 3) % 10).astype(np.uint8),
    }
    os.makedirs(d, exist_ok=True)
    for name, arr in arrays.items():
        write_idx(os.path.join(d, name + (".gz" if gz else "")), arr)
    return arrays


def _idx_bytes(arr, code=0x08):
    return bytes([0, 0, code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape) + arr.tobytes()


# ---------------------------------------------------------------------------- IDX reader

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_plain_and_gz(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = _idx_bytes(arr)
    p = tmp_path / ("x.idx" + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(raw) if gz else raw)
    out = read_idx(p, expected_magic=2051)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4) and (out == arr).all()


def test_read_idx_big_endian_int32(tmp_path):
    arr = np.array([1, -2, 70000], dtype=">i4")
    p = tmp_path / "i.idx"
    p.write_bytes(_idx_bytes(arr, code=0x0C))
    assert read_idx(p).tolist() == [1, -2, 70000]


def test_read_idx_bad_magic(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x12\x34\x08\x03" + b"\0" * 40)
    with pytest.raises(IDXError, match="not an IDX file"):
        read_idx(p)
    labels = tmp_path / "labels"
    labels.write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(IDXError, match="wrong magic number 2049"):
        read_idx(labels, expected_magic=2051)


def test_read_idx_truncated_and_oversized(tmp_path):
    raw = _idx_bytes(np.zeros((4, 28, 28), np.uint8))
    p = tmp_path / "t"
    p.write_bytes(raw[:-10])
    with pytest.raises(IDXError, match="data size mismatch.*truncated"):
        read_idx(p)
    p.write_bytes(raw + b"extra")
    with pytest.raises(IDXError, match="data size mismatch"):
        read_idx(p)
    p.write_bytes(raw[:6])
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(p)
    p.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(IDXError, match="gzip"):
        read_idx(p)


# ---------------------------------------------------------------------------- MNIST

@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_files(tmp_path, gz):
    arrays = _fake_mnist(tmp_path, gz=gz)
    train = MNIST(tmp_path, train=True)
    test = MNIST(str(tmp_path), train=False)
    assert len(train) == 12 and len(test) == 5
    assert tuple(train.data.shape) == (12, 28, 28) and train.data.dtype == torch.float32
    assert train.targets.dtype == torch.int64 and train.targets.tolist() == arrays[NAMES[1]].tolist()
    img, label = train[3]
    assert tuple(img.shape) == (28, 28) and img.dtype == torch.float32
    assert np.allclose(img.numpy(), arrays[NAMES[0]][3] / 255.0) and label == 3
    assert test[4][1] == 2
    xb, yb = next(iter(DataLoader(train, batch_size=4)))
    assert tuple(xb.shape) == (4, 28, 28) and yb.tolist() == [0, 1, 2, 3]


def test_mnist_transforms_and_torchvision_layout(tmp_path):
    _fake_mnist(tmp_path / "FashionMNIST" / "raw")
    ds = FashionMNIST(tmp_path, transform=lambda x: x.reshape(1, 28, 28), target_transform=lambda y: y + 100)
    img, label = ds[1]
    assert tuple(img.shape) == (1, 28, 28) and label == 101
    assert ds.classes[0] == "T-shirt/top"


def test_mnist_missing_files_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="train-images-idx3-ubyte.*not found.*download=True"):
        MNIST(tmp_path)


def test_mnist_label_count_mismatch(tmp_path):
    _fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(IDXError, match="3 labels for 12 images"):
        MNIST(tmp_path)


def test_mnist_swapped_files_rejected(tmp_path):
    arrays = _fake_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", arrays[NAMES[1]])  # labels where images belong
    with pytest.raises(IDXError, match="magic"):
        MNIST(tmp_path)


# ---------------------------------------------------------------------------- downloader

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serve(directory):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _md5s(d):
    return {n + ".gz": hashlib.md5((d / (n + ".gz")).read_bytes()).hexdigest() for n in NAMES}


def test_download_from_mirror_with_checksums(tmp_path):
    served = tmp_path / "served"
    arrays = _fake_mnist(served)
    root = tmp_path / "root"
    with _serve(served) as url:
        ds = MNIST(root, train=True, download=True, mirror=url, md5=_md5s(served), progress=False)
    assert len(ds) == 12 and ds.targets.tolist() == arrays[NAMES[1]].tolist()
    raw = root / "MNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(n + ".gz" for n in NAMES)   # no temp files left
    assert MNIST(root, train=False).targets.tolist() == arrays[NAMES[3]].tolist()


def test_download_mirror_from_env_var(tmp_path, monkeypatch):
    served = tmp_path / "served"
    _fake_mnist(served, seed=1)
    with _serve(served) as url:
        monkeypatch.setenv(MIRROR_ENV, url)
        ds = MNIST(tmp_path / "root", download=True, md5=_md5s(served), progress=True)
    assert len(ds) == 12


def test_download_checksum_mismatch_refused(tmp_path):
    served = tmp_path / "served"
    _fake_mnist(served)
    md5 = _md5s(served)
    md5["train-labels-idx1-ubyte.gz"] = "0" * 32
    root = tmp_path / "root"
    with _serve(served) as url:
        with pytest.raises(RuntimeError, match="MD5 checksum mismatch.*train-labels-idx1-ubyte.gz"):
            MNIST(root, download=True, mirror=url, md5=md5, progress=False)
    left = os.listdir(root / "MNIST" / "raw")
    assert "train-labels-idx1-ubyte.gz" not in left
    assert not [f for f in left if f.endswith(".part")]          # the temporary file is gone


def test_download_default_checksums_reject_fake_files(tmp_path):
    # The published MNIST MD5s are used unless overridden: our fake files must not pass.
    served = tmp_path / "served"
    _fake_mnist(served)
    with _serve(served) as url:
        with pytest.raises(RuntimeError, match="MD5 checksum mismatch"):
            MNIST(tmp_path / "root", download=True, mirror=url, progress=False)


def test_download_missing_file_on_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    with _serve(served) as url:
        with pytest.raises(RuntimeError, match="could not download train-images-idx3-ubyte.gz.*404"):
            MNIST(tmp_path / "root", download=True, mirror=url, progress=False)


# ---------------------------------------------------------------------------- digits

def test_load_digits():
    x, y = load_digits()
    assert tuple(x.shape) == (1797, 64) and x.dtype == torch.float32
    assert tuple(y.shape) == (1797,) and y.dtype == torch.int64
    assert x.min().item() == 0 and x.max().item() == 16
    assert sorted(set(y.tolist())) == list(range(10))
    assert np.bincount(y.numpy()).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # the first image of the UCI file is a 0
    assert y[0].item() == 0 and x[0, :8].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]
    xs, _ = load_digits(scale=True)
    assert xs.max().item() == 1.0


def test_digits_split_deterministic_disjoint_stratified():
    tr, te = Digits(train=True), Digits(train=False)
    assert len(tr) + len(te) == 1797 and len(tr) == 1438
    x, y = load_digits()
    # train and test partition the 1797 rows (compare as multisets of (pixels, label) rows)
    rows = sorted(tuple(r) + (lab,) for r, lab in zip(x.tolist(), y.tolist()))
    parts = sorted([tuple(r) + (lab,) for r, lab in zip(tr.data.tolist(), tr.targets.tolist())]
                   + [tuple(r) + (lab,) for r, lab in zip(te.data.tolist(), te.targets.tolist())])
    assert rows == parts
    assert torch.equal(Digits(train=True).data, tr.data)
    img, label = te[0]
    assert tuple(img.shape) == (64,) and isinstance(label, int)
    counts = np.bincount(te.targets.numpy(), minlength=10)
    assert counts.min() >= 34 and counts.max() <= 37     # every class ~20% in the test part
    other = Digits(train=False, seed=1)
    assert not torch.equal(other.targets, te.targets) or not torch.equal(other.data, te.data)
    with pytest.raises(TypeError, match="no root directory is needed"):
        Digits("some/dir")
    t = Digits(train=True, transform=lambda v: v.reshape(1, 8, 8))
    assert tuple(t[0][0].shape) == (1, 8, 8)


def test_digits_file_ships_inside_package():
    import ferrograd.datasets as dsmod
    path = os.path.join(os.path.dirname(dsmod.__file__), "data", "digits.csv.gz")
    assert os.path.isfile(path)
    assert "shared" not in os.path.abspath(path).split(os.sep)
    with open(os.path.join(os.path.dirname(dsmod.__file__), "_digits.py")) as fh:
        assert "CC BY 4.0" in fh.read()
