"""float16, bfloat16, int32, int16, int8 and uint8: names, PyTorch's promotion table, casts,
arithmetic (16-bit floats computed in float32, narrow integers wrapping), reductions, matmul,
conv, autograd, numpy interop and checkpoints, on both devices (conftest runs this module on
the CPU and the GPU). References: numpy (which has every dtype but bfloat16) and a bfloat16
rounding written out below."""
import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F
import helpers


def on(t):
    """`t` on the device this run tests."""
    return t.to(helpers.DEVICE)

FLOAT16S = [torch.float16, torch.bfloat16]
NARROW_INTS = [torch.uint8, torch.int8, torch.int16, torch.int32]


def bf16_round(a):
    """float32 values rounded to bfloat16 (nearest, ties to even), as float32."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32)
    out = rounded.view(np.float32)
    return np.where(np.isnan(a), np.float32(np.nan), out)


def rounded(a, dtype):
    """float32 values `a` rounded to `dtype` (a 16-bit float), as float32."""
    a = np.asarray(a, np.float32)
    with np.errstate(over="ignore"):
        return a.astype(np.float16).astype(np.float32) if dtype is torch.float16 else bf16_round(a)


def host(t):
    """The values of `t` as a numpy array (16-bit floats as float32, narrow integers as int64)."""
    t = t.cpu()
    return t.float().numpy() if t.dtype.is_floating_point else t.long().numpy()


# PyTorch's promoteTypes table (c10/core/ScalarType.cpp) over ferrograd's dtypes.
_CODES = {"u1": torch.uint8, "i1": torch.int8, "i2": torch.int16, "i4": torch.int32, "i8": torch.int64,
          "f2": torch.float16, "f4": torch.float32, "f8": torch.float64, "b1": torch.bool, "bf": torch.bfloat16}
_ORDER = ["u1", "i1", "i2", "i4", "i8", "f2", "f4", "f8", "b1", "bf"]
_TABLE = """
u1 i2 i2 i4 i8 f2 f4 f8 u1 bf
i2 i1 i2 i4 i8 f2 f4 f8 i1 bf
i2 i2 i2 i4 i8 f2 f4 f8 i2 bf
i4 i4 i4 i4 i8 f2 f4 f8 i4 bf
i8 i8 i8 i8 i8 f2 f4 f8 i8 bf
f2 f2 f2 f2 f2 f2 f4 f8 f2 f4
f4 f4 f4 f4 f4 f4 f4 f8 f4 f4
f8 f8 f8 f8 f8 f8 f8 f8 f8 f8
u1 i1 i2 i4 i8 f2 f4 f8 b1 bf
bf bf bf bf bf f4 f4 f8 bf bf
"""


@pytest.mark.cpu_only("names and legacy type strings (device-independent)")
def test_names_aliases_and_methods():
    assert (torch.half, torch.int, torch.short, torch.char, torch.byte, torch.long) == (
        torch.float16, torch.int32, torch.int16, torch.int8, torch.uint8, torch.int64)
    x = torch.tensor([1.7, -2.2])
    assert [x.half().dtype, x.bfloat16().dtype, x.int().dtype, x.short().dtype, x.char().dtype, x.byte().dtype] == [
        torch.float16, torch.bfloat16, torch.int32, torch.int16, torch.int8, torch.uint8]
    assert x.to(torch.int16).tolist() == [1, -2]
    assert x.half().type() == "torch.HalfTensor" and x.bfloat16().type() == "torch.BFloat16Tensor"
    assert torch.IntTensor([1, 2]).dtype is torch.int32 and torch.ByteTensor([3]).dtype is torch.uint8
    assert repr(torch.tensor([1, 2], dtype=torch.int32)) == "tensor([1, 2], dtype=torch.int32)"
    assert repr(torch.tensor([1.5], dtype=torch.float16)) == "tensor([1.5000], dtype=torch.float16)"
    assert torch.float16.itemsize == 2 and torch.uint8.is_signed is False and torch.int8.is_signed


def test_promotion_table_is_pytorchs():
    rows = [r.split() for r in _TABLE.strip().splitlines()]
    for i, a in enumerate(_ORDER):
        for j, b in enumerate(_ORDER):
            want = _CODES[rows[i][j]]
            assert torch.promote_types(_CODES[a], _CODES[b]) is want, (a, b)
            x, y = torch.ones(2, dtype=_CODES[a]), torch.ones(2, dtype=_CODES[b])
            if _CODES[a] is torch.bool and _CODES[b] is torch.bool:
                continue
            if helpers.DEVICE == "gpu" and torch.float64 in (_CODES[a], _CODES[b]):
                continue  # the GPU has no float64 kernels
            assert (x + y).dtype is want, (a, b)


def test_promotion_with_numbers_and_zero_dim():
    i32, f16 = torch.ones(2, dtype=torch.int32), torch.ones(2, dtype=torch.float16)
    assert (i32 + 1).dtype is torch.int32 and (i32 * 2.5).dtype is torch.float32
    assert (f16 * 2.5).dtype is torch.float16 and (f16 + torch.tensor(1.0, dtype=torch.float64, device="cpu")).dtype is torch.float16
    assert (torch.ones(2, dtype=torch.uint8) + torch.tensor(1000)).dtype is torch.uint8
    assert (i32 + torch.tensor(1.0)).dtype is torch.float32
    assert torch.result_type(i32, 1.0) is torch.float32 and torch.result_type(f16, i32) is torch.float16
    assert torch.can_cast(torch.int32, torch.float16) and not torch.can_cast(torch.float16, torch.int32)


def test_float_to_16_bit_casts_round_to_nearest_even():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(0, 100, 2000), rng.normal(0, 1e-5, 500), [65504, 65520, 1e6, -1e6, 6e-8, 3e-8, 0.0, -0.0,
                                                                               np.inf, -np.inf, 1 + 2 ** -11, 1 + 3 * 2 ** -11]]).astype(np.float32)
    for dtype in FLOAT16S:
        got = host(on(torch.from_numpy(a)).to(dtype))
        np.testing.assert_array_equal(got, rounded(a, dtype))
        np.testing.assert_array_equal(host(on(torch.from_numpy(a).to(dtype)).float()), rounded(a, dtype))
        assert np.isnan(host(on(torch.tensor([np.nan])).to(dtype))).all()
    # float64 and int64 go through float32 first, as PyTorch's c10::Half(float) does.
    np.testing.assert_array_equal(torch.tensor([1 + 2 ** -30], dtype=torch.float64, device="cpu").half().double().numpy(), [1.0])
    assert torch.tensor([2 ** 24 + 1]).bfloat16().long().item() == 2 ** 24


@pytest.mark.parametrize("dtype", NARROW_INTS)
def test_integer_casts_wrap_as_numpy(dtype):
    a = np.array([0, 1, -1, 127, 128, 255, 256, -129, 2 ** 31, -2 ** 31 - 1, 2 ** 40 + 5], np.int64)
    got = on(torch.from_numpy(a)).to(dtype)
    assert got.dtype is dtype
    np.testing.assert_array_equal(host(got), a.astype(dtype._np).astype(np.int64))
    # Floats truncate toward zero.
    assert torch.tensor([2.9, -2.9]).to(dtype).tolist() == ([2, 254] if dtype is torch.uint8 else [2, -2])


_INT_OPS = {
    "add": (lambda a, b: a + b, np.add), "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply), "floor_divide": (lambda a, b: a // b, np.floor_divide),
    "remainder": (lambda a, b: a % b, np.remainder), "bitwise_and": (lambda a, b: a & b, np.bitwise_and),
    "bitwise_xor": (lambda a, b: a ^ b, np.bitwise_xor), "maximum": (torch.maximum, np.maximum),
}


@pytest.mark.parametrize("dtype", NARROW_INTS)
@pytest.mark.parametrize("name", sorted(_INT_OPS))
def test_integer_arithmetic_wraps_as_pytorch(dtype, name):
    info = np.iinfo(dtype._np)
    rng = np.random.default_rng(1)
    a = rng.integers(info.min, info.max, 300, endpoint=True).astype(dtype._np)
    b = rng.integers(info.min, info.max, 300, endpoint=True).astype(dtype._np)
    b[b == 0] = 3
    if name in ("floor_divide", "remainder") and info.min < 0:
        b[b == -1] = 5  # numpy's MIN // -1 is platform-defined
    ours, ref = _INT_OPS[name]
    got = ours(on(torch.from_numpy(a)), on(torch.from_numpy(b)))
    assert got.dtype is dtype
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(host(got), ref(a, b).astype(np.int64))


def test_integer_unary_reductions_and_division_by_zero():
    x = torch.tensor([-128, -3, 0, 5, 127], dtype=torch.int8)
    assert (-x).tolist() == [-128, 3, 0, -5, -127] and (-x).dtype is torch.int8
    assert x.abs().tolist() == [-128, 3, 0, 5, 127]
    assert x.sum().dtype is torch.int64 and x.sum().item() == 1
    assert x.max().dtype is torch.int8 and x.argmax().item() == 4
    assert x.cumsum(0).dtype is torch.int64
    assert (x.float() / 2).dtype is torch.float32 and (x / 2).dtype is torch.float32
    assert x.sqrt().dtype is torch.float32
    assert torch.tensor([200, 100], dtype=torch.uint8).sort().values.tolist() == [100, 200]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        torch.tensor([5], dtype=torch.int32) // torch.tensor([0], dtype=torch.int32)
    with pytest.raises(NotImplementedError, match="Char"):
        torch.tensor([1], dtype=torch.int8).frac()


_FLOAT_OPS = {
    "add": (lambda a, b: a + b, np.add), "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide), "exp": (lambda a, b: a.exp(), lambda a, b: np.exp(a)),
    "tanh": (lambda a, b: a.tanh(), lambda a, b: np.tanh(a)), "sqrt": (lambda a, b: a.abs().sqrt(), lambda a, b: np.sqrt(np.abs(a))),
    "sigmoid": (lambda a, b: a.sigmoid(), lambda a, b: 1 / (1 + np.exp(-a))),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: np.abs(a) ** b),
}


@pytest.mark.parametrize("dtype", FLOAT16S)
@pytest.mark.parametrize("name", sorted(_FLOAT_OPS))
def test_16_bit_float_ops_compute_in_float32_and_round_once(dtype, name):
    rng = np.random.default_rng(2)
    a = rounded(rng.uniform(-3, 3, 500), dtype)
    b = rounded(rng.uniform(0.5, 2, 500), dtype)
    ours, ref = _FLOAT_OPS[name]
    got = ours(on(torch.from_numpy(a).to(dtype)), on(torch.from_numpy(b).to(dtype)))
    assert got.dtype is dtype
    want = rounded(ref(a.astype(np.float64), b.astype(np.float64)), dtype)
    # Within one unit in the last place of the 16-bit result (the float32 kernels are within
    # a few float32 ulp, which can move a result that sits on a rounding boundary).
    ulp = 2.0 ** -10 if dtype is torch.float16 else 2.0 ** -7
    np.testing.assert_allclose(host(got), want, rtol=ulp, atol=1e-6)


@pytest.mark.parametrize("dtype", FLOAT16S)
def test_16_bit_reductions_accumulate_in_float32(dtype):
    a = np.full(4096, 0.1, np.float32)
    x = on(torch.from_numpy(a).to(dtype))
    # In the 16-bit type the running sum would stall far below 409.6.
    assert x.sum().dtype is dtype
    np.testing.assert_allclose(x.sum().float().item(), rounded(rounded(a, dtype).sum(), dtype), rtol=1e-6)
    np.testing.assert_allclose(x.mean().float().item(), rounded(rounded(a, dtype).mean(), dtype), rtol=1e-6)
    y = torch.randn(5, 7).to(dtype)
    np.testing.assert_array_equal(host(F.softmax(y, 1)), rounded(host(F.softmax(y.float(), 1)), dtype))


@pytest.mark.parametrize("dtype", FLOAT16S)
def test_16_bit_matmul_and_conv_accumulate_in_float32(dtype):
    torch.manual_seed(0)
    a, b = torch.randn(64, 300).to(dtype), torch.randn(300, 40).to(dtype)
    want = rounded(host(a) @ host(b), dtype)
    got = (a @ b)
    assert got.dtype is dtype
    np.testing.assert_allclose(host(got), want, rtol=2 ** -7, atol=1e-2)
    x, w = torch.randn(2, 3, 9, 9).to(dtype), torch.randn(4, 3, 3, 3).to(dtype)
    got = F.conv2d(x, w, padding=1)
    want = rounded(host(F.conv2d(x.float(), w.float(), padding=1)), dtype)
    assert got.dtype is dtype
    np.testing.assert_allclose(host(got), want, rtol=2 ** -7, atol=1e-2)


@pytest.mark.parametrize("dtype", FLOAT16S)
def test_16_bit_autograd_matches_float32_rounded(dtype):
    torch.manual_seed(1)
    model32 = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model16 = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model16.load_state_dict(model32.state_dict())
    model16.to(dtype)
    for p16, p32 in zip(model16.parameters(), model32.parameters()):
        with torch.no_grad():
            p32.copy_(p16.float())
    x = torch.randn(5, 6).to(dtype)
    target = torch.tensor([0, 2, 1, 1, 0])
    loss16 = F.cross_entropy(model16(x), target)
    loss32 = F.cross_entropy(model32(x.float()), target)
    loss16.backward()
    loss32.backward()
    assert loss16.dtype is dtype
    tol = 2e-2 if dtype is torch.bfloat16 else 3e-3
    np.testing.assert_allclose(loss16.float().item(), loss32.item(), rtol=tol)
    for p16, p32 in zip(model16.parameters(), model32.parameters()):
        assert p16.grad.dtype is dtype
        np.testing.assert_allclose(host(p16.grad), host(p32.grad), rtol=tol * 4, atol=tol)
    # An optimizer steps 16-bit parameters in place, in their dtype.
    before = [p.detach().clone() for p in model16.parameters()]
    torch.optim.Adam(model16.parameters(), lr=0.1).step()
    for p, b in zip(model16.parameters(), before):
        assert p.dtype is dtype and not torch.equal(p.detach(), b)


def test_creation_with_every_dtype():
    for dtype in FLOAT16S + NARROW_INTS:
        assert torch.zeros(2, 3, dtype=dtype).dtype is dtype
        assert torch.full((2,), 7, dtype=dtype).tolist() == [7, 7]
        assert torch.arange(5, dtype=dtype).tolist() == [0, 1, 2, 3, 4]
        assert torch.randint(0, 100, (50,), dtype=dtype).dtype is dtype
    for dtype in FLOAT16S:
        r = torch.randn(1000, dtype=dtype)
        assert r.dtype is dtype and 0.8 < r.float().std().item() < 1.2
    with pytest.raises(RuntimeError, match="uint8_t without overflow"):
        torch.full((2,), 256, dtype=torch.uint8)
    with pytest.raises(RuntimeError, match="int8_t without overflow"):
        torch.full((2,), -129, dtype=torch.int8)
    with pytest.raises(RuntimeError, match="Half without overflow"):
        torch.full((2,), 1e6, dtype=torch.float16)
    assert torch.full((1,), float("inf"), dtype=torch.float16).item() == float("inf")


@pytest.mark.cpu_only("no tensors")
def test_iinfo_and_finfo():
    assert (torch.iinfo(torch.int8).min, torch.iinfo(torch.int8).max, torch.iinfo(torch.uint8).max) == (-128, 127, 255)
    assert torch.iinfo(torch.int32).bits == 32 and torch.iinfo(torch.int).max == 2 ** 31 - 1
    assert torch.finfo(torch.float16).eps == 2 ** -10 and torch.finfo(torch.float16).max == 65504.0
    assert torch.finfo(torch.bfloat16).eps == 2 ** -7 and torch.finfo(torch.bfloat16).tiny == 2 ** -126
    assert torch.finfo(torch.bfloat16).max == float(np.array([0x7F7F0000], np.uint32).view(np.float32)[0])
    assert torch.finfo(torch.float16).resolution == 0.001 and torch.finfo().dtype == "float32"
    with pytest.raises(TypeError):
        torch.iinfo(torch.float16)
    with pytest.raises(TypeError):
        torch.finfo(torch.int32)


@pytest.mark.cpu_only("numpy shares host memory")
@pytest.mark.parametrize("np_dtype", [np.float16, np.int32, np.int16, np.int8, np.uint8])
def test_numpy_interop_shares_memory(np_dtype):
    a = np.arange(6, dtype=np_dtype).reshape(2, 3)
    t = torch.from_numpy(a)
    assert t.dtype.name == np.dtype(np_dtype).name
    a[0, 0] = 5
    assert t[0, 0].item() == 5
    back = t.numpy()
    assert back.dtype == np_dtype and np.shares_memory(back, a)
    assert torch.tensor(a).dtype.name == np.dtype(np_dtype).name


@pytest.mark.cpu_only("numpy shares host memory")
def test_bfloat16_numpy_through_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    t = torch.tensor([1.5, -2.25, 3.0]).bfloat16()
    arr = t.numpy()
    assert arr.dtype == ml_dtypes.bfloat16 and arr.astype(np.float32).tolist() == [1.5, -2.25, 3.0]
    back = torch.from_numpy(np.array([0.5, 7.0], dtype=ml_dtypes.bfloat16))
    assert back.dtype is torch.bfloat16 and back.tolist() == [0.5, 7.0]


@pytest.mark.cpu_only("checkpoints hold host copies")
def test_checkpoints_store_every_dtype_natively(tmp_path):
    import json
    import struct
    state = {"h": torch.randn(3).half(), "b": torch.randn(2, 2).bfloat16(), "i": torch.arange(4, dtype=torch.int32),
             "s": torch.tensor([-7], dtype=torch.int16), "c": torch.tensor([-3], dtype=torch.int8),
             "u": torch.tensor([255, 0], dtype=torch.uint8)}
    path = tmp_path / "m.safetensors"
    torch.save(state, path)
    raw = path.read_bytes()
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    assert {k: header[k]["dtype"] for k in state} == {"h": "F16", "b": "BF16", "i": "I32", "s": "I16", "c": "I8", "u": "U8"}
    loaded = torch.load(path)
    for k, t in state.items():
        assert loaded[k].dtype is t.dtype and torch.equal(loaded[k], t), k
    # Other tools read the same values (numpy has no bfloat16: check its bits).
    from safetensors.numpy import load
    header_only = {k: v for k, v in state.items() if k != "b"}
    path2 = tmp_path / "n.safetensors"
    torch.save(header_only, path2)
    arrays = load(path2.read_bytes())
    for k, t in header_only.items():
        assert arrays[k].dtype.name == t.dtype.name
        np.testing.assert_array_equal(arrays[k], t.numpy())
    bits = np.frombuffer(raw[8 + struct.unpack("<Q", raw[:8])[0]:], np.uint8)
    b_begin, b_end = header["b"]["data_offsets"]
    want = (state["b"].float().numpy().view(np.uint32) >> 16).astype("<u2").reshape(-1)
    np.testing.assert_array_equal(bits[b_begin:b_end].view("<u2"), want)


def test_writes_into_strided_views_of_packed_memory():
    """On the GPU the 8- and 16-bit dtypes are packed into words: writes into strided views
    must leave the neighbours in a word alone (the CPU holds them unpacked: the reference)."""
    for dtype in FLOAT16S + NARROW_INTS:
        ref = torch.arange(37, device="cpu").to(dtype)
        x = on(ref.clone())
        for index, value in ((slice(None, None, 3), 9), (slice(1, 30, 7), 5), (slice(2, 5), 4), (36, 1)):
            x[index] = value
            ref[index] = value
        assert x.dtype is dtype and torch.equal(x.cpu(), ref), dtype
        grid, ref2 = on(torch.zeros(5, 6, dtype=dtype)), torch.zeros(5, 6, dtype=dtype, device="cpu")
        grid.t()[1:4, ::2] = on(torch.ones(3, 3, dtype=torch.int64))
        ref2.t()[1:4, ::2] = 1
        assert torch.equal(grid.cpu(), ref2), dtype
        # A transposed, offset view read back.
        assert torch.equal(grid.t()[1:].contiguous().cpu(), ref2.t()[1:].contiguous()), dtype


def test_in_place_ops_and_cross_dtype_copies():
    for dtype in FLOAT16S + NARROW_INTS:
        x = on(torch.arange(6).to(dtype))
        x.add_(1)
        x[2:4].mul_(2)
        want = torch.arange(6, device="cpu").to(dtype) + 1
        want[2:4] *= 2
        assert torch.equal(x.cpu(), want), dtype
        y = on(torch.zeros(6, dtype=torch.float32))
        y.copy_(x)
        assert torch.equal(y.cpu(), want.float()), dtype
        z = on(torch.zeros(6, dtype=dtype))
        z.copy_(on(torch.tensor([0.5, 1.5, 2.5, -1.0, 300.0, 7.0])))
        assert torch.equal(z.cpu(), torch.tensor([0.5, 1.5, 2.5, -1.0, 300.0, 7.0], device="cpu").to(dtype)), dtype
