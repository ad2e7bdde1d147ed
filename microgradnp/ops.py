"""Every built-in op: its NumPy forward and its vector-Jacobian product (VJP), side by side.

Each op is made with the public mechanism users get (`primitive` + `defvjp`, see
`recording.py`). A VJP `vjp(g, ans, *args, **settings)` maps the output's gradient `g` to an
input's gradient. VJPs use operators and the functions of this module, not NumPy: during an
ordinary backward they are called with plain arrays, and these functions then return plain
arrays (NumPy speed); when a gradient is itself differentiated (`mg.grad(mg.grad(f))`) they
are called with Tensors and record a graph. Broadcasting is never undone here: the engine
sums a gradient back to its input's shape in one place (`engine.unbroadcast`).

Several names shadow Python builtins (`sum`, `max`, `min`, `abs`, `pow`), as in NumPy;
this module reaches the builtins through `builtins`.
"""

from __future__ import annotations

import builtins
import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .recording import (
    check_flags,
    is_integer,
    is_library_code,
    is_tensor,
    primitive,
    type_and_dtype,
    values_of,
)

if TYPE_CHECKING:
    from .tensors import Tensor

Axis = int | tuple[int, ...] | None


# ---------------------------------------------------------------- elementwise arithmetic


@primitive(saves_inputs=False)
def add(a: Any, b: Any) -> np.ndarray:
    """a + b, broadcasting."""
    return np.add(a, b)


add.defvjp(lambda g, ans, a, b: g, lambda g, ans, a, b: g)


@primitive(saves_inputs=False)
def sub(a: Any, b: Any) -> np.ndarray:
    """a - b, broadcasting."""
    return np.subtract(a, b)


sub.defvjp(lambda g, ans, a, b: g, lambda g, ans, a, b: -g)


@primitive
def mul(a: Any, b: Any) -> np.ndarray:
    """a * b elementwise, broadcasting."""
    return np.multiply(a, b)


mul.defvjp(lambda g, ans, a, b: g * b, lambda g, ans, a, b: g * a)


@primitive
def div(a: Any, b: Any) -> np.ndarray:
    """a / b (true division), broadcasting."""
    return np.true_divide(a, b)


div.defvjp(lambda g, ans, a, b: g / b, lambda g, ans, a, b: -g * ans / b)


@primitive(saves_inputs=False)
def neg(x: Any) -> np.ndarray:
    """-x."""
    return np.negative(x)


neg.defvjp(lambda g, ans, x: -g)


@primitive
def pow(x: Any, p: Any) -> np.ndarray:
    """x ** p, broadcasting; differentiable in both."""
    return np.power(x, p)


def _in_result_dtype(v: Any, ans: Any) -> Any:
    """v converted to the dtype of the op's result where v is a float array of another
    float type: a float32 base of a float64 power is differentiated in float64 (its log,
    p - 1). (Numbers and integers take the result's precision in NumPy anyway.)"""
    data = v.data if is_tensor(v) else v
    if isinstance(data, np.ndarray | np.floating) and data.dtype.kind == "f":
        dtype = values_of(ans).dtype
        if data.dtype != dtype:
            return astype(v, dtype)
    return v


def _pow_vjp_x(g: Any, ans: Any, x: Any, p: Any) -> Any:
    # p x**(p-1). Where p == 0 and x == 0 that is 0 * 0**-1 = NaN; it is taken as 0, as
    # PyTorch does (x**0 is constant in x).
    x, p = _in_result_dtype(x, ans), _in_result_dtype(p, ans)
    if not is_tensor(p) and np.ndim(p) == 0:  # one exponent (a number): decided once
        return g * 0.0 if p == 0 else g * p * x ** (p - 1)
    p = _array(p)
    both_zero = (values_of(p) == 0) & (values_of(x) == 0)
    if not both_zero.any():
        return g * p * x ** (p - 1)
    # x is set to 1 there before the power, so that no inf reaches a higher derivative
    # (masking p - 1 instead would make d/dp of this gradient wrong at p = 0)
    return g * where(both_zero, 0.0, p * where(both_zero, 1.0, x) ** (p - 1))


def _pow_vjp_p(g: Any, ans: Any, x: Any, p: Any) -> Any:
    # d/dp x**p = x**p log x. Taken as 0 where x == 0 (the limit for p > 0, and PyTorch's
    # convention); NaN for x < 0, where x**p is not real-differentiable in p. Both factors
    # are masked there (x**p to 0, x to 1): x**p is inf for p < 0, and inf * log(1) would
    # be NaN, with NumPy's invalid-value warning.
    x = _in_result_dtype(x, ans)
    at_zero = x == 0
    return g * (where(at_zero, 0.0, ans) * log(where(at_zero, 1.0, x)))


