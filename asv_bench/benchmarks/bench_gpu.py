"""The GPU backend on whatever adapter is present (WGSL through wgpu): square float32 matmul
in GFLOP/s, and one training step of the seed MLP (784-128-10, SGD with momentum) in steps/s.
Every timed call ends with a synchronize, so the figures cover the GPU's work. Skipped
(NotImplementedError in setup, asv's skip) when no GPU adapter is found."""
import ferrograd as torch

from . import _workloads as W

GPU = "gpu"


def _require_gpu():
    # Asked in setup, not at import: asv imports this module in a fork server, and a GPU
    # context must not be created before the fork.
    if not torch.gpu.is_available():
        raise NotImplementedError(f"no GPU adapter: {torch.gpu.unavailable_reason()}")


class GPUMatMul:
    params = [256, 1024]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        _require_gpu()
        torch.manual_seed(0)
        self.fn = W.synchronized(torch, W.matmul(torch, n, device=GPU))
        self.fn()  # compiles the pipeline

    def track_gflops(self, n):
        return W.matmul_flops(n) / W.seconds_per_call(self.fn) / 1e9
    track_gflops.unit = "GFLOP/s"


class GPUMLPTrainStep:
    params = list(W.MLP_BATCHES)
    param_names = ["batch"]
    timeout = 300

    def setup(self, batch):
        _require_gpu()
        self.step = W.synchronized(torch, W.mlp_train_step(torch, batch, device=GPU))
        self.step()  # first step compiles the pipelines and allocates the optimizer state

    def track_steps_per_second(self, batch):
        return 1.0 / W.seconds_per_call(self.step)
    track_steps_per_second.unit = "steps/s"
