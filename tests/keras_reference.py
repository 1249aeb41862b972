"""Runs Keras 3, the reference, in its own interpreter.

The tests' process never imports Keras: each caller picks the backend (the numpy one is fast
and is Keras's own implementation of every op; jax where numpy lacks something), and pays its
start-up once per session.

`reference(module, function, backend)` imports `module` from this folder, calls
`function(keras)` there and returns its (picklable, numpy-only) result.
"""
import functools
import os
import pickle
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


@functools.lru_cache(maxsize=None)
def reference(module, function, backend="numpy"):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.pkl")
        env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), module, function, out], env=env,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"the Keras reference run {module}.{function} ({backend}) failed:\n{proc.stderr[-3000:]}")
        with open(out, "rb") as f:
            return pickle.load(f)


def _main(module, function, out):
    sys.path.insert(0, HERE)
    import importlib

    import keras
    result = getattr(importlib.import_module(module), function)(keras)
    with open(out, "wb") as f:
        pickle.dump(result, f)


if __name__ == "__main__":
    _main(*sys.argv[1:])
