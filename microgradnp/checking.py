"""Checking gradients: where a hand-derived or hand-written gradient is wrong, not just whether.

- `gradcheck(f, *inputs)`: reverse mode against central finite differences for a whole
  function; the error names the input and the element.
- `check_graph(root)`: every recorded op's VJP against finite differences of that op alone;
  finds the one wrong `defvjp` in a graph (`node 7: sigmoid (3, 400): VJP wrong, ...`).
- `compare_grads(manual, auto)`: your hand-derived gradients against autodiff's, by name, as
  a table (`mg.draw_graph(root, highlight=report)` colours the failures).
- `detect_anomaly()`: the first op whose value or gradient becomes NaN/Inf raises, naming the
  line of your code that called it.
- `stability_warnings(enabled)`: the switch for `StabilityWarning` (`log(sigmoid(z))` and
  friends; the lint itself lives next to `log` in ops.py).

Errors are measured the same way throughout: an element passes when
|x - reference| <= atol + rtol * |reference| (NumPy's `isclose`); "rel err" is
|x - reference| / max(|x|, |reference|, atol), so values near zero do not inflate it.
"""

from __future__ import annotations

import linecache
import math
import numbers
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

from . import engine
from .ops import StabilityWarning, sum_to
from .recording import (
    Node,
    Primitive,
    _ModeSwitch,
    check_flags,
    current_mode,
    is_integer,
    is_library_code,
    is_tensor,
    random_generator,
    restore_mode,
    sequence_number,
    switch_mode,
    values_of,
)
from .tensors import Tensor
from .transforms import is_gradient

__all__ = [
    "GradReport",
    "GradRow",
    "GradcheckError",
    "GraphReport",
    "NodeCheck",
    "SourceLocation",
    "StabilityWarning",
    "check_graph",
    "compare_grads",
    "detect_anomaly",
    "gradcheck",
    "stability_warnings",
]

Index = tuple[int, ...]
_V = TypeVar("_V")  # what a function moved by finite differences returns


# ---------------------------------------------------------------- measuring a difference


@dataclass(frozen=True)
class _Diff:
    """How far `actual` is from `reference` (same shape), elementwise."""

    ok: bool
    max_abs_err: float
    max_rel_err: float
    worst_index: Index  # the element furthest outside its tolerance (or closest to it)
    actual: float  # the two values there
    reference: float
    failing: int  # how many elements are outside tolerance


def _diff(
    actual: np.ndarray,
    reference: np.ndarray,
    atol: float,
    rtol: float,
    *,
    rank_by_rel_err: bool = False,
) -> _Diff:
    """Compare elementwise. rank_by_rel_err: when some fail, the worst is the failing element
    with the largest rel err, and max_rel_err is its rel err (so "max rel err X at element I"
    speaks of one element)."""
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if a.size == 0:
        return _Diff(True, 0.0, 0.0, (0,) * a.ndim, math.nan, math.nan, 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.where(a == r, 0.0, np.abs(a - r))  # (inf == inf: no difference)
        allowed = atol + rtol * np.abs(r)
        bad = ~(diff <= allowed)  # NaN is bad
        scale = np.maximum(np.maximum(np.abs(a), np.abs(r)), atol)
        rel = np.where(diff == 0, 0.0, diff / scale)
        ratio = np.divide(diff, allowed, out=np.where(diff > 0, np.inf, 0.0), where=allowed > 0)
    # the worst element: a failing one before any passing one (a failure involving NaN, whose
    # ratio says nothing, first of all)
    ratio = np.where(bad & ~(ratio > 1), np.inf, ratio)
    if rank_by_rel_err and bad.any():
        flat = int(np.argmax(np.where(bad, np.nan_to_num(rel, nan=np.inf), -1.0)))
        max_rel_err = float(rel.reshape(-1)[flat])
    else:
        flat = int(np.argmax(ratio))
        max_rel_err = float(np.max(rel))
    worst = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    return _Diff(
        ok=not bool(bad.any()),
        max_abs_err=float(np.max(diff)),
        max_rel_err=max_rel_err,
        worst_index=worst,
        actual=float(a.reshape(-1)[flat]),
        reference=float(r.reshape(-1)[flat]),
        failing=int(bad.sum()),
    )


def _check_options(caller: str, *, max_elements: Any = None, **tolerances: Any) -> None:
    """Refuse options out of range: eps > 0, atol and rtol >= 0 (all finite), max_elements a
    positive int (None: not an option of `caller`).

    Out of range they would not fail loudly: a zero step or a negative tolerance turns every
    comparison into a failure, or a ZeroDivisionError deep inside.
    """
    for name, value in tolerances.items():
        positive = name == "eps"
        need = "a finite number " + ("> 0" if positive else ">= 0")
        what = "the finite-difference step" if positive else "a tolerance"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"{caller}: {name} ({what}) must be {need}, got {type(value).__name__} {value!r}"
            )
        x = float(value)
        if not (math.isfinite(x) and (x > 0 if positive else x >= 0)):
            raise ValueError(
                f"{caller}: {name}={x:g} is out of range: {name} ({what}) must be {need}"
            )
    if max_elements is None:
        return
    if not is_integer(max_elements):
        raise TypeError(
            f"{caller}: max_elements must be a positive int, got "
            f"{type(max_elements).__name__} {max_elements!r}"
        )
    if int(max_elements) < 1:
        raise ValueError(
            f"{caller}: max_elements={int(max_elements)} is out of range: it must be a positive "
            "int (how many elements of each argument to check at most)"
        )


def _num(x: float) -> str:
    return f"{x:.6g}"


def _err(x: float) -> str:
    return f"{x:.3g}"


def _where(index: Index) -> str:
    return "the value" if not index else f"element {index}"


# ---------------------------------------------------------------- gradcheck


class GradcheckError(AssertionError):
    """gradcheck found reverse-mode gradients that finite differences do not confirm.

    An AssertionError, like a failed test assertion (and JAX's `check_grads`). The first
    failing input is described by the attributes; the message lists every failing input.
    """

    def __init__(
        self,
        message: str,
        *,
        input_index: int,
        input_name: str | None,
        index: Index,
        reverse: float,
        numerical: float,
        abs_err: float,
        rel_err: float,
    ) -> None:
        super().__init__(message)
        self.input_index = input_index
        self.input_name = input_name
        self.index = index
        self.reverse = reverse
        self.numerical = numerical
        self.abs_err = abs_err
        self.rel_err = rel_err


class _Input(NamedTuple):
    value: Any  # what f receives when the input is not differentiated
    array: np.ndarray | None  # float64 copy when it is differentiated
    name: str | None


def _gradcheck_input(x: Any, marked_only: bool) -> _Input:
    """How gradcheck treats input x: differentiated (a float64 copy) or passed unchanged."""
    is_tensor_ = isinstance(x, Tensor)
    name = x.name if is_tensor_ else None
    if marked_only and not (is_tensor_ and x.requires_grad):
        return _Input(x, None, name)
    arr = x.data if is_tensor_ else np.asarray(x)
    if arr.dtype.kind != "f":
        return _Input(x, None, name)  # integer labels, indices, masks
    return _Input(x, np.array(arr, dtype=np.float64, order="C"), name)


def _values_or_none(x: Any) -> Any:
    """x's values as an array, or None if x is no array of any kind (a dict, a function)."""
    try:
        return values_of(x)
    except (TypeError, ValueError):
        return None


def _what(x: Any) -> str:
    """x described for a message: "a dict", "an array of dtype complex128"."""
    data = _values_or_none(x)
    if data is not None and data.dtype.kind != "O":
        return f"an array of dtype {data.dtype}"
    return f"a {type(x).__name__}"