pow.defvjp(_pow_vjp_x, _pow_vjp_p)


def _masked(g: Any, mask: Any, tie: Any = None) -> Any:
    """g where mask is true, g / 2 where tie is, and exactly 0 elsewhere: the gradient of
    an op that passes its input on where mask holds and is constant in it elsewhere
    (relu, clip, maximum, minimum).

    Exactly 0 even where g is inf or NaN, as PyTorch's masking with `where` gives: a
    product g * mask would make inf * 0 = NaN there (sqrt(relu(x)) at x < 0). The product
    is still what runs when g is finite, checked first (one cheap pass, about a fifth of
    the product's time): np.where is several times slower than a product on a mask that
    alternates at random, as a relu's does.
    """
    if type(g) is np.ndarray and np.isfinite(g).all():  # (Tensors: recorded, below)
        return g * mask if tie is None else g * (mask + 0.5 * tie)
    rest = 0.0 if tie is None else where(tie, 0.5 * g, 0.0)
    return where(mask, g, rest)


@primitive
def maximum(a: Any, b: Any) -> np.ndarray:
    """Elementwise maximum; at ties the gradient is split evenly between a and b (exactly 0
    for the other, even where an inf or NaN gradient flows in)."""
    return np.maximum(a, b)


maximum.defvjp(
    lambda g, ans, a, b: _masked(g, a > b, tie=a == b),
    lambda g, ans, a, b: _masked(g, b > a, tie=a == b),
)


@primitive
def minimum(a: Any, b: Any) -> np.ndarray:
    """Elementwise minimum; at ties the gradient is split evenly between a and b (exactly 0
    for the other, even where an inf or NaN gradient flows in)."""
    return np.minimum(a, b)


minimum.defvjp(
    lambda g, ans, a, b: _masked(g, a < b, tie=a == b),
    lambda g, ans, a, b: _masked(g, b < a, tie=a == b),
)


@primitive
def where(condition: Any, a: Any, b: Any) -> np.ndarray:
    """a where condition is true, else b (broadcasting). Not differentiable in condition.

    The condition holds booleans, or numbers (true where nonzero, as in NumPy); strings and
    other objects raise TypeError.
    """
    c = np.asarray(condition)
    if c.dtype.kind not in "biuf":
        raise TypeError(
            "where: the condition must hold booleans (or real numbers, true where nonzero), "
            f"got {type_and_dtype(condition, c)}; e.g. mg.where(x > 0, a, b)"
        )
    return np.where(c, a, b)


where.defvjp(
    None,
    lambda g, ans, c, a, b: where(c, g, 0.0),
    lambda g, ans, c, a, b: where(c, 0.0, g),
)


@primitive
def clip(x: Any, min: Any = None, max: Any = None) -> np.ndarray:
    """x limited to [min, max] (either may be None). The gradient passes where
    min <= x <= max (elsewhere it is exactly 0, even for an inf or NaN gradient flowing
    in); a tensor bound gets the gradient where it is the result."""
    if min is None and max is None:
        return np.array(x, copy=True)
    return np.clip(x, min, max)


def _clip_vjp_x(g: Any, ans: Any, x: Any, min: Any = None, max: Any = None) -> Any:
    if min is None and max is None:
        return g
    if max is None:
        return _masked(g, x >= min)
    if min is None:
        return _masked(g, x <= max)
    return _masked(g, (x >= min) * (x <= max))  # (`*` of booleans: and, as Tensors have no &)


def _clip_vjp_min(g: Any, ans: Any, x: Any, min: Any = None, max: Any = None) -> Any:
    if max is None:
        return _masked(g, x < min)
    low, high = values_of(min), values_of(max)  # (where min > max, max is the result)
    return _masked(g, (values_of(x) < low) & (low <= high))


def _clip_vjp_max(g: Any, ans: Any, x: Any, min: Any = None, max: Any = None) -> Any:
    if min is None:
        return _masked(g, x > max)
    low, high = values_of(min), values_of(max)
    return _masked(g, (values_of(x) > high) | (low > high))


clip.defvjp(_clip_vjp_x, _clip_vjp_min, _clip_vjp_max)


# ---------------------------------------------------------------- not differentiable
# Piecewise constant: their output records no history (the derivative is zero).


