"""The public API: every documented name is reachable as mg.<name>, and no module is hidden
behind a function of the same name."""

from __future__ import annotations

import importlib
import pkgutil

import microgradnp as mg

ISSUE_NAMES = [
    "Tensor",
    "tensor",
    "matmul",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "exp",
    "log",
    "sigmoid",
    "tanh",
    "relu",
    "sqrt",
    "abs",
    "sum",
    "mean",
    "max",
    "maximum",
    "minimum",
    "where",
    "clip",
    "reshape",
    "transpose",
    "concatenate",
    "stack",
    "softmax",
    "log_softmax",
    "logsumexp",
    "no_grad",
    "grad",
    "value_and_grad",
    "primitive",
    "nn",
    "draw_graph",
    "render_graph",
    "print_graph",
    "format_graph",
    "gradcheck",
    "GradcheckError",
    "check_graph",
    "compare_grads",
    "detect_anomaly",
    "StabilityWarning",
    "optim",
    "datasets",
    "save",
    "load",
]


def test_every_documented_name_is_exported() -> None:
    missing = [name for name in ISSUE_NAMES if not hasattr(mg, name)]
    assert missing == []
    assert set(mg.__all__) <= set(dir(mg))
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss"):
        assert callable(getattr(mg.nn.functional, name))
    assert callable(mg.nn.functional.cross_entropy)
    for name in ("Module", "Linear", "Sequential", "Sigmoid", "Tanh", "ReLU"):
        assert isinstance(getattr(mg.nn, name), type)
    assert {"SGD", "Adam"} <= set(dir(mg.optim))


def test_no_module_is_shadowed_by_a_public_name() -> None:
    for info in pkgutil.iter_modules(mg.__path__):
        module = importlib.import_module(f"microgradnp.{info.name}")
        attribute = getattr(mg, info.name, module)
        assert attribute is module, f"mg.{info.name} is not the module microgradnp.{info.name}"
