"""Mixed precision: matmul 1024² in bfloat16 and float16 against float32, and the seed MLP's SGD
step under CPU autocast against float32 (16-bit floats compute in float32 inside the kernels)."""
import ferrograd as torch

from . import _workloads as W


class Matmul16:
    params = ["float32", "bfloat16", "float16"]
    param_names = ["dtype"]
    timeout = 180

    def setup(self, dtype):
        torch.manual_seed(0)
        self.fn = W.matmul(torch, W.AMP_MATMUL, dtype=getattr(torch, dtype))

    def time_matmul(self, dtype):
        self.fn()

    def track_gflops(self, dtype):
        return W.matmul_flops(W.AMP_MATMUL) / W.seconds_per_call(self.fn) / 1e9
    track_gflops.unit = "GFLOP/s"


class AutocastMLPStep:
    params = ["float32", "bfloat16", "float16"]
    param_names = ["dtype"]

    def setup(self, dtype):
        self.step = W.mlp_train_step(torch, 64, autocast=None if dtype == "float32" else dtype)
        self.step()

    def time_step(self, dtype):
        self.step()
