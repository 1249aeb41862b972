"""GPU tensors larger than one storage binding, against numpy.

Each test runs its checks in a subprocess whose GPU device is opened with
FERROGRAD_GPU_MAX_BINDING_BYTES=262144 (256 KiB, requested from the device, so wgpu enforces
it as a real limit) on tensors several times that size: element-wise ops on contiguous,
strided and broadcast operands, casts, fills and copies into strided views, reductions,
softmax, matmul, transfers both ways, gradients; and the clear NotImplementedError of an op
that does not split its tensors across bindings.

Skipped when no GPU adapter is found, unless FERROGRAD_REQUIRE_GPU=1 (then a missing adapter
fails), as in tests/test_gpu.py.
"""
import os
import subprocess
import sys
import textwrap


from helpers import needs_gpu

LIMIT = 256 * 1024

pytestmark = needs_gpu

PRELUDE = f"""
import numpy as np
import ferrograd as torch
import ferrograd.nn.functional as F

LIMIT = {LIMIT}
G = "gpu"
rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def close(got, want, rtol=1e-5, atol=1e-5):
    assert got.device.type == "gpu", got.device
    got = got.detach().cpu().numpy()
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
"""


def run_limited(code, limit=LIMIT):
    """Runs PRELUDE + `code` in a fresh interpreter with the binding size lowered to `limit`."""
    env = dict(os.environ, FERROGRAD_GPU_MAX_BINDING_BYTES=str(limit))
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    p = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"exit code {p.returncode}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}"
    return p.stdout


def test_transfers_round_trip():
    run_limited("""
        x = randn(300_001)                      # 1.2 MB, not a multiple of 256
        t = torch.tensor(x).to(G)
        assert t.numel() * 4 > 4 * LIMIT
        np.testing.assert_array_equal(t.cpu().numpy(), x)
        # int64 (8-byte elements) and bool
        i = rng.integers(-2**40, 2**40, size=200_003)
        np.testing.assert_array_equal(torch.tensor(i).to(G).cpu().numpy(), i)
        b = rng.random(300_007) > 0.5
        np.testing.assert_array_equal(torch.tensor(b).to(G).cpu().numpy(), b)
        # a strided view comes back through a chunked copy
        m = randn(700, 450)
        np.testing.assert_array_equal(torch.tensor(m).to(G).t().cpu().numpy(), m.T)
        np.testing.assert_array_equal(torch.tensor(m).to(G)[::3, 1::2].cpu().numpy(), m[::3, 1::2])
        np.testing.assert_array_equal(torch.tensor(i).to(G)[::2].cpu().numpy(), i[::2])
    """)


def test_elementwise_contiguous_strided_broadcast():
    run_limited("""
        a, b, row, col = randn(700, 450), randn(700, 450), randn(450), randn(700, 1)
        ga, gb, grow, gcol = (torch.tensor(v).to(G) for v in (a, b, row, col))
        close(ga + gb, a + b)
        close(ga * grow, a * row)                 # broadcast row
        close(gcol - ga, col - a)                 # broadcast column
        close(ga.t() * gb.t(), (a * b).T)          # transposed views
        close(ga.t() + ga.t().contiguous(), 2 * a.T)
        close(torch.exp(ga), np.exp(a), rtol=2e-6)
        close(ga * 2.5 + 1, a * 2.5 + 1)            # Python scalars
        close(ga[::2, ::3].sin(), np.sin(a[::2, ::3]), atol=2e-6)
        close(torch.where(ga > gb, ga, grow), np.where(a > b, a, row))
        close(ga.t().contiguous(), a.T)
        # a size-1 operand against a large one, and a large result of two small operands
        close(torch.tensor(row[:1]).to(G) + ga, row[:1] + a)
        close(torch.tensor(col).to(G) * grow, col * row)
        # casts and int64
        close(ga.to(torch.int64), a.astype(np.int64))
        close((ga > 0).to(torch.float32), (a > 0).astype(np.float32))
        ia = rng.integers(-1000, 1000, size=(700, 450))
        gi = torch.tensor(ia).to(G)
        close(gi + gi.t().t(), 2 * ia)
        close(gi.t().contiguous(), ia.T)
        close(gi < 3, ia < 3)
        close(gi.to(torch.float32), ia.astype(np.float32))
    """)


def test_fill_and_copy_into_views():
    run_limited("""
        close(torch.full((300_001,), 3.5, device=G), np.full(300_001, 3.5, np.float32))
        close(torch.zeros(500, 400, device=G), np.zeros((500, 400), np.float32))
        close(torch.ones(300_000, dtype=torch.int64, device=G), np.ones(300_000, np.int64))
        a, c = randn(700, 450), randn(500, 700)
        g = torch.tensor(a).to(G)
        g[:, ::2] = torch.tensor(c).to(G).t()[:, 1:451:2]   # strided source and destination
        a[:, ::2] = c.T[:, 1:451:2]
        close(g, a)
        g[:, 1::2] = 7
        a[:, 1::2] = 7
        close(g, a)
        g.t()[3:] = torch.tensor(randn(450)).to(G)[:447, None] * 0 - 1
        a.T[3:] = -1
        close(g, a)
        g.copy_(torch.tensor(a[::-1].copy()).to(G))
        close(g, a[::-1])
        g.add_(1.0)
        close(g, a[::-1] + 1)
    """)


