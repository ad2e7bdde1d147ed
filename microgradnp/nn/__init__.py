"""Neural-network building blocks: modules (layers that hold their parameters) and, in
`functional`, the loss functions."""

from . import functional
from .modules import IncompatibleKeys, Linear, Module, ReLU, Sequential, Sigmoid, Tanh

__all__ = [
    "IncompatibleKeys",
    "Linear",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
]
