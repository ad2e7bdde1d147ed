"""The public API: every documented name is reachable as mg.<name>, and no module is hidden
behind a function of the same name."""

from __future__ import annotations

import importlib
import pkgutil

import microgradnp as mg

# Every public name (docs/reference documents each: tests/test_docs.py), as listed here on
# purpose: removing one from mg, or adding one, fails the test until this list says so.
PUBLIC_NAMES = [
    "Tensor",
    "GraphCutWarning",
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
    "min",
    "maximum",
    "minimum",
    "where",
    "clip",
    "reshape",
    "transpose",
    "concatenate",
    "stack",
    "broadcast_to",
    "astype",
    "softmax",
    "log_softmax",
    "logsumexp",
    "sign",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "grad",
    "value_and_grad",
    "primitive",
    "Primitive",
    "nn",
    "draw_graph",
    "render_graph",
    "print_graph",
    "format_graph",
    "GraphvizNotFoundError",
    "gradcheck",
    "GradcheckError",
    "check_graph",
    "GraphReport",
    "compare_grads",
    "GradReport",
    "detect_anomaly",
    "stability_warnings",
    "StabilityWarning",
    "optim",
    "datasets",
    "save",
    "load",
]


def test_every_documented_name_is_exported() -> None:
    missing = [name for name in PUBLIC_NAMES if not hasattr(mg, name)]
    assert missing == []
    assert set(mg.__all__) <= set(dir(mg))
    assert sorted(mg.__all__) == sorted(PUBLIC_NAMES)
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
