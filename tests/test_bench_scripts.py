"""The speed benchmarks in asv_bench/ stay runnable: every asv benchmark runs once at a tiny size
and returns something sane, and side_by_side.py prints its table."""
import importlib
import importlib.util
import inspect
import itertools
import math
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import ferrograd as torch

ASV = pathlib.Path(__file__).resolve().parent.parent / "asv_bench"
PKG = "_ferrograd_asv_benchmarks"   # not "benchmarks": too generic a top-level name
PREFIXES = ("time_", "timeraw_", "track_", "peakmem_", "mem_")


def _load_package():
    if PKG in sys.modules:
        return sys.modules[PKG]
    spec = importlib.util.spec_from_file_location(
        PKG, ASV / "benchmarks" / "__init__.py", submodule_search_locations=[str(ASV / "benchmarks")])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[PKG] = pkg
    spec.loader.exec_module(pkg)
    return pkg


_load_package()
W = importlib.import_module(f"{PKG}._workloads")
MODULE_NAMES = sorted(p.stem for p in (ASV / "benchmarks").glob("bench_*.py"))

# Tiny parameter values per benchmark class (the real ones take seconds).
TINY_PARAMS = {
    "MatMul": [[16, 33]],
    "ElementWise": [list(W.ELEMENTWISE_OPS)],
    "Conv2d": [["tiny a", "tiny b"], ["forward", "forward+backward"]],
    "AddOverhead": [[False, True]],
    "MLPTrainStep": [[4]],
    "CNNTrainStep": [[3]],
    "GPUMatMul": [[16, 70]],
    "GPUMLPTrainStep": [[4]],
    "OptimizerStep": [["SGD", "Adam", "NAdam", "Rprop", "Adafactor"]],
    "LBFGSStep": [[None, "strong_wolfe"]],
    "KerasFitEpoch": [["mlp"], ["none", "accuracy"]],
    "HandLoopEpoch": [["mlp"]],
    "Layers": [["transformer 2+2 layers d64", "upsample x2 bilinear", "conv3d 8->16 16^3", "grid_sample bilinear"]],
    "AddScalar": [["float", "0-d tensor"]],
    "Matmul16": [["float32", "bfloat16", "float16"]],
    "AutocastMLPStep": [["float32", "bfloat16", "float16"]],
    "Compiled": [["matmuls", "mlp_infer", "mlp_step"], ["eager", "compiled"]],
    # in process only: a spawned worker cannot import this harness's privately loaded package
    "DataLoaderWorkers": [[0]],
}


@pytest.fixture
def tiny(monkeypatch):
    """Shrink the module-level sizes and the timing budget of the benchmark helpers."""
    mods = {n: importlib.import_module(f"{PKG}.{n}") for n in MODULE_NAMES}
    real = W.seconds_per_call
    monkeypatch.setattr(W, "seconds_per_call", lambda fn, min_time=0.2, repeat=3: real(fn, 0.001, 2))
    monkeypatch.setattr(mods["bench_elementwise"], "N", 1000)
    monkeypatch.setattr(mods["bench_conv"], "CASES", {"tiny a": (2, 1, 4, 6), "tiny b": (2, 4, 3, 5)})
    monkeypatch.setattr(mods["bench_overhead"], "LOOP", 50)
    monkeypatch.setattr(W, "AMP_MATMUL", 16)
    monkeypatch.setattr(mods["bench_training"].CNNTrainStep, "size", 8)
    monkeypatch.setattr(mods["bench_tensorboard"], "CALLS", 50)
    for name, value in (("ITEMS", 16), ("LOOP", 100), ("WORKERS", 0), ("ROUNDS", 1)):
        monkeypatch.setattr(mods["bench_dataloader"], name, value)
    return mods


def _benchmarks(obj):
    return [n for n, _ in inspect.getmembers(obj) if n.startswith(PREFIXES)]


def _check_result(name, value):
    if name.startswith("track_"):
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (name, value)
    elif name.startswith("timeraw_"):
        assert isinstance(value, str)
        compile(value, name, "exec")


@pytest.mark.parametrize("module_name", MODULE_NAMES)
def test_every_benchmark_runs_once(tiny, module_name):
    mod = tiny[module_name]
    ran, skipped = [], []
    for cls_name, cls in inspect.getmembers(mod, inspect.isclass):
        if cls.__module__ != mod.__name__ or not _benchmarks(cls):
            continue
        assert cls_name in TINY_PARAMS, f"add tiny parameters for the new benchmark class {cls_name}"
        real_params = cls.params if isinstance(cls.params[0], list) else [cls.params]
        assert len(real_params) == len(TINY_PARAMS[cls_name]) == len(cls.param_names)
        for combo in itertools.product(*TINY_PARAMS[cls_name]):
            bench = cls()
            try:
                bench.setup(*combo)
            except NotImplementedError:
                # asv's skip: only the GPU benchmarks may, and only without an adapter
                if cls_name.startswith("GPU") and not torch.gpu.is_available() and os.environ.get("FERROGRAD_REQUIRE_GPU") != "1":
                    skipped.append(cls_name)
                    continue
                raise
            for name in _benchmarks(cls):
                _check_result(name, getattr(bench, name)(*combo))
                ran.append(f"{cls_name}.{name}")
    for name, fn in inspect.getmembers(mod, inspect.isfunction):
        if name.startswith(PREFIXES) and fn.__module__ == mod.__name__:
            _check_result(name, fn())
            ran.append(name)
    assert ran or skipped, f"{module_name} defines no benchmarks"


