"""`keras.backend` / `keras.config`: the settings Keras code reads (float type, epsilon, image
data format) and `clear_session`. ferrograd.keras computes in float32 with channels_last
layouts by default, as Keras."""
from ._common import clear_session  # noqa: F401

_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"


def backend():
    return "ferrograd"


def floatx():
    return "float32"


def epsilon():
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    global _IMAGE_DATA_FORMAT
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                         f"Received: data_format={data_format}")
    _IMAGE_DATA_FORMAT = data_format
