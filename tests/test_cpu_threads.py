"""The CPU thread team: parallel kernels give the same results when several Python threads run
them at once (one of them gets the team, the others run their loops alone) and with
FERROGRAD_NUM_THREADS=1."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import ferrograd as torch
import ferrograd.nn.functional as F

def _workload(seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((192, 300)).astype(np.float32)
    b = rng.standard_normal((300, 256)).astype(np.float32)
    x = rng.standard_normal((6, 4, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    big = rng.standard_normal(200_000).astype(np.float32)
    return a, b, x, w, big


def _run(a, b, x, w, big):
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    out = F.max_pool2d(F.relu(F.conv2d(xt, wt, padding=1)), 2)
    out.sum().backward()
    mm = torch.tensor(a) @ torch.tensor(b)
    e = torch.tensor(big).exp().sum()
    return [mm.numpy(), out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), e.numpy()]


def test_concurrent_python_threads_match_serial_results():
    inputs = [_workload(s) for s in range(4)]
    expected = [_run(*i) for i in inputs]
    np.testing.assert_allclose(expected[0][0], inputs[0][0] @ inputs[0][1], rtol=1e-4, atol=1e-3)
    results = [None] * len(inputs)

    def worker(k):
        for _ in range(5):
            results[k] = _run(*inputs[k])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_single_thread_setting_gives_the_same_results():
    code = (
        "import numpy as np, ferrograd as t\n"
        "rng = np.random.default_rng(0)\n"
        "a = rng.standard_normal((256, 300)).astype(np.float32)\n"
        "b = rng.standard_normal((300, 200)).astype(np.float32)\n"
        "print(float(np.abs((t.tensor(a) @ t.tensor(b)).numpy() - a @ b).max()))\n"
    )
    env = dict(os.environ, FERROGRAD_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 1e-2


def test_set_num_threads():
    before = torch.get_num_threads()
    assert before >= 1
    a, b, x, w, big = _workload(7)
    want = _run(a, b, x, w, big)
    try:
        torch.set_num_threads(1)
        assert torch.get_num_threads() == 1
        for g, e in zip(_run(a, b, x, w, big), want):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
        with pytest.raises(RuntimeError, match="positive"):
            torch.set_num_threads(0)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
