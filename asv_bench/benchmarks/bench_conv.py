"""F.conv2d (3x3, padding 1, batch 32) at the seed CNN's two layer shapes, forward and
forward+backward."""
import ferrograd as torch

from . import _workloads as W

CASES = W.CONV_CASES


class Conv2d:
    params = [list(CASES), ["forward", "forward+backward"]]
    param_names = ["shape", "pass"]
    timeout = 120

    def setup(self, shape, pass_):
        torch.manual_seed(0)
        self.fn = W.conv2d(torch, CASES[shape], backward=(pass_ != "forward"))

    def time_conv2d(self, shape, pass_):
        self.fn()
