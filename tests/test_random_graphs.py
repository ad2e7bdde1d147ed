"""Random expression graphs (hypothesis) against NumPy, finite differences and HIPS autograd.

A drawn graph is a small program: 1-3 input tensors of mutually broadcastable shapes (0-d
and size-1 axes included), then up to 10 ops, each applied to the previous result or to any
earlier one (shared subexpressions), with constants, broadcasting, reductions and reshapes
in between; the loss is sum(last * weights). Every op is drawn with its domain respected:
the generator knows each intermediate value (it runs the NumPy reference as it builds), so
log, sqrt, pow bases and divisors are shifted to at least LOW, kinks and ties (relu, abs,
clip, max, min, maximum, minimum) are kept at least MARGIN away, and every value stays
within +-BOUND. A finite difference that still crosses a kink fails with "test bug", not
as a library bug.

Each graph evaluates three ways: microgradnp (what is tested), NumPy (forward values and
central finite differences) and `autograd.numpy` (an independent reverse mode), the
reference being one function of an array namespace `xp`, as in tests/op_table.py.

On failure hypothesis prints the graph as a runnable microgradnp program (the repr), which
is the reproduction. Shrunk failures that were real bugs live in tests/regressions/.
CI runs the "default" profile; `pytest --hypothesis-profile=thorough` runs many more.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from conftest import numerical_grads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_table import logsumexp_reference, sigmoid_reference, softmax_reference

import microgradnp as mg

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")

# Random graphs build naive expressions on purpose (log of a sigmoid, ...).
pytestmark = [
    pytest.mark.filterwarnings("ignore::microgradnp.StabilityWarning"),
    # (autograd's note when a graph ignores one of its inputs: a valid case here)
    pytest.mark.filterwarnings("ignore:Output seems independent of input:UserWarning"),
]

BOUND = 30.0  # every intermediate value lies in [-BOUND, BOUND]
LOW = 0.2  # log, sqrt, pow bases and divisors are at least LOW (away from their poles)
# Distance of a kink's operand from the kink (relu/abs at 0, clip bounds, max/min ties).
# Finite differences move the inputs by 1e-6, which moves an intermediate by at most
# 1e-6 * |its derivative|: MARGIN is safe for derivatives up to 1e4 (the guard in
# `_guarded` checks it on every evaluation anyway).
MARGIN = 0.02
MAX_SIZE = 48  # elements per intermediate value (keeps finite differences cheap)

Operand = Any  # an int (index of an earlier value) or a constant (np.ndarray or float)


# ---------------------------------------------------------------- the ops


@dataclass(frozen=True)
class OpSpec:
    """One op of the generator: microgradnp call, array-namespace reference, source text.

    `mg(p, *args)` calls microgradnp on Tensors (and constants); `ref(xp, p, *args)` is the
    same function for NumPy and autograd.numpy; `code(p, *names)` is the microgradnp source
    of the call (the program printed on failure); `kink(p, *args)`, for ops that are not
    smooth everywhere, gives (distance of the operands from the nearest kink, which side of
    it each element is on) for NumPy values.
    """

    mg: Callable[..., Any]
    ref: Callable[..., Any]
    code: Callable[..., str]
    kink: Callable[..., tuple[float, Any]] | None = None


def _swap_last(ndim: int) -> tuple[int, ...]:
    return (*range(ndim - 2), ndim - 1, ndim - 2)


def _zero_kink(p: dict, x: Any) -> tuple[float, Any]:
    return float(np.min(np.abs(x), initial=np.inf)), x > 0


def _clip_kink(p: dict, x: Any) -> tuple[float, Any]:
    lo, hi = p["lo"], p["hi"]
    d = np.inf
    if lo is not None:
        d = min(d, float(np.min(np.abs(x - lo), initial=np.inf)))
    if hi is not None:
        d = min(d, float(np.min(np.abs(x - hi), initial=np.inf)))
    side = np.stack([x < (-np.inf if lo is None else lo), x > (np.inf if hi is None else hi)])
    return d, side


def _tie_kink(p: dict, a: Any, b: Any) -> tuple[float, Any]:
    return float(np.min(np.abs(a - b), initial=np.inf)), a > b


def _reduced_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else axis
    return tuple(a % ndim for a in axes)


def _extreme_kink(p: dict, x: Any) -> tuple[float, Any]:
    """Gap between the largest (smallest) element and the runner-up, in every reduced slice."""
    axes = _reduced_axes(p["axis"], x.ndim)
    kept = [a for a in range(x.ndim) if a not in axes]
    rows = np.transpose(x, kept + list(axes)).reshape(-1, math.prod(x.shape[a] for a in axes))
    if rows.shape[1] < 2:
        gap = np.inf
    else:
        s = np.sort(rows, axis=1)
        gap = float(np.min(s[:, -1] - s[:, -2] if p["name"] == "max" else s[:, 1] - s[:, 0]))
    extreme = np.max if p["name"] == "max" else np.min
    return gap, x == extreme(x, axis=p["axis"], keepdims=True)


def _reduction_mg(p: dict, x: Any) -> Any:
    name, axis, keepdims = p["name"], p["axis"], p["keepdims"]
    if p["method"]:
        return getattr(x, name)(axis, keepdims=keepdims)
    return getattr(mg, name)(x, axis=axis, keepdims=keepdims)


def _reduction_ref(xp: Any, p: dict, x: Any) -> Any:
    name, axis, keepdims = p["name"], p["axis"], p["keepdims"]
    if name == "logsumexp":
        return logsumexp_reference(xp, x, axis, keepdims)
    return getattr(xp, name)(x, axis=axis, keepdims=keepdims)


def _reduction_code(p: dict, x: str) -> str:
    name, axis, keepdims = p["name"], p["axis"], p["keepdims"]
    if p["method"]:
        return f"{x}.{name}({axis!r}, keepdims={keepdims})"
    return f"mg.{name}({x}, axis={axis!r}, keepdims={keepdims})"


def _matmul_mg(p: dict, a: Any, b: Any) -> Any:
    if p["T"]:
        b = b.T if b.ndim == 2 else mg.transpose(b, _swap_last(b.ndim))
    return a @ b if p["op"] else mg.matmul(a, b)


def _matmul_ref(xp: Any, p: dict, a: Any, b: Any) -> Any:
    if p["T"]:
        b = xp.transpose(b, _swap_last(b.ndim))
    return xp.matmul(a, b)


def _matmul_code(p: dict, a: str, b: str) -> str:
    if p["T"]:
        b = f"{b}.T" if p["ndim"] == 2 else f"mg.transpose({b}, {_swap_last(p['ndim'])})"
    return f"{a} @ {b}" if p["op"] else f"mg.matmul({a}, {b})"


BINARY_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
SCALAR_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _binary(name: str) -> OpSpec:
    """add, sub, mul, div, pow: as an operator (a + b) or a function (mg.add(a, b))."""
    fn = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}.get(name)
    fn = fn or {"div": operator.truediv, "pow": operator.pow}[name]
    return OpSpec(
        mg=lambda p, a, b: fn(a, b) if p["op"] else getattr(mg, name)(a, b),
        ref=lambda xp, p, a, b: fn(a, b),
        code=lambda p, a, b: (
            f"({a} {BINARY_SYMBOL[name]} {b})" if p["op"] else f"mg.{name}({a}, {b})"
        ),
    )


def _where_ref(xp: Any, p: dict, a: Any, b: Any) -> Any:
    # a and b broadcast explicitly: autograd's where cannot unbroadcast its gradients.
    shape = np.broadcast_shapes(np.shape(p["cond"]), np.shape(a), np.shape(b))
    return xp.where(p["cond"], a + xp.zeros(shape), b + xp.zeros(shape))


OPS: dict[str, OpSpec] = {
    "neg": OpSpec(lambda p, x: -x, lambda xp, p, x: -x, lambda p, x: f"(-{x})"),
    "exp": OpSpec(lambda p, x: mg.exp(x), lambda xp, p, x: xp.exp(x), lambda p, x: f"mg.exp({x})"),
    "log": OpSpec(lambda p, x: x.log(), lambda xp, p, x: xp.log(x), lambda p, x: f"{x}.log()"),
    "sqrt": OpSpec(
        lambda p, x: mg.sqrt(x), lambda xp, p, x: xp.sqrt(x), lambda p, x: f"mg.sqrt({x})"
    ),
    "tanh": OpSpec(
        lambda p, x: mg.tanh(x), lambda xp, p, x: xp.tanh(x), lambda p, x: f"mg.tanh({x})"
    ),
    "sigmoid": OpSpec(
        lambda p, x: mg.sigmoid(x),
        lambda xp, p, x: sigmoid_reference(xp, x),
        lambda p, x: f"mg.sigmoid({x})",
    ),
    "abs": OpSpec(
        lambda p, x: abs(x), lambda xp, p, x: xp.abs(x), lambda p, x: f"abs({x})", _zero_kink
    ),
    "relu": OpSpec(
        lambda p, x: mg.relu(x),
        lambda xp, p, x: xp.maximum(x, 0.0),
        lambda p, x: f"mg.relu({x})",
        _zero_kink,
    ),
    "clip": OpSpec(
        lambda p, x: mg.clip(x, p["lo"], p["hi"]),
        lambda xp, p, x: xp.clip(x, p["lo"], p["hi"]),
        lambda p, x: f"mg.clip({x}, {p['lo']!r}, {p['hi']!r})",
        _clip_kink,
    ),
    "pow_const": OpSpec(
        lambda p, x: x ** p["p"], lambda xp, p, x: x ** p["p"], lambda p, x: f"({x} ** {p['p']!r})"
    ),
    "rpow": OpSpec(
        lambda p, x: p["c"] ** x, lambda xp, p, x: p["c"] ** x, lambda p, x: f"({p['c']!r} ** {x})"
    ),
    "scalar": OpSpec(  # a Python number on either side of an operator
        lambda p, a, b: SCALAR_OPS[p["sym"]](a, b),
        lambda xp, p, a, b: SCALAR_OPS[p["sym"]](a, b),
        lambda p, a, b: f"({a} {p['sym']} {b})",
    ),
    **{name: _binary(name) for name in BINARY_SYMBOL},
    "maximum": OpSpec(
        lambda p, a, b: mg.maximum(a, b),
        lambda xp, p, a, b: xp.maximum(a, b),
        lambda p, a, b: f"mg.maximum({a}, {b})",
        _tie_kink,
    ),
    "minimum": OpSpec(
        lambda p, a, b: mg.minimum(a, b),
        lambda xp, p, a, b: xp.minimum(a, b),
        lambda p, a, b: f"mg.minimum({a}, {b})",
        _tie_kink,
    ),
    "where": OpSpec(
        lambda p, a, b: mg.where(p["cond"], a, b),
        _where_ref,
        lambda p, a, b: f"mg.where({_const_code(p['cond'])}, {a}, {b})",
    ),
    "where_cmp": OpSpec(
        lambda p, c, a, b: mg.where(c > p["t"], a, b),
        lambda xp, p, c, a, b: _where_ref(xp, {"cond": c > p["t"]}, a, b),
        lambda p, c, a, b: f"mg.where({c} > {p['t']!r}, {a}, {b})",
        lambda p, c, a, b: (float(np.min(np.abs(c - p["t"]))), c > p["t"]),
    ),
    "matmul": OpSpec(_matmul_mg, _matmul_ref, _matmul_code),
    "concatenate": OpSpec(
        lambda p, *xs: mg.concatenate(list(xs), axis=p["axis"]),
        lambda xp, p, *xs: xp.concatenate(list(xs), axis=p["axis"]),
        lambda p, *xs: f"mg.concatenate([{', '.join(xs)}], axis={p['axis']})",
    ),
    "stack": OpSpec(
        lambda p, *xs: mg.stack(list(xs), axis=p["axis"]),
        lambda xp, p, *xs: xp.stack(list(xs), axis=p["axis"]),
        lambda p, *xs: f"mg.stack([{', '.join(xs)}], axis={p['axis']})",
    ),
    "reduce": OpSpec(_reduction_mg, _reduction_ref, _reduction_code),
    "extreme": OpSpec(_reduction_mg, _reduction_ref, _reduction_code, _extreme_kink),
    "softmax": OpSpec(
        lambda p, x: getattr(mg, p["name"])(x, axis=p["axis"]),
        lambda xp, p, x: (
            softmax_reference(xp, x, p["axis"])
            if p["name"] == "softmax"
            else x - logsumexp_reference(xp, x, p["axis"], True)
        ),
        lambda p, x: f"mg.{p['name']}({x}, axis={p['axis']})",
    ),
    "reshape": OpSpec(
        lambda p, x: x.reshape(p["shape"]),
        lambda xp, p, x: xp.reshape(x, p["shape"]),
        lambda p, x: f"{x}.reshape({p['shape']!r})",
    ),
    "transpose": OpSpec(
        lambda p, x: x.T if p["axes"] is None else mg.transpose(x, p["axes"]),
        lambda xp, p, x: xp.transpose(x, p["axes"]),
        lambda p, x: f"{x}.T" if p["axes"] is None else f"mg.transpose({x}, {p['axes']!r})",
    ),
    "broadcast_to": OpSpec(
        lambda p, x: mg.broadcast_to(x, p["shape"]),
        lambda xp, p, x: x + xp.zeros(p["shape"]),
        lambda p, x: f"mg.broadcast_to({x}, {p['shape']!r})",
    ),
    "getitem": OpSpec(
        lambda p, x: x[p["index"]],
        lambda xp, p, x: x[p["index"]],
        lambda p, x: f"{x}[{_index_code(p['index'])}]",
    ),
}


def _const_code(c: Any) -> str:
    """Source text for a constant, exact (Python's float repr round-trips)."""
    if isinstance(c, np.ndarray):
        dtype = "" if c.dtype == np.float64 else f", dtype=np.{c.dtype.name}"
        return f"np.array({c.tolist()!r}{dtype})"
    return repr(c)


def _index_code(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    text = []
    for part in parts:
        if isinstance(part, slice):
            text.append(
                ":".join("" if v is None else str(v) for v in (part.start, part.stop, part.step))
            )
        elif part is None:
            text.append("None")
        elif part is Ellipsis:
            text.append("...")
        else:
            text.append(_const_code(part))
    return ", ".join(text) + ("," if isinstance(index, tuple) and len(index) == 1 else "")


# ---------------------------------------------------------------- graphs


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple[Operand, ...]  # ints: earlier values (inputs first); others: constants
    params: dict
    shifts: tuple[float, ...]  # added to each operand first (to enter the op's domain)


@dataclass(frozen=True)
class Graph:
    inputs: tuple[np.ndarray, ...]
    nodes: tuple[Node, ...]
    weights: np.ndarray  # loss = sum(last value * weights)

    def values(self, xp: Any, arrays: Sequence[Any], kinks: list | None = None) -> list[Any]:
        """Every value of the graph, evaluated by `xp`: mg (on Tensors), numpy or autograd.

        With `kinks` (NumPy only), appends each kinked op's side-of-the-kink array.
        """
        vals = list(arrays)
        for node in self.nodes:
            spec = OPS[node.op]
            args = []
            for a, s in zip(node.args, node.shifts, strict=True):
                v = vals[a] if isinstance(a, int) else a
                args.append(v + s if s else v)
            if xp is mg:
                vals.append(spec.mg(node.params, *args))
            else:
                vals.append(spec.ref(xp, node.params, *args))
                if kinks is not None and spec.kink is not None:
                    kinks.append(spec.kink(node.params, *args)[1])
        return vals

    def loss(self, xp: Any, *arrays: Any) -> Any:
        last = self.values(xp, arrays)[-1]
        return mg.sum(last * self.weights) if xp is mg else xp.sum(last * self.weights)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # (hypothesis prints failing examples with this)

    def __repr__(self) -> str:
        """The graph as a microgradnp program (what hypothesis prints for a failing case)."""
        lines = ["import numpy as np", "import microgradnp as mg", ""]
        names = []
        for i, x in enumerate(self.inputs):
            names.append(f"x{i}")
            lines.append(f"x{i} = mg.tensor({_const_code(x)}, requires_grad=True)")
        for k, node in enumerate(self.nodes):
            args = []
            for a, s in zip(node.args, node.shifts, strict=True):
                text = names[a] if isinstance(a, int) else _const_code(a)
                args.append(f"({text} + {s!r})" if s else text)
            name = f"v{k + 1}"
            lines.append(f"{name} = {OPS[node.op].code(node.params, *args)}")
            names.append(name)
        lines.append(f"loss = mg.sum({names[-1]} * {_const_code(self.weights)})")
        lines.append("loss.backward()")
        return "\n".join(lines)


# ---------------------------------------------------------------- the generator


def _shift_to(x: np.ndarray, low: float) -> float:
    """The constant (0 if none is needed) that brings min(x + s) to at least `low`."""
    smallest = float(np.min(x, initial=np.inf))
    return 0.0 if smallest >= low else math.ceil((low - smallest) * 100) / 100


def _nonzero_shift(x: np.ndarray) -> float:
    """0 if |x| >= LOW everywhere, else the shift making x + s >= LOW."""
    return 0.0 if np.min(np.abs(x), initial=np.inf) >= LOW else _shift_to(x, LOW)


def _thresholds(x: np.ndarray) -> list[float]:
    """Numbers between x's distinct values (and beyond them), well clear of every element:
    clip bounds and comparison thresholds that finite differences cannot cross."""
    edges = np.concatenate([[-BOUND], np.unique(np.round(x, 6)), [BOUND]])
    return [float(a + b) / 2 for a, b in itertools.pairwise(edges) if b - a > 4 * MARGIN]


def _broadcastable(*shapes: tuple[int, ...]) -> bool:
    try:
        return math.prod(np.broadcast_shapes(*shapes)) <= MAX_SIZE
    except ValueError:
        return False


@st.composite
def _compatible_shape(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with `shape`: leading axes dropped or added, axes set to 1."""
    keep = draw(st.integers(0, len(shape)))
    out = [1 if draw(st.booleans()) else n for n in shape[len(shape) - keep :]]
    if keep == len(shape) and draw(st.booleans()):  # a new axis in front of all of shape's
        out = [draw(st.integers(1, 3)), *out]
    return tuple(out)


def _constant(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.round(rng.uniform(-2, 2, size=shape), 3)


def _other(draw: Any, values: list[np.ndarray], i: int, fits: Callable[[Any], bool]) -> int | None:
    """An earlier value other than values[i] that `fits` (a shared subexpression), or None."""
    options = [j for j, v in enumerate(values) if j != i and fits(v)]
    return draw(st.sampled_from(options)) if options else None


def _elementwise_partner(
    draw: Any, rng: np.random.Generator, values: list[np.ndarray], i: int
) -> Operand:
    """A second operand for an elementwise op on values[i]: another value whose shape
    broadcasts with it, values[i] itself, or a constant of a compatible shape."""
    shape = values[i].shape
    kind = draw(st.sampled_from(["node", "self", "constant"]))
    if kind == "node":
        j = _other(draw, values, i, lambda v: _broadcastable(shape, v.shape))
        if j is not None:
            return j
    if kind == "self":
        return i
    return _constant(rng, draw(_compatible_shape(shape)))


def _value(a: Operand, values: list[np.ndarray]) -> Any:
    return values[a] if isinstance(a, int) else np.asarray(a)


def _ordered(draw: Any, a: Operand, b: Operand) -> tuple[Operand, Operand]:
    return (b, a) if draw(st.booleans()) else (a, b)


@st.composite
def _axis(draw: Any, ndim: int) -> Any:
    """None, an int or a tuple of distinct axes (each possibly negative)."""
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["int", "none", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


def _build(draw: Any, rng: np.random.Generator, name: str, values: list, i: int) -> Any:
    """Operands, params and shifts for op `name` on values[i]; None where it does not apply."""
    x = values[i]
    if name in ("neg", "exp", "tanh", "sigmoid", "abs", "relu"):
        return name, (i,), {}, (0.0,)
    if name in ("log", "sqrt"):
        return name, (i,), {}, (_shift_to(x, LOW),)
    if name == "clip":
        gaps = _thresholds(x)
        lo = draw(st.sampled_from([None, *gaps]))
        hi = draw(st.sampled_from([None, *(g for g in gaps if lo is None or g > lo)]))
        return "clip", (i,), {"lo": lo, "hi": hi}, (0.0,)
    if name == "pow_const":
        p = draw(st.sampled_from([2, 3, 0.5, -1, 1.5, -0.5, 2.0]))
        integer = isinstance(p, int) and p > 0
        return "pow_const", (i,), {"p": p}, (0.0 if integer else _shift_to(x, LOW),)
    if name == "rpow":
        return "rpow", (i,), {"c": draw(st.sampled_from([2.0, 0.5, 3.0]))}, (0.0,)
    if name == "scalar":
        sym = draw(st.sampled_from(list(SCALAR_OPS)))
        c = draw(st.sampled_from([1.5, -0.5, 2.0, 0.25]))
        if draw(st.booleans()):  # the number on the left: c + x, c / x, ...
            return "scalar", (c, i), {"sym": sym}, (0.0, _nonzero_shift(x) if sym == "/" else 0.0)
        return "scalar", (i, c), {"sym": sym}, (0.0, 0.0)
    if name in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "where"):
        a, b = _ordered(draw, i, _elementwise_partner(draw, rng, values, i))
        params: dict = {"op": draw(st.booleans())}
        shifts = (0.0, 0.0)
        if name == "div":
            shifts = (0.0, _nonzero_shift(_value(b, values)))
        elif name == "pow":
            # (autograd's pow VJP uses x ** where(y, y - 1, 1): its second derivative in
            # the exponent is wrong where y == 0 exactly, so exponents avoid 0; microgradnp
            # is checked there in tests/regressions/test_regression_pow_exponent_zero.py)
            exponent = _value(b, values)
            shifts = (_shift_to(_value(a, values), LOW), 0.25 if np.any(exponent == 0) else 0.0)
            if np.any(exponent + shifts[1] == 0):
                return None
        elif name == "where":
            shape = np.broadcast_shapes(np.shape(_value(a, values)), np.shape(_value(b, values)))
            if draw(st.booleans()):  # a constant mask
                params = {"cond": rng.random(draw(_compatible_shape(shape))) < 0.5}
            else:  # a boolean Tensor computed from an earlier value: where(v > t, a, b)
                j = draw(
                    st.sampled_from(
                        [i, *(k for k, v in enumerate(values) if _broadcastable(shape, v.shape))]
                    )
                )
                thresholds = _thresholds(values[j])
                if not thresholds:
                    return None
                t = draw(st.sampled_from(thresholds))
                return "where_cmp", (j, a, b), {"t": t}, (0.0, 0.0, 0.0)
        return name, (a, b), params, shifts
    if name == "matmul":
        return _build_matmul(draw, rng, values, i)
    if name in ("concatenate", "stack"):
        return _build_join(draw, rng, name, values, i)
    if name in ("sum", "mean", "logsumexp", "max", "min"):
        params = {
            "name": name,
            "axis": draw(_axis(x.ndim)),
            "keepdims": draw(st.booleans()),
            "method": draw(st.booleans()),
        }
        return ("extreme" if name in ("max", "min") else "reduce"), (i,), params, (0.0,)
    if name in ("softmax", "log_softmax"):
        if x.ndim == 0:
            return None
        return (
            "softmax",
            (i,),
            {"name": name, "axis": draw(st.integers(-x.ndim, x.ndim - 1))},
            (0.0,),
        )
    if name == "reshape":
        options = [(-1,), x.shape[::-1], (*x.shape, 1), (1, *x.shape)]
        if x.size == 1:
            options.append(())
        if x.size % 2 == 0 and x.size > 2:
            options.append((2, -1))
        return "reshape", (i,), {"shape": draw(st.sampled_from(options))}, (0.0,)
    if name == "transpose":
        if x.ndim < 2:
            return None
        axes = draw(st.none() | st.permutations(range(x.ndim)).map(tuple))
        if axes is not None and draw(st.booleans()):
            axes = tuple(a - x.ndim for a in axes)
        return "transpose", (i,), {"axes": axes}, (0.0,)
    if name == "broadcast_to":
        shape = tuple(
            draw(st.integers(2, 3)) if n == 1 and draw(st.booleans()) else n for n in x.shape
        )
        if draw(st.booleans()) or shape == x.shape:
            shape = (2, *shape)
        return "broadcast_to", (i,), {"shape": shape}, (0.0,)
    if name == "getitem":
        index = _draw_index(draw, rng, x)
        return None if index is None else ("getitem", (i,), {"index": index}, (0.0,))
    raise AssertionError(name)


def _build_matmul(draw: Any, rng: np.random.Generator, values: list, i: int) -> Any:
    x = values[i]
    if x.ndim == 0:
        return None
    params = {"op": draw(st.booleans()), "T": False, "ndim": 0}
    kind = draw(st.sampled_from(["constant", "node", "transposed self"]))
    if kind == "transposed self" and x.ndim >= 2:  # x @ x.T: the same tensor used twice
        return "matmul", (i, i), {**params, "T": True, "ndim": x.ndim}, (0.0, 0.0)
    if kind == "node":

        def fits(v: np.ndarray) -> bool:
            try:
                return (
                    v.ndim > 0 and np.matmul(np.zeros(x.shape), np.zeros(v.shape)).size <= MAX_SIZE
                )
            except ValueError:
                return False

        j = _other(draw, values, i, fits)
        if j is not None:
            return "matmul", (i, j), params, (0.0, 0.0)
    k = x.shape[-1]
    m = draw(st.integers(1, 3))
    if draw(st.booleans()):  # a constant on the right, else on the left
        shape = (k,) if draw(st.booleans()) else (k, m)
        return "matmul", (i, _constant(rng, shape)), params, (0.0, 0.0)
    rows = x.shape[0] if x.ndim == 1 else x.shape[-2]
    return "matmul", (_constant(rng, (m, rows)), i), params, (0.0, 0.0)


def _build_join(draw: Any, rng: np.random.Generator, name: str, values: list, i: int) -> Any:
    x = values[i]
    if name == "concatenate":
        if x.ndim == 0:
            return None
        axis = draw(st.integers(-x.ndim, x.ndim - 1))
        ax = axis % x.ndim

        def fits(v: np.ndarray) -> bool:
            return v.ndim == x.ndim and all(
                n == m for d, (n, m) in enumerate(zip(v.shape, x.shape, strict=True)) if d != ax
            )

        const_shape = tuple(
            draw(st.integers(1, 2)) if d == ax else n for d, n in enumerate(x.shape)
        )
    else:
        axis = draw(st.integers(-x.ndim - 1, x.ndim))

        def fits(v: np.ndarray) -> bool:
            return v.shape == x.shape

        const_shape = x.shape
    kind = draw(st.sampled_from(["node", "self", "constant"]))
    partner: Operand = _constant(rng, const_shape) if kind == "constant" else i
    if kind == "node":
        j = _other(draw, values, i, fits)
        partner = i if j is None else j
    return name, _ordered(draw, i, partner), {"axis": axis}, (0.0, 0.0)


def _draw_index(draw: Any, rng: np.random.Generator, x: np.ndarray) -> Any:
    """An index for x: ints, slices, None, Ellipsis, integer arrays (with repeats), masks."""
    if x.ndim == 0:
        return None
    n = x.shape[0]
    kind = draw(st.sampled_from(["int", "slice", "array", "mask", "none", "last", "pair"]))
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if kind == "slice":
        start = draw(st.none() | st.integers(0, n - 1))  # never empty: start is in range
        return slice(start, None, draw(st.sampled_from([1, 2, -1])))
    if kind == "array":  # repeats accumulate in the gradient
        return rng.integers(-n, n, size=draw(st.integers(1, 4)))
    if kind == "mask":
        mask = rng.random(x.shape) < 0.6
        mask.flat[draw(st.integers(0, x.size - 1))] = True
        return mask
    if kind == "none":
        return (Ellipsis, None)
    if kind == "last":
        return (Ellipsis, draw(st.integers(-x.shape[-1], x.shape[-1] - 1)))
    if x.ndim < 2:
        return None
    return (rng.integers(0, n, size=3), rng.integers(0, x.shape[1], size=3))


OP_NAMES = [
    "tanh",  # first: what hypothesis shrinks towards
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "neg",
    "exp",
    "log",
    "sqrt",
    "sigmoid",
    "relu",
    "abs",
    "clip",
    "pow_const",
    "rpow",
    "scalar",
    "maximum",
    "minimum",
    "where",
    "matmul",
    "sum",
    "mean",
    "max",
    "min",
    "logsumexp",
    "softmax",
    "log_softmax",
    "reshape",
    "transpose",
    "broadcast_to",
    "getitem",
    "concatenate",
    "stack",
]


def _acceptable(node: Node, values: list[np.ndarray]) -> np.ndarray | None:
    """The NumPy value of node, or None if it breaks a domain rule (or is too big)."""
    spec = OPS[node.op]
    args = []
    for a, s in zip(node.args, node.shifts, strict=True):
        v = _value(a, values)
        args.append(v + s if s else v)
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = np.asarray(spec.ref(np, node.params, *args))
    except (FloatingPointError, ValueError, IndexError):
        return None
    if out.size == 0 or out.size > MAX_SIZE or not np.all(np.abs(out) <= BOUND):
        return None
    if spec.kink is not None and spec.kink(node.params, *args)[0] < MARGIN:
        return None
    return out


@st.composite
def graphs(draw: Any, *, max_ops: int = 10, scalar_input: bool = False) -> Graph:
    """A random Graph (see the module docstring). `scalar_input`: one 0-d input."""
    if scalar_input:
        shapes: tuple[tuple[int, ...], ...] = ((),)
    else:
        n_inputs = draw(st.integers(1, 3))
        shapes = draw(
            hnp.mutually_broadcastable_shapes(
                num_shapes=n_inputs, min_dims=0, max_dims=3, max_side=3
            )
        ).input_shapes
    elements = st.floats(-2, 2, allow_nan=False, allow_subnormal=False)
    inputs = tuple(draw(hnp.arrays(np.float64, s, elements=elements)) for s in shapes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values: list[np.ndarray] = list(inputs)
    nodes: list[Node] = []
    for _ in range(draw(st.integers(1, max_ops))):
        # Mostly the latest value (depth); a quarter of the time any earlier one (sharing).
        any_earlier = draw(st.integers(0, 3)) == 3
        i = draw(st.integers(0, len(values) - 1)) if any_earlier else len(values) - 1
        built = _build(draw, rng, draw(st.sampled_from(OP_NAMES)), values, i)
        node = None if built is None else Node(built[0], built[1], built[2], built[3])
        out = None if node is None else _acceptable(node, values)
        if node is None or out is None:  # outside the op's domain: tanh always applies
            node = Node("tanh", (i,), {}, (0.0,))
            out = np.tanh(values[i])
        nodes.append(node)
        values.append(out)
    weights = np.round(rng.normal(size=values[-1].shape), 3)
    return Graph(inputs, tuple(nodes), weights)


# ---------------------------------------------------------------- checks


def _kinks(graph: Graph, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    kinks: list[np.ndarray] = []
    graph.values(np, arrays, kinks)
    return kinks


def _guarded(graph: Graph, base: Sequence[np.ndarray]) -> Callable[..., float]:
    """The NumPy loss, refusing to be evaluated across a kink (a bug in this generator)."""
    reference = _kinks(graph, base)

    def loss(*arrays: np.ndarray) -> float:
        for a, b in zip(_kinks(graph, arrays), reference, strict=True):
            assert np.array_equal(a, b), "test bug: finite differences crossed a kink"
        return float(graph.loss(np, *arrays))

    return loss


def _richardson(central: Callable[[float], Any], h: float) -> Any:
    """Central differences at steps h and h/2 combined so that their h**2 errors cancel:
    a reference accurate to h**4, for derivatives whose curvature over a step of 1e-5
    already moved them by more than the tolerance (1 / (x + 0.2) near x = 0)."""
    coarse, fine = central(h), central(h / 2)
    if isinstance(coarse, list):
        return [(4 * b - a) / 3 for a, b in zip(coarse, fine, strict=True)]
    return (4 * fine - coarse) / 3


def _tensors(graph: Graph) -> list[mg.Tensor]:
    return [mg.tensor(x, requires_grad=True) for x in graph.inputs]


def _close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol, err_msg=what
    )


# Three times the profile's examples for the cheap checks (180 in CI, 3000 with
# --hypothesis-profile=thorough); the nested-grad ones get the profile's count.
SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MANY = settings(SETTINGS, max_examples=3 * settings.default.max_examples)


@MANY
@given(graph=graphs())
def test_forward_matches_numpy(graph: Graph) -> None:
    ours = graph.values(mg, _tensors(graph))
    ref = graph.values(np, graph.inputs)
    for k, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert isinstance(a, mg.Tensor)
        assert a.shape == np.shape(b), f"value {k}"
        _close(a.data, b, rtol=1e-9, atol=1e-12, what=f"value {k}")


@MANY
@given(graph=graphs(), explicit=st.booleans(), frozen=st.lists(st.booleans(), max_size=2))
def test_gradients_match_finite_differences(
    graph: Graph, explicit: bool, frozen: list[bool]
) -> None:
    xs = _tensors(graph)
    for x, off in zip(xs[1:], frozen, strict=False):  # some inputs are constants (x0 never)
        x.requires_grad = not off
    loss = graph.loss(mg, *xs)
    if not loss.requires_grad:
        return  # the loss depends on constant inputs only
    if explicit:  # backward from the last value with grad=weights: the same gradients
        graph.values(mg, xs)[-1].backward(graph.weights)
    else:
        loss.backward()
    expected = numerical_grads(_guarded(graph, graph.inputs), graph.inputs)
    scale = 1.0 + float(np.sum(np.abs(graph.values(np, graph.inputs)[-1] * graph.weights)))
    for k, (x, e) in enumerate(zip(xs, expected, strict=True)):
        if not x.requires_grad:
            assert x.grad is None, f"x{k} does not require grad, but got a gradient"
            continue
        got = np.zeros_like(x.data) if x.grad is None else x.grad  # None: loss ignores x
        assert got.shape == x.shape and got.dtype == x.dtype
        # central differences: error ~ 1e-16 |loss| / eps (rounding) + eps^2 |f'''|
        _close(got, e, rtol=1e-5, atol=1e-6 * scale, what=f"d loss / d x{k}")


@MANY
@given(graph=graphs())
def test_gradients_match_autograd(graph: Graph) -> None:
    argnums = tuple(range(len(graph.inputs)))
    theirs = autograd.grad(lambda *a: graph.loss(anp, *a), argnums)(*graph.inputs)
    ours = mg.grad(lambda *a: graph.loss(mg, *a), argnums)(*graph.inputs)
    xs = _tensors(graph)
    loss = graph.loss(mg, *xs)
    loss.backward(retain_graph=True)
    once = [None if x.grad is None else x.grad.copy() for x in xs]
    loss.backward()  # through the retained graph again: the gradients accumulate
    for k, (a, x, b) in enumerate(zip(ours, xs, theirs, strict=True)):
        atol = 1e-10 * (1 + float(np.max(np.abs(b), initial=0.0)))
        _close(a, b, rtol=1e-8, atol=atol, what=f"mg.grad, d loss / d x{k}")
        from_backward = np.zeros_like(a) if once[k] is None else once[k]
        np.testing.assert_array_equal(from_backward, a, err_msg=f"backward vs mg.grad, x{k}")
        twice = np.zeros_like(a) if x.grad is None else x.grad
        # (each contribution is added to .grad in turn: equal up to the order of the sums)
        _close(twice, 2 * a, rtol=1e-12, atol=1e-4 * atol, what=f"second backward, x{k}")


@SETTINGS
@given(graph=graphs(max_ops=8), seed=st.integers(0, 2**16))
def test_hessian_vector_products_through_nested_grad(graph: Graph, seed: int) -> None:
    """mg.grad(mg.grad(f)) on a scalar random graph: H v against finite differences of
    mg.grad and against autograd's own nested grad."""
    argnums = tuple(range(len(graph.inputs)))
    rng = np.random.default_rng(seed)
    v = [rng.normal(size=x.shape) for x in graph.inputs]

    def f(*a: Any) -> Any:
        return graph.loss(mg, *a)

    grad_f = mg.grad(f, argnums)

    def directional(*a: Any) -> Any:  # <grad f(a), v>
        return sum(mg.sum(g * w) for g, w in zip(grad_f(*a), v, strict=True))

    hvp = mg.grad(directional, argnums)(*graph.inputs)

    guard = _guarded(graph, graph.inputs)

    def central(h: float) -> list[Any]:
        up = [x + h * w for x, w in zip(graph.inputs, v, strict=True)]
        down = [x - h * w for x, w in zip(graph.inputs, v, strict=True)]
        guard(*up)  # (raises if x +- h v crosses a kink)
        guard(*down)
        return [(a - b) / (2 * h) for a, b in zip(grad_f(*up), grad_f(*down), strict=True)]

    fd = _richardson(central, 1e-4)

    def their_directional(*a: Any) -> Any:
        g = autograd.grad(lambda *b: graph.loss(anp, *b), argnums)(*a)
        return sum(anp.sum(gi * w) for gi, w in zip(g, v, strict=True))

    theirs = autograd.grad(their_directional, argnums)(*graph.inputs)
    for k, (ours, d, t) in enumerate(zip(hvp, fd, theirs, strict=True)):
        assert isinstance(ours, np.ndarray) and ours.shape == graph.inputs[k].shape
        scale = 1 + float(np.max(np.abs(t), initial=0.0))
        _close(ours, t, rtol=1e-7, atol=1e-9 * scale, what=f"(H v)[x{k}] vs autograd")
        _close(ours, d, rtol=1e-4, atol=1e-5 * scale, what=f"(H v)[x{k}] vs differences")


@SETTINGS
@given(graph=graphs(max_ops=8, scalar_input=True))
def test_second_derivative_of_a_scalar_function(graph: Graph) -> None:
    """d2 = mg.grad(mg.grad(f)) for f of one number: against finite differences of
    mg.grad(f) and autograd's grad(grad(...))."""

    def f(x: Any) -> Any:
        return graph.loss(mg, x)

    (x0,) = graph.inputs
    d1, d2 = mg.grad(f), mg.grad(mg.grad(f))
    guard = _guarded(graph, graph.inputs)

    def central(h: float) -> Any:
        guard(x0 + h)
        guard(x0 - h)
        return (d1(x0 + h) - d1(x0 - h)) / (2 * h)

    fd = _richardson(central, 1e-4)
    theirs = autograd.grad(autograd.grad(lambda x: graph.loss(anp, x)))(x0)
    ours = d2(x0)
    assert isinstance(ours, np.ndarray) and ours.shape == ()
    scale = 1 + abs(float(theirs))
    _close(ours, theirs, rtol=1e-7, atol=1e-9 * scale, what="d2 vs autograd")
    _close(ours, fd, rtol=1e-4, atol=1e-5 * scale, what="d2 vs differences of mg.grad")


@settings(SETTINGS, max_examples=20)
@given(graph=graphs())
def test_the_printed_program_is_what_runs(graph: Graph) -> None:
    """The repr is the reproduction: running it gives the same loss and gradients."""
    namespace: dict[str, Any] = {}
    exec(repr(graph), namespace)
    xs = _tensors(graph)
    loss = graph.loss(mg, *xs)
    loss.backward()
    assert namespace["loss"].item() == loss.item()
    for k, x in enumerate(xs):
        theirs = namespace[f"x{k}"].grad
        np.testing.assert_array_equal(
            np.zeros_like(x.data) if theirs is None else theirs,
            np.zeros_like(x.data) if x.grad is None else x.grad,
        )


def test_the_generator_reaches_every_op_and_deep_graphs() -> None:
    """Coverage of the generator itself: every op is drawn, graphs get deep and share."""
    seen: set[str] = set()
    deepest, shared = 0, 0

    @settings(max_examples=300, database=None, derandomize=True)
    @given(graph=graphs())
    def collect(graph: Graph) -> None:
        nonlocal deepest, shared
        depth = [0] * len(graph.inputs)
        uses: dict[int, int] = {}
        for node in graph.nodes:
            named = node.op in ("reduce", "extreme", "softmax")
            seen.add(node.params["name"] if named else {"where_cmp": "where"}.get(node.op, node.op))
            ints = [a for a in node.args if isinstance(a, int)]
            depth.append(1 + max(depth[a] for a in ints))
            for a in ints:
                uses[a] = uses.get(a, 0) + 1
        deepest = max(deepest, max(depth))
        shared += any(n > 1 for n in uses.values())

    collect()
    assert set(OP_NAMES) <= seen, sorted(set(OP_NAMES) - seen)
    assert deepest >= 8
    assert shared >= 30
