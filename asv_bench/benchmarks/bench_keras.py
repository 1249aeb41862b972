"""ferrograd.keras `fit`: one epoch on the shipped digits (batch 32, SGD with momentum) of the
digits MLP and of the seed CNN, with and without an accuracy metric, and the same epoch as a
hand-written loop over the same model (their ratio is fit's overhead)."""
from . import _keras_workloads as W


class KerasFitEpoch:
    params = (sorted(W.MODELS), ["none", "accuracy"])
    param_names = ["model", "metrics"]
    timeout = 120

    def setup(self, model, metrics):
        from ferrograd import keras
        self.epoch = W.keras_fit_epoch(keras, model, () if metrics == "none" else (metrics,))
        self.epoch()

    def time_fit_epoch(self, model, metrics):
        self.epoch()


class HandLoopEpoch:
    params = sorted(W.MODELS)
    param_names = ["model"]
    timeout = 120

    def setup(self, model):
        self.epoch = W.hand_loop_epoch(model)
        self.epoch()

    def time_epoch(self, model):
        self.epoch()
