"""parameters_to_vector / vector_to_parameters."""
from ... import _tensor as T
from ..._core import Tensor
from ...autograd import no_grad

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    return T.cat([param.reshape(-1) for param in parameters])


def vector_to_parameters(vec, parameters):
    """Copies slices of `vec` into the parameters, in place.

    PyTorch assigns `param.data`; ferrograd has no settable `.data`, so the values are copied with
    `param.copy_()` under no_grad: the Parameter objects (and any optimizer holding them) are unchanged.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__module__}.{type(vec).__qualname__}")
    pointer = 0
    with no_grad():
        for param in parameters:
            num_param = param.numel()
            param.copy_(vec[pointer:pointer + num_param].reshape(param.shape))
            pointer += num_param
