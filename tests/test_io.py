"""ferrograd.save / ferrograd.load: safetensors checkpoints, nested structure, integrity, atomicity."""
import collections
import io
import json
import os
import pathlib
import struct

import numpy as np
import pytest
import safetensors.numpy as stn

import ferrograd as torch
import ferrograd._io as fio


def _state_dict():
    torch.manual_seed(0)
    return collections.OrderedDict([
        ("fc1.weight", torch.randn(4, 3)),
        ("fc1.bias", torch.randn(4)),
        ("fc2.weight", torch.randn(2, 4, dtype=torch.float64)),
        ("bn.num_batches_tracked", torch.tensor(7)),
        ("mask", torch.tensor([True, False, True])),
        ("empty", torch.zeros(0, 5)),
        ("scalar", torch.tensor(2.5)),
        ("transposed", torch.arange(6).reshape(2, 3).t()),   # non-contiguous view
    ])


def _assert_same(a, b):
    assert isinstance(b, torch.Tensor)
    assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
    assert a.tolist() == b.tolist()


def _optimizer_like():
    return {
        "state": {
            0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(4, 3), "exp_avg_sq": torch.rand(4, 3)},
            1: {"step": 5, "momentum_buffer": None},
        },
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                          "amsgrad": False, "maximize": False, "foreach": None, "name": "main",
                          "params": [0, 1], "max_lr": float("inf")}],
    }


# ---------------------------------------------------------------------------- round trips

def test_state_dict_round_trip(tmp_path):
    sd = _state_dict()
    path = tmp_path / "model.safetensors"
    torch.save(sd, path)
    out = torch.load(path)
    assert isinstance(out, collections.OrderedDict) and list(out) == list(sd)
    for k in sd:
        _assert_same(sd[k], out[k])


