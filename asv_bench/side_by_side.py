#!/usr/bin/env python
"""Side-by-side speed of ferrograd, numpy and PyTorch on the asv workloads, in one process.

    python asv_bench/side_by_side.py [--quick] [--only NAME[,NAME...]] [--repeats N]

Every workload is built once per framework (ferrograd; numpy where it has the op; PyTorch only
if `import torch` works), warmed up, calibrated so that one timed block lasts a few tens of
milliseconds, and then timed in rounds that alternate the frameworks (the order rotates every
round, so drifting machine load hits all of them alike); the figure is the median over the
rounds. Import cost is measured in fresh interpreters (time of the import statement itself,
and that process's peak RSS), again interleaved. The peak RSS of the digits MLP and CNN demos'
training (the model, data, optimizer and epochs of `python -m ferrograd.examples.digits` / `.cnn`,
run by `_workloads.demo_training` in each framework) is measured in fresh interpreters too.
Peak RSS is the child's own high-water mark (VmHWM; resource.getrusage(RUSAGE_SELF) where /proc
is absent), reported by the child itself: getrusage/wait4 from this process would fold in this
process's own high-water mark, which a child inherits through fork + exec on Linux.

Prints a Markdown table. Without PyTorch the last two columns use the reference figures that
the project's speed issue lists for PyTorch 2.13 CPU on the 2-core development machine.
`--only` keeps the rows whose name or group contains one of the given words
(groups: matmul, elementwise, conv, overhead, mlp, cnn, amp, compile, import, demo; `compile`
compares eager and `compile`d runs of the same workloads, `amp` 16-bit floats against float32).
"""
import argparse
import gc
import importlib.util
import os
import platform
import statistics
import sys
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_workloads():
    # Loaded by path under a private name: "benchmarks" is too generic a top-level name.
    path = os.path.join(HERE, "benchmarks", "_workloads.py")
    spec = importlib.util.spec_from_file_location("_ferrograd_asv_workloads", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


W = _load_workloads()

import numpy as np  # noqa: E402

import ferrograd  # noqa: E402

try:
    import torch  # noqa: E402
    if getattr(torch, "__name__", "") != "torch" or not hasattr(torch, "from_numpy"):
        torch = None
except Exception:  # not installed (the usual case here), or broken
    torch = None

# PyTorch 2.13 CPU on the 2-core development machine, as listed in the project's speed issue.
# Units are the row's display units (GFLOP/s, GB/s, seconds, MB).
REFERENCE = {
    "matmul 1024² f32": 350.0,
    "add 4M f32": 55.0,
    "a + b, 16 elements": 1.0e-6,
    "a + b, 16 elements, requires_grad": 1.45e-6,
    "MLP 784-128-10 train step, batch 64 (SGD)": 0.35e-3,
    "CNN train step, batch 32 (Adam)": 8e-3,
    "import time": 1.2,
    "import peak RSS": 220.0,
}
REFERENCE_LABEL = "PyTorch (issue's reference figures)"

FRAMEWORKS = ["ferrograd", "numpy"] + (["torch"] if torch is not None else [])


# ---------------------------------------------------------------------------------------------
# Workload table

class Row:
    """One line of the table. `kind`: "gflops"/"gbps" (higher is better, `scale` flops or
    bytes per call), "time" (seconds per call), "import" and "demo" (subprocess rows).
    `build[fw](module)` returns the callable to time, or a (stmt, globals) pair for timeit."""

    def __init__(self, name, group, kind, build, scale=None):
        self.name, self.group, self.kind, self.build, self.scale = name, group, kind, build, scale


def _np_matmul(n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return lambda: a @ b


def _np_elementwise(op, n=W.ELEMENTWISE_N):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    return {"add": lambda: x + y, "exp": lambda: np.exp(x), "sum": lambda: x.sum()}[op]


def _overhead_stmt(T, requires_grad):
    a, b = W.add_overhead_operands(T, requires_grad)
    return ("a + b", {"a": a, "b": b})


def _np_overhead():
    a = np.random.default_rng(0).standard_normal(W.OVERHEAD_N, dtype=np.float32)
    b = np.random.default_rng(1).standard_normal(W.OVERHEAD_N, dtype=np.float32)
    return ("a + b", {"a": a, "b": b})


def _rows():
    rows = []
    for n in W.MATMUL_SIZES:
        rows.append(Row(f"matmul {n}² f32", "matmul", "gflops", {
            "ferrograd": lambda T, n=n: W.matmul(T, n), "numpy": lambda _, n=n: _np_matmul(n),
            "torch": lambda T, n=n: W.matmul(T, n)}, scale=W.matmul_flops(n)))
    for op in W.ELEMENTWISE_OPS:
        name = {"add": "add 4M f32", "exp": "exp 4M f32", "sum": "sum of 4M f32"}[op]
        rows.append(Row(name, "elementwise", "gbps", {
            "ferrograd": lambda T, op=op: W.elementwise(T, op), "numpy": lambda _, op=op: _np_elementwise(op),
            "torch": lambda T, op=op: W.elementwise(T, op)},
            scale=W.ELEMENTWISE_BYTES[op] * W.ELEMENTWISE_N))
    for case in W.CONV_CASES:
        for backward in (False, True):
            label = f"conv2d {case.split(' ', 1)[1]}, batch 32, " + ("fwd+bwd" if backward else "forward")
            build = lambda T, c=case, b=backward: W.conv2d(T, c, backward=b)  # noqa: E731
            rows.append(Row(label, "conv", "time", {"ferrograd": build, "torch": build}))
    for rg in (False, True):
        build = lambda T, rg=rg: _overhead_stmt(T, rg)  # noqa: E731
        b = {"ferrograd": build, "torch": build}
        if not rg:
            b["numpy"] = lambda _: _np_overhead()
        rows.append(Row("a + b, 16 elements" + (", requires_grad" if rg else ""), "overhead", "time", b))
    for batch in W.MLP_BATCHES:
        build = lambda T, batch=batch: _primed(W.mlp_train_step(T, batch))  # noqa: E731
        rows.append(Row(f"MLP 784-128-10 train step, batch {batch} (SGD)", "mlp", "time",
                        {"ferrograd": build, "torch": build}))
    build = lambda T: _primed(W.cnn_train_step(T, W.CNN_BATCH))  # noqa: E731
    rows.append(Row(f"CNN train step, batch {W.CNN_BATCH} (Adam)", "cnn", "time",
                    {"ferrograd": build, "torch": build}))
    for dtype in ("float32", "bfloat16", "float16"):
        build = lambda T, dtype=dtype: W.matmul(T, W.AMP_MATMUL, dtype=getattr(T, dtype))  # noqa: E731
        rows.append(Row(f"matmul {W.AMP_MATMUL}² {dtype}", "amp", "gflops", {"ferrograd": build, "torch": build},
                        scale=W.matmul_flops(W.AMP_MATMUL)))
    for dtype in (None, "bfloat16", "float16"):
        build = lambda T, dtype=dtype: _primed(W.mlp_train_step(T, 64, autocast=dtype))  # noqa: E731
        how = f"autocast {dtype}" if dtype else "float32"
        rows.append(Row(f"MLP 784-128-10 train step, batch 64 (SGD), {how}", "amp", "time",
                        {"ferrograd": build, "torch": build}))
    for compile in (False, True):
        how = "compiled" if compile else "eager"
        for label, make in ((f"chain ((x*2+1).relu()*3).exp() 4M f32, {how}", W.elementwise_chain),
                            (f"{W.REPLAY_CHAIN} matmuls 4x4 in a row, {how}", W.tiny_matmul_chain),
                            (f"MLP 784-128-10 inference, batch 64, {how}", lambda T: W.mlp_inference(T, 64)),
                            (f"MLP 784-128-10 train step, batch 64 (SGD), {how}", lambda T: W.mlp_train_step(T, 64)),
                            (f"CNN train step, batch {W.CNN_BATCH} (Adam), {how}", W.cnn_train_step)):
            build = lambda T, make=make, compile=compile: W.compiled(T, make(T), compile)  # noqa: E731
            rows.append(Row(label, "compile", "time", {"ferrograd": build, "torch": build}))
    rows.append(Row("import time", "import", "import", None))
    rows.append(Row("import peak RSS", "import", "import", None))
    for demo, what in W.DEMOS.items():
        rows.append(Row(f"digits demo training ({what}) peak RSS", "demo", "demo", demo))
    return rows


def _primed(step):
    step()  # the first step allocates optimizer state
    return step


# ---------------------------------------------------------------------------------------------
# Measurement

def _timer(obj):
    if isinstance(obj, tuple):
        stmt, ns = obj
        return timeit.Timer(stmt, globals=ns)
    return timeit.Timer("fn()", globals={"fn": obj})


def _calibrate(timer, target):
    """Warm up, then the number of calls that makes one block last about `target` seconds."""
    timer.timeit(1)
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= target / 4 or number >= 10 ** 7:
            return max(1, int(round(number * target / max(t, 1e-9))))
        number *= 10 if t < target / 100 else 2


def measure_interleaved(objs, repeats, target):
    """Median seconds per call of each framework's workload, rounds alternating frameworks."""
    timers = {fw: _timer(o) for fw, o in objs.items()}
    numbers = {fw: _calibrate(t, target) for fw, t in timers.items()}
    samples = {fw: [] for fw in timers}
    order = list(timers)
    for r in range(repeats):
        k = r % len(order)
        for fw in order[k:] + order[:k]:
            samples[fw].append(timers[fw].timeit(numbers[fw]) / numbers[fw])
    return {fw: statistics.median(s) for fw, s in samples.items()}


def measure_imports(modules, repeats):
    """Median import seconds and median peak RSS (MB) per module, a fresh interpreter each
    time, modules alternating."""
    times = {m: [] for m in modules}
    rss = {m: [] for m in modules}
    for r in range(repeats):
        k = r % len(modules)
        for m in modules[k:] + modules[:k]:
            code, _, report = W.child_report("import", m)
            if code != 0 or report is None:
                raise RuntimeError(f"import {m} failed in a subprocess")
            times[m].append(report["seconds"])
            rss[m].append(report["peak_rss_mb"])
    return ({m: statistics.median(v) for m, v in times.items()},
            {m: statistics.median(v) for m, v in rss.items()})


# ---------------------------------------------------------------------------------------------
# Formatting

def fmt_time(s):
    if s is None:
        return "—"
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_value(row, v):
    """Cell text for a measured value (seconds per call, or MB for RSS rows)."""
    if v is None:
        return "—"
    if row.kind == "gflops":
        return f"{row.scale / v / 1e9:.1f} GFLOP/s ({fmt_time(v)})"
    if row.kind == "gbps":
        return f"{row.scale / v / 1e9:.1f} GB/s ({fmt_time(v)})"
    if row.name.endswith("RSS"):
        return f"{v:.0f} MB"
    return fmt_time(v)


def ref_to_seconds(row, ref):
    """Reference figures are in display units; turn throughput into seconds per call."""
    if ref is None:
        return None
    if row.kind in ("gflops", "gbps"):
        return row.scale / (ref * 1e9)
    return ref


def fmt_ratio(fg, pt, memory=False):
    """ferrograd's cost over PyTorch's (time per call, or memory)."""
    if fg is None or pt is None or pt <= 0:
        return "—"
    r = fg / pt
    if 0.98 <= r <= 1.02:
        return f"{r:.2f}× (about the same)"
    if memory:
        return f"{r:.2f}× ({'larger' if r > 1 else 'smaller'})"
    if r >= 1:
        return f"{r:.2f}× (slower)"
    return f"{r:.2f}× ({1 / r:.1f}× faster)"


# ---------------------------------------------------------------------------------------------

def _loadavg():
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    p.add_argument("--only", metavar="NAME", help="comma-separated words; keep rows whose name or group contains one")
    p.add_argument("--repeats", type=int, help="timed rounds per workload (default 9, --quick 3)")
    args = p.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    target = 0.01 if args.quick else 0.08          # seconds per timed block
    import_repeats = 2 if args.quick else 7
    load_before = _loadavg()

    rows = _rows()
    if args.only:
        words = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        rows = [r for r in rows if any(w in r.group.lower() or w in r.name.lower() for w in words)]
        if not rows:
            p.error(f"--only {args.only!r} matches no workload")

    modules = {"ferrograd": ferrograd, "numpy": np, "torch": torch}
    results = {}   # row name -> {fw: seconds per call or MB}
    notes = []
    t_start = time.perf_counter()

    for row in rows:
        if row.kind not in ("gflops", "gbps", "time"):
            continue
        objs = {}
        for fw in FRAMEWORKS:
            if fw in row.build:
                if fw in ("ferrograd", "torch"):
                    modules[fw].manual_seed(0)
                objs[fw] = row.build[fw](modules[fw])
        print(f"  {row.name} ...", file=sys.stderr, flush=True)
        results[row.name] = measure_interleaved(objs, repeats, target)
        del objs
        gc.collect()

    import_rows = [r for r in rows if r.kind == "import"]
    if import_rows:
        print("  imports ...", file=sys.stderr, flush=True)
        mods = [m for m in ("ferrograd", "numpy", "torch") if m in FRAMEWORKS]
        times, rss = measure_imports(mods, import_repeats)
        for r in import_rows:
            results[r.name] = times if r.name == "import time" else rss

    for row in (r for r in rows if r.kind == "demo"):
        print(f"  {row.name} ...", file=sys.stderr, flush=True)
        results[row.name] = {}
        for fw in (f for f in FRAMEWORKS if f != "numpy"):
            code, _, report = W.child_report("demo", fw, [row.build])
            if code != 0 or report is None:
                notes.append(f"the {row.build} demo training in {fw} exited with {code}: its cell is empty.")
                continue
            results[row.name][fw] = report["peak_rss_mb"]
            notes.append(f"{row.build} demo training in {fw}: {report['seconds']:.1f} s, "
                         f"test accuracy {report['accuracy']:.3f}.")
    elapsed = time.perf_counter() - t_start

    # --- the table
    pt_label = "PyTorch" if torch is not None else REFERENCE_LABEL
    print(f"ferrograd {ferrograd.__version__}, numpy {np.__version__}, "
          + (f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not installed")
          + f"; Python {platform.python_version()}, {os.cpu_count()} CPUs ({platform.machine()}); "
          + f"median of {repeats} interleaved rounds{' (--quick)' if args.quick else ''}; "
          + f"measured in {elapsed:.0f} s; load average {load_before} before, {_loadavg()} after.")
    print()
    print(f"| workload | ferrograd | numpy | {pt_label} | ferrograd ÷ PyTorch |")
    print("|---|---|---|---|---|")
    for row in rows:
        res = results.get(row.name)
        if res is None:
            continue
        memory = row.name.endswith("RSS")
        fg, npv = res.get("ferrograd"), res.get("numpy")
        if torch is not None:
            pt = res.get("torch")
            pt_cell = fmt_value(row, pt)
        else:
            ref = REFERENCE.get(row.name)
            pt = ref_to_seconds(row, ref)
            pt_cell = fmt_value(row, pt)
        print(f"| {row.name} | {fmt_value(row, fg)} | {fmt_value(row, npv)} | {pt_cell} | "
              f"{fmt_ratio(fg, pt, memory)} |")
    print()
    print("Ratio: ferrograd's time per call (or memory) divided by PyTorch's; above 1 ferrograd "
          "is slower (larger). Throughput cells show the time per call in parentheses; element-wise "
          "GB/s counts bytes read + written (add 12 B/element, exp 8, sum 4). Import rows: the "
          "import statement in a fresh interpreter, and that interpreter's peak RSS "
          "(the numpy column imports numpy). The machine is shared: numpy's OpenBLAS matmul in "
          "particular swings by 10x or more when other processes hold the cores.")
    if torch is None:
        print(f"PyTorch is not installed here: the \"{REFERENCE_LABEL}\" column holds the figures "
              "the project's speed issue lists for PyTorch 2.13 CPU on this 2-core machine, not "
              "measurements from this run.")
    for n in notes:
        print(f"- {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
