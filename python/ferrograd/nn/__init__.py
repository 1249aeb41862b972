"""`ferrograd.nn`: parameters, modules, layers, losses and functional ops."""
from . import functional, init
from .parameter import Buffer, Parameter, UninitializedBuffer, UninitializedParameter
from .modules import *  # noqa: F401,F403
from . import modules, utils  # noqa: F401