def test_readable_by_safetensors(tmp_path):
    sd = _state_dict()
    path = tmp_path / "m.safetensors"
    torch.save(sd, str(path))
    arrays = stn.load_file(str(path))
    assert set(arrays) == set(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(arrays[k], v.numpy())
        assert arrays[k].dtype == v.numpy().dtype
    from safetensors import safe_open
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "pt" and "ferrograd.sha256" in meta and "ferrograd.structure" in meta


def test_nested_optimizer_state_round_trip(tmp_path):
    obj = _optimizer_like()
    path = tmp_path / "opt.safetensors"
    torch.save(obj, path)
    assert set(stn.load_file(str(path))) == {"state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq"}
    out = torch.load(path)
    assert list(out["state"]) == [0, 1]                         # int keys survive
    _assert_same(obj["state"][0]["exp_avg"], out["state"][0]["exp_avg"])
    _assert_same(obj["state"][0]["step"], out["state"][0]["step"])
    assert out["state"][1] == {"step": 5, "momentum_buffer": None}
    g = out["param_groups"][0]
    assert g["betas"] == (0.9, 0.999) and isinstance(g["betas"], tuple)
    assert g["lr"] == 1e-3 and g["eps"] == 1e-8 and g["max_lr"] == float("inf")
    assert g["amsgrad"] is False and g["foreach"] is None and g["name"] == "main" and g["params"] == [0, 1]


def test_colliding_names_and_shared_tensors(tmp_path):
    t = torch.ones(2)
    obj = {"a.b": torch.zeros(1), "a": {"b": torch.ones(1)}, "tied1": t, "tied2": t}
    torch.save(obj, tmp_path / "c")
    out = torch.load(tmp_path / "c")
    assert out["a.b"].tolist() == [0.0] and out["a"]["b"].tolist() == [1.0]
    assert out["tied1"] is out["tied2"]
    assert len(stn.load_file(str(tmp_path / "c"))) == 3


def test_single_tensor_and_misc_values(tmp_path):
    torch.save(torch.arange(5), tmp_path / "t")
    assert torch.load(tmp_path / "t").tolist() == [0, 1, 2, 3, 4]
    obj = {"shape": torch.Size([2, 3]), "dtype": torch.float64, "nan": float("nan"), "list": [1, "x", None]}
    torch.save(obj, tmp_path / "m")
    out = torch.load(tmp_path / "m")
    assert out["shape"] == torch.Size([2, 3]) and out["dtype"] == torch.float64
    assert out["nan"] != out["nan"] and out["list"] == [1, "x", None]


def test_parameters_and_requires_grad(tmp_path):
    p = torch.nn.Parameter(torch.randn(3))
    r = torch.randn(2, requires_grad=True)
    torch.save({"p": p, "r": r}, tmp_path / "p")
    out = torch.load(tmp_path / "p")
    assert isinstance(out["p"], torch.nn.Parameter) and out["p"].requires_grad
    assert out["r"].requires_grad and out["r"].tolist() == r.tolist()


def test_file_objects_and_pathlike(tmp_path):
    sd = _state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    out = torch.load(buf)
    _assert_same(sd["fc1.weight"], out["fc1.weight"])
    with open(tmp_path / "f", "wb") as fh:
        torch.save(sd, fh)
    with open(tmp_path / "f", "rb") as fh:
        _assert_same(sd["mask"], torch.load(fh)["mask"])
    torch.save(sd, pathlib.Path(tmp_path) / "g")
    _assert_same(sd["scalar"], torch.load(os.fspath(tmp_path / "g"))["scalar"])


def test_map_location(tmp_path):
    sd = _state_dict()
    torch.save(sd, tmp_path / "m")
    for loc in ("cpu", torch.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        _assert_same(sd["fc1.bias"], torch.load(tmp_path / "m", map_location=loc)["fc1.bias"])
    _assert_same(sd["fc1.bias"], torch.load(tmp_path / "m", map_location="cpu", weights_only=True)["fc1.bias"])


def test_unsupported_objects_refused(tmp_path):
    class Model:
        pass

    with pytest.raises(TypeError, match="state_dict"):
        torch.save({"model": Model()}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        torch.load("/nonexistent/dir/ckpt.safetensors")


# ---------------------------------------------------------------------------- files from other tools

def test_loads_foreign_safetensors(tmp_path):
    arrays = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": np.array([1.5, -2.25]),
        "i64": np.array([[1, -2], [3, 4]], dtype=np.int64),
        "b": np.array([True, False]),
    }
    path = str(tmp_path / "foreign.safetensors")
    stn.save_file(arrays, path, metadata={"format": "np"})
    out = torch.load(path)
    assert set(out) == set(arrays)
    assert out["f32"].dtype == torch.float32 and out["f32"].tolist() == arrays["f32"].tolist()
    assert out["f64"].dtype == torch.float64 and out["f64"].tolist() == [1.5, -2.25]
    assert out["i64"].dtype == torch.int64 and out["i64"].tolist() == [[1, -2], [3, 4]]
    assert out["b"].dtype == torch.bool and out["b"].tolist() == [True, False]


def test_foreign_dtypes_keep_their_dtype(tmp_path):
    arrays = {"h": np.array([0.5, -1.0], dtype=np.float16), "i32": np.array([7, -8], dtype=np.int32),
              "u8": np.array([0, 255], dtype=np.uint8), "i8": np.array([-3], dtype=np.int8)}
    path = tmp_path / "narrow.safetensors"
    stn.save_file(arrays, str(path))
    out = torch.load(path)
    assert out["h"].dtype == torch.float16 and out["h"].tolist() == [0.5, -1.0]
    assert out["i32"].dtype == torch.int32 and out["i32"].tolist() == [7, -8]
    assert out["u8"].dtype == torch.uint8 and out["u8"].tolist() == [0, 255]
    assert out["i8"].dtype == torch.int8 and out["i8"].tolist() == [-3]


def test_bfloat16_file(tmp_path):
    vals = np.array([1.0, -2.5, 0.15625], dtype=np.float32)
    bf16 = (vals.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    header += b" " * (-len(header) % 8)
    (tmp_path / "bf").write_bytes(struct.pack("<Q", len(header)) + header + bf16)
    out = torch.load(tmp_path / "bf")
    assert out["w"].dtype == torch.bfloat16 and out["w"].tolist() == vals.tolist()


# ---------------------------------------------------------------------------- integrity

def _saved_bytes(tmp_path, obj=None):
    path = tmp_path / "ok.safetensors"
    torch.save(obj if obj is not None else _state_dict(), path)
    return path.read_bytes()


def test_truncated_files_refused(tmp_path):
    raw = _saved_bytes(tmp_path)
    bad = tmp_path / "bad.safetensors"
    for cut in sorted({0, 3, 8, 9, 20, len(raw) // 2, len(raw) - 17, len(raw) - 1}):
        bad.write_bytes(raw[:cut])
        with pytest.raises(RuntimeError, match="bad.safetensors"):
            torch.load(bad)


def test_bit_flip_in_tensor_data_refused(tmp_path):
    raw = bytearray(_saved_bytes(tmp_path))
    raw[-3] ^= 0x10                         # inside the last tensor's bytes
    bad = tmp_path / "flip.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match=r"flip\.safetensors.*SHA-256 checksum mismatch"):
        torch.load(bad)


def test_every_single_bit_flip_is_refused_or_harmless(tmp_path):
    obj = {"w": torch.arange(6).float().reshape(2, 3), "step": 3, "b": torch.tensor([True])}
    raw = _saved_bytes(tmp_path, obj)
    bad = tmp_path / "b"
    refused = 0
    for i in range(len(raw)):
        flipped = bytearray(raw)
        flipped[i] ^= 1 << (i % 8)
        bad.write_bytes(bytes(flipped))
        try:
            out = torch.load(bad)
        except RuntimeError as e:
            assert str(bad) in str(e)
            refused += 1
            continue
        # a flip the loader accepts must not change what is loaded (e.g. in "format": "pt")
        assert set(out) == set(obj) and out["step"] == 3
        assert out["w"].tolist() == obj["w"].tolist() and out["b"].tolist() == [True]
    assert refused > len(raw) * 0.8


def test_safetensors_errors_become_runtime_errors(tmp_path):
    p = tmp_path / "junk"
    p.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(RuntimeError, match="junk.*not valid JSON"):
        torch.load(p)
    p.write_bytes(struct.pack("<Q", 2 ** 40) + b"{}")
    with pytest.raises(RuntimeError, match="truncated"):
        torch.load(p)


# ---------------------------------------------------------------------------- atomic writes

def _leftovers(d, keep):
    return sorted(f for f in os.listdir(d) if f not in keep)


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    torch.save({"v": torch.tensor([1.0])}, path)
    before = path.read_bytes()

    real_fdopen = os.fdopen

    class Exploding:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[: len(data) // 2])      # half of it reaches the disk, then failure
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(fio.os, "fdopen", lambda fd, mode="r", *a, **k: Exploding(real_fdopen(fd, mode, *a, **k)))
    with pytest.raises(OSError, match="No space left"):
        torch.save({"v": torch.randn(1000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert torch.load(path)["v"].tolist() == [1.0]
    assert _leftovers(tmp_path, {"ckpt.safetensors"}) == []


def test_failed_fsync_or_rename_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "new.safetensors"

    def boom(*a, **k):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(fio.os, "fsync", boom)
    with pytest.raises(OSError):
        torch.save({"v": torch.ones(3)}, path)
    monkeypatch.undo()
    assert not path.exists() and _leftovers(tmp_path, set()) == []

    monkeypatch.setattr(fio.os, "replace", boom)
    with pytest.raises(OSError):
        torch.save({"v": torch.ones(3)}, path)
    monkeypatch.undo()
    assert not path.exists() and _leftovers(tmp_path, set()) == []


def test_overwrite_replaces_atomically(tmp_path):
    path = tmp_path / "x.safetensors"
    torch.save({"v": torch.zeros(2)}, path)
    torch.save({"v": torch.ones(3)}, path)
    assert torch.load(path)["v"].tolist() == [1.0, 1.0, 1.0]
    assert _leftovers(tmp_path, {"x.safetensors"}) == []


def test_malformed_headers_refused(tmp_path):
    p = tmp_path / "hdr"
    for header in ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}},
                   {"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}},
                   {"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
                   {"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 4]}},
                   {"w": [1, 2]},
                   {"__metadata__": {"x": 1}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                   [1, 2, 3]):
        h = json.dumps(header).encode()
        p.write_bytes(struct.pack("<Q", len(h)) + h + b"\0\0\0\0")
        with pytest.raises(RuntimeError, match="hdr"):
            torch.load(p)


def test_training_checkpoint_resume_with_real_modules(tmp_path):
    nn, optim = torch.nn, torch.optim

    def make():
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        return model, optim.Adam(model.parameters(), lr=1e-2)

    def step(model, opt, x):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()

    torch.manual_seed(2)
    xs = [torch.randn(5, 3) for _ in range(4)]
    model, opt = make()
    for x in xs[:3]:
        step(model, opt, x)
    path = tmp_path / "ckpt.safetensors"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    assert "optimizer.state.0.exp_avg" in stn.load_file(str(path))

    model2, opt2 = make()
    ckpt = torch.load(path)
    assert ckpt["epoch"] == 3
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    step(model, opt, xs[3])
    step(model2, opt2, xs[3])
    for a, b in zip(model.parameters(), model2.parameters()):
        assert a.tolist() == b.tolist()
