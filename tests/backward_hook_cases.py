"""Module full backward (pre-)hooks on modules with several tensor inputs and outputs, written
once for PyTorch and ferrograd. `run(torch)` returns what the hooks saw and the gradients that
came out; tests/test_hooks.py compares ferrograd's with PyTorch's, recorded into
tests/data/torch_full_backward_hooks.json by running this file with PyTorch:

    /path/to/torch-venv/bin/python tests/backward_hook_cases.py
"""
import json
import os

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "torch_full_backward_hooks.json")


def _plain(grads):
    return [None if g is None else g.detach().double().tolist() for g in grads]


def _scaled(grads, factors):
    return tuple(None if g is None or f is None else g * f for g, f in zip(grads, factors))


def run(torch):
    nn = torch.nn

    class ThreeOut(nn.Module):
        """Inputs (a, a Python number, b); outputs (a*b*k, a+b, a detached one)."""

        def forward(self, a, k, b):
            return a * b * k, a + b * b, (a * 2).detach()

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2).double()

        def forward(self, x, y):
            return self.lin(x) * y, self.lin(y.sum(1, keepdim=True).expand(-1, 3))

    def leaf(values):
        return torch.tensor(values, dtype=torch.float64, requires_grad=True)

    results = {}
    log = []

    def logger(name, factors=None):
        def pre(module, grad_output):
            log.append([name, _plain(grad_output)])
            return None if factors is None else _scaled(grad_output, factors)

        def full(module, grad_input, grad_output):
            log.append([name, _plain(grad_input), _plain(grad_output)])
            return None if factors is None else _scaled(grad_input, factors)
        return pre, full

    # Every output's and input's gradient replaced, by several hooks in a row.
    m = ThreeOut()
    m.register_full_backward_pre_hook(logger("pre1", (2.0, 3.0, None))[0])
    m.register_full_backward_pre_hook(logger("pre2")[0])
    m.register_full_backward_hook(logger("full1", (10.0, None, -1.0))[1])
    m.register_full_backward_hook(logger("full2", (0.5, None, 2.0))[1])
    m.register_full_backward_hook(logger("full0")[1], prepend=True)
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    out = m(a, 5.0, b)
    (out[0].sum() + (out[1] * out[1]).sum() + out[2].sum()).backward()
    results["all_replaced"] = {"log": log[:], "a": a.grad.tolist(), "b": b.grad.tolist()}

    # Only the second output is used: the others' grad_output is None.
    log.clear()
    a, b = leaf([1.0, -2.0]), leaf([0.5, 4.0])
    out = m(a, 2.0, b)
    (out[1] * 3).sum().backward()
    results["one_output_used"] = {"log": log[:], "a": a.grad.tolist(), "b": b.grad.tolist()}

    # An input that does not require grad; an output used twice.
    log.clear()
    a, c = leaf([2.0, 3.0]), torch.tensor([1.0, -1.0], dtype=torch.float64)
    out = m(a, 1.5, c)
    (out[0] * out[0] + out[0]).sum().backward()
    results["input_without_grad"] = {"log": log[:], "a": a.grad.tolist()}

    # A tensor input the forward does not use, and a module inside a hooked module.
    log.clear()
    torch.manual_seed(0)
    pair = Pair()
    with torch.no_grad():
        pair.lin.weight.copy_(torch.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], dtype=torch.float64))
        pair.lin.bias.copy_(torch.tensor([0.05, -0.05], dtype=torch.float64))
    pair.register_full_backward_pre_hook(logger("pair_pre", (1.0, -2.0))[0])
    pair.register_full_backward_hook(logger("pair_full", (3.0, 0.25))[1])
    pair.lin.register_full_backward_hook(logger("lin_full", (2.0,))[1])
    x = leaf([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    y = leaf([[0.5, -1.0], [2.0, 1.0]])
    out = pair(x, y)
    ((out[0] ** 2).sum() + out[1].sum() * 0.5).backward()
    results["nested"] = {"log": log[:], "x": x.grad.tolist(), "y": y.grad.tolist(),
                         "weight": pair.lin.weight.grad.tolist(), "bias": pair.lin.bias.grad.tolist()}
    return results


if __name__ == "__main__":
    import torch

    with open(FIXTURE, "w") as f:
        json.dump({"torch_version": torch.__version__, "results": run(torch)}, f, indent=1)
    print("wrote", FIXTURE)
