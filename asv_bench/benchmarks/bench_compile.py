"""Graph capture (`ferrograd.compile`) against eager on the same workloads: the element-wise chain
`((x*2+1).relu()*3).exp()` on 4M float32, the seed MLP training step (SGD momentum) and
inference at batch 64, the seed CNN training step (Adam) at batch 32, and 20 matmuls of 4x4
matrices in a row (per-node replay overhead). asv_bench/compile_side_by_side.py adds jax.jit."""
import ferrograd as torch

from . import _workloads as W

WORKLOADS = {
    "chain": W.elementwise_chain,
    "mlp_step": lambda T: W.mlp_train_step(T, 64),
    "mlp_infer": lambda T: W.mlp_inference(T, 64),
    "cnn_step": W.cnn_train_step,
    "matmuls": W.tiny_matmul_chain,
}


class Compiled:
    params = [list(WORKLOADS), ["eager", "compiled"]]
    param_names = ["workload", "mode"]
    timeout = 120

    def setup(self, workload, mode):
        self.fn = W.compiled(torch, WORKLOADS[workload](torch), mode == "compiled")

    def time_call(self, workload, mode):
        self.fn()
