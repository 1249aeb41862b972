"""One training step (zero_grad, forward, cross-entropy, backward, optimizer step) of the seed
models on random data: the MLP 784-128-10 with SGD (momentum 0.9) at batch 64 and 256, and the
CNN (Conv2d(1,16,3,p1)-ReLU-MaxPool2d(2), Conv2d(16,32,3,p1)-ReLU-MaxPool2d(2), Flatten,
Linear(32*7*7,10)) on 28x28 inputs with Adam at batch 32."""
import ferrograd as torch

from . import _workloads as W


class MLPTrainStep:
    params = list(W.MLP_BATCHES)
    param_names = ["batch"]

    def setup(self, batch):
        self.step = W.mlp_train_step(torch, batch)
        self.step()  # first step allocates the optimizer state

    def time_train_step(self, batch):
        self.step()


class CNNTrainStep:
    params = [W.CNN_BATCH]
    param_names = ["batch"]
    timeout = 120
    size = 28

    def setup(self, batch):
        self.step = W.cnn_train_step(torch, batch, size=self.size)
        self.step()

    def time_train_step(self, batch):
        self.step()
