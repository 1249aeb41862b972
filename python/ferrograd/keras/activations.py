"""`keras.activations`: Keras's activation functions on ferrograd tensors, by name or callable."""
import ferrograd as torch
import ferrograd.nn.functional as F


def linear(x):
    return x


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return F.relu(x)
    shifted = x - threshold
    out = torch.where(x >= threshold, x, shifted * negative_slope)
    if max_value is not None:
        out = torch.clamp(out, max=max_value)
    return out


def relu6(x):
    return F.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(x, negative_slope)


def sigmoid(x):
    return torch.sigmoid(x)


def hard_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


def tanh(x):
    return torch.tanh(x)


def softmax(x, axis=-1):
    return F.softmax(x, dim=axis)


def log_softmax(x, axis=-1):
    return F.log_softmax(x, dim=axis)


def elu(x, alpha=1.0):
    return F.elu(x, alpha)


def selu(x):
    return F.selu(x)


def softplus(x):
    return F.softplus(x)


def softsign(x):
    return F.softsign(x)


def silu(x):
    return F.silu(x)


def gelu(x, approximate=False):
    return F.gelu(x, approximate="tanh" if approximate else "none")


def exponential(x):
    return torch.exp(x)


def mish(x):
    return F.mish(x)


swish = silu
hard_silu = hard_swish = lambda x: x * hard_sigmoid(x)  # noqa: E731

_BY_NAME = {f.__name__: f for f in (linear, relu, relu6, leaky_relu, sigmoid, hard_sigmoid, tanh, softmax,
                                    log_softmax, elu, selu, softplus, softsign, silu, gelu, exponential, mish)}
_BY_NAME.update(swish=silu, hard_silu=hard_silu, hard_swish=hard_silu)


def get(identifier):
    """An activation from its name, a callable, a serialized dict, or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = identifier.get("config", identifier).get("name", identifier.get("class_name"))
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]
        except KeyError:
            raise ValueError(f"Could not interpret activation function identifier: {identifier!r} "
                             f"(known: {', '.join(sorted(_BY_NAME))})") from None
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation):
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return name
    if hasattr(activation, "get_config"):
        return {"class_name": type(activation).__name__, "config": activation.get_config()}
    raise ValueError(f"cannot serialize the activation {activation!r}: it is not one of Keras's by name")


def deserialize(config):
    return get(config)
