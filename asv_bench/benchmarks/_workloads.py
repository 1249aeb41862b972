"""Workloads shared by the asv benchmarks and ``side_by_side.py``.

Every builder takes a framework module ``T`` (``ferrograd``, or ``torch``: the API is the same),
does all allocation up front, and returns a zero-argument callable that runs one iteration of
the workload and returns its result. Nothing here runs a tensor op at import time (asv imports
benchmark modules in a fork server before forking one process per benchmark).
"""
import gc
import os
import subprocess
import sys
import time

MATMUL_SIZES = (256, 1024, 2048)
ELEMENTWISE_N = 4 * 1024 * 1024
ELEMENTWISE_OPS = ("add", "exp", "sum")
# bytes read + written per element (float32): add reads 2 writes 1, exp reads 1 writes 1,
# sum reads 1
ELEMENTWISE_BYTES = {"add": 12, "exp": 8, "sum": 4}
# The seed CNN's two convolutions: (batch, in channels, out channels, height = width).
CONV_CASES = {"conv1 1->16 28x28": (32, 1, 16, 28), "conv2 16->32 14x14": (32, 16, 32, 14)}
OVERHEAD_N = 16
MLP_BATCHES = (64, 256)
CNN_BATCH = 32
# The mixed-precision issue's matmul size (16-bit floats against float32).
AMP_MATMUL = 1024


def matmul_flops(n):
    return 2.0 * n ** 3


def matmul(T, n, device=None, dtype=None):
    a, b = T.randn(n, n, device=device, dtype=dtype), T.randn(n, n, device=device, dtype=dtype)
    fn = lambda: a @ b  # noqa: E731
    fn.operands = (a, b)
    return fn


def synchronized(T, fn):
    """`fn` followed by waiting for the GPU, so that a timing covers the GPU's work and not
    only its recording (ferrograd and PyTorch both have ``cuda.synchronize``)."""
    def run():
        out = fn()
        T.cuda.synchronize()
        return out
    run.operands = getattr(fn, "operands", ())
    return run


def elementwise(T, op, n=ELEMENTWISE_N):
    x, y = T.randn(n), T.randn(n)
    fn = {"add": lambda: x + y, "exp": lambda: T.exp(x), "sum": lambda: x.sum()}[op]
    fn.operands = (x, y)
    return fn


def conv2d(T, case, backward=False):
    """F.conv2d(x, w, b, padding=1) with a 3x3 kernel; with backward=True, also backward of
    the output's sum into x, w and b (the graph is rebuilt on every call)."""
    F = _functional(T)
    batch, cin, cout, size = CONV_CASES[case] if isinstance(case, str) else case
    x = T.randn(batch, cin, size, size, requires_grad=backward)
    w = (T.randn(cout, cin, 3, 3) * 0.1).requires_grad_(backward)
    b = T.zeros(cout, requires_grad=backward)
    if not backward:
        fn = lambda: F.conv2d(x, w, b, padding=1)  # noqa: E731
        fn.operands = (x, w, b)
        return fn

    def step():
        x.grad = w.grad = b.grad = None
        out = F.conv2d(x, w, b, padding=1)
        out.sum().backward()
        return out
    step.operands = (x, w, b)
    return step


def add_overhead_operands(T, requires_grad, n=OVERHEAD_N):
    return T.randn(n, requires_grad=requires_grad), T.randn(n)


def add_overhead(T, requires_grad, n=OVERHEAD_N):
    a, b = add_overhead_operands(T, requires_grad, n)
    return lambda: a + b


