"""The type stubs (python/ferrograd/__init__.pyi, _core.pyi, py.typed): current with what
tools/gen_stubs.py writes, naming every runtime public name of `ferrograd` and `Tensor`, and
consistent with the runtime by mypy's stubtest."""
import ast
import importlib.util
import os
import subprocess
import sys
import types

import pytest

import ferrograd as torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PACKAGE_DIR = os.path.dirname(os.path.abspath(torch.__file__))


def _gen_stubs():
    spec = importlib.util.spec_from_file_location("gen_stubs", os.path.join(ROOT, "tools", "gen_stubs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stub(name):
    with open(os.path.join(PACKAGE_DIR, name)) as f:
        return ast.parse(f.read())


def _defined_names(body):
    names = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


def _in_fresh_interpreter(check):
    """Runs `check` of this module in a new interpreter where only `import ferrograd` has run:
    optional submodules imported by other tests (ferrograd.keras) add private attributes to
    Tensor that the stubs do not describe."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"import sys; sys.path.insert(0, {here!r}); import test_stubs; test_stubs.{check.__name__}()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def test_committed_stubs_are_what_the_script_writes():
    _in_fresh_interpreter(check_committed_stubs)


def test_every_runtime_public_name_is_in_the_stubs():
    _in_fresh_interpreter(check_runtime_names)


def check_committed_stubs():
    for path, text in _gen_stubs().render().items():
        with open(path) as f:
            assert f.read() == text, f"{os.path.relpath(path, ROOT)} is stale: run python tools/gen_stubs.py"


def test_package_is_marked_typed():
    assert os.path.isfile(os.path.join(PACKAGE_DIR, "py.typed"))


def check_runtime_names():
    package = _defined_names(_stub("__init__.pyi").body)
    # (Submodules that other code imported later, e.g. ferrograd.keras, are attributes too.)
    public = [n for n in dir(torch) if not n.startswith("_")
              and (n in torch.__all__ or not isinstance(getattr(torch, n), types.ModuleType))]
    assert sorted(n for n in public if n not in package) == []
    tensor_class = next(n for n in _stub("_core.pyi").body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    tensor = _defined_names(tensor_class.body)
    # Its public names, and every dunder it defines itself (operators, __getitem__, ...).
    own = {n for n in vars(torch.Tensor) if n not in ("__doc__", "__module__")}
    assert sorted(n for n in dir(torch.Tensor) if (not n.startswith("_") or n in own) and n not in tensor) == []
    assert {"add", "add_", "exp", "shape", "backward", "__getitem__"} <= tensor


def test_stubtest_finds_the_stubs_consistent_with_the_runtime():
    stubtest = pytest.importorskip("mypy.stubtest", reason="mypy (in the test extra) is not installed")
    from mypy.options import Options
    options = Options()
    options.incremental = False
    options.pos_only_special_methods = False
    options.follow_imports = "silent"  # check the two stubs, not the modules they re-export from
    options.mypy_path = [os.path.dirname(PACKAGE_DIR)]
    modules = stubtest.build_stubs(["ferrograd", "ferrograd._core"], options, find_submodules=False)
    errors = [e.get_description(concise=True) for m in modules for e in stubtest.test_module(m)]
    assert errors == []
