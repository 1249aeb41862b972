"""One optimizer step (the fused kernel over a param group) on the MLP 784-128-10's parameters
(101,770 float32 values in 4 tensors) with fixed random gradients, for every optimizer with a
fused kernel; LBFGS is timed separately as a step of 5 closure evaluations."""
import ferrograd as torch

from . import _workloads as W

# name -> constructor keyword arguments
OPTIMIZERS = {
    "SGD": dict(lr=0.01, momentum=0.9),
    "Adam": dict(lr=1e-3),
    "AdamW": dict(lr=1e-3),
    "RMSprop": dict(lr=1e-3),
    "Adagrad": dict(lr=1e-2),
    "NAdam": dict(lr=1e-3),
    "RAdam": dict(lr=1e-3),
    "Adamax": dict(lr=1e-3),
    "Adadelta": dict(lr=1.0),
    "ASGD": dict(lr=1e-2),
    "Rprop": dict(lr=1e-2),
    "Adafactor": dict(lr=1e-2),
}


def optimizer_step(T, name, device=None):
    """A callable running `optimizer.step()` once over the MLP's parameters (grads preset)."""
    T.manual_seed(0)
    model = W.mlp(T)
    if device is not None:
        model = model.to(device)
    for p in model.parameters():
        p.grad = T.randn_like(p) * 0.01
    opt = getattr(T.optim, name)(model.parameters(), **OPTIMIZERS[name])
    opt.step()  # the first step allocates the state
    return opt.step


class OptimizerStep:
    params = list(OPTIMIZERS)
    param_names = ["optimizer"]

    def setup(self, name):
        self.step = optimizer_step(torch, name)

    def time_step(self, name):
        self.step()


class LBFGSStep:
    params = [None, "strong_wolfe"]
    param_names = ["line_search_fn"]

    def setup(self, line_search_fn):
        torch.manual_seed(0)
        model = W.mlp(torch)
        x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
        loss_fn = torch.nn.CrossEntropyLoss()
        opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=5, line_search_fn=line_search_fn)

        def closure():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss
        self.step = lambda: opt.step(closure)

    def time_step(self, line_search_fn):
        self.step()