def _scalar_value(out: Any, caller: str) -> float:
    if isinstance(out, tuple):
        raise TypeError(
            f"{caller}: f returned a tuple of {len(out)}; it must return one scalar Tensor "
            "(for f returning (loss, aux): lambda *xs: f(*xs)[0])"
        )
    data = _values_or_none(out)
    if data is None:  # (a ragged list, say)
        raise TypeError(f"{caller}: f returned a {type(out).__name__}, not a number")
    if data.size != 1:
        raise TypeError(
            f"{caller}: f must return a scalar (one-element) Tensor, but it returned shape "
            f"{data.shape}. Reduce it, e.g. lambda x: f(x).sum(), or check a random projection "
            f"of every output: w = np.random.default_rng(0).normal(size={data.shape}); "
            "lambda x: (f(x) * w).sum()"
        )
    if data.dtype.kind not in "fiub":
        raise TypeError(f"{caller}: f returned a value of dtype {data.dtype}, not a number")
    return float(data.reshape(()))


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check f's reverse-mode gradients against central finite differences; return True.

    `f(*inputs)` must return a scalar (one-element) Tensor. Differentiated: the inputs that
    are Tensors with requires_grad=True (PyTorch's convention), or, when there are none,
    every floating-point input (JAX's); the others (integer labels, data) are passed
    unchanged. The differentiated ones are copied to float64 (this checks the math, not
    float32 rounding) and f receives them as Tensors. Each element x is moved by
    ±eps (or ±|x| / 2**30 where that is larger: huge values); it passes when
    |reverse - numerical| <= atol + rtol * |numerical|. An element that does not is tried
    again at smaller steps (f curved within eps, an input near a kink) or, where f's own
    rounding hides the change, at larger ones, and passes if two steps in a row agree; one
    that rounding still hides fails as "could not be checked", not as wrong. Costs 2 calls
    of f per element (more for the ones tried again): for small inputs. Leaves every
    `.grad` alone.

    Raises GradcheckError naming each failing input (index and name), its worst element,
    both values and the abs and rel error; a non-finite value (sqrt at 0: reverse mode inf,
    finite differences NaN) is a failure too, said to be one, and so is a result cut off
    from the graph (f returned `.item()`). Raises ValueError unless
    eps > 0, atol >= 0 and rtol >= 0 (all finite); TypeError for one that is no number.
    """
    _check_options("gradcheck", eps=eps, atol=atol, rtol=rtol)
    if not callable(f):
        raise TypeError(
            f"gradcheck: f must be a function, got {type(f).__name__}; call it as "
            "mg.gradcheck(f, x, y), the function first"
        )
    marked_only = any(isinstance(x, Tensor) and x.requires_grad for x in inputs)
    specs = [_gradcheck_input(x, marked_only) for x in inputs]
    arrays = {i: s.array for i, s in enumerate(specs) if s.array is not None}
    wrt = list(arrays)
    if not wrt:
        others = sorted({_what(x) for x in inputs if not _is_number(_values_or_none(x))})
        if not inputs:
            why = "none was given. Pass the inputs after f: mg.gradcheck(f, x, y)"
        elif others:
            why = (
                f"the inputs include {', '.join(others)}, not arrays of real numbers. Pass "
                "each array as its own argument: mg.gradcheck(f, x, y)"
            )
        else:
            why = (
                "every input is an integer (labels and indices are constants). Pass "
                "floating-point arrays or numbers (1.0, not 1)"
            )
        raise ValueError(f"gradcheck: no input to differentiate: {why}")

    made_at = sequence_number()  # (a graph f closes over, freed earlier, is a constant)
    leaves = {i: Tensor(arrays[i], requires_grad=True, name=specs[i].name) for i in wrt}
    token = switch_mode(grad_enabled=True)
    try:
        out = f(*[leaves.get(i, s.value) for i, s in enumerate(specs)])
        value = _scalar_value(out, "gradcheck")
        if not math.isfinite(value):
            raise ValueError(
                f"gradcheck: f(*inputs) = {value}; gradients can only be checked where f is finite"
            )
        connected = isinstance(out, Tensor) and out.requires_grad
        if connected:
            targets = [leaves[i] for i in wrt]
            found = engine.gradients(out, targets, create_graph=False, made_at=made_at)
        else:  # f does not depend on its inputs, or cut its result off the graph
            found = [None] * len(wrt)
    finally:
        restore_mode(token)
    reverse = {
        i: np.zeros_like(leaves[i].data) if g is None else np.asarray(g, dtype=np.float64)
        for i, g in zip(wrt, found, strict=True)
    }

    # Finite differences: f sees Tensors wrapping the arrays perturbed in place.
    views = {i: Tensor._wrap(a) for i, a in arrays.items()}
    call_args = [views.get(i, s.value) for i, s in enumerate(specs)]

    def value_at() -> float:
        return _scalar_value(f(*call_args), "gradcheck")

    failures: list[tuple[int, _Diff, int]] = []  # (input, its diff, how many unresolved)
    token = switch_mode(grad_enabled=False)
    try:
        # f at x ± eps may leave its domain (sqrt at 0): the report says so, NumPy need not
        with np.errstate(all="ignore"):
            for i in wrt:
                numerical, unresolved = _numerical_gradient(
                    value_at, arrays[i], reverse[i], eps, atol, rtol
                )
                d = _diff(reverse[i], numerical, atol, rtol)
                if not d.ok:
                    failures.append((i, d, int(unresolved.sum())))
    finally:
        restore_mode(token)
    if failures:
        cut = None if connected else _cut_off(out)
        raise _gradcheck_error(failures, specs, eps, atol, rtol, cut)
    return True


def _cut_off(out: Any) -> str:
    """Why f's result has no graph, although finite differences say it depends on the inputs."""
    what = (
        "a Tensor that does not require grad"
        if isinstance(out, Tensor)
        else f"a {type(out).__name__}, not a Tensor"
    )
    return (
        f"gradcheck: f returned {what}, so reverse mode gives 0, yet its value changes with "
        "the inputs: the result was cut off from the graph on the way (.item(), float(), "
        ".data, .detach(), np.asarray or mg.no_grad() inside f). Return the Tensor computed "
        "from the inputs"
    )


def _numerical_gradient(
    value_at: Callable[[], float],
    x: np.ndarray,
    reverse: np.ndarray,
    eps: float,
    atol: float,
    rtol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """d value / d x by central differences (x moved in place, restored), to check `reverse`
    with; and where the differences cannot tell: f's own rounding swamps them.

    An element that disagrees is tried again at other steps (`_retried`): its difference
    there replaces the first one if it agrees, so curvature within eps (log near 0) and
    an input small beside f's value are checked rather than failed."""
    flat, rev = x.reshape(-1), reverse.reshape(-1)  # (views: x is a C-contiguous copy we own)
    steps = _steps(flat, eps)
    numerical, noise = np.empty(flat.size), np.empty(flat.size)
    for j, (up, down, su, sd) in enumerate(_moved(value_at, flat, range(flat.size), steps)):
        numerical[j] = (up - down) / (su + sd)
        noise[j] = _F_ROUNDING * (abs(up) + abs(down)) / (su + sd)
    unresolved = np.zeros(flat.size, dtype=bool)
    with np.errstate(invalid="ignore"):
        failing = ~(np.abs(rev - numerical) <= atol + rtol * np.abs(numerical))
    for j in map(int, np.flatnonzero(failing)):
        hidden = bool(abs(rev[j] - numerical[j]) <= atol + rtol * abs(numerical[j]) + noise[j])
        better = _retried(value_at, flat, j, float(rev[j]), steps[j], noise[j], hidden, atol, rtol)
        if better is not None:
            numerical[j] = better
        unresolved[j] = better is None and hidden
    return numerical.reshape(x.shape), unresolved.reshape(x.shape)


# f's value is rounded in each of its ops: a few ulps of it, relative (for finite differences
# of a whole function, where check_graph allows one per op)
_F_ROUNDING = 4 * float(np.finfo(np.float64).eps)


def _retried(
    value_at: Callable[[], float],
    flat: np.ndarray,
    j: int,
    reverse: float,
    h: float,
    noise: float,
    hidden: bool,
    atol: float,
    rtol: float,
) -> float | None:
    """Element j, whose difference at step h disagrees with `reverse`, at other steps:
    larger ones when f's rounding (`noise`) hides the change (`hidden`), so that it rises
    above the rounding; else smaller ones (h/4, h/16, ...), where a curved f's difference
    comes closer to the derivative. The difference at the first of two steps in a row that
    both agree with `reverse` (one agreeing by chance does not pass), else None."""
    if not math.isfinite(reverse):
        return None
    if hidden:
        h *= max(4.0, 16 * noise / (atol + rtol * abs(reverse)))
        steps = [h, h / 4]
    else:
        steps = [h / 4**k for k in range(1, 6)]
    agreed = None
    for step in steps:
        up, down, su, sd = next(_moved(value_at, flat, [j], np.array([step])))
        d = (up - down) / (su + sd)
        if not math.isfinite(d):
            return None  # (the step left f's domain, or its range)
        tol = atol + rtol * abs(d)
        if _F_ROUNDING * (abs(up) + abs(down)) / (su + sd) > tol / 2:
            return None  # (smaller steps would only be noisier)
        if not abs(reverse - d) <= tol:
            agreed = None
            if hidden:
                return None
            continue
        if agreed is not None:
            return agreed
        agreed = d
    return None


def _steps(x: np.ndarray, eps: float) -> np.ndarray:
    """The finite-difference step of each element: eps, or |x| / 2**30 where that is larger.

    A fixed step vanishes below the resolution of large values (1e11 + 1e-6 is 1e11);
    2**-30 |x| is some 4 million ulps of x, and still small beside x (for eps=1e-6 it takes
    over above |x| = 1074). (Functions that oscillate over much less than that, sin near
    1e8, are not resolved by it.) A non-finite element (never checked) gets eps.
    """
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(x), np.maximum(eps, np.abs(x) * _MIN_RELATIVE_STEP), eps)


_MIN_RELATIVE_STEP = 2.0**-30


def _moved(
    value_at: Callable[[], _V], flat: np.ndarray, indices: Iterable[int], steps: np.ndarray
) -> Iterator[tuple[_V, _V, float, float]]:
    """(value at flat[j] + h, value at flat[j] - h, the step up, the step down) for each j,
    h = steps[k] for the k-th j; flat is restored. The steps are the ones taken, exactly:
    x + h is rounded, but (x + h) - x is not."""
    for j, h in zip(indices, steps, strict=True):
        old = flat[j]
        flat[j] = old + h
        up, step_up = value_at(), float(flat[j] - old)
        flat[j] = old - h
        down, step_down = value_at(), float(old - flat[j])
        flat[j] = old
        yield up, down, step_up, step_down


def _gradcheck_error(
    failures: list[tuple[int, _Diff, int]],
    specs: list[_Input],
    eps: float,
    atol: float,
    rtol: float,
    cut: str | None = None,
) -> GradcheckError:
    """The error for the failing inputs (each with how many of its failing elements f's
    rounding hides); `cut`: why f's result has no graph (None: it has)."""
    lines = [cut or "gradcheck: reverse-mode and finite-difference gradients differ"]
    for i, d, unresolved in failures:
        spec = specs[i]
        label = f"input {i}" + (f" ({spec.name!r})" if spec.name else "")
        shape = spec.array.shape if spec.array is not None else ()
        abs_err, rel_err = abs(d.actual - d.reference), _rel(d.actual, d.reference, atol)
        hidden = (
            f" ({'all' if unresolved == d.failing else unresolved} of them too small beside "
            "f's value for finite differences to tell: f's rounding hides the change the "
            "step makes)"
            if unresolved
            else ""
        )
        lines.append(
            f"  {label}, shape {shape}: at {_where(d.worst_index)} reverse mode gives "
            f"{_num(d.actual)}, finite differences {_num(d.reference)} (abs err "
            f"{_err(abs_err)}, rel err {_err(rel_err)}); {d.failing} of "
            f"{max(1, int(np.prod(shape)))} elements differ{hidden}{_non_finite_note(d, eps)}"
        )
    tolerance = f"  (tolerance atol={atol:g} + rtol={rtol:g} * |finite difference|, eps={eps:g})"
    if cut is not None:
        lines.append(tolerance)
    elif all(unresolved == d.failing for _, d, unresolved in failures):
        lines.append(
            f"{tolerance}. No gradient was found wrong, but these elements could not be "
            "checked: pass a larger eps, or check a function whose value is not so large "
            "beside the inputs' (mg.check_graph(f(*inputs)) checks each op at its own scale)"
        )
    else:
        lines.append(
            f"{tolerance}. If an input is within eps of a kink (relu, abs, "
            "max, clip), move it away; otherwise a gradient is wrong: "
            "mg.check_graph(f(*inputs)) points at the op with the wrong VJP"
        )
    i, d, _ = failures[0]
    return GradcheckError(
        "\n".join(lines),
        input_index=i,
        input_name=specs[i].name,
        index=d.worst_index,
        reverse=d.actual,
        numerical=d.reference,
        abs_err=abs(d.actual - d.reference),
        rel_err=_rel(d.actual, d.reference, atol),
    )


def _non_finite_note(d: _Diff, eps: float) -> str:
    """Why a failure at a non-finite value need not mean wrong gradient code ("" if none)."""
    if math.isfinite(d.actual) and math.isfinite(d.reference):
        return ""
    if math.isfinite(d.reference):  # f is finite around the point (f itself is checked)
        return (
            f"; reverse mode is {_non_finite_kinds(np.array(d.actual))} where f and its finite "
            "differences are finite: a VJP overflows inside (inf/inf or 0 * inf), unless f "
            "has a kink here"
        )
    return (
        f"; a non-finite value there: f is not differentiable at this point, or not finite "
        f"within eps={eps:g} of it (the edge of a domain, such as sqrt "
        "or log at 0); check at a point inside the domain"
    )


def _rel(a: float, b: float, atol: float) -> float:
    """The rel err of one element (see the module docstring)."""
    if a == b:
        return 0.0
    scale = max(abs(a), abs(b), atol)
    return abs(a - b) / scale if scale > 0 else math.inf


# ---------------------------------------------------------------- check_graph


_NON_FINITE_HINT = "(an input at the edge of the op's domain, or non-finite values flowing in)"


@dataclass(frozen=True)
class ArgCheck:
    """One argument of one op: its VJP against finite differences of the op."""

    position: int
    shape: Index
    ok: bool  # every checked element agrees (also when none could be checked)
    max_abs_err: float  # over the checked elements
    max_rel_err: float  # over the failing elements (all checked ones when none fails)
    worst_index: Index  # where max_rel_err is (when ok: the element closest to failing)
    vjp: float  # the VJP's value at worst_index
    numerical: float  # the finite-difference value there
    checked: int  # elements compared (of a random sample when the argument is large)
    kinks: int  # elements accepted as subgradients at a kink (relu at 0, ties in max)
    unchecked: int = 0  # elements that could not be compared: a non-finite value takes part
    why_unchecked: str = ""  # e.g. "finite differences are NaN there" ("" when unchecked == 0)


@dataclass(frozen=True)
class NodeCheck:
    """The check of op #number (numbered as in graph pictures: op #1 is computed first)."""

    number: int
    op: str
    shape: Index  # the op's output shape
    args: tuple[ArgCheck, ...]  # one per argument that requires grad
    error: str | None  # the VJP (or the forward) raised, or returned a wrong shape
    name: str | None  # the output tensor's name, if it has one
    trace: SourceLocation | None  # where the op was created (under detect_anomaly)
    n_args: int  # how many of the op's arguments are arrays (Tensors or ndarrays)
    skipped: str | None = None  # why the op was not checked (not an error)

    @property
    def ok(self) -> bool:
        """No error, and the VJP agrees with finite differences wherever they could check it."""
        return self.error is None and all(a.ok for a in self.args)

    @property
    def unchecked(self) -> int:
        """How many elements finite differences could not check (non-finite values there)."""
        return sum(a.unchecked for a in self.args)

    @property
    def status(self) -> str:
        """One of "wrong" (a VJP disagrees, or the op raised), "not checked" (nothing could
        be compared), "partly checked" (ok where compared, some elements not) or "ok"."""
        if not self.ok:
            return "wrong"
        if self.skipped is not None or (self.unchecked and not any(a.checked for a in self.args)):
            return "not checked"
        return "partly checked" if self.unchecked else "ok"

    def __str__(self) -> str:
        head = f"node {self.number}: {self.op} {self.shape}"
        if self.error is not None:
            text = f"{head}: {self.error}"
        elif self.skipped is not None:
            text = f"{head}: not checked ({self.skipped})"
        else:
            text = f"{head}: " + "; ".join(self._findings())
        if self.name:
            text += f" [{self.name}]"
        if self.trace is not None:
            text += f"  (created at {self.trace})"
        return text

    def _findings(self) -> list[str]:
        """The wrong arguments, or "ok (...)", then the elements that could not be checked."""
        status = self.status
        found = []
        for a in self.args:
            if a.ok:
                continue
            if not math.isfinite(a.vjp):
                found.append(
                    f"VJP wrong{self._which(a, 'for')}: it gives "
                    f"{_non_finite_kinds(np.array(a.vjp))} at {_where(a.worst_index)}, where "
                    f"the op's values and finite differences ({_num(a.numerical)}) are finite: "
                    "an overflow inside the VJP (inf/inf, 0 * inf)? Compute it in a form that "
                    "stays finite (from ans, say)"
                )
            else:
                found.append(
                    f"VJP wrong{self._which(a, 'for')}, max rel err {_err(a.max_rel_err)} (at "
                    f"{_where(a.worst_index)}: VJP {_num(a.vjp)}, finite differences "
                    f"{_num(a.numerical)})"
                )
        if status in ("ok", "partly checked"):
            err = max((a.max_abs_err for a in self.args if a.checked), default=0.0)
            kinks = sum(a.kinks for a in self.args)
            sampled = any(a.checked + a.unchecked < int(np.prod(a.shape)) for a in self.args)
            text = ("ok" if status == "ok" else "ok where checked") + f" (max abs err {_err(err)}"
            text += f", {kinks} element(s) at kinks" if kinks else ""
            text += ", sampled elements" if sampled else ""
            found.append(text + ")")
        for a in self.args:
            if a.unchecked:
                n = a.unchecked
                count = "every element" if a.checked == 0 else f"{n} element{'s' * (n > 1)}"
                found.append(f"not checked at {count}{self._which(a, 'of')}: {a.why_unchecked}")
        if any(re.search(r"\b(NaN|-?inf)\b", a.why_unchecked) for a in self.args):
            found[-1] += f" {_NON_FINITE_HINT}"
        return found

    def _which(self, a: ArgCheck, preposition: str) -> str:
        """Names the argument (" for argument 1 (3, 4)") when the op has several arrays, else
        "" (x.sum() records its axis as an argument too)."""
        return f" {preposition} argument {a.position} {a.shape}" if self.n_args > 1 else ""


@dataclass(frozen=True)
class GraphReport:
    """check_graph's result: one NodeCheck per recorded op, in graph-picture numbering."""

    nodes: tuple[NodeCheck, ...]

    @property
    def ok(self) -> bool:
        """No VJP was found wrong. Elements that could not be checked (non-finite values) do
        not count against it: `unchecked_nodes()` lists their ops."""
        return all(n.ok for n in self.nodes)

    @property
    def failed(self) -> list[NodeCheck]:
        return [n for n in self.nodes if not n.ok]

    def failed_nodes(self) -> list[int]:
        """The numbers of the ops whose VJP is wrong (as in the graph picture)."""
        return [n.number for n in self.failed]

    def unchecked_nodes(self) -> list[int]:
        """The numbers of the ops finite differences could not check at some elements (their
        status is "partly checked" or "not checked"): unconfirmed there, not wrong."""
        return [n.number for n in self.nodes if n.unchecked]

    def failed_names(self) -> list[str]:
        """Names of the tensors computed by wrong ops (for draw_graph's highlight)."""
        return [n.name for n in self.failed if n.name]

    def __iter__(self) -> Iterator[NodeCheck]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __str__(self) -> str:
        bad, unchecked = len(self.failed), len(self.unchecked_nodes())
        if bad:
            verdict = f"{bad} with a wrong VJP"
        elif unchecked:
            verdict = "no VJP found wrong"
        else:
            verdict = "every VJP agrees with finite differences"
        if unchecked:
            why = [a.why_unchecked for n in self.nodes if n.unchecked for a in n.args]
            causes = [
                *(["non-finite values"] if any(_UNRESOLVED not in w for w in why if w) else []),
                *(["rounding"] if any(_UNRESOLVED in w for w in why) else []),
            ]
            verdict += f", {unchecked} not checked at some elements ({', '.join(causes)})"
        head = f"check_graph: {len(self.nodes)} ops, {verdict}"
        return "\n".join([head, *(str(n) for n in self.nodes)])

    __repr__ = __str__


def check_graph(
    root: Tensor,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    rng: np.random.Generator | int = 0,
    max_elements: int | None = 4096,
) -> GraphReport:
    """Check the VJP of every op recorded in root's graph against finite differences.

    Each op is checked alone, at the values it was recorded with (copied to float64): its
    VJP, given a random cotangent `g` (from `rng`), must equal the finite-difference
    gradient of sum(g * op(args)) with respect to each argument that requires grad. An
    element x is moved by ±eps (or ±|x| / 2**30 where that is larger: huge values). An
    element also passes when the VJP's value lies between the one-sided differences and
    they stay apart as the step shrinks (a kink: any subgradient there is a valid
    convention); where they close in (an op curved over the step, log near 0), the VJP must
    match the central difference at a smaller step. Arguments with more than
    `max_elements` elements are checked on a random sample of that many (None: every element
    is checked).

    Finite differences cannot check an element where a non-finite value takes part: the
    input there, the outputs it feeds (NaN/inf outputs get no cotangent; log at 0) or the
    finite differences (sqrt at 0). Such elements are reported, not failed: the op's
    status is "partly checked" (the other elements are checked as usual) or "not checked"
    (none could be), `report.unchecked_nodes()` lists them, and `report.ok` (no VJP found
    wrong) is not affected. So are elements where the VJP is inf and finite differences
    grow without bound (a vertical tangent, as of a cube root at 0), and those where a small
    input beside large outputs moves them by less than their rounding. Any other NaN/inf
    VJP where all the values are finite is wrong.

    Ops are numbered as in graph pictures (op #1 is computed first). The graph must not
    have been freed: check before `backward()`, or pass `retain_graph=True` to it. Raises
    ValueError unless eps > 0, atol >= 0 and rtol >= 0 (finite) and max_elements >= 1;
    TypeError for one that is no number.
    """
    _check_options("check_graph", max_elements=max_elements, eps=eps, atol=atol, rtol=rtol)
    if not isinstance(root, Tensor):
        hint = " (a function: pass its result, check_graph(f(*inputs)))" if callable(root) else ""
        raise TypeError(
            f"check_graph: expected the Tensor a graph ends in, got {type(root).__name__}{hint}"
        )
    if root._node is None:
        raise ValueError(
            "check_graph: this tensor was not computed by a recorded op, so there is no graph "
            "to check. Compute it from tensors with requires_grad=True, outside mg.no_grad()"
        )
    order = engine.recorded_order(root)
    freed = [t._node.op.name for t in order if t._node is not None and t._node.args is None]
    if freed:
        raise RuntimeError(
            f"check_graph: the graph was freed by backward() (at least through {freed[0]}), so "
            "the ops' arguments are gone. Build it again (run the forward computation once "
            "more), or call backward(retain_graph=True)"
        )
    gen = random_generator(rng, "check_graph")
    checks = [
        _check_node(k, t, gen, eps=eps, atol=atol, rtol=rtol, max_elements=max_elements)
        for k, t in enumerate(order, start=1)
    ]
    return GraphReport(tuple(checks))


def _float64(value: Any) -> Any:
    """An argument's value for the check: float arrays copied to float64 (we perturb them)."""
    data = value.data if is_tensor(value) else value
    if isinstance(data, np.ndarray | np.generic) and data.dtype.kind == "f":
        return np.array(data, dtype=np.float64, order="C")
    return data


def _check_node(
    number: int,
    t: Tensor,
    rng: np.random.Generator,
    *,
    eps: float,
    atol: float,
    rtol: float,
    max_elements: int | None,
) -> NodeCheck:
    node: Node = t._node  # type: ignore[assignment]
    op, kwargs = node.op, node.kwargs
    args: tuple[Any, ...] = node.args  # type: ignore[assignment]
    # (the values the op ran with: a small array of the caller's was copied into vals)
    vals = [
        _float64(a if is_tensor(a) else v) for a, v in zip(args, node.vals or args, strict=True)
    ]

    def result(checks: list[ArgCheck], error: str | None, skipped: str | None = None) -> NodeCheck:
        n_arrays = sum(isinstance(a, Tensor | np.ndarray) for a in args)
        return NodeCheck(
            number, op.name, t.shape, tuple(checks), error, t.name, node.trace, n_arrays, skipped
        )

    # VJPs see plain arrays and return plain arrays, as during an ordinary backward.
    token = switch_mode(grad_enabled=False, raw_arrays=True, anomaly=None)
    checks: list[ArgCheck] = []
    try:
        with np.errstate(all="ignore"):
            ans = np.asarray(op.fun(*vals, **kwargs))
            parents = [i for i in node.parents if np.asarray(vals[i]).dtype.kind == "f"]
            if ans.dtype.kind != "f" or not parents:
                return result([], None, skipped="not floating-point: no derivative to check")
            g = rng.standard_normal(ans.shape)
            # A NaN/inf output gets no cotangent (it would make every finite difference of
            # sum(g * out) NaN); the elements that only feed such outputs are unchecked.
            bad_out = ~np.isfinite(ans)
            g_bad = np.where(bad_out, g, 0.0) if bad_out.any() else None
            g = np.where(bad_out, 0.0, g)

            def value() -> np.ndarray:  # a copy: op may return a view of the x we move
                out = np.array(op.fun(*vals, **kwargs), dtype=np.float64)
                return out if g_bad is None else np.where(bad_out, 0.0, out)

            h = (
                eps
                if ans.dtype == np.float64
                else max(eps, float(np.finfo(ans.dtype).eps) ** (1 / 3))
            )
            for i in parents:
                shape = np.shape(vals[i])
                try:
                    vjp = _local_vjp(op, i, g, ans, vals, kwargs, shape)
                    feeds_bad = (
                        np.zeros(shape, dtype=bool)
                        if g_bad is None
                        else _local_vjp(op, i, g_bad, ans, vals, kwargs, shape) != 0  # NaN too
                    )
                except Exception as err:  # a broken VJP is what this tool is for: report it
                    return result(checks, f"VJP error: {type(err).__name__}: {err}")
                checks.append(
                    _check_arg(
                        i, vals[i], value, g, vjp, feeds_bad, ans, h, atol, rtol, rng, max_elements
                    )
                )
    except Exception as err:
        return result(checks, f"forward error: {type(err).__name__}: {err}")
    finally:
        restore_mode(token)
    return result(checks, None)


def _local_vjp(
    op: Primitive,
    i: int,
    g: np.ndarray,
    ans: np.ndarray,
    vals: list[Any],
    kwargs: dict[str, Any],
    shape: Index,
) -> np.ndarray:
    """Argument i's gradient from op's VJP, as the engine computes it (unbroadcast)."""
    (gi,) = engine.call_vjps(op, (i,), g, ans, vals, kwargs)
    if gi is None:
        return np.zeros(shape)  # declared: no gradient for this argument
    gi = np.asarray(values_of(gi), dtype=np.float64)
    if gi.shape != shape:
        gi = np.asarray(engine.unbroadcast(gi, shape, op, i), dtype=np.float64)
    return gi


def _check_arg(
    i: int,
    x: np.ndarray,
    value: Callable[[], np.ndarray],
    g: np.ndarray,
    vjp: np.ndarray,
    feeds_bad: np.ndarray,
    ans: np.ndarray,
    eps: float,
    atol: float,
    rtol: float,
    rng: np.random.Generator,
    max_elements: int | None,
) -> ArgCheck:
    """Argument i (x, which value() reads) of one op: its VJP (for cotangent g) against
    finite differences of sum(g * op(args)).

    value() is op(args) with its non-finite outputs (`ans`) set to 0; feeds_bad marks the
    elements of x that feed a non-finite one. An element where a non-finite value takes
    part, or that only feeds non-finite outputs, is counted as unchecked (with the reason),
    not compared; so is one where the VJP is inf at a vertical tangent. Any other NaN/inf
    VJP where all of these are finite is wrong.
    """
    shape = np.shape(x)
    size = int(np.prod(shape))
    flat_x = x.reshape(-1)  # a view of our float64 copy
    picked = np.arange(size)
    if max_elements is not None and size > max_elements:
        picked = np.sort(rng.choice(size, size=max_elements, replace=False))
    x_picked = flat_x[picked]  # a copy, taken before the elements are moved

    centre = value()
    # an output's rounding, relative: at most half an ulp of its own dtype (an op returning
    # float32 from float64 inputs rounds there), allowed one ulp each for up and down
    rounding = float(np.finfo(ans.dtype if ans.dtype.kind == "f" else np.float64).eps)

    def diffs(indices: Any, steps: np.ndarray) -> tuple[np.ndarray, ...]:
        return _differences(value, flat_x, indices, steps, g, centre, rounding)

    central, lo, hi, noise, h = diffs(picked, _steps(x_picked, eps))
    analytic = vjp.reshape(-1)[picked]
    tol = atol + rtol * np.abs(central)
    smooth_ok = np.abs(analytic - central) <= tol
    # A small input beside large outputs (x + 1e9, or the mean of 3e4 and 0.5): its step
    # changes the outputs by less than their rounding. Differing by no more than that, the
    # VJP cannot be told right or wrong at this eps.
    unresolved = ~smooth_ok & (np.abs(analytic - central) <= tol + noise)
    # A VJP between the one-sided differences: a kink (relu at 0), or only the curvature of
    # a smooth op over the step (log near 0), where both close in on the derivative as the
    # step shrinks. _refine tells them apart, and finds the derivative in the second case.
    at_kink = ~smooth_ok & ~unresolved & (analytic >= lo - tol) & (analytic <= hi + tol)
    for n in np.flatnonzero(at_kink):
        verdict, central[n] = _refine(
            diffs, int(picked[n]), float(h[n]), float(analytic[n]), atol, rtol, gap=hi[n] - lo[n]
        )
        at_kink[n] = verdict == "kink"
        unresolved[n] = verdict == "rounding"
    # An inf VJP where finite differences have its sign and grow as the step shrinks: a
    # vertical tangent (cube root at 0), which they only approach. Any other inf is wrong.
    vertical = np.zeros(len(picked), dtype=bool)
    for n in np.flatnonzero(np.isinf(analytic) & np.isfinite(central)):
        steeper = diffs(picked[n : n + 1], h[n : n + 1] / 4)[0][0]
        same_sign = np.sign(steeper) == np.sign(analytic[n]) == np.sign(central[n])
        vertical[n] = bool(same_sign and abs(steeper) > 1.5 * abs(central[n]))
    reference = np.where(at_kink, analytic, central)  # a kink's subgradient is accepted as is

    # An element that feeds a non-finite output, and nothing the finite ones see (both sides
    # 0 or non-finite), was compared vacuously: it is unchecked, like one involving NaN/inf.
    silent = (~np.isfinite(analytic) | (analytic == 0)) & (~np.isfinite(central) | (central == 0))
    feeds_bad = feeds_bad.reshape(-1)[picked]
    causes = [  # in the order a reason is given for an element
        ("the input is", ~np.isfinite(x_picked), x_picked),
        ("its output is", feeds_bad & silent, ans),
        ("finite differences are", ~np.isfinite(central), central),
        # inf at a vertical tangent; NaN/inf beside a non-finite output (A @ B with an inf
        # in B: 0 * inf in the VJP). Where every value is finite, any other non-finite VJP
        # is compared, and wrong.
        ("the VJP is", vertical | (~np.isfinite(analytic) & feeds_bad), analytic),
        (_UNRESOLVED, unresolved, None),
    ]
    unchecked = np.logical_or.reduce([mask for _, mask, _ in causes])
    keep = ~unchecked
    d = _diff(analytic[keep], reference[keep], atol, rtol, rank_by_rel_err=True)
    if keep.any():
        k, vjp_there, numerical_there = d.worst_index[0], d.actual, d.reference
        flat_worst = int(picked[keep][k])
    elif unchecked.any():  # nothing compared: show the first element, as it is
        k = int(np.argmax(unchecked))
        flat_worst = int(picked[k])
        vjp_there, numerical_there = float(analytic[k]), float(central[k])
    else:  # an empty argument: nothing to compare
        flat_worst, vjp_there, numerical_there = 0, math.nan, math.nan
    return ArgCheck(
        position=i,
        shape=tuple(shape),
        ok=d.ok,
        max_abs_err=d.max_abs_err,
        max_rel_err=d.max_rel_err,
        worst_index=tuple(int(n) for n in np.unravel_index(flat_worst, shape))
        if size
        else (0,) * len(shape),
        vjp=vjp_there,
        numerical=numerical_there,
        checked=int(keep.sum()),
        kinks=int(at_kink[keep].sum()),
        unchecked=int(unchecked.sum()),
        why_unchecked=_why_unchecked(causes, unchecked),
    )


def _differences(
    value: Callable[[], np.ndarray],
    flat_x: np.ndarray,
    indices: Any,
    steps: np.ndarray,
    g: np.ndarray,
    centre: np.ndarray,
    rounding: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Finite differences of sum(g * value()) for each element flat_x[j], j in indices,
    moved by its step: (central, the smaller one-sided, the larger one-sided, what the
    outputs' rounding can move the central one by, the steps taken)."""
    n = len(steps)
    central, lo, hi, noise, h = (np.empty(n) for _ in range(5))
    # The outputs are differenced before they are weighted and summed: sums of large
    # outputs would lose the small change to rounding.
    for k, (up, down, step_up, step_down) in enumerate(_moved(value, flat_x, indices, steps)):
        h[k] = (step_up + step_down) / 2
        central[k] = np.vdot(g, up - down) / (2 * h[k])
        forward = np.vdot(g, up - centre) / step_up
        backward = np.vdot(g, centre - down) / step_down
        lo[k], hi[k] = min(forward, backward), max(forward, backward)
        # (over the outputs that moved: one that does not depend on x changes by exactly 0
        # and adds no error; over all of them only when none moved, as then the step may
        # be below every output's resolution)
        moved = (up != centre) | (down != centre)
        magnitude = np.abs(up) + np.abs(down)
        if moved.any():
            magnitude = np.where(moved, magnitude, 0.0)
        noise[k] = rounding * np.vdot(np.abs(g), magnitude) / (2 * h[k])
    return central, lo, hi, noise, h


def _refine(
    diffs: Callable[[Any, np.ndarray], tuple[np.ndarray, ...]],
    j: int,
    h: float,
    vjp: float,
    atol: float,
    rtol: float,
    *,
    gap: float,
) -> tuple[str, float]:
    """Element j, whose VJP lies between its one-sided differences at step h (`gap` apart),
    at smaller steps (`diffs`: _differences for the op at hand). ("kink", vjp) where they
    stay apart (any value between them is a subgradient); where they close in (a smooth
    op's curvature), ("smooth", d) when the central difference d comes to agree with the
    VJP, else ("wrong", d); ("rounding", d) when the outputs' rounding swamps a smaller
    step first."""
    central = math.nan
    for _ in range(3):  # h/4, h/16, h/64: the central difference's error shrinks 16x each
        h /= 4
        c, lo_, hi_, noise_, _ = diffs([j], np.array([h]))
        central, lo, hi, noise = float(c[0]), float(lo_[0]), float(hi_[0]), float(noise_[0])
        tol = atol + rtol * abs(central)
        if abs(vjp - central) <= tol:
            return "smooth", central
        inside = lo - tol <= vjp <= hi + tol
        if inside and hi - lo > max(gap / 2, 4 * noise):  # (smooth: a quarter of the gap)
            return "kink", vjp
        if abs(vjp - central) <= tol + noise:
            return "rounding", central
        if not inside:
            return "wrong", central
        gap = hi - lo
    return "wrong", central


_UNRESOLVED = (
    "finite differences lose the change to the outputs' rounding (a small input beside "
    "large outputs: a larger eps may check it)"
)


def _why_unchecked(
    causes: list[tuple[str, np.ndarray, np.ndarray | None]], unchecked: np.ndarray
) -> str:
    """Each unchecked element's first cause, counted: "finite differences are NaN there", or
    "the input is -inf at 1 element, its output is -inf at 2 elements" ("" when none is)."""
    left = unchecked.copy()
    found: list[tuple[str, int]] = []
    for phrase, mask, values in causes:
        here = mask & left
        if here.any():
            kinds = "" if values is None else " " + _non_finite_kinds(values[~np.isfinite(values)])
            found.append((phrase + kinds, int(here.sum())))
            left &= ~here
    if len(found) == 1:
        return f"{found[0][0]} there"
    return ", ".join(f"{text} at {n} element{'s' * (n > 1)}" for text, n in found)


# ---------------------------------------------------------------- compare_grads


@dataclass(frozen=True)
class GradRow:
    """One name of compare_grads: the manual gradient against the automatic one."""

    name: str
    manual_shape: Index | None  # None: missing on that side
    auto_shape: Index | None
    ok: bool
    max_abs_err: float  # nan when not comparable
    max_rel_err: float
    worst_index: Index | None
    manual: float | None  # the values at worst_index
    auto: float | None
    note: str  # why it failed, or a hint at the mistake ("" when ok)

    @property
    def shape_ok(self) -> bool:
        return self.manual_shape is not None and self.manual_shape == self.auto_shape


@dataclass(frozen=True)
class GradReport:
    """compare_grads' result: `.ok`, one row per name, a table as `str(report)`."""

    rows: tuple[GradRow, ...]
    rtol: float
    atol: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def failed_names(self) -> list[str]:
        """The names whose gradients disagree (draw_graph colours tensors with these names)."""
        return [r.name for r in self.rows if not r.ok]

    def __getitem__(self, name: str) -> GradRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def __iter__(self) -> Iterator[GradRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        failed = self.failed_names()
        verdict = "all agree" if not failed else f"{len(failed)} of {len(self.rows)} differ"
        head = f"compare_grads: {verdict} (rtol={self.rtol:g}, atol={self.atol:g})"
        table = [("name", "shape", "max abs err", "max rel err", "worst at", "manual", "auto", "")]
        for r in self.rows:
            if r.manual_shape is None or r.auto_shape is None:
                shape = str(r.manual_shape if r.auto_shape is None else r.auto_shape)
            elif r.shape_ok:
                shape = str(r.manual_shape)
            else:
                shape = f"{r.manual_shape} vs {r.auto_shape}"
            comparable = r.worst_index is not None
            verdict_r = "ok" if r.ok else "FAIL"
            table.append(
                (
                    r.name,
                    shape,
                    _err(r.max_abs_err) if comparable else "-",
                    _err(r.max_rel_err) if comparable else "-",
                    str(r.worst_index) if comparable else "-",
                    _num(r.manual) if r.manual is not None else "-",
                    _num(r.auto) if r.auto is not None else "-",
                    verdict_r + (f"  {r.note}" if r.note else ""),
                )
            )
        widths = [max(len(row[c]) for row in table) for c in range(len(table[0]) - 1)]
        lines = [head]
        for row in table:
            cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        return "\n".join(lines)

    __repr__ = __str__


def compare_grads(
    manual: Mapping[str, Any],
    auto: Mapping[str, Any],
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> GradReport:
    """Compare hand-derived gradients with automatic ones, name by name.

    `manual` maps names to arrays (e.g. the tutorial's dW1...); `auto` maps the same names to
    Tensors (their `.grad` is compared: for a computed tensor such as the tutorial's Z2,
    call `Z2.retain_grad()` before backward) or arrays (from `mg.grad`; a Tensor that
    `mg.grad` returned is compared by its values). An element agrees when
    |manual - auto| <= atol + rtol * |auto| (np.allclose's defaults; both must be finite
    and >= 0). Missing names, a `.grad` of None and shape mismatches are rows that fail,
    not exceptions. Use the
    tensors' names as keys (`mg.tensor(..., name="W1")`) so that
    `mg.draw_graph(root, highlight=report)` can colour the failures.
    """
    for side, mapping in (("manual", manual), ("auto", auto)):
        if not isinstance(mapping, Mapping):
            raise TypeError(
                f"compare_grads: {side} must be a mapping from names to gradients, e.g. "
                f"{{'W1': dW1, 'b1': db1}}, got {type(mapping).__name__}"
            )
    _check_options("compare_grads", rtol=rtol, atol=atol)
    keys = list(manual) + [k for k in auto if k not in manual]
    rows = [_compare_one(k, manual, auto, rtol, atol) for k in keys]
    return GradReport(tuple(rows), rtol, atol)


def _label(key: Any) -> str:
    """A compare_grads key as its row's name (a tensor used as a key: its name or shape)."""
    if is_tensor(key):
        return key.name or f"<tensor {key.shape}>"
    return str(key)


def _compare_one(
    key: Any, manual: Mapping[Any, Any], auto: Mapping[Any, Any], rtol: float, atol: float
) -> GradRow:
    name = _label(key)

    def fail(note: str, m_shape: Index | None = None, a_shape: Index | None = None) -> GradRow:
        return GradRow(name, m_shape, a_shape, False, math.nan, math.nan, None, None, None, note)

    m: np.ndarray | None = None
    if key in manual:
        m_val = manual[key]
        if isinstance(m_val, Tensor) and m_val.is_leaf and m_val.requires_grad:
            return fail(
                "manual: a parameter (a Tensor that requires grad), whose values are not a "
                "gradient: manual and auto swapped? Pass the hand-derived arrays as manual"
            )
        m_or_why = _as_array(m_val)
        if isinstance(m_or_why, str):
            return fail(f"manual: {m_or_why}")
        m = m_or_why
    m_shape = None if m is None else m.shape
    if key not in auto:
        return fail("missing in auto", m_shape)
    a_val = auto[key]
    if isinstance(a_val, Tensor) and is_gradient(a_val):
        a_val = a_val.data  # a gradient itself (mg.grad of a tensor that requires grad)
    if isinstance(a_val, Tensor) and not a_val.is_leaf and a_val.grad is None:
        return fail(
            "auto: .grad is None: a computed tensor keeps no .grad unless asked; call "
            f"{name}.retain_grad() before backward() (or pass its gradient as an array)",
            m_shape,
            a_val.shape,
        )
    if isinstance(a_val, Tensor) and a_val.grad is None:
        return fail(
            "auto: .grad is None (backward() not run yet? does the loss depend on it? "
            "requires_grad=True?)",
            m_shape,
            a_val.shape,
        )
    a = _as_array(a_val.grad if isinstance(a_val, Tensor) else a_val)
    if isinstance(a, str):
        return fail(f"auto: {a}", m_shape)
    if m is None:
        return fail("missing in manual", None, a.shape)
    if m.shape != a.shape:
        return fail(f"shape mismatch{_shape_hint(m, a, rtol, atol)}", m.shape, a.shape)
    d = _diff(m, a, atol, rtol)
    note = "" if d.ok else _transpose_hint(m, a, rtol, atol) or _factor_hint(m, a, rtol, atol)
    if not d.ok and d.failing:
        note = f"{d.failing} of {max(1, m.size)} elements differ" + (f"; {note}" if note else "")
    return GradRow(
        name,
        m.shape,
        a.shape,
        d.ok,
        d.max_abs_err,
        d.max_rel_err,
        d.worst_index,
        d.actual,
        d.reference,
        note,
    )


def _as_array(x: Any) -> np.ndarray | str:
    """A gradient as a float64 array, or why it is not one."""
    if x is None:
        return "None instead of a gradient"
    try:
        return np.asarray(values_of(x), dtype=np.float64)
    except (TypeError, ValueError) as err:
        return f"not an array of numbers ({type(x).__name__}: {err})"


def _factor_hint(m: np.ndarray, a: np.ndarray, rtol: float, atol: float) -> str:
    """Name a classic mistake when manual is a constant multiple of auto (1/m forgotten...)."""
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(a))):
        return "non-finite values"
    big = np.abs(a) > atol
    if not big.any():
        return ""
    c = float(np.median(m[big] / a[big]))
    if c == 0 or not np.allclose(m, c * a, rtol=rtol, atol=atol):
        return ""
    if np.isclose(c, -1.0):
        return "manual = -auto: the sign is flipped"
    for k, text in ((c, "manual = {n} x auto: a factor 1/{n} missing"), (1 / c, "")):
        n = round(k)
        if n >= 2 and np.isclose(k, n, rtol=1e-6):
            if text:
                return text.format(n=n) + " (a forgotten 1/m, or a sum for a mean?)"
            return f"auto = {n} x manual: an extra factor 1/{n}"
    return f"manual = {c:.4g} x auto: a constant factor is off"


def _transpose_hint(m: np.ndarray, a: np.ndarray, rtol: float, atol: float) -> str:
    """For square matrices, which a transpose does not reshape."""
    if m.ndim == 2 and m.shape[0] == m.shape[1] and np.allclose(m.T, a, rtol=rtol, atol=atol):
        return "manual is the transpose of auto"
    return ""


def _shape_hint(m: np.ndarray, a: np.ndarray, rtol: float, atol: float) -> str:
    if m.size != a.size:
        summed = _summed_to(m, a.shape)
        if summed is not None and np.allclose(summed, a, rtol=rtol, atol=atol):
            return (
                f": manual summed over its broadcast axes ({_summed_axes_text(m.shape, a.shape)},"
                " keepdims=True) equals auto: a bias gradient not summed over the batch?"
            )
        return ""
    if m.ndim == 2 and m.shape == a.shape[::-1] and np.allclose(m.T, a, rtol=rtol, atol=atol):
        return ": manual is the transpose of auto"
    if np.allclose(m.reshape(a.shape), a, rtol=rtol, atol=atol):
        return ": same values, different shape (keepdims=True? a reshape?)"
    return ""


def _summed_to(m: np.ndarray, shape: Index) -> np.ndarray | None:
    """m summed over the axes along which `shape` would be broadcast to m's shape, or None
    if m's shape is not such a broadcast."""
    try:
        return np.asarray(sum_to.fun(m, shape))
    except ValueError:
        return None


def _summed_axes_text(big: Index, small: Index) -> str:
    lead = len(big) - len(small)
    axes = [*range(lead), *(lead + i for i, n in enumerate(small) if n == 1 and big[lead + i] != 1)]
    return ("axis " if len(axes) == 1 else "axes ") + ", ".join(map(str, axes))


# ---------------------------------------------------------------- detect_anomaly


class SourceLocation(NamedTuple):
    """Where in the user's code an op was called (the first frame outside microgradnp)."""

    filename: str
    lineno: int
    function: str

    @property
    def code(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} (in {self.function})"


def _user_location() -> SourceLocation | None:
    frame: Any = sys._getframe(1)
    while frame is not None:
        if not is_library_code(frame.f_globals.get("__name__", "")):
            code = frame.f_code
            return SourceLocation(code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return None


def _is_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, np.ndarray | np.generic) and value.dtype.kind in "fc":
        return bool(np.isfinite(value).all())
    return True  # ints, bools, indices, shapes


def _non_finite_kinds(data: np.ndarray) -> str:
    kinds = []
    if np.isnan(data).any():
        kinds.append("NaN")
    if np.isposinf(data).any():
        kinds.append("inf")
    if np.isneginf(data).any():
        kinds.append("-inf")
    return "/".join(kinds)


def _first_bad(data: np.ndarray) -> Index:
    flat = int(np.argmax(~np.isfinite(data.reshape(-1))))
    return tuple(int(i) for i in np.unravel_index(flat, data.shape))


def _called_at(op_name: str, where: SourceLocation | None) -> str:
    if where is None:
        return (
            f"{op_name} was recorded outside detect_anomaly(), so where is unknown: build the "
            "graph inside the `with mg.detect_anomaly():` block to see the line"
        )
    code = where.code
    return f"{op_name} was called at {where}" + (f":\n    {code}" if code else "")


class _AnomalyDetector:
    """Checks every op's output and every gradient for NaN/Inf (see Mode.anomaly)."""

    def forward(self, op: Primitive, out: Tensor, vals: Any) -> None:
        where = None
        if out._node is not None:
            out._node.trace = where = _user_location()
        data = out.data
        if data.dtype.kind not in "fc" or np.isfinite(data).all():
            return
        if not all(_is_finite(v) for v in vals):
            # Not this op's doing: an input was already NaN/Inf. From an op (recorded inside
            # the block, it raised already), or from outside: the data or a parameter.
            self._entered(op, out, vals, where)
            return
        index = _first_bad(data)
        shapes = ", ".join(str(np.shape(v)) for v in vals if _is_number(v))
        there = ", ".join(_value_at(v, index, data.shape) for v in vals)
        raise FloatingPointError(
            f"detect_anomaly: {op.name} produced {_non_finite_kinds(data)} from finite inputs: "
            f"output {data.shape}, inputs {shapes}; first at {_where(index)}: "
            f"{op.name}({there}) = {_num(float(data[index]))}.\n"
            + _called_at(op.name, where or _user_location())
        )

    def _entered(self, op: Primitive, out: Tensor, vals: Any, where: Any) -> None:
        """Raise if a NaN input of a recorded op is a parameter (a leaf that requires grad:
        an update made it so). NaN data and constants may be meant (masked out later, as
        missing labels): backward says where they were, if they reach a gradient."""
        if out._node is None or out._node.args is None:
            return  # (nothing to differentiate: NaN may be carried along)
        for i, arg in enumerate(out._node.args):
            if not (is_tensor(arg) and arg._node is None and arg._requires_grad):
                continue
            data = arg._data
            if not np.isnan(data).any():  # (-inf may be meant: a mask of scores)
                continue
            label = f" {arg.name!r}" if arg.name else ""
            raise FloatingPointError(
                f"detect_anomaly: argument {i} of {op.name}, the parameter{label} of shape "
                f"{data.shape}, holds {_non_finite_kinds(data)} (first at "
                f"{_where(_first_bad(data))}): no op made it, an update did (too large a "
                "learning rate?) or it was created so.\n"
                + _called_at(op.name, where or _user_location())
            )

    def seed(self, root: Tensor, grad: np.ndarray) -> None:
        """backward's own gradient (grad=), where the walk starts."""
        if grad.dtype.kind in "fc" and not np.isfinite(grad).all():
            raise FloatingPointError(
                f"detect_anomaly: the gradient given to backward (grad=, shape {grad.shape}) "
                f"holds {_non_finite_kinds(grad)}, first at {_where(_first_bad(grad))}: it "
                "comes from the caller, not from an op"
            )

    def summed(self, node: Node, inp: Tensor, total: Any) -> None:
        """The gradient of inp summed over its uses so far (each use's finite, as checked)."""
        data = values_of(total)
        if data.dtype.kind not in "fc" or np.isfinite(data).all():
            return
        label = f"tensor {inp.name!r}" if inp.name else f"a tensor of shape {inp.shape}"
        into = ".grad" if inp._node is None else "gradient"
        raise FloatingPointError(
            f"detect_anomaly: during backward, the {into} of {label} became "
            f"{_non_finite_kinds(data)} when {node.op.name}'s VJP added its part, which is "
            f"finite (first at {_where(_first_bad(data))}): the sum of its uses' gradients "
            "overflows.\n" + _called_at(node.op.name, node.trace)
        )

    def backward(self, node: Node, out: Tensor, inp: Tensor, grad: Any) -> None:
        data = values_of(grad)
        if data.dtype.kind not in "fc" or np.isfinite(data).all():
            return
        args = node.args or ()
        position = next((i for i in node.parents if args[i] is inp), None)
        which = "an argument" if position is None else f"argument {position}"
        index = _first_bad(data)
        value = float(inp.data[index]) if inp.data.shape == data.shape else None
        before = ""
        if not all(_is_finite(v) for v in node.vals or ()):
            before = (
                " The op's inputs already held NaN/inf in the forward pass: from the data or "
                "a constant (check them with np.isfinite), or from ops run outside "
                "detect_anomaly."
            )
        raise FloatingPointError(
            f"detect_anomaly: during backward, {node.op.name}'s VJP gave {which} (shape "
            f"{inp.shape}) a gradient containing {_non_finite_kinds(data)}; first at "
            f"{_where(index)}"
            + (f", where the argument is {_num(value)}" if value is not None else "")
            + f" (the output has shape {out.shape}).{before}\n"
            + _called_at(node.op.name, node.trace)
        )


def _is_number(v: Any) -> bool:
    return (
        isinstance(v, int | float | np.ndarray | np.generic) and np.asarray(v).dtype.kind in "fiub"
    )


def _value_at(v: Any, index: Index, shape: Index) -> str:
    """An op argument as shown in an anomaly message: its element at `index`, or a summary."""
    if not _is_number(v):
        return "..."
    if np.shape(v) == shape:
        return _num(float(np.asarray(v)[index]))
    if np.ndim(v) == 0:
        return _num(float(v))
    return f"<{np.shape(v)} array>"


class detect_anomaly(_ModeSwitch):
    """Context manager (and decorator): the first op whose output or gradient is NaN/Inf
    raises FloatingPointError.

    Forward: an op that turns finite inputs into NaN/Inf (log(0), 0/0, exp overflow), or
    a parameter holding NaN (an update made it so). Backward: a VJP that hands an input a
    NaN/Inf gradient (saying so when NaN data or constants were among the op's inputs),
    gradients that overflow only when summed over a tensor's uses, and a non-finite
    `grad=` given to backward; inside mg.grad, the VJP is named rather than the ops it
    runs. The error names the op, the shapes, the first bad element and the file:line of your
    code that called the op (ops recorded inside the block remember it). Per thread and
    context, like no_grad.
    It checks every value, so it is slow: for debugging.
    """

    _changes: ClassVar[dict[str, Any]] = {"anomaly": _AnomalyDetector()}


# ---------------------------------------------------------------- stability warnings


class stability_warnings:
    """Turn StabilityWarning on or off (it is on by default).

        mg.stability_warnings(False)            # from here on (this thread/context)
        with mg.stability_warnings(False):      # for a block; restored after it
            loss = -mg.log(mg.sigmoid(z))

    Per thread and context, like no_grad (new threads start with warnings on). To silence
    them everywhere, use Python's filter: warnings.simplefilter("ignore", mg.StabilityWarning).
    """

    def __init__(self, enabled: bool = True) -> None:
        check_flags("stability_warnings", enabled=enabled)
        self._before = current_mode().stability_warnings
        switch_mode(stability_warnings=bool(enabled))

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        # (this setting only, and no ContextVar token: the block may end in another
        # context, out of order with other switches)
        switch_mode(stability_warnings=self._before)