@primitive(differentiable=False)
def sign(x: Any) -> np.ndarray:
    """-1, 0 or 1 elementwise (no gradient flows through it)."""
    return np.sign(x)


@primitive(differentiable=False)
def equal(a: Any, b: Any) -> np.ndarray:
    """a == b elementwise, as booleans."""
    return np.equal(a, b)


@primitive(differentiable=False)
def not_equal(a: Any, b: Any) -> np.ndarray:
    """a != b elementwise, as booleans."""
    return np.not_equal(a, b)


@primitive(differentiable=False)
def less(a: Any, b: Any) -> np.ndarray:
    """a < b elementwise, as booleans."""
    return np.less(a, b)


@primitive(differentiable=False)
def less_equal(a: Any, b: Any) -> np.ndarray:
    """a <= b elementwise, as booleans."""
    return np.less_equal(a, b)


@primitive(differentiable=False)
def greater(a: Any, b: Any) -> np.ndarray:
    """a > b elementwise, as booleans."""
    return np.greater(a, b)


@primitive(differentiable=False)
def greater_equal(a: Any, b: Any) -> np.ndarray:
    """a >= b elementwise, as booleans."""
    return np.greater_equal(a, b)


# ---------------------------------------------------------------- elementwise functions


@primitive(saves_inputs=False)
def exp(x: Any) -> np.ndarray:
    """e ** x."""
    return np.exp(x)


exp.defvjp(lambda g, ans, x: g * ans)


@primitive
def log(x: Any) -> np.ndarray:
    """Natural logarithm."""
    return np.log(x)


log.defvjp(lambda g, ans, x: g / x)


class StabilityWarning(UserWarning):
    """A numerically fragile expression that has a stable replacement, e.g. log(sigmoid(z)).

    Shown once per source line (Python's default warning filter); turn it off with
    `mg.stability_warnings(False)`.
    """


_STABILITY_ADVICE = {
    "sigmoid": (
        "log of a sigmoid (log(p) or log(1 - p) with p = sigmoid(z)) loses precision, and gives "
        "an infinite loss and NaN gradients once the sigmoid saturates (p rounds to 0 or 1). "
        "Compute the loss from the logits z instead: "
        "mg.nn.functional.binary_cross_entropy_with_logits(z, y) is exact for every z, and its "
        "gradient is (sigmoid(z) - y) / m. (To silence: mg.stability_warnings(False))"
    ),
    "softmax": (
        "log(softmax(x)) loses precision, and gives -inf and NaN gradients once a probability "
        "underflows to 0. Use mg.log_softmax(x, axis=...) instead (or "
        "mg.nn.functional.cross_entropy on the logits). (To silence: "
        "mg.stability_warnings(False))"
    ),
}


def _lint_log(x: Any) -> None:
    """log's stability lint (run before the forward): warn when x is a sigmoid or softmax."""
    kind = _saturating_source(x)
    if kind is not None:
        _warn_in_user_code(_STABILITY_ADVICE[kind])


def _node_of(a: Any) -> Any:
    return a._node if is_tensor(a) else None  # a computed Tensor's record; None for constants


def _op_name(a: Any) -> str | None:
    node = _node_of(a)
    return None if node is None else node.op.name


_LOOK_THROUGH = frozenset({"sub", "add", "maximum", "minimum", "clip", "div"})


def _saturating_source(x: Any) -> str | None:
    """The op, sigmoid or softmax, whose output p x is made of: x is p, 1 - p, p + eps,
    max(p, eps) or clip(p, ...) (up to three such steps), p = sigmoid(z) (also written
    1 / (1 + exp(-z))) or softmax(z). None otherwise. Looks at a few nodes only: cheap."""
    node, complement = _node_of(x), False
    for _ in range(4):
        if node is None or node.args is None:
            return None
        name, args = node.op.name, node.args
        if name == "sigmoid" or (name == "softmax" and not complement):
            return name
        if name not in _LOOK_THROUGH:
            return None
        first, second = _node_of(args[0]), _node_of(args[1]) if len(args) > 1 else None
        if name == "div":  # 1 / (1 + exp(-z))?
            if first is None and second is not None and second.op.name == "add":
                inner = sorted(_op_name(a) or "" for a in second.args or ())
                return "sigmoid" if inner == ["", "exp"] else None
            return None
        if name == "sub":  # 1 - p (not 2 - p, which stays away from 0)
            if first is not None or not _all_near(args[0], 1.0):
                return None
            node, complement = second, True
        elif name == "clip":  # clip(p, eps, ...)
            if len(args) > 1 and args[1] is not None and not _all_near(args[1], 0.0):
                return None
            node = first
        elif (first is None) == (second is None):
            return None
        else:  # p + eps, max(p, eps), min(p, c) (not p + 1 or max(p, 0.5))
            constant = args[0] if first is None else args[1]
            if name != "minimum" and not _all_near(constant, 0.0):
                return None
            node = first if second is None else second
    return None


