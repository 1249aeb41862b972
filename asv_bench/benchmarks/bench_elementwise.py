"""Element-wise add and exp, and a full sum, over 4M float32 elements; time and GB/s moved."""
import ferrograd as torch

from . import _workloads as W

N = W.ELEMENTWISE_N


class ElementWise:
    params = list(W.ELEMENTWISE_OPS)
    param_names = ["op"]

    def setup(self, op):
        torch.manual_seed(0)
        self.fn = W.elementwise(torch, op, N)

    def time_op(self, op):
        self.fn()

    def track_gbps(self, op):
        """Bytes read + written per second (add: 12 B/element, exp: 8, sum: 4)."""
        return W.ELEMENTWISE_BYTES[op] * N / W.seconds_per_call(self.fn, min_time=0.1) / 1e9
    track_gbps.unit = "GB/s"
