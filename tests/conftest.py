import numpy as np
import pytest

import ferrograd as torch
import helpers

# Test modules whose every test runs on each device: on the GPU, factory functions default to
# it and helpers turn float64 data into float32 (the GPU computes in float32) and compare
# gradients against the CPU's float64 ones. A test marked cpu_only(reason) is skipped on the GPU
# with that reason.
BOTH_DEVICES = {"test_ops_elementwise", "test_ops_reduce_linalg", "test_views_indexing", "test_functional",
                "test_nn_layers", "test_optim", "test_autograd", "test_properties", "test_nn_modules",
                "test_nn_parity", "test_nn_parity_behaviour", "test_autograd_views", "test_dtypes"}


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only(reason): in a both-devices module, skip the GPU run for the reason given")


def pytest_generate_tests(metafunc):
    if metafunc.module.__name__ in BOTH_DEVICES:
        metafunc.parametrize("on_device", ["cpu", "gpu"], indirect=True)


@pytest.fixture(autouse=True)
def on_device(request):
    """The device a both-devices test runs on (the CPU elsewhere)."""
    dev = getattr(request, "param", "cpu")
    only_cpu = request.node.get_closest_marker("cpu_only")
    if dev == "gpu" and only_cpu:
        pytest.skip(f"CPU only: {only_cpu.args[0]}")
    if dev == "gpu" and not torch.gpu.is_available():
        reason = f"no GPU adapter: {torch.gpu.unavailable_reason()}"
        if helpers.REQUIRE_GPU:
            pytest.fail(f"FERROGRAD_REQUIRE_GPU=1 but {reason}")
        pytest.skip(f"{reason} (set FERROGRAD_REQUIRE_GPU=1 to fail instead)")
    torch.set_default_device(dev)
    helpers.DEVICE = dev
    yield dev
    torch.set_default_device(None)
    helpers.DEVICE = "cpu"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