def _all_near(value: Any, target: float) -> bool:
    """Whether a constant operand is everywhere less than 0.1 away from target: an epsilon
    below 0.1 (p + 0.1 is not one), or 1 (the 1 of 1 - p)."""
    if isinstance(value, int | float):  # (the common case: no array made)
        return builtins.abs(value - target) < 0.1
    return bool(np.all(np.abs(values_of(value) - target) < 0.1))


# Frames an op call from user code passes through on its way to a lint.
_CALL_PATH = frozenset({__name__, f"{__package__}.recording", f"{__package__}.tensors"})


def _warn_in_user_code(message: str, category: type[Warning] = StabilityWarning) -> None:
    """Warn, attributed to the user's line that called the op (so Python's default filter
    shows it once per line). Silent when library code made the call (a loss function's own
    log, a VJP during a higher-order backward), or NumPy's own code (a NumPy function calling
    another): the expression is not the user's."""
    frame: Any = sys._getframe(1)
    level = 2  # warnings.warn's stacklevel for `frame`
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in _CALL_PATH:
            if is_library_code(module) or module == "numpy" or module.startswith("numpy."):
                return
            break
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


log.lint = _lint_log


@primitive(saves_inputs=False)
def sqrt(x: Any) -> np.ndarray:
    """Square root; its gradient at 0 is inf, as the derivative is."""
    return np.sqrt(x)


sqrt.defvjp(lambda g, ans, x: g / (2 * ans))


@primitive
def abs(x: Any) -> np.ndarray:
    """|x|; its gradient at 0 is 0."""
    return np.abs(x)


abs.defvjp(lambda g, ans, x: g * sign(x))


@primitive(saves_inputs=False)
def tanh(x: Any) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(x)


tanh.defvjp(lambda g, ans, x: g * (1 - ans * ans))


@primitive(saves_inputs=False)
def sigmoid(x: Any) -> np.ndarray:
    """The logistic function 1 / (1 + e**-x); accurate and warning-free for every x.

    Integers and booleans give float64; other non-float input (None, complex numbers,
    dates, objects, strings) raises TypeError, as for the other elementwise ops.
    """
    given, x = x, np.asarray(x)
    if x.dtype.kind != "f":  # (the check costs nothing for float input)
        if x.dtype.kind not in "biu":
            raise TypeError(
                "expected real numbers (floating-point, integer or boolean), got "
                f"{type_and_dtype(given, x)}; pass a tensor, an array or numbers"
            )
        x = x.astype(np.float64)
    out = np.negative(x, out=np.empty_like(x))  # one array, every step in place (0-d too)
    try:
        with np.errstate(over="raise"):
            np.exp(out, out=out)
    except FloatingPointError:
        # e**-x overflowed (x below about -709 in float64): the two-sided form, exact down
        # to the smallest float
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    out += 1
    return np.divide(1, out, out=out)  # (not np.reciprocal: NumPy does not vectorize it)


@sigmoid.defvjp
def _sigmoid_vjp(g: Any, ans: Any, x: Any) -> Any:
    # g * ans * (1 - ans), with one temporary instead of three: on arrays the augmented
    # operators work in place; on Tensors (a recorded second derivative) they record ops.
    d = 1 - ans
    d *= ans
    d *= g
    return d


@primitive
def relu(x: Any) -> np.ndarray:
    """max(x, 0); its gradient is exactly 0 for x <= 0 (even for an inf or NaN gradient
    flowing in)."""
    return np.maximum(x, 0)


relu.defvjp(lambda g, ans, x: _masked(g, x > 0))


@primitive(saves_inputs=False)
def astype(x: Any, dtype: Any) -> np.ndarray:
    """x converted to `dtype`; the gradient is converted back."""
    if np.dtype(dtype).kind not in "biuf":
        raise TypeError(
            f"astype: a tensor holds real numbers, not {np.dtype(dtype)}; for other types "
            "convert x.numpy() (or x.tolist())"
        )
    return np.asarray(x).astype(dtype)