def test_matmul_workload_matches_numpy():
    fn = W.matmul(torch, 33)
    a, b = fn.operands
    np.testing.assert_allclose(fn().numpy(), a.numpy() @ b.numpy(), rtol=1e-4, atol=1e-4)
    assert W.matmul_flops(33) / W.seconds_per_call(fn, min_time=0.001) / 1e9 > 0


@pytest.mark.parametrize("op", W.ELEMENTWISE_OPS)
def test_elementwise_workloads_match_numpy(op):
    fn = W.elementwise(torch, op, 1000)
    x, y = (t.numpy() for t in fn.operands)
    want = {"add": x + y, "exp": np.exp(x), "sum": x.sum()}[op]
    np.testing.assert_allclose(fn().numpy(), want, rtol=1e-5, atol=1e-4)


def test_conv_workload_shapes_and_grads():
    fwd = W.conv2d(torch, (2, 3, 5, 7))
    assert tuple(fwd().shape) == (2, 5, 7, 7)
    step = W.conv2d(torch, (2, 3, 5, 7), backward=True)
    out = step()
    x, w, b = step.operands
    assert tuple(out.shape) == (2, 5, 7, 7)
    assert tuple(w.grad.shape) == (5, 3, 3, 3) and tuple(x.grad.shape) == (2, 3, 7, 7)
    np.testing.assert_allclose(b.grad.numpy(), np.full(5, 2 * 7 * 7, np.float32))


def test_training_steps_reduce_the_loss():
    for step in (W.mlp_train_step(torch, 8), W.cnn_train_step(torch, 4, size=8)):
        losses = [step().item() for _ in range(6)]
        assert all(math.isfinite(v) for v in losses)
        assert losses[-1] < losses[0]


@pytest.mark.parametrize("demo", list(W.DEMOS))
def test_demo_training_learns(demo):
    assert W.demo_training(torch, demo, epochs=2) > 0.5  # 10 classes: chance is 0.1


def test_side_by_side_prints_the_table():
    p = subprocess.run([sys.executable, str(ASV / "side_by_side.py"), "--quick", "--only", "overhead"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "| workload | ferrograd | numpy |" in p.stdout
    assert "| a + b, 16 elements |" in p.stdout
    assert "| a + b, 16 elements, requires_grad |" in p.stdout


def test_compile_side_by_side_prints_the_table():
    p = subprocess.run([sys.executable, str(ASV / "compile_side_by_side.py"), "--rounds", "1"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = [line for line in p.stdout.splitlines() if line.startswith("| ") and "×" in line]
    assert len(rows) == 5, p.stdout
    assert all(re.search(r"\| \d+\.\d\d× \|", r) for r in rows), p.stdout


def test_compiled_workloads_match_eager():
    for make in (W.elementwise_chain, lambda T: W.mlp_inference(T, 8), W.tiny_matmul_chain):
        torch.manual_seed(0)
        eager = make(torch)
        torch.manual_seed(0)
        compiled = W.compiled(torch, make(torch), True)
        np.testing.assert_allclose(compiled().numpy(), eager().numpy(), rtol=1e-6)


def test_keras_side_by_side_prints_the_table():
    p = subprocess.run([sys.executable, str(ASV / "keras_side_by_side.py"), "--rounds", "1", "--no-peer"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = [line for line in p.stdout.splitlines() if line.startswith("| digits MLP") or line.startswith("| seed CNN")]
    assert len(rows) == 2 and all(re.search(r"\d+\.\d ms \(\d+ µs/step\)", r) for r in rows), p.stdout


def test_helper_modules_define_no_asv_benchmarks():
    # asv collects every module-level function whose name starts with a benchmark prefix, in
    # every module of the package, helpers included.
    for mod in (W, sys.modules[PKG]):
        bad = [n for n, f in inspect.getmembers(mod, callable) if n.startswith(PREFIXES)]
        assert not bad, (mod.__name__, bad)


def test_keras_side_by_side_overhead_prints_medians_and_quartiles():
    p = subprocess.run([sys.executable, str(ASV / "keras_side_by_side.py"), "--overhead", "--rounds", "4"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = [line for line in p.stdout.splitlines() if line.startswith("| digits MLP") or line.startswith("| seed CNN")]
    pattern = r"\| [+-]\d+\.\d% \[[+-]\d+\.\d%, [+-]\d+\.\d%\] "
    assert len(rows) == 2 and all(len(re.findall(pattern, r)) == 2 for r in rows), p.stdout
