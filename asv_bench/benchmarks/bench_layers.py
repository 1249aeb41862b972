"""Layers of issue 17, forward+backward on the CPU: a small Transformer, bilinear upsampling,
Conv3d and grid_sample. Each workload is built by a function of the framework module (ferrograd
or torch), so `python -m asv_bench.benchmarks.bench_layers [threads]` prints ferrograd/PyTorch time
ratios where PyTorch is installed."""
import ferrograd as torch

from . import _workloads as W


def _step(T, params, forward):
    def step():
        for p in params:
            p.grad = None
        out = forward()
        out.sum().backward()
        return out
    return step


def transformer(T):
    model = T.nn.Transformer(d_model=64, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=128,
                             dropout=0.0, batch_first=True)
    src, tgt = T.randn(16, 32, 64), T.randn(16, 24, 64)
    mask = model.generate_square_subsequent_mask(24)
    return _step(T, list(model.parameters()), lambda: model(src, tgt, tgt_mask=mask))


def upsample_bilinear(T):
    x = T.randn(8, 16, 64, 64, requires_grad=True)
    return _step(T, [x], lambda: T.nn.functional.interpolate(x, scale_factor=2, mode="bilinear"))


def conv3d(T):
    conv = T.nn.Conv3d(8, 16, 3, padding=1)
    x = T.randn(4, 8, 16, 16, 16, requires_grad=True)
    return _step(T, [x] + list(conv.parameters()), lambda: conv(x))


def grid_sample(T):
    x = T.randn(8, 16, 32, 32, requires_grad=True)
    grid = (T.rand(8, 32, 32, 2) * 2 - 1).requires_grad_(True)
    return _step(T, [x, grid], lambda: T.nn.functional.grid_sample(x, grid, align_corners=False))


WORKLOADS = {"transformer 2+2 layers d64": transformer, "upsample x2 bilinear": upsample_bilinear,
             "conv3d 8->16 16^3": conv3d, "grid_sample bilinear": grid_sample}


class Layers:
    params = [list(WORKLOADS)]
    param_names = ["workload"]
    timeout = 300

    def setup(self, workload):
        torch.manual_seed(0)
        self.fn = WORKLOADS[workload](torch)

    def time_forward_backward(self, workload):
        self.fn()


if __name__ == "__main__":
    import sys

    import torch as reference
    if len(sys.argv) > 1:  # the same thread count for both (PyTorch's threads suffer most on a busy machine)
        torch.set_num_threads(int(sys.argv[1]))
        reference.set_num_threads(int(sys.argv[1]))
    for name, build in WORKLOADS.items():
        ours = W.seconds_per_call(build(torch))
        theirs = W.seconds_per_call(build(reference))
        print(f"{name:28s} ferrograd {ours * 1e3:8.2f} ms  torch {theirs * 1e3:8.2f} ms  ratio {ours / theirs:5.2f}")
