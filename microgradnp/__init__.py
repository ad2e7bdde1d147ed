"""microgradnp: reverse-mode automatic differentiation on NumPy arrays.

    import microgradnp as mg

    W = mg.tensor(np.random.randn(3, 2), requires_grad=True)
    loss = mg.sigmoid(W @ X).mean()
    loss.backward()          # W.grad now holds d loss / d W

Module map (each imports only from the ones above it):
    primitive   how an op is defined and recorded: primitive, defvjp, no_grad
    ops         every built-in op, forward and VJP side by side
    engine      backward: topological walk, VJP calls, unbroadcast, accumulation
    tensor      the Tensor class: data, grad, operators and methods
    transforms  grad, value_and_grad
    nn          loss functions (nn.functional)
"""

from . import nn
from .ops import (
    abs,
    add,
    astype,
    broadcast_to,
    clip,
    concatenate,
    div,
    equal,
    exp,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    not_equal,
    pow,
    relu,
    reshape,
    sigmoid,
    sign,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    where,
)
from .primitive import Primitive, enable_grad, is_grad_enabled, no_grad, primitive
from .tensor import Tensor, tensor
from .transforms import grad, value_and_grad

__version__ = "0.1.0"

__all__ = [
    "Primitive",
    "Tensor",
    "abs",
    "add",
    "astype",
    "broadcast_to",
    "clip",
    "concatenate",
    "div",
    "enable_grad",
    "equal",
    "exp",
    "grad",
    "greater",
    "greater_equal",
    "is_grad_enabled",
    "less",
    "less_equal",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "neg",
    "nn",
    "no_grad",
    "not_equal",
    "pow",
    "primitive",
    "relu",
    "reshape",
    "sigmoid",
    "sign",
    "softmax",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "value_and_grad",
    "where",
]
