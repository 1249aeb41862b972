"""The WGSL shaders run on their own through wgpu-py (no ferrograd._core): each file is
compiled as the Rust runtime assembles it (shaders/common.wgsl, shaders/op_codes.wgsl, the
file, joined by newlines), and a
few entry points run on small inputs with metadata words laid out as the Rust side writes
them (see the `info layout` comment at the top of each shader), against numpy. A failure here
is a shader bug; a failure only in tests/test_gpu.py is a dispatch bug.

Skipped when wgpu-py finds no adapter, unless FERROGRAD_REQUIRE_GPU=1 (as in CI, where Mesa's
lavapipe provides a software Vulkan adapter), in which case a missing adapter or a missing
wgpu-py (it is in the `test` extras) fails.
"""
import pathlib

import numpy as np
import pytest

from helpers import REQUIRE_GPU

SHADERS = pathlib.Path(__file__).resolve().parents[1] / "shaders"
WG = 256


def source(name):
    return "\n".join((SHADERS / f).read_text() for f in ("common.wgsl", "op_codes.wgsl", name))


@pytest.fixture(scope="module")
def wgpu():
    if REQUIRE_GPU:
        import wgpu
        return wgpu
    return pytest.importorskip("wgpu", reason="wgpu-py is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def device(wgpu):
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
        return adapter.request_device_sync()
    except Exception as e:
        if REQUIRE_GPU:
            pytest.fail(f"FERROGRAD_REQUIRE_GPU=1 but wgpu-py has no adapter: {e}")
        pytest.skip(f"wgpu-py has no adapter: {e}")


def run(wgpu, device, shader, entry, inputs, outputs, info, groups, constants=None):
    """One dispatch of `entry` with the Rust runtime's bind group layout: read-only `inputs`
    (numpy arrays, None for an unused binding), read-write outputs (byte sizes), then `info`.
    Returns the outputs' bytes as numpy uint8 arrays."""
    storage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
    dummy = np.zeros(4, np.uint32)
    bufs = [device.create_buffer_with_data(data=(dummy if x is None else np.ascontiguousarray(x)).tobytes(), usage=storage)
            for x in inputs]
    outs = [device.create_buffer(size=max(n, 4), usage=storage) for n in outputs]
    words = np.zeros(max(len(info), 4), np.uint32)
    words[:len(info)] = info
    info_buf = device.create_buffer_with_data(data=words.tobytes(), usage=storage)
    read_only = wgpu.BufferBindingType.read_only_storage
    kinds = [read_only] * len(bufs) + [wgpu.BufferBindingType.storage] * len(outs) + [read_only]
    layout = device.create_bind_group_layout(entries=[
        {"binding": i, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": t}} for i, t in enumerate(kinds)])
    pipeline = device.create_compute_pipeline(
        layout=device.create_pipeline_layout(bind_group_layouts=[layout]),
        compute={"module": device.create_shader_module(code=source(shader)), "entry_point": entry,
                 "constants": constants or {}})
    everything = bufs + outs + [info_buf]
    group = device.create_bind_group(layout=layout, entries=[
        {"binding": i, "resource": {"buffer": b, "offset": 0, "size": b.size}} for i, b in enumerate(everything)])
    encoder = device.create_command_encoder()
    compute = encoder.begin_compute_pass()
    compute.set_pipeline(pipeline)
    compute.set_bind_group(0, group)
    compute.dispatch_workgroups(*groups)
    compute.end()
    device.queue.submit([encoder.finish()])
    return [np.frombuffer(device.queue.read_buffer(o), np.uint8)[:n] for o, n in zip(outs, outputs)]


def elementwise_info(n, shape, operand_strides, out_strides, offsets=(0, 0, 0), out_offset=0, scalars=None):
    """elementwise.wgsl's info words; `scalars` maps an operand index to its float32 value."""
    info = np.zeros(56, np.uint32)
    info[0], info[1] = n, len(shape)
    for k, v in (scalars or {}).items():
        info[2] |= 1 << k
        info[6 + k] = np.float32(v).view(np.uint32)
    info[3:6] = offsets
    info[9] = out_offset
    info[16:16 + len(shape)] = shape
    for k, st in enumerate(operand_strides):
        info[24 + 8 * k:24 + 8 * k + len(st)] = st
    info[48:48 + len(out_strides)] = out_strides
    return info


def f32(raw):
    return raw.view(np.float32)


def test_every_shader_compiles(device):
    for f in sorted(SHADERS.glob("*.wgsl")):
        if f.name not in ("common.wgsl", "op_codes.wgsl"):
            device.create_shader_module(code=source(f.name))


@pytest.mark.parametrize("n", [1, 255, 1000, 3 * WG + 1])
def test_binary_add_contiguous(wgpu, device, n):
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    info = elementwise_info(n, [n], [[1], [1]], [1])
    (out,) = run(wgpu, device, "elementwise.wgsl", "binary_main", [a, b, None], [4 * n], info,
                 (-(-n // WG), 1, 1), {"OP": 0})
    np.testing.assert_array_equal(f32(out), a + b)


def test_binary_add_broadcast_offset_and_scalar(wgpu, device):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((30, 17)).astype(np.float32)
    row = rng.standard_normal(20).astype(np.float32)  # the operand starts at element 3
    info = elementwise_info(30 * 17, [30, 17], [[17, 1], [0, 1]], [17, 1], offsets=(0, 3, 0))
    (out,) = run(wgpu, device, "elementwise.wgsl", "binary_main", [a, row, None], [4 * a.size], info, (2, 1, 1), {"OP": 0})
    np.testing.assert_array_equal(f32(out).reshape(30, 17), a + row[3:])
    info = elementwise_info(a.size, [a.size], [[1], [0]], [1], scalars={1: 2.5})
    (out,) = run(wgpu, device, "elementwise.wgsl", "binary_main", [a, None, None], [4 * a.size], info, (2, 1, 1), {"OP": 2})
    np.testing.assert_array_equal(f32(out), a.ravel() * np.float32(2.5))


def test_unary_exp_of_transposed_view(wgpu, device):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 30)).astype(np.float32)
    # x.T (shape [30, 40], strides [1, 30]) written contiguously
    info = elementwise_info(x.size, [30, 40], [[1, 30]], [40, 1])
    (out,) = run(wgpu, device, "elementwise.wgsl", "unary_main", [x, None, None], [4 * x.size], info,
                 (-(-x.size // WG), 1, 1), {"OP": 2})
    np.testing.assert_allclose(f32(out).reshape(30, 40), np.exp(x.T), rtol=2e-6)


@pytest.mark.parametrize("op, fn", [(0, np.sum), (1, np.max), (2, np.min)])
def test_reduce_rows(wgpu, device, op, fn):
    rng = np.random.default_rng(3)
    rows, inner = 7, 1000
    x = rng.standard_normal((rows, inner)).astype(np.float32)
    info = np.zeros(32, np.uint32)
    info[:7] = [rows, inner, 1, inner, 1, 0, 1]  # one chunk per row, contiguous
    info[16], info[24] = rows * inner, 1
    (out,) = run(wgpu, device, "reduce.wgsl", "reduce_main", [x], [4 * rows], info, (rows, 1, 1), {"OP": op})
    np.testing.assert_allclose(f32(out), fn(x.astype(np.float64), axis=1), rtol=1e-5, atol=1e-4)


def test_reduce_strided_columns(wgpu, device):
    """Sum over dim 0 of a [300, 5] tensor: rows are columns, read through strides."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 5)).astype(np.float32)
    info = np.zeros(32, np.uint32)
    info[:7] = [5, 300, 1, 300, 2, 0, 0]
    info[16:18] = [5, 300]  # permuted shape: kept dim first
    info[24:26] = [1, 5]
    (out,) = run(wgpu, device, "reduce.wgsl", "reduce_main", [x], [4 * 5], info, (5, 1, 1), {"OP": 0})
    np.testing.assert_allclose(f32(out), x.astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("m, k, n, transpose_b", [(70, 33, 50, False), (1, 1, 1, False), (130, 65, 64, True)])
def test_matmul(wgpu, device, m, k, n, transpose_b):
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    stored_b, b_strides = (b.T.copy(), (1, k)) if transpose_b else (b, (n, 1))
    info = np.zeros(28, np.uint32)
    info[:11] = [m, n, k, 0, 0, 0, k, 1, b_strides[0], b_strides[1], 0]
    (out,) = run(wgpu, device, "matmul.wgsl", "matmul_main", [a, stored_b], [4 * m * n], info, (-(-n // 64), -(-m // 64), 1))
    np.testing.assert_allclose(f32(out).reshape(m, n), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("log", [0, 1])
def test_softmax_rows(wgpu, device, log):
    rng = np.random.default_rng(5)
    rows, length = 6, 300
    x = (rng.standard_normal((rows, length)) * 5).astype(np.float32)
    info = np.zeros(40, np.uint32)
    info[:6] = [rows, length, 1, 0, 1, 1]
    info[16], info[24], info[32] = rows, length, length
    (out,) = run(wgpu, device, "softmax.wgsl", "softmax_main", [x], [4 * x.size], info, (rows, 1, 1), {"OP": log})
    z = x.astype(np.float64) - x.max(1, keepdims=True)
    want = z - np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(f32(out).reshape(rows, length), want if log else np.exp(want), rtol=1e-5, atol=1e-6)