astype.defvjp(lambda g, ans, x, dtype: astype(g, x.dtype), None)


# ---------------------------------------------------------------- reductions


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """`axis` (None, an int or a tuple, negative allowed) as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    return tuple(int(a) % ndim if ndim else int(a) for a in axes)


def _kept_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    """The shape a reduction over `axis` with keepdims=True gives."""
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _unreduce(g: Any, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> Any:
    """The gradient (or value) of a reduction over `axis`, broadcast back to the input's shape."""
    if not keepdims and axis is not None:
        g = g.reshape(_kept_shape(shape, axis))
    return broadcast_to(g, shape)


def _keepdims(op: str, keepdims: Any) -> bool:
    """keepdims as a Python bool; TypeError unless it is a bool (NumPy takes any value by
    its truth: "no" would keep the axes) or NumPy's bool (which NumPy's sum refuses). Each
    reduction calls this only when keepdims is not False: the default costs one comparison."""
    if keepdims is True:
        return True
    check_flags(op, keepdims=keepdims)
    return bool(keepdims)


@primitive(saves_inputs=False)
def sum(x: Any, axis: Axis = None, *, keepdims: bool = False) -> np.ndarray:
    """Sum over `axis` (None: all axes)."""
    if keepdims is not False:
        keepdims = _keepdims("sum", keepdims)
    return np.asarray(x).sum(axis=axis, keepdims=keepdims)


sum.defvjp(lambda g, ans, x, axis=None, *, keepdims=False: _unreduce(g, x.shape, axis, keepdims))


@primitive(saves_inputs=False)
def mean(x: Any, axis: Axis = None, *, keepdims: bool = False) -> np.ndarray:
    """Mean over `axis` (None: all axes)."""
    if keepdims is not False:
        keepdims = _keepdims("mean", keepdims)
    return np.asarray(x).mean(axis=axis, keepdims=keepdims)


def _mean_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, *, keepdims: bool = False) -> Any:
    count = x.size // ans.size if ans.size else 1
    return _unreduce(g / count, x.shape, axis, keepdims)


mean.defvjp(_mean_vjp)


def _extreme_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, *, keepdims: bool = False) -> Any:
    # The gradient goes to the elements equal to the extreme, split evenly between ties.
    hit = x == _unreduce(ans, x.shape, axis, keepdims)
    count = hit.sum(axis=axis, keepdims=True)
    return _unreduce(g, x.shape, axis, keepdims) * hit / count


@primitive
def max(x: Any, axis: Axis = None, *, keepdims: bool = False) -> np.ndarray:
    """Maximum over `axis`; ties share the gradient evenly."""
    if keepdims is not False:
        keepdims = _keepdims("max", keepdims)
    return np.asarray(x).max(axis=axis, keepdims=keepdims)


max.defvjp(_extreme_vjp)


@primitive
def min(x: Any, axis: Axis = None, *, keepdims: bool = False) -> np.ndarray:
    """Minimum over `axis`; ties share the gradient evenly."""
    if keepdims is not False:
        keepdims = _keepdims("min", keepdims)
    return np.asarray(x).min(axis=axis, keepdims=keepdims)


min.defvjp(_extreme_vjp)


def _finite_max(x: np.ndarray, axis: Axis) -> np.ndarray:
    """max(x, axis, keepdims=True), ±inf replaced by 0: the shift that keeps exp(x - m) exact."""
    if x.size == 0:  # (no max over an empty axis, and nothing to shift)
        return np.zeros(np.sum(x, axis=axis, keepdims=True).shape, x.dtype)
    m = x.max(axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0.0)


@primitive
def logsumexp(x: Any, axis: Axis = None, *, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(x), axis)), computed stably (no overflow at x = 1000)."""
    if keepdims is not False:
        keepdims = _keepdims("logsumexp", keepdims)
    x = np.asarray(x)
    m = _finite_max(x, axis)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@logsumexp.defvjp
def _logsumexp_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, *, keepdims: bool = False) -> Any:
    # The gradient is softmax(x), computed from x shifted by its max (a constant): from
    # exp(x - ans) instead, ans's rounding (an ulp of 1000 is 6e-5 in float32) would show.
    e = exp(x - _finite_max(values_of(x), axis))
    return _unreduce(g, x.shape, axis, keepdims) * (e / e.sum(axis=axis, keepdims=True))


@primitive(saves_inputs=False)
def softmax(x: Any, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x), axis), computed stably."""
    x = np.asarray(x)
    e = np.exp(x - _finite_max(x, axis))
    return e / e.sum(axis=axis, keepdims=True)