def mlp(T, hidden=128):
    nn = _nn(T)
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def cnn(T, size=28, channels=(16, 32), num_classes=10):
    nn = _nn(T)
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * (size // 4) ** 2, num_classes))


def train_step(T, model, optimizer, x, y, autocast=None):
    """zero_grad, forward, cross-entropy, backward, optimizer step; returns the loss tensor.
    With `autocast` (a dtype), the forward and the loss run under CPU autocast."""
    loss_fn = _nn(T).CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        if autocast is None:
            loss = loss_fn(model(x), y)
        else:
            with T.autocast("cpu", dtype=autocast):
                loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def mlp_train_step(T, batch, device=None, autocast=None):
    """The seed MLP's SGD step; `autocast` names a dtype attribute of T ("bfloat16")."""
    T.manual_seed(0)
    model = mlp(T)
    x, y = T.randn(batch, 784), T.randint(0, 10, (batch,))
    if device is not None:
        model, x, y = model.to(device), x.to(device), y.to(device)
    opt = T.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return train_step(T, model, opt, x, y, autocast=None if autocast is None else getattr(T, autocast))


def cnn_train_step(T, batch=CNN_BATCH, size=28):
    T.manual_seed(0)
    model = cnn(T, size=size)
    opt = T.optim.Adam(model.parameters(), lr=1e-3)
    x, y = T.randn(batch, 1, size, size), T.randint(0, 10, (batch,))
    return train_step(T, model, opt, x, y)


def compiled(T, fn, compile):
    """`fn`, through `T.compile` when `compile` (ferrograd's or torch's), primed by two calls (the
    trace, and a first replay)."""
    if compile:
        fn = T.compile(fn)
    fn()
    fn()
    return fn


def elementwise_chain(T, n=ELEMENTWISE_N):
    """`((x * 2 + 1).relu() * 3).exp()` on n float32: four element-wise ops, one pass if fused."""
    x = T.randn(n)
    return lambda: ((x * 2 + 1).relu() * 3).exp()


REPLAY_CHAIN = 20


def tiny_matmul_chain(T, length=REPLAY_CHAIN):
    """`length` matmuls of 4x4 matrices in a row: per-op (or per-node) overhead, nothing to fuse."""
    a, b = T.randn(4, 4), T.randn(4, 4)

    def chain():
        x = a
        for _ in range(length):
            x = x @ b
        return x
    return chain


def mlp_inference(T, batch):
    """The seed MLP's forward under no_grad, in eval mode."""
    T.manual_seed(0)
    model = mlp(T).eval()
    x = T.randn(batch, 784)

    def infer():
        with T.no_grad():
            return model(x)
    return infer


def _nn(T):
    __import__(T.__name__ + ".nn")
    return T.nn


def _functional(T):
    __import__(T.__name__ + ".nn.functional")
    return T.nn.functional


# ---------------------------------------------------------------------------------------------
# The digits demos' training, in either framework (side_by_side.py measures its peak RSS)

DEMOS = {"digits": "MLP 64-128-10, 30 epochs", "cnn": "CNN 16-32 channels, 12 epochs"}


def _digits_arrays():
    """The digits that ship with ferrograd, read with numpy alone (so a PyTorch run does not
    import ferrograd): pixels scaled to [0, 1] as float32 [1797, 64], labels int64."""
    import gzip
    import importlib.util

    import numpy as np
    pkg = os.path.dirname(importlib.util.find_spec("ferrograd").origin)
    with gzip.open(os.path.join(pkg, "datasets", "data", "digits.csv.gz"), "rt") as fh:
        arr = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    return (arr[:, :64] / 16.0).astype(np.float32), arr[:, 64].copy()


def demo_training(T, demo, epochs=None):
    """The training of `python -m ferrograd.examples.<demo>` (its model, batch size 32, SGD
    with momentum 0.9, learning rate and epochs; a seeded 80/20 split) in framework T.
    Returns the test accuracy."""
    import numpy as np
    x, y = _digits_arrays()
    order = np.random.RandomState(0).permutation(len(y))
    cut = int(0.8 * len(y))
    nn = _nn(T)
    T.manual_seed(0)
    if demo == "digits":
        model, default_epochs, lr = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)), 30, 0.02
    else:
        x = x.reshape(-1, 1, 8, 8)
        model, default_epochs, lr = cnn(T, size=8), 12, 0.05
    opt = T.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    data = __import__(T.__name__ + ".utils.data", fromlist=["DataLoader"])
    train = data.TensorDataset(T.tensor(x[order[:cut]]), T.tensor(y[order[:cut]]))
    loader = data.DataLoader(train, batch_size=32, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(default_epochs if epochs is None else epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
    with T.no_grad():
        pred = model(T.tensor(x[order[cut:]])).argmax(1)
    return float((pred == T.tensor(y[order[cut:]])).float().mean())


# ---------------------------------------------------------------------------------------------
# Timing helpers

def seconds_per_call(fn, min_time=0.2, repeat=3):
    """Best per-call seconds of `fn` over `repeat` blocks, each about `min_time` long
    (one warm-up call first; gc is off inside a block, as in timeit)."""
    t0 = time.perf_counter()
    fn()
    est = max(time.perf_counter() - t0, 1e-9)
    number = max(1, int(min_time / est))
    if est > min_time:
        repeat = min(repeat, 2)
    best = float("inf")
    for _ in range(repeat):
        gc_was = gc.isenabled()
        gc.disable()
        try:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            dt = (time.perf_counter() - t0) / number
        finally:
            if gc_was:
                gc.enable()
        best = min(best, dt)
    return best


# Peak RSS of a child process. os.wait4 / RUSAGE_CHILDREN are not usable for this on Linux: a
# child started with fork/vfork + exec inherits the parent's RSS high-water mark (the kernel
# folds the pre-exec address space into the child's ru_maxrss), so a 30 MB import measured from
# a 130 MB benchmark process reads 130 MB. The child therefore reports its own figure: VmHWM
# from /proc/self/status (the high-water mark of its own address space since exec), or
# resource.getrusage(RUSAGE_SELF) where /proc is absent. Run this file as a script for that:
#   python _workloads.py import MODULE          -> prints a JSON report of the import
#   python _workloads.py run MODULE [ARGS...]   -> runs `python -m MODULE ARGS` and then prints
#                                                 the JSON report as the last stdout line
#   python _workloads.py demo FRAMEWORK DEMO    -> runs demo_training(FRAMEWORK, DEMO); the report
#                                                 adds its test accuracy
REPORT_PREFIX = "@@bench-report "


def self_peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def _child_main(argv):
    import json
    import runpy
    mode, module, rest = argv[0], argv[1], argv[2:]
    report = {}
    code = 0
    t0 = time.perf_counter()
    try:
        if mode == "import":
            __import__(module)
        elif mode == "run":
            sys.argv = [module] + rest
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        elif mode == "demo":
            report["accuracy"] = demo_training(__import__(module), rest[0])
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    report["seconds"] = time.perf_counter() - t0
    report["peak_rss_mb"] = self_peak_rss_mb()
    sys.stdout.flush()
    print(REPORT_PREFIX + json.dumps(report), flush=True)
    return code


def child_report(mode, module, args=(), python=None, timeout=600):
    """Run `module` (import it, or `python -m` it) in a fresh interpreter; returns
    (exit code, its stdout without the report line, report dict: seconds, peak_rss_mb)."""
    import json
    argv = [python or sys.executable, os.path.abspath(__file__), mode, module, *args]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout,
                       text=True, errors="replace")
    lines = p.stdout.splitlines()
    reports = [ln for ln in lines if ln.startswith(REPORT_PREFIX)]
    report = json.loads(reports[-1][len(REPORT_PREFIX):]) if reports else None
    out = "\n".join(ln for ln in lines if not ln.startswith(REPORT_PREFIX))
    return p.returncode, out, report


def import_peak_rss_mb(module, python=None):
    """Peak RSS (MB) of a fresh interpreter that imports `module` and exits."""
    code, _, report = child_report("import", module, python=python)
    if code != 0 or report is None:
        raise RuntimeError(f"importing {module} in a subprocess failed (exit code {code})")
    return report["peak_rss_mb"]


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
