"""keras.random, keras.utils and keras.datasets.mnist: seeding rules, distributions, label
encoding, and the MNIST loader on IDX folders and npz files (corrupt files named)."""
import os

import numpy as np
import pytest

import ferrograd as torch
from ferrograd import keras
from ferrograd.datasets import write_idx
from helpers import np_of


def pytest_generate_tests(metafunc):
    metafunc.parametrize("on_device", ["cpu", "gpu"], indirect=True)


def test_int_seeds_are_stateless_and_generators_advance(on_device):
    a = keras.random.normal((4, 5), seed=3)
    assert a.device.type == on_device
    np.testing.assert_array_equal(np_of(a), np_of(keras.random.normal((4, 5), seed=3)))
    assert not np.array_equal(np_of(a), np_of(keras.random.normal((4, 5), seed=4)))
    g1, g2 = keras.random.SeedGenerator(7), keras.random.SeedGenerator(7)
    first, second = keras.random.uniform((6,), seed=g1), keras.random.uniform((6,), seed=g1)
    assert not np.array_equal(np_of(first), np_of(second))
    np.testing.assert_array_equal(np_of(first), np_of(keras.random.uniform((6,), seed=g2)))
    assert g1.next() != g1.next()


def test_set_random_seed_makes_unseeded_draws_repeat():
    keras.utils.set_random_seed(11)
    a = (np_of(keras.random.normal((3,))), np.random.rand(), keras.random.SeedGenerator().next())
    keras.utils.set_random_seed(11)
    b = (np_of(keras.random.normal((3,))), np.random.rand(), keras.random.SeedGenerator().next())
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]
    with pytest.raises(ValueError, match="integer"):
        keras.utils.set_random_seed(1.5)


def test_distributions_have_the_asked_moments_and_ranges(on_device):
    n = keras.random.normal((20000,), mean=2.0, stddev=0.5, seed=1)
    assert abs(float(n.mean()) - 2.0) < 0.02 and abs(float(n.std()) - 0.5) < 0.02
    u = np_of(keras.random.uniform((20000,), minval=-1.0, maxval=3.0, seed=1))
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.05
    r = np_of(keras.random.randint((20000,), 2, 5, seed=1))
    assert set(np.unique(r)) == {2, 3, 4}
    t = np_of(keras.random.truncated_normal((20000,), stddev=2.0, seed=1))
    assert np.abs(t).max() <= 4.0 and abs(t.std() - 2.0 * 0.8796) < 0.05  # std of N(0,1) cut at +-2
    if on_device == "cpu":
        assert keras.random.normal((2,), dtype="float64").dtype == torch.float64
    else:
        with pytest.raises(NotImplementedError, match="float64"):
            keras.random.normal((2,), dtype="float64")
    with pytest.raises(ValueError, match="integer `dtype`"):
        keras.random.randint((2,), 0, 3, dtype="float32")
    with pytest.raises(ValueError, match="SeedGenerator"):
        keras.random.normal((2,), seed="abc")


def test_shuffle_dropout_categorical(on_device):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    s = np_of(keras.random.shuffle(x, seed=2))
    assert sorted(map(tuple, s)) == sorted(map(tuple, x)) and not np.array_equal(s, x)
    d = np_of(keras.random.dropout(np.ones((400, 50), np.float32), 0.3, seed=1))
    assert set(np.unique(d)) == {0.0, np.float32(1 / 0.7)} and abs((d == 0).mean() - 0.3) < 0.01
    shared = np_of(keras.random.dropout(np.ones((4, 50), np.float32), 0.5, noise_shape=(1, None), seed=1))
    assert (shared == shared[0]).all()
    with pytest.raises(ValueError, match="rate"):
        keras.random.dropout(np.ones(3, np.float32), 1.0)
    probs = np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]], np.float32)
    picks = np_of(keras.random.categorical(np.log(probs + 1e-12), 4000, seed=1))
    assert picks.shape == (2, 4000) and (picks[1] == 2).all() and abs((picks[0] == 1).mean() - 0.8) < 0.03


def test_dropout_keeps_gradients():
    x = torch.ones(3, 4, requires_grad=True)
    y = keras.random.dropout(x, 0.5, seed=0)
    y.sum().backward()
    np.testing.assert_array_equal(np_of(x.grad), np_of(y))


def test_to_categorical_as_keras():
    out = keras.utils.to_categorical([0, 2, 1])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]])
    assert keras.utils.to_categorical(np.array([[1], [3]]), num_classes=5).shape == (2, 5)
    assert keras.utils.to_categorical(np.zeros((2, 3), int), 4).shape == (2, 3, 4)
    t = keras.utils.to_categorical(torch.tensor([1, 0]), 3)
    assert isinstance(t, torch.Tensor) and np.array_equal(np_of(t), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        keras.utils.to_categorical([0, 5], 3)
    np.testing.assert_allclose(keras.utils.normalize(np.array([[3.0, 4.0]])), [[0.6, 0.8]])


def _fake_mnist(folder, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    data = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), images)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), labels)
        data[prefix] = (images, labels)
    return data


def test_mnist_from_idx_folder_and_npz(tmp_path, monkeypatch):
    data = _fake_mnist(str(tmp_path))
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=str(tmp_path))
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8 and x_train.shape == (5, 28, 28)
    np.testing.assert_array_equal(x_train, data["train"][0])
    np.testing.assert_array_equal(y_test, data["t10k"][1])
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    (xt, _), (_, yt) = keras.datasets.mnist.load_data(path=str(npz))
    np.testing.assert_array_equal(xt, x_train)
    np.testing.assert_array_equal(yt, y_test)
    # A relative path is looked up in $KERAS_HOME/datasets; missing files there are fetched and
    # cached as the npz (here from a local mirror of the IDX files, gzip-compressed as served).
    import gzip
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in os.listdir(tmp_path):
        if name.endswith("ubyte"):
            (mirror / (name + ".gz")).write_bytes(gzip.compress((tmp_path / name).read_bytes()))
    monkeypatch.setenv("FERROGRAD_MNIST_MIRROR", mirror.as_uri() + "/")
    monkeypatch.setattr("ferrograd.datasets.MNIST.resources", [(n, None) for n, _ in torch.datasets.MNIST.resources])
    (xc, _), _ = keras.datasets.mnist.load_data(path="cached.npz")
    np.testing.assert_array_equal(xc, x_train)
    cached = tmp_path / "home" / "datasets" / "cached.npz"
    assert cached.is_file() and not [p for p in os.listdir(cached.parent) if p.endswith(".part")]
    np.testing.assert_array_equal(keras.datasets.mnist.load_data(path="cached.npz")[1][1], y_test)


def test_mnist_bad_files_are_named(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="broken.npz"):
        keras.datasets.mnist.load_data(path=str(bad))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"wrong.npz: not a Keras MNIST npz file: missing \['y_train'"):
        keras.datasets.mnist.load_data(path=str(wrong))
    floats = tmp_path / "floats.npz"
    np.savez(floats, x_train=np.zeros((2, 28, 28)), y_train=np.zeros(2, np.uint8), x_test=np.zeros((1, 28, 28), np.uint8),
             y_test=np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="floats.npz: not MNIST data: x_train float64"):
        keras.datasets.mnist.load_data(path=str(floats))