softmax.defvjp(lambda g, ans, x, axis=-1: ans * (g - (g * ans).sum(axis=axis, keepdims=True)))


@primitive(saves_inputs=False)
def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x, axis), computed stably."""
    shifted = np.asarray(x) - _finite_max(np.asarray(x), axis)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


log_softmax.defvjp(lambda g, ans, x, axis=-1: g - exp(ans) * g.sum(axis=axis, keepdims=True))


# ---------------------------------------------------------------- shapes


@primitive(saves_inputs=False)
def identity(x: Any) -> np.ndarray:
    """A copy of x, recorded as an op of its own: a new node standing for x (mg.grad
    differentiates with respect to one, so that x used elsewhere stays apart). A copy, so
    that x itself is neither locked nor read again: the caller may update it meanwhile."""
    return np.array(x, copy=True)


identity.defvjp(lambda g, ans, x: g)


@primitive
def reshape(x: Any, shape: int | Sequence[int]) -> np.ndarray:
    """x with a new shape of the same size (one entry may be -1)."""
    return np.reshape(x, shape)


reshape.defvjp(lambda g, ans, x, shape: g.reshape(x.shape), None)


@primitive
def transpose(x: Any, axes: int | Sequence[int] | None = None) -> np.ndarray:
    """x with its axes permuted (None: reversed)."""
    return np.transpose(x, axes)


def _transpose_vjp(g: Any, ans: Any, x: Any, axes: int | Sequence[int] | None = None) -> Any:
    if axes is None:
        return g.transpose()
    if isinstance(axes, int | np.integer):  # (a 1-d x.transpose(0), as NumPy allows)
        axes = (axes,)
    return g.transpose(tuple(np.argsort([a % x.ndim for a in axes]).tolist()))


transpose.defvjp(_transpose_vjp, None)


@primitive
def broadcast_to(x: Any, shape: int | Sequence[int]) -> np.ndarray:
    """x broadcast to `shape`: a read-only view (or, when x is one number and the result
    small, a new array: filling it is several times faster than making the view)."""
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    try:
        if getattr(x, "size", 1) == 1 and np.ndim(x) <= len(shape) and math.prod(shape) <= 4096:
            return np.full(shape, x)
        return np.broadcast_to(x, shape)
    except ValueError:  # (from either: np.full refuses negative sizes, too)
        hint = ""
        if builtins.any(is_integer(n) and n < 0 for n in shape):
            hint = " (sizes must be >= 0: unlike reshape, broadcast_to takes no -1)"
        raise ValueError(
            f"broadcast_to: cannot broadcast shape {np.shape(x)} to {shape}{hint}"
        ) from None


@primitive
def sum_to(x: Any, shape: Sequence[int]) -> np.ndarray:
    """x summed over the axes along which something of `shape` was broadcast to x's shape.

    The inverse of broadcast_to for gradients: the engine undoes broadcasting with it.
    """
    x = np.asarray(x)
    shape = tuple(shape)
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"shape {x.shape} is not a broadcast of shape {shape}")
    axes = list(range(lead))  # the axes broadcasting added in front
    for i, n in enumerate(shape):
        if n != x.shape[lead + i]:
            if n != 1:
                raise ValueError(f"shape {x.shape} is not a broadcast of shape {shape}")
            axes.append(lead + i)  # a length-1 axis that broadcasting stretched
    summed = x.sum(axis=tuple(axes), keepdims=True) if axes else x
    return summed.reshape(shape) if lead else summed


sum_to.defvjp(lambda g, ans, x, shape: broadcast_to(g, x.shape), None)
broadcast_to.defvjp(lambda g, ans, x, shape: sum_to(g, np.shape(x)), None)


def _check_joinable(name: str, arrays: tuple[Any, ...], axis: int, same_axis: bool) -> None:
    if not arrays:
        raise ValueError(f"{name}: needs at least one tensor")
    if not is_integer(axis):
        raise TypeError(f"{name}: axis must be an integer, got {axis!r}")
    _check_numbers(name, arrays)
    shapes = [np.shape(a) for a in arrays]
    first = shapes[0]
    if not same_axis and not first:
        raise ValueError(f"{name}: cannot concatenate 0-d tensors; use mg.stack")
    ndim = len(first) + (1 if same_axis else 0)  # stack adds an axis
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name}: axis {axis} is out of range for {len(first)}-d tensors of shape {first} "
            f"(use -{ndim} <= axis < {ndim})"
        )
    for shape in shapes[1:]:
        if same_axis and shape != first:
            raise ValueError(
                f"{name}: all tensors must have the same shape, got {first} and {shape}"
            )
        if not same_axis:
            ndim = len(first)
            if ndim == 0:
                raise ValueError(f"{name}: cannot concatenate 0-d tensors; use mg.stack")
            ax = axis % ndim
            if len(shape) != ndim or any(
                n != m for i, (n, m) in enumerate(zip(first, shape, strict=True)) if i != ax
            ):
                raise ValueError(
                    f"{name}: shapes {first} and {shape} differ on an axis other than "
                    f"axis={axis}; all axes but the one joined along must match"
                )


def _check_numbers(name: str, items: Sequence[Any]) -> None:
    """Raise TypeError naming the first of the items to join that is not real numbers."""
    for i, item in enumerate(items):
        try:
            array = item if type(item) is np.ndarray else values_of(item)
        except ValueError as err:  # (a ragged nested list)
            raise ValueError(f"{name}: item {i} is not an array: {err}") from None
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{name}: item {i} ({type_and_dtype(item, array)}) is not an array of real "
                f"numbers; join tensors, arrays or numbers, e.g. mg.{name}([a, b])"
            )


@primitive(saves_inputs=False)
def _concatenate(*arrays: Any, axis: int = 0) -> np.ndarray:
    _check_joinable("concatenate", arrays, axis, same_axis=False)
    return np.concatenate(arrays, axis=axis)


@_concatenate.defvjp
def _concatenate_vjp(g: Any, ans: Any, *arrays: Any, axis: int = 0) -> tuple[Any, ...]:
    ax = axis % ans.ndim
    grads, start = [], 0
    for a in arrays:
        stop = start + np.shape(a)[ax]
        grads.append(g[(slice(None),) * ax + (slice(start, stop),)])
        start = stop
    return tuple(grads)


def concatenate(tensors: Sequence[Any], axis: int | None = 0) -> Tensor:
    """Join tensors along an existing axis (None: flattened, one after another, as NumPy)."""
    _check_sequence("concatenate", tensors)
    if axis is None:
        tensors = tuple(tensors)  # (a generator is read twice here)
        _check_numbers("concatenate", tensors)  # (before reshape sees them)
        return _concatenate(*(reshape(t, (-1,)) for t in tensors), axis=0)
    return _concatenate(*tensors, axis=axis)


def _check_sequence(name: str, tensors: Any) -> None:
    if is_tensor(tensors) or not isinstance(tensors, Iterable) or isinstance(tensors, str):
        raise TypeError(
            f"{name}: expected a list or tuple of tensors, got {type(tensors).__name__}; "
            f"e.g. mg.{name}([a, b])"
        )


@primitive(saves_inputs=False)
def _stack(*arrays: Any, axis: int = 0) -> np.ndarray:
    _check_joinable("stack", arrays, axis, same_axis=True)
    return np.stack(arrays, axis=axis)


@_stack.defvjp
def _stack_vjp(g: Any, ans: Any, *arrays: Any, axis: int = 0) -> tuple[Any, ...]:
    ax = axis % ans.ndim
    return tuple(g[(slice(None),) * ax + (i,)] for i in range(len(arrays)))


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    _check_sequence("stack", tensors)
    return _stack(*tensors, axis=axis)


# ---------------------------------------------------------------- indexing


def _is_basic_index(index: Any) -> bool:
    """Whether x[index] can select no element twice (no integer arrays or lists)."""
    parts = index if isinstance(index, tuple) else (index,)
    return builtins.all(
        isinstance(p, int | np.integer | slice | type(None) | type(Ellipsis))
        or (isinstance(p, np.ndarray) and p.dtype == bool and len(parts) == 1)
        for p in parts
    )


@primitive
def getitem(x: Any, index: Any) -> np.ndarray:
    """x[index]: ints, slices, None, Ellipsis, integer arrays and boolean masks."""
    return np.asarray(x)[index]


@primitive
def scatter_add(values: Any, index: Any, *, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of `shape` with `values` added at `index`; repeated indices accumulate.

    The VJP of getitem (and getitem is its VJP).
    """
    values = np.asarray(values)
    out = np.zeros(shape, dtype=values.dtype)
    if _is_basic_index(index):
        out[index] = values
    else:
        np.add.at(out, index, values)
    return out


