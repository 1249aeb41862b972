"""Optimizers (`SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`) and learning-rate schedulers.

Each `step()` hands all parameters of a param group to one fused Rust kernel.
"""
from . import lr_scheduler  # noqa: F401
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
