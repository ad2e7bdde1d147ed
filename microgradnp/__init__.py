"""microgradnp: reverse-mode automatic differentiation on NumPy arrays.

    import microgradnp as mg

    W = mg.tensor(np.random.randn(3, 2), requires_grad=True)
    loss = mg.sigmoid(W @ X).mean()
    loss.backward()          # W.grad now holds d loss / d W

Module map (each imports only from the ones above it):
    recording   how an op is defined and recorded: primitive, defvjp, no_grad
    ops         every built-in op, forward and VJP side by side
    engine      backward: topological walk, VJP calls, unbroadcast, accumulation
    tensors     the Tensor class: data, grad, operators and methods
    transforms  grad, value_and_grad
    checking    checking gradients: gradcheck, check_graph, compare_grads, detect_anomaly,
                stability_warnings
    graph       pictures of the graph: draw_graph, render_graph, format_graph, print_graph
    nn          modules (Module, Linear, Sequential, Sigmoid, Tanh, ReLU) and losses
                (nn.functional)
    optim       SGD, Adam
    datasets    toy 2-D datasets: moons, circles, xor, spirals
    serialization  save, load (state dicts as .npz)
    demo        `python -m microgradnp demo`: the README's main command
"""

from . import datasets, nn, optim
from .checking import (
    GradcheckError,
    GradReport,
    GraphReport,
    StabilityWarning,
    check_graph,
    compare_grads,
    detect_anomaly,
    gradcheck,
    stability_warnings,
)
from .graph import GraphvizNotFoundError, draw_graph, format_graph, print_graph, render_graph
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
from .recording import Primitive, enable_grad, is_grad_enabled, no_grad, primitive
from .serialization import load, save
from .tensors import GraphCutWarning, Tensor, tensor
from .transforms import grad, value_and_grad

__version__ = "0.1.0"

__all__ = [
    "GradReport",
    "GradcheckError",
    "GraphCutWarning",
    "GraphReport",
    "GraphvizNotFoundError",
    "Primitive",
    "StabilityWarning",
    "Tensor",
    "abs",
    "add",
    "astype",
    "broadcast_to",
    "check_graph",
    "clip",
    "compare_grads",
    "concatenate",
    "datasets",
    "detect_anomaly",
    "div",
    "draw_graph",
    "enable_grad",
    "equal",
    "exp",
    "format_graph",
    "grad",
    "gradcheck",
    "greater",
    "greater_equal",
    "is_grad_enabled",
    "less",
    "less_equal",
    "load",
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
    "optim",
    "pow",
    "print_graph",
    "primitive",
    "relu",
    "render_graph",
    "save",
    "reshape",
    "sigmoid",
    "sign",
    "softmax",
    "sqrt",
    "stability_warnings",
    "stack",
    "sub",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "value_and_grad",
    "where",
]