getitem.defvjp(lambda g, ans, x, index: scatter_add(g, index, shape=np.shape(x)), None)
scatter_add.defvjp(lambda g, ans, values, index, *, shape: getitem(g, index), None)


# ---------------------------------------------------------------- matrix product


def _check_matmul(a: Any, b: Any) -> None:
    for side, x in (("left", a), ("right", b)):
        if type(x) is not np.ndarray and np.asarray(x).dtype.kind not in "biuf":
            raise TypeError(
                f"matmul: the {side} operand is a {type(x).__name__}, not an array of numbers"
            )
    sa = a.shape if type(a) is np.ndarray else np.shape(a)
    sb = b.shape if type(b) is np.ndarray else np.shape(b)
    if not sa or not sb:
        raise ValueError(
            f"matmul: {sa} @ {sb}: matmul needs operands with at least one axis; use * to "
            "multiply by a scalar"
        )
    ka = sa[-1]
    kb = sb[-2] if len(sb) >= 2 else sb[0]
    if ka != kb:
        raise ValueError(
            f"matmul: {sa} @ {sb}: inner dimensions {ka} and {kb} differ (the last axis of "
            "the left operand must match the first axis of the right one for a matrix, its "
            "second-to-last for a stack of matrices); transpose an operand (.T) or swap them"
        )
    batch_a, batch_b = sa[:-2], sb[:-2]
    if batch_a and batch_b:
        try:
            np.broadcast_shapes(batch_a, batch_b)
        except ValueError:
            raise ValueError(
                f"matmul: {sa} @ {sb}: the batch axes {batch_a} and {batch_b} cannot be "
                "broadcast together (each must be equal or 1)"
            ) from None


