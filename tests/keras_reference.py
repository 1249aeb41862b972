"""Runs Keras 3, the reference, in its own interpreter.

The tests' process never imports Keras, so its backend choice cannot clash with anything else,
and Keras's start-up (it imports jax) is paid once per session: the first `reference()` call
runs every job of `JOBS` in one subprocess on Keras's numpy backend (Keras's own implementation
of every op) and caches the results.

A job is `(module, function)`: `function(keras)` from a module of this folder, returning a
picklable, numpy-only result.
"""
import functools
import os
import pickle
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
JOBS = [("keras_ops_cases", "keras_results"), ("keras_optimizer_cases", "keras_results")]


def reference(module, function):
    return _all_results()[(module, function)]


@functools.lru_cache(maxsize=None)
def _all_results():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.pkl")
        env = dict(os.environ, KERAS_BACKEND="numpy", JAX_PLATFORMS="cpu")
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), out], env=env, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"the Keras reference run failed:\n{proc.stderr[-3000:]}")
        with open(out, "rb") as f:
            return pickle.load(f)


def _main(out):
    sys.path.insert(0, HERE)
    import importlib

    import keras
    results = {(m, f): getattr(importlib.import_module(m), f)(keras) for m, f in JOBS}
    with open(out, "wb") as f:
        pickle.dump(results, f)


if __name__ == "__main__":
    _main(*sys.argv[1:])
