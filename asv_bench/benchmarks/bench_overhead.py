"""Per-op overhead: `a + b` on 16-element float32 tensors, with and without requires_grad
(the add itself is a few nanoseconds; what is measured is dispatch, allocation and taping)."""
import ferrograd as torch

from . import _workloads as W

N = W.OVERHEAD_N
LOOP = 20000


class AddOverhead:
    params = [False, True]
    param_names = ["requires_grad"]

    def setup(self, requires_grad):
        torch.manual_seed(0)
        self.fn = W.add_overhead(torch, requires_grad, N)

    def time_add(self, requires_grad):
        self.fn()

    def track_us_per_op(self, requires_grad):
        """Best of 5 loops of LOOP adds, in microseconds per add."""
        fn = self.fn

        def loop():
            for _ in range(LOOP):
                fn()
        return W.seconds_per_call(loop, min_time=0.0, repeat=5) / LOOP * 1e6
    track_us_per_op.unit = "us"