@primitive
def matmul(a: Any, b: Any) -> np.ndarray:
    """Matrix product a @ b, with NumPy's rules for 1-d operands and stacks of matrices."""
    try:
        return np.multiply(a, b) if _outer_product(a, b) else np.matmul(a, b)
    except (ValueError, TypeError):
        _check_matmul(a, b)  # raises the explanation (checked only on failure: it is cheap
        raise  # next to a big product, not next to a small one)


def _outer_product(a: Any, b: Any) -> bool:
    """Whether a @ b sums over an axis of length 1: each number of the result is then one
    product, and a * b (broadcast) gives the same numbers about 8x faster than matmul."""
    return (
        getattr(a, "ndim", 0) >= 2
        and getattr(b, "ndim", 0) >= 2
        and a.shape[-1] == 1 == b.shape[-2]
    )


def _matmul(a: Any, b: Any) -> Any:
    """a @ b for the VJPs (arrays, or Tensors when recording a higher derivative)."""
    return a * b if _outer_product(a, b) else a @ b


def _array(x: Any) -> Any:
    """x as something with .shape and .ndim (an operand given as a list becomes an array)."""
    return x if hasattr(x, "ndim") or isinstance(x, int | float) else np.asarray(x)


def _mT(x: Any) -> Any:
    """x with its last two axes swapped."""
    return x.T if x.ndim == 2 else x.transpose((*range(x.ndim - 2), x.ndim - 1, x.ndim - 2))


# The matmul VJPs use `@`, `.reshape` and `.T`, which arrays and Tensors both have: plain
# NumPy calls in a first-order backward, recorded ops when differentiating again.


def _matmul_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    b = _array(b)
    if b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n), or (k,) @ (k,) -> ()
        return g.reshape((*g.shape, 1)) * b if a.ndim > 1 else g * b
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m)
        return (b @ g.reshape((*g.shape, 1))).reshape(b.shape[:-1])
    return _matmul(g, _mT(b))


def _matmul_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    a = _array(a)
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m), or (k,) @ (k,) -> ()
        if b.ndim == 1:
            return g * a
        return a.reshape((a.shape[0], 1)) * g.reshape((*g.shape[:-1], 1, g.shape[-1]))
    if b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n): (..., k), the engine sums the batch
        row = g.reshape((*g.shape[:-1], 1, g.shape[-1]))  # (..., 1, n)
        return (row @ a).reshape((*g.shape[:-1], a.shape[-1]))
    return _matmul(_mT(a), g)


matmul.defvjp(_matmul_vjp_a, _matmul_vjp_b)


def _as_index(index: Any) -> Any:
    """An index with its Tensors replaced by their arrays (indices are never differentiated)."""
    if isinstance(index, tuple):
        return tuple(p.data if is_tensor(p) else p for p in index)
    return index.data if is_tensor(index) else index
