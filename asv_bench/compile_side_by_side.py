#!/usr/bin/env python
"""Graph capture side by side: ferrograd eager, ferrograd compiled (`ferrograd.compile`), and
the peers' compilers where installed — `jax.jit` (CPU) and `torch.compile` — in one process,
rounds alternating the contestants (median over the rounds).

    python asv_bench/compile_side_by_side.py [--rounds N]

Workloads (issue #11): the element-wise chain `((x*2+1).relu()*3).exp()` on 4M float32, the seed
MLP 784-128-10 training step (SGD, momentum 0.9) and inference at batch 64, the seed CNN
training step (Adam) at batch 32, and 20 matmuls of 4x4 matrices in a row (per-node replay
overhead against per-op eager overhead). jax and PyTorch are peers for comparison only; they are
never dependencies of ferrograd (jax comes with the test extras as Keras's reference backend).
"""
import argparse
import importlib.util
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("_ferrograd_asv_workloads", os.path.join(HERE, "benchmarks", "_workloads.py"))
W = importlib.util.module_from_spec(spec)
spec.loader.exec_module(W)

import numpy as np  # noqa: E402

import ferrograd  # noqa: E402


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except Exception:
        return None
    return jax, jnp


def jax_workloads():
    """The same workloads in jax, each a jitted callable primed by two calls."""
    found = _jax()
    if found is None:
        return {}
    jax, jnp = found
    rng = np.random.default_rng(0)
    x4m = jnp.asarray(rng.standard_normal(W.ELEMENTWISE_N, dtype=np.float32))
    chain = jax.jit(lambda x: jnp.exp(jnp.maximum(x * 2 + 1, 0) * 3))

    def init(shape):
        bound = 1 / np.sqrt(shape[0])
        return jnp.asarray(rng.uniform(-bound, bound, size=shape).astype(np.float32))
    params = {"w1": init((784, 128)), "b1": jnp.zeros(128), "w2": init((128, 10)), "b2": jnp.zeros(10)}

    def forward(p, x):
        return jnp.maximum(x @ p["w1"] + p["b1"], 0) @ p["w2"] + p["b2"]

    def loss_fn(p, x, y):
        logits = forward(p, x)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(x.shape[0]), y])

    @jax.jit
    def sgd_step(p, m, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + g, m, g)
        p = jax.tree_util.tree_map(lambda p, m: p - 0.01 * m, p, m)
        return p, m, loss

    x = jnp.asarray(rng.standard_normal((64, 784), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, 64))
    state = {"p": params, "m": jax.tree_util.tree_map(jnp.zeros_like, params)}

    def mlp_step():
        state["p"], state["m"], loss = sgd_step(state["p"], state["m"], x, y)
        return loss.block_until_ready()
    infer = jax.jit(forward)
    out = {
        "chain": lambda: chain(x4m).block_until_ready(),
        "mlp_step": mlp_step,
        "mlp_infer": lambda: infer(params, x).block_until_ready(),
    }
    for fn in out.values():
        fn()
        fn()
    return out


def ferrograd_workloads(compile):
    T = ferrograd
    return {
        "chain": W.compiled(T, W.elementwise_chain(T), compile),
        "mlp_step": W.compiled(T, W.mlp_train_step(T, 64), compile),
        "mlp_infer": W.compiled(T, W.mlp_inference(T, 64), compile),
        "cnn_step": W.compiled(T, W.cnn_train_step(T), compile),
        "matmuls": W.compiled(T, W.tiny_matmul_chain(T), compile),
    }


ROWS = {
    "chain": "((x*2+1).relu()*3).exp(), 4M f32",
    "mlp_step": "MLP 784-128-10 train step, batch 64 (SGD momentum)",
    "mlp_infer": "MLP 784-128-10 inference, batch 64",
    "cnn_step": f"CNN train step, batch {W.CNN_BATCH} (Adam)",
    "matmuls": f"{W.REPLAY_CHAIN} matmuls 4x4 in a row (per op / node)",
}


def seconds(fn, target=0.05):
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt >= target:
            return n
        n *= 2


def fmt(s):
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} µs" if s >= 1e-5 else f"{s * 1e9:.0f} ns"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args(argv)
    contestants = {"eager": ferrograd_workloads(False), "compiled": ferrograd_workloads(True), "jax.jit": jax_workloads()}
    counts = {(c, k): seconds(fn) for c, ws in contestants.items() for k, fn in ws.items()}
    times = {key: [] for key in counts}
    for r in range(args.rounds):
        keys = list(counts)
        keys = keys[r % len(keys):] + keys[:r % len(keys)]
        for c, k in keys:
            fn, n = contestants[c][k], counts[(c, k)]
            t = time.perf_counter()
            for _ in range(n):
                fn()
            times[(c, k)].append((time.perf_counter() - t) / n)
    med = {key: statistics.median(v) for key, v in times.items()}
    print(f"rounds: {args.rounds}; load average {os.getloadavg()[0]:.1f}\n")
    print("| workload | ferrograd eager | ferrograd compiled | compiled speed-up | jax.jit |")
    print("|---|---|---|---|---|")
    for k, label in ROWS.items():
        e, c = med[("eager", k)], med[("compiled", k)]
        j = med.get(("jax.jit", k))
        if k == "matmuls":
            e, c = e / W.REPLAY_CHAIN, c / W.REPLAY_CHAIN
        print(f"| {label} | {fmt(e)} | {fmt(c)} | {e / c:.2f}× | {fmt(j) if j else '—'} |")


if __name__ == "__main__":
    sys.exit(main())
