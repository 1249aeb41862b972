"""`ferrograd.jit`: the define-then-run form of graph capture (`torch.jit.trace`'s shape)."""
from ._compile import trace

__all__ = ["trace"]
