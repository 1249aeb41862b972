"""Square float32 matmul: time per call and GFLOP/s (2 n^3 flops)."""
import ferrograd as torch

from . import _workloads as W


class MatMul:
    params = list(W.MATMUL_SIZES)
    param_names = ["n"]
    timeout = 180

    def setup(self, n):
        torch.manual_seed(0)
        self.fn = W.matmul(torch, n)

    def time_matmul(self, n):
        self.fn()

    def track_gflops(self, n):
        return W.matmul_flops(n) / W.seconds_per_call(self.fn) / 1e9
    track_gflops.unit = "GFLOP/s"