def test_reductions():
    run_limited("""
        a = randn(700, 450)
        ga = torch.tensor(a).to(G)
        a64 = a.astype(np.float64)
        close(ga.sum(), a64.sum(), rtol=1e-5, atol=1e-2)
        close(ga.sum(0), a64.sum(0), rtol=1e-5, atol=1e-3)
        close(ga.sum(1, keepdim=True), a64.sum(1, keepdims=True), rtol=1e-5, atol=1e-3)
        close(ga.t().sum(0), a64.sum(1), rtol=1e-5, atol=1e-3)
        close(ga.mean(), a64.mean(), atol=1e-6)
        close(ga.amax(), a.max())
        close(ga.amin(0), a.min(0))
        close(ga.t().amax(1), a.max(0))
        close(ga[::2].sum(1), a64[::2].sum(1), atol=1e-3)
        # a result larger than one binding (over the short dim of a wide tensor)
        w = randn(3, 100_000)
        close(torch.tensor(w).to(G).sum(0), w.astype(np.float64).sum(0), atol=1e-5)
        close(torch.tensor(w).to(G).amax(0), w.max(0))
        # 3-d, reduced over the outer and inner dims
        c = randn(6, 300, 200)
        close(torch.tensor(c).to(G).sum((0, 2)), c.astype(np.float64).sum((0, 2)), atol=1e-3)
        # an empty slice of a large buffer
        close(ga[:, :0].sum(1), np.zeros(700, np.float32))
        close(ga[:0].amax(1), np.zeros(0, np.float32))
        # int64, exact (values past 2^32)
        i = rng.integers(-2 ** 40, 2 ** 40, size=(600, 150))
        gi = torch.tensor(i).to(G)
        assert gi.sum().item() == int(i.sum()) and gi.sum(0).cpu().tolist() == i.sum(0).tolist()
        assert gi.t().amax(1).cpu().tolist() == i.max(0).tolist() and gi[::3].amin(1).cpu().tolist() == i[::3].min(1).tolist()
        # bool counts and any/all
        m = a > 0.5
        assert torch.tensor(m).to(G).sum().item() == int(m.sum())
        assert torch.tensor(m).to(G).any().item() and not torch.tensor(m).to(G).all().item()
    """)


def test_softmax_and_matmul():
    run_limited("""
        a = randn(700, 450)
        ga = torch.tensor(a).to(G)
        def softmax(x, d):
            e = np.exp(x - x.max(d, keepdims=True))
            return e / e.sum(d, keepdims=True)
        close(torch.softmax(ga, 1), softmax(a, 1), atol=1e-6)
        close(torch.softmax(ga, 0), softmax(a, 0), atol=1e-6)
        close(F.log_softmax(ga.t(), 1), np.log(softmax(a.T, 1)), atol=1e-4)
        # matmul: operands and result larger than one binding, transposed views, a batch
        x, y = randn(600, 300), randn(300, 500)
        close(torch.tensor(x).to(G) @ torch.tensor(y).to(G), x @ y, rtol=1e-4, atol=1e-4)
        close(torch.tensor(y).to(G).t() @ torch.tensor(x).to(G).t(), y.T @ x.T, rtol=1e-4, atol=1e-4)
        bx, by = randn(5, 150, 120), randn(120, 130)
        close(torch.tensor(bx).to(G) @ torch.tensor(by).to(G), bx @ by, rtol=1e-4, atol=1e-4)
        # a long inner dim: split and the partial products added
        p, q = randn(2, 100_000), randn(100_000, 2)
        close(torch.tensor(p).to(G) @ torch.tensor(q).to(G), p.astype(np.float64) @ q, rtol=1e-4, atol=1e-2)
    """)


def test_gradients_match_cpu():
    run_limited("""
        a, w = randn(700, 450), randn(450)
        def loss(dev):
            x = torch.tensor(a).to(dev).requires_grad_()
            v = torch.tensor(w).to(dev).requires_grad_()
            out = (torch.tanh(x * v) + x.t().t().exp() * 0.1).sum(1).amax() + torch.softmax(x, 0).mul(x).sum()
            out.backward()
            return out, x.grad, v.grad
        got, want = loss(G), loss("cpu")
        for g, c in zip(got, want):
            close(g, c.detach().numpy(), rtol=1e-4, atol=1e-4)
    """)


def test_unsplit_op_raises_clear_error():
    out = run_limited("""
        x = torch.tensor(randn(300_000)).to(G)
        idx = torch.tensor(np.array([0, 5, 299_999])).to(G)
        try:
            torch.gather(x, 0, idx)
        except NotImplementedError as e:
            print(e)
        else:
            raise AssertionError("gather over a tensor larger than one binding did not raise")
        # the same op on a tensor within the limit works
        small = randn(1000)
        close(torch.gather(torch.tensor(small).to(G), 0, idx[:2]), small[[0, 5]])
    """)
    assert "'gather'" in out and str(LIMIT) in out and "binding" in out, out


def test_invalid_limit_is_a_clear_error():
    env = dict(os.environ, FERROGRAD_GPU_MAX_BINDING_BYTES="lots")
    p = subprocess.run([sys.executable, "-c", "import ferrograd as t; print(t.gpu.is_available(), t.gpu.unavailable_reason())"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("False") and "FERROGRAD_GPU_MAX_BINDING_BYTES" in p.stdout, p.stdout
