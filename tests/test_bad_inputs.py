"""Every bad input answered: each row of docs/errors.md, run and checked.

The table is the specification. Each row's input cell starts with an example in backticks
(the row's key); `ROWS` below maps that key to the bad calls that reproduce it (several
where the row covers several ops). The test runs each call, checks that it raises the
exception the error cell names, and that every `quoted` fragment of the message cell
appears in the message (plus any fragment specific to the call, such as the op's name).
Rows marked "(planned)" describe a message the core is about to adopt; their tests are
strict expected failures, listed with the reason in `PLANNED`. The row marked "(being
implemented)" has no test yet.
"""

from __future__ import annotations

import builtins
import os
import pickle
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import datasets, nn, optim
from microgradnp.nn import functional as F

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
HEADER = "| input | error | message (abridged) | fix |"
PLANNED_MARK = "(planned)"
BEING_IMPLEMENTED = "(being implemented)"


# ---------------------------------------------------------------- reading the table


@dataclass(frozen=True)
class Row:
    key: str  # the first code span of the input cell: the example the test runs
    error: str  # the exception class named by the error cell
    fragments: tuple[str, ...]  # the code spans of the message cell
    planned: bool
    being_implemented: bool
    line: int


def _spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def read_table(text: str) -> list[Row]:
    """The rows of every table in `text` whose header is HEADER."""
    rows: list[Row] = []
    in_table = False
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() == HEADER:
            in_table = True
            continue
        if not (in_table and line.startswith("|")):
            in_table = False
            continue
        if line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"errors.md:{n}: a row needs 4 cells, got {len(cells)}"
        inputs, error, message = cells[0], cells[1], cells[2]
        assert _spans(inputs), f"errors.md:{n}: the input cell needs an example in backticks"
        being_implemented = BEING_IMPLEMENTED in error
        rows.append(
            Row(
                key=_spans(inputs)[0],
                error="" if being_implemented else _spans(error)[0],
                fragments=tuple(_spans(message)),
                planned=PLANNED_MARK in error,
                being_implemented=being_implemented,
                line=n,
            )
        )
    return rows


TABLE = read_table(DOC.read_text(encoding="utf-8"))


def _exception(name: str) -> type[BaseException]:
    for space in (builtins, np.exceptions, mg):
        cls = getattr(space, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            return cls
    raise AssertionError(f"errors.md names an unknown exception {name!r}")


# ---------------------------------------------------------------- the reproductions

Call = Callable[[], Any]
Case = Call | tuple[Call, tuple[str, ...]]  # a bad call, or one with extra fragments
ROWS: dict[str, Callable[[Path], Iterable[Case]]] = {}

# Rows whose message the core is about to change: key -> what is wrong today.
PLANNED: dict[str, str] = {}


def row(key: str) -> Callable[[Callable[[Path], Iterable[Case]]], Any]:
    def register(cases: Callable[[Path], Iterable[Case]]) -> Any:
        assert key not in ROWS, key
        ROWS[key] = cases
        return cases

    return register


def T(*shape: int) -> mg.Tensor:
    return mg.tensor(np.ones(shape), requires_grad=True)


def tutorial_model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(2, 3, rng=0), nn.Sigmoid(), nn.Linear(3, 1, rng=1))


# -- making tensors


@row('mg.tensor("abc")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor("abc")
    yield lambda: mg.tensor(["a", "b"]), ("<U1",)
    yield lambda: mg.tensor(b"abc"), ("|S3 (bytes)",)


@row("w.data = np.array([1, 2])")
def _(tmp: Path) -> Iterable[Case]:
    def assign(value: Any) -> None:
        T(2).data = value

    yield lambda: assign(np.array([1, 2]))
    yield lambda: assign("abc"), ("data: assign an array of real numbers, not str",)


@row("mg.tensor(x, np.float32)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor([1.0, 2.0], np.float32)
    yield lambda: mg.tensor([1.0], requires_grad="no"), ("got 'no'",)
    yield lambda: T(2).sum().backward(None, "no"), ("retain_graph must be True or False",)
    yield lambda: nn.Linear(2, 3, "no"), ("Linear: bias must be True or False",)  # type: ignore[arg-type]
    yield lambda: tutorial_model().train("False"), ("mode must be True or False",)
    # keepdims, in every reduction (NumPy would take "yes", 1 or "no" by their truth)
    for name in REDUCTIONS:
        yield (
            (lambda name=name: getattr(mg, name)(T(2, 3), keepdims="yes")),
            (f"{name}: keepdims must be True or False, got 'yes'",),
        )
        yield (
            (lambda name=name: getattr(T(2, 3), name)(axis=0, keepdims=1)),
            (f"{name}: keepdims must be True or False, got 1",),
        )

    def load_positionally() -> None:
        model = tutorial_model()
        model.load_state_dict(model.state_dict(), "no")  # type: ignore[arg-type]

    yield load_positionally, ("Sequential.load_state_dict: strict must be True or False",)


REDUCTIONS = ["sum", "mean", "max", "min", "logsumexp"]


@row("x.view(2, 3)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(6).view(2, 3)
    yield lambda: T(6).unsqueeze(0), ("x[None]",)
    yield lambda: T(6).exp_(), ("in-place updates are written `x += ...`",)
    yield lambda: T(6).grad_fn, ("x.op",)


@row('mg.tensor({"a": 1})')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor({"a": 1}), ("got dict",)
    yield lambda: mg.tensor(None), ("got NoneType",)
    yield lambda: mg.tensor(object()), ("got object",)


@row("mg.tensor([[1, 2], [3]])")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor([[1, 2], [3]])
    yield lambda: mg.tensor([[1.0], [2.0, 3.0], []]), ("ragged nested sequence",)


@row("mg.tensor([1j])")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor([1j])
    yield lambda: mg.tensor(np.ones(2, dtype=np.complex64)), ("complex64 (complex numbers)",)


@row("mg.tensor(np.array([1, 2]), requires_grad=True)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor(np.array([1, 2]), requires_grad=True)

    def setter() -> None:
        mg.tensor(np.array([1, 2])).requires_grad = True

    yield setter, ("requires_grad=True needs floating-point data",)
    yield lambda: mg.tensor(np.array([True]), requires_grad=True), ("dtype is bool",)
    yield lambda: mg.tensor([1.5], dtype=np.int32, requires_grad=True), ("dtype is int32",)


@row("mg.tensor(1.0, name=3)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor(1.0, name=3)


@row("(w * 2).requires_grad = False")
def _(tmp: Path) -> Iterable[Case]:
    def unset() -> None:
        (T(2) * 2).requires_grad = False

    yield unset


@row('x + "a"')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(2) + "a", ("add",)
    yield lambda: T(2) * None, ("mul on (2,) and NoneType",)
    yield lambda: mg.exp(None), ("exp on NoneType",)
    yield lambda: mg.sigmoid(None), ("sigmoid on NoneType: expected real numbers",)
    yield lambda: nn.Sigmoid()(None), ("sigmoid on NoneType",)
    yield lambda: mg.sigmoid(np.array([1j])), ("sigmoid on (1,)", "dtype complex128")
    yield (
        lambda: mg.sigmoid(np.array(["2020-01-01"], dtype="datetime64[D]")),
        ("dtype datetime64[D]",),
    )
    yield lambda: mg.sigmoid(np.array([1.0], dtype=object)), ("dtype object",)


@row('mg.where("", x, 0.0)')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.where("", T(2, 3), 0.0)
    yield (
        lambda: mg.where(np.array(["a", "", "c"]), T(3), 0.0),
        ("got ndarray of dtype <U1",),
    )
    yield lambda: mg.where(None, T(3), 0.0), ("got NoneType",)
    yield lambda: mg.where([1j, 0j], T(2), 0.0), ("got list of dtype complex128",)


@row("x.astype(str)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(2).astype(str)


# -- shapes and axes

BINARY_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


@row("a + b")
def _(tmp: Path) -> Iterable[Case]:
    for name in BINARY_OPS:
        yield (lambda name=name: getattr(mg, name)(T(2, 3), T(3, 2))), (f"{name}: shapes",)
    for name, symbol in OPERATORS.items():
        yield (
            (lambda symbol=symbol: eval(f"a {symbol} b", {"a": T(2, 3), "b": T(3, 2)})),
            (f"{name}: shapes",),
        )
    yield (lambda: np.ones((2, 3)) + T(3, 2)), ("add: shapes",)  # an array on the left
    yield (lambda: mg.add(T(2, 3), [1.0, 2.0])), ("add: shapes (2, 3) and (2,)",)  # a list


@row("A @ B")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(2, 3) @ T(4, 5)
    yield lambda: mg.matmul(np.ones((2, 3)), T(4, 5)), ("inner dimensions 3 and 4 differ",)


@row("x @ None")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(2, 3) @ None
    yield lambda: None @ T(2, 3), ("matmul: the left operand is a NoneType",)
    yield lambda: mg.matmul(T(2, 3), "abc"), ("the right operand is a str",)


@row("mg.concatenate(x)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.concatenate(T(2, 2))
    yield lambda: mg.stack(3), ("stack: expected a list or tuple of tensors, got int",)


@row('mg.concatenate(["a", "b"])')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.concatenate(["a", "b"])
    yield lambda: mg.stack(["a", "b"]), ("stack: item 0 (str) is not an array of real numbers",)
    yield (
        lambda: mg.concatenate([T(1), np.array(["b"])]),
        ("concatenate: item 1 (ndarray of dtype <U1)",),
    )
    yield lambda: mg.stack([T(2), [None, None]]), ("item 1 (list of dtype object)",)
    yield lambda: mg.concatenate([None, None], axis=None), ("item 0 (NoneType)",)


@row("mg.stack([a, b], axis=None)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.stack([T(2), T(2)], axis=None)
    yield lambda: mg.concatenate([T(2), T(2)], axis=1.0), ("axis must be an integer, got 1.0",)


@row("mg.tensor(2.0) @ x")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor(2.0) @ T(3)
    yield lambda: T(3) @ mg.tensor(2.0), ("at least one axis",)


@row("mg.matmul(A, B)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.matmul(T(2, 3, 4), T(3, 4, 5))


@row("mg.concatenate([a, b])")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.concatenate([T(2, 3), T(2, 4)])


@row("mg.concatenate([mg.tensor(1.0), mg.tensor(2.0)])")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.concatenate([mg.tensor(1.0), mg.tensor(2.0)])


@row("mg.concatenate([])")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.concatenate([]), ("concatenate",)
    yield lambda: mg.stack([]), ("stack", "needs at least one tensor")


@row("mg.stack([a, b])")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.stack([T(2, 3), T(3, 2)])


@row("mg.where(c, a, b)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.where(np.ones(3, bool), T(3), T(4))
    yield lambda: mg.where(T(3) > 0, T(3), np.ones(4)), ("where: shapes (3,) and (3,) and (4,)",)


@row("x.reshape(4, 2)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(6).reshape(4, 2)
    yield lambda: mg.reshape(T(6), (4, 2)), ("cannot reshape array of size 6 into shape (4,2)",)


@row("mg.broadcast_to(x, (4,))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.broadcast_to(T(3), (4,))
    yield lambda: mg.broadcast_to(T(1), (-1,)), ("cannot broadcast shape (1,) to (-1,)", "no -1")
    yield lambda: mg.broadcast_to(T(2), (2, -1)), ("to (2, -1) (sizes must be >= 0",)


AXIS_OPS: dict[str, Callable[[mg.Tensor], Any]] = {
    "sum": lambda x: x.sum(axis=2),
    "mean": lambda x: mg.mean(x, axis=2),
    "max": lambda x: x.max(axis=2),
    "min": lambda x: mg.min(x, axis=-3),
    "logsumexp": lambda x: mg.logsumexp(x, axis=2),
    "softmax": lambda x: mg.softmax(x, axis=2),
    "log_softmax": lambda x: x.log_softmax(axis=2),
    "transpose": lambda x: mg.transpose(x, (0, 2)),
}


@row("x.sum(axis=2)")
def _(tmp: Path) -> Iterable[Case]:
    for name, call in AXIS_OPS.items():
        axis = "-3" if name == "min" else "2"
        yield (lambda call=call: call(T(3, 4))), (f"{name} on (3, 4)", f"axis {axis} is out")


@row("mg.concatenate([a, b], axis=2)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.concatenate([T(2, 3), T(2, 3)], axis=2), ("concatenate",)
    yield lambda: mg.stack([T(2, 3), T(2, 3)], axis=-4), ("stack", "axis -4", "-3 <= axis < 3")


@row("x.sum(axis=(0, 0))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(3, 4).sum(axis=(0, 0)), ("sum on (3, 4)",)
    yield lambda: T(3, 4).max(axis=(1, -1)), ("max on (3, 4)", "duplicate value in 'axis'")
    yield lambda: mg.mean(T(3, 4), axis=(0, -2)), ("mean on (3, 4)", "duplicate value")


@row("mg.transpose(x, (0, 0))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.transpose(T(3, 4), (0, 0))


@row("x[5]")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(3)[5]


@row("mg.sum(x, axis=mg.tensor(0))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.sum(T(3), axis=mg.tensor(0))


@row("x.item()")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(3).item()
    yield lambda: float(T(3)), ("only a one-element tensor",)


@row("if x > 0:")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: bool(T(3) > 0)


# -- gradients


@row("y.backward()")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(3).exp().backward()


@row("y.backward(np.ones(4))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(3).exp().backward(np.ones(4))


@row("w.data = np.ones(3)")
def _(tmp: Path) -> Iterable[Case]:
    def reshape_then_backward() -> None:
        w = T(2)
        loss = (w * w).sum()
        w.data = np.ones(3)
        loss.backward()

    yield reshape_then_backward


@row("w.data += 1")
def _(tmp: Path) -> Iterable[Case]:
    def write_into_saved(write: Callable[[mg.Tensor], None]) -> Call:
        def call() -> None:
            w = T(3)
            loss = (w * w).sum()
            write(w)
            loss.backward()

        return call

    def add_one(w: mg.Tensor) -> None:
        w.data += 1

    def set_first(w: mg.Tensor) -> None:
        w.data[0] = 5.0

    yield write_into_saved(add_one)
    yield write_into_saved(set_first), ("read-only",)


@row("X *= 10")
def _(tmp: Path) -> Iterable[Case]:
    big = (1 << 20) // 8 + 1  # float64 elements just over the size that is copied instead

    def write_into_saved_data(write: Callable[[np.ndarray], None]) -> Call:
        def call() -> None:
            X = np.ones((big, 1))
            loss = (X @ T(1)).sum()
            write(X)
            loss.backward()

        return call

    def times_ten(X: np.ndarray) -> None:
        X *= 10

    yield write_into_saved_data(times_ten), ("output array is read-only",)
    yield write_into_saved_data(np.random.default_rng(0).shuffle), ("array is read-only",)


@row("w -= 1")
def _(tmp: Path) -> Iterable[Case]:
    def update_then_backward() -> None:
        w = T(3)
        loss = (w * w).sum()
        with mg.no_grad():
            w -= 1
        loss.backward()

    def optimizer_step_then_backward() -> None:
        w = T(3)
        opt = optim.SGD([w], lr=0.1)
        loss = (w * w).sum()
        loss.backward(retain_graph=True)
        opt.step()
        loss.backward()

    yield update_then_backward
    yield optimizer_step_then_backward, ("was changed in place after", "Run backward() before")


@row("y.backward(g, gradient=g)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(3).exp().backward(np.ones(3), gradient=np.ones(3))


@row('y.backward("abc")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: T(3).exp().backward("abc")
    yield lambda: T(3).exp().backward(np.ones(3) * 1j), ("got ndarray of dtype complex128",)


@row("loss.backward(); loss.backward()")
def _(tmp: Path) -> Iterable[Case]:
    def twice() -> None:
        loss = mg.sigmoid(T(3)).sum()
        loss.backward()
        loss.backward()

    yield twice


@row("mg.tensor([1.0]).sum().backward()")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.tensor([1.0]).sum().backward()

    def under_no_grad() -> None:
        w = T(2)
        with mg.no_grad():
            loss = (w * 2).sum()
        loss.backward()

    yield under_no_grad, ("does not require grad", "under no_grad")


@row("mg.grad(lambda x: x * 2)(np.ones(3))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.grad(lambda x: x * 2)(np.ones(3))


@row("mg.grad(lambda x: None)(1.0)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.grad(lambda x: None)(1.0)
    yield lambda: mg.grad(lambda x: "loss")(1.0), ("got str",)


@row("mg.grad(f)(np.array([1, 2]))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.grad(lambda x: x.sum())(np.array([1, 2]))


@row('mg.grad(f)({"w": w})')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.grad(lambda d: 0.0)({"w": np.ones(2)})
    yield lambda: mg.grad(lambda d: 0.0)([np.ones(2), np.ones(3)]), ("argument 0 is a list",)


@row("np.sin(x)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: np.sin(T(2))
    yield lambda: np.square(T(1)), ("no square op", "Write x ** 2")
    yield lambda: np.ones(2) // T(2), ("np.floor_divide got a Tensor",)
    yield lambda: np.prod(T(2)), ("np.multiply.reduce got a Tensor", "x.sum()")
    yield lambda: np.exp(T(2), dtype=np.float32), ("np.exp with dtype= got a Tensor",)

    def augmented() -> None:
        a = np.ones(2)
        a += T(2)

    yield augmented, ("np.add into out= (also `array += tensor`)", "array += tensor.data")


@row("mg.grad(lambda x: np.linalg.norm(x))(x)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.grad(lambda x: np.linalg.norm(x))(np.ones(2))
    yield lambda: mg.grad(lambda x: mg.sum(np.outer(x, x)))(np.ones(2)), ("silently be 0",)
    yield lambda: mg.grad(lambda x: mg.sum(np.asarray(x)))(np.ones(2)), ("silently be 0",)
    yield lambda: mg.grad(lambda x: mg.sum(x) * np.linalg.norm(x))(np.ones(2)), ("grad:",)


@row("mg.grad(f, argnums=2)(x)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.grad(lambda x: x.sum(), argnums=2)(np.ones(2))


@row("mg.grad(f, argnums=(0, 0))(a, b)")
def _(tmp: Path) -> Iterable[Case]:
    def f(a: Any, b: Any) -> Any:
        return mg.sum(a * b)

    yield lambda: mg.grad(f, argnums=(0, 0))(np.ones(2), np.ones(2))
    yield lambda: mg.grad(f, argnums=(1, -1))(np.ones(2), np.ones(2)), ("argnums=(1, -1)",)


@row('mg.grad(f, argnums="x")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.grad(lambda x: x.sum(), argnums="x")


@row("mg.grad(lambda x: x * x, has_aux=True)(1.0)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.grad(lambda x: x * x, has_aux=True)(1.0)
    yield (
        lambda: mg.grad(lambda x: mg.stack([x, x, x]), has_aux=True)(1.0),
        ("f must return a (value, aux) pair",),
    )


@row("w -= 0.1 * w.grad")
def _(tmp: Path) -> Iterable[Case]:
    def update() -> None:
        w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
        (w * w).sum().backward()
        w -= 0.1 * w.grad

    yield update


@row("w[0] = 3.0")
def _(tmp: Path) -> Iterable[Case]:
    def assign() -> None:
        w = T(3)
        w[0] = 3.0

    yield assign


@row("c[0] = w")
def _(tmp: Path) -> Iterable[Case]:
    def assign() -> None:
        c = mg.tensor(np.zeros(3))
        c[0] = T()

    yield assign


@row("x += np.ones(4)")
def _(tmp: Path) -> Iterable[Case]:
    def add() -> None:
        x = mg.tensor(np.ones(3))
        x += np.ones(4)

    yield add

    def broadcast_up() -> None:
        y = T(3) * 1.0
        y += np.ones((2, 3))

    yield broadcast_up, ("the result has shape (2, 3)",)


@row("mg.log(x)")
def _(tmp: Path) -> Iterable[Case]:
    def anomaly(f: Callable[[mg.Tensor], Any], x: list[float]) -> Call:
        def call() -> None:
            t = mg.tensor(x, requires_grad=True)
            with np.errstate(all="ignore"), mg.detect_anomaly():
                f(t)

        return call

    yield anomaly(mg.log, [1.0, 0.0]), ("log produced -inf", "element (1,)")
    yield anomaly(lambda t: (t * 0) / (t * 0), [1.0]), ("div produced NaN",)
    yield anomaly(mg.exp, [1000.0]), ("exp produced inf",)


@row("(w * np.array([np.nan])).sum().backward()")
def _(tmp: Path) -> Iterable[Case]:
    def call() -> None:
        w = mg.tensor([1.0], requires_grad=True)
        with mg.detect_anomaly():
            (w * np.array([np.nan])).sum().backward()

    yield call


@row("mg.sqrt(x).sum().backward()")
def _(tmp: Path) -> Iterable[Case]:
    def call() -> None:
        x = mg.tensor([0.0, 1.0], requires_grad=True)
        with np.errstate(divide="ignore"), mg.detect_anomaly():
            mg.sqrt(x).sum().backward()

    yield call


@mg.primitive
def noop(x: Any) -> Any:
    return x * 1.0


@row("noop(x).sum().backward()")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: noop(T(2)).sum().backward()


@row("cube.defvjp(lambda g, x: 3 * x**2 * g)")
def _(tmp: Path) -> Iterable[Case]:
    @mg.primitive
    def cube(x: Any) -> Any:
        return x**3

    @mg.primitive
    def scaled(a: Any, b: Any, *, k: float) -> Any:
        return a * b * k

    yield lambda: cube.defvjp(lambda g, x: 3 * x**2 * g)
    yield lambda: scaled.defvjp(lambda g, ans, a: g), ("vjp(g, ans, a, b, **settings)",)
    yield lambda: scaled.defvjp(None, lambda g, ans, a, b: g), ("<lambda>(g, ans, a, b)",)

    @mg.primitive
    def shift(x: Any, *, by: float = 0.0) -> Any:
        return x + by

    shift.defvjp(lambda g, ans, x: g)  # (no `by`: fine until a call passes it)
    yield (
        lambda: shift(T(2), by=1.0).sum().backward(),
        ("shift: its VJP cannot take this call's arguments, vjp(g, ans, arg0, by)",),
    )


@row("f.defvjp(lambda g, ans, x: np.ones((2, 2)))")
def _(tmp: Path) -> Iterable[Case]:
    @mg.primitive
    def doubled(x: Any) -> Any:
        return x * 2

    doubled.defvjp(lambda g, ans, x: np.ones((2, 2)))
    yield lambda: doubled(T(3)).sum().backward(), ("doubled:",)


@row("f.defvjp(lambda g, ans, a, b: (g,))")
def _(tmp: Path) -> Iterable[Case]:
    @mg.primitive
    def product(a: Any, b: Any) -> Any:
        return a * b

    product.defvjp(lambda g, ans, a, b: (g,))
    yield lambda: product(T(2), T(2)).sum().backward(), ("product:",)


@row("f.defvjp(lambda g, ans, x, y: g * y)")
def _(tmp: Path) -> Iterable[Case]:
    @mg.primitive
    def times(x: Any, y: Any) -> Any:
        return x * y

    times.defvjp(lambda g, ans, x, y: g * y)
    yield lambda: times(T(2), T(2)).sum().backward(), ("times:",)


@row("@mg.primitive")
def _(tmp: Path) -> Iterable[Case]:
    @mg.primitive
    def forgetful(x: Any) -> Any:
        x * 2

    yield lambda: forgetful(T(2)), ("forgetful:",)


def assign_grad(value: Any) -> Callable[[], None]:
    def assign() -> None:
        T(3).grad = value

    return assign


@row("w.grad = np.zeros((2, 3))")
def _(tmp: Path) -> Iterable[Case]:
    yield assign_grad(np.zeros((2, 3)))


@row("w.grad = np.zeros(3, dtype=np.int64)")
def _(tmp: Path) -> Iterable[Case]:
    yield assign_grad(np.zeros(3, dtype=np.int64)), ("dtype int64", "convert it first")
    yield assign_grad(np.zeros(3, dtype=np.float32)), ("dtype float32",)
    yield assign_grad([0.0, 0.0, 0.0]), ("assign None or an array of shape (3,)", "not list")


@row("f.defvjp(lambda g, ans, x: 'oops')")
def _(tmp: Path) -> Iterable[Case]:
    @mg.primitive
    def scaled(x: Any) -> Any:
        return x * 2

    @mg.primitive
    def rotated(x: Any) -> Any:
        return x * 2

    scaled.defvjp(lambda g, ans, x: "oops")
    rotated.defvjp(lambda g, ans, x: g * 2j)
    yield lambda: scaled(T(2)).sum().backward(), ("scaled:", "dtype <U4")
    yield lambda: rotated(T(2)).sum().backward(), ("rotated:", "dtype complex128")


@row("mg.primitive(3)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.primitive(3)


@row("mg.grad(mg.grad(f))")
def _(tmp: Path) -> Iterable[Case]:
    @mg.primitive
    def sine(x: Any) -> Any:
        return np.sin(x)

    sine.defvjp(lambda g, ans, x: g * np.cos(x))
    yield lambda: mg.grad(mg.grad(sine))(1.0), ("sine:",)

    @mg.primitive
    def cube(x: Any) -> Any:  # (np.asarray, np.linalg.norm: no ops; they read the array)
        return x**3

    cube.defvjp(lambda g, ans, x: 3 * np.linalg.norm(x) ** 2 * g)
    yield lambda: mg.grad(mg.grad(cube))(2.0), ("cube:", "np.asarray, np.linalg.norm")

    @mg.primitive
    def square(x: Any) -> Any:
        return x * x

    square.defvjp(lambda g, ans, x: 2 * float(x) * g)
    yield lambda: mg.grad(mg.grad(square))(2.0), ("square:", "float() got a Tensor")
    assert mg.grad(cube)(2.0) == 12.0  # a first derivative is NumPy's business, and fine


# -- checking gradients and drawing graphs


@row("mg.gradcheck(f, x)")
def _(tmp: Path) -> Iterable[Case]:
    @mg.primitive
    def double(x: Any) -> Any:
        return x * 2

    double.defvjp(lambda g, ans, x: 3 * g)  # wrong: should be 2 * g
    yield lambda: mg.gradcheck(lambda x: double(x).sum(), np.ones(3))


@row("mg.gradcheck(lambda x: x * 2, np.ones(3))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.gradcheck(lambda x: x * 2, np.ones(3))


@row("mg.gradcheck(f, np.array([1, 2]))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.gradcheck(lambda x: x.sum(), np.array([1, 2]))
    yield lambda: mg.gradcheck(lambda d: d["a"].sum(), {"a": np.ones(2)}), ("include a dict",)
    yield lambda: mg.gradcheck(lambda z: z.sum(), np.ones(2) * 1j), ("dtype complex128",)


@row("mg.gradcheck(x, f)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.gradcheck(np.ones(2), lambda x: x.sum())  # type: ignore[arg-type]
    yield lambda: mg.gradcheck(lambda x: ((x * x).sum(), 1), np.ones(2)), ("a tuple of 2",)
    yield lambda: mg.check_graph(lambda x: x), ("check_graph(f(*inputs))",)  # type: ignore[arg-type]


@row("mg.gradcheck(lambda x: mg.log(x * 0).sum(), np.ones(3))")
def _(tmp: Path) -> Iterable[Case]:
    def call() -> None:
        with np.errstate(divide="ignore"):
            mg.gradcheck(lambda x: mg.log(x * 0).sum(), np.ones(3))

    yield call


@row("mg.gradcheck(f, x, eps=0)")
def _(tmp: Path) -> Iterable[Case]:
    def f(x: Any) -> Any:
        return mg.sum(x * x)

    yield lambda: mg.gradcheck(f, np.ones(2), eps=0), ("gradcheck: eps=0",)
    yield lambda: mg.gradcheck(f, np.ones(2), atol=-1), ("atol=-1 is out of range",)
    yield lambda: mg.check_graph(f(T(2)), rtol=np.inf), ("check_graph: rtol=inf",)
    yield (
        lambda: mg.check_graph(f(T(2)), max_elements=0),
        ("max_elements=0 is out of range", "positive int"),
    )
    yield lambda: mg.compare_grads({}, {}, atol=-1e-9), ("compare_grads: atol=-1e-09",)


@row("mg.check_graph(mg.tensor([1.0]) * 2)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.check_graph(mg.tensor([1.0]) * 2)


@row("loss.backward(); mg.check_graph(loss)")
def _(tmp: Path) -> Iterable[Case]:
    def call() -> None:
        loss = T(3).exp().sum()
        loss.backward()
        mg.check_graph(loss)

    yield call


@row("mg.draw_graph(np.ones(2))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.draw_graph(np.ones(2))


@row('mg.render_graph("graph.svg", loss)')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.render_graph(tmp / "graph.svg", T(2).sum())  # type: ignore[arg-type]
    yield lambda: mg.render_graph(T(2).sum(), 3), ("render_graph: path must be a file path",)


def _with_path(directory: Path, call: Call) -> Call:
    """call, run with PATH holding only `directory` (no dot, or a stand-in for it)."""

    def run() -> None:
        saved = os.environ["PATH"]
        os.environ["PATH"] = str(directory)
        try:
            call()
        finally:
            os.environ["PATH"] = saved

    return run


@row('mg.render_graph(loss, "graph.svg")')
def _(tmp: Path) -> Iterable[Case]:
    (tmp / "empty").mkdir()
    yield _with_path(tmp / "empty", lambda: mg.render_graph(T(2).sum(), tmp / "g.svg"))


@row('mg.render_graph(loss, "graph.png")')
def _(tmp: Path) -> Iterable[Case]:
    (tmp / "bin").mkdir()
    dot = tmp / "bin" / "dot"
    dot.write_text("#!/bin/sh\necho 'Error: no plugin' >&2\nexit 3\n")
    dot.chmod(0o755)
    render = lambda: mg.render_graph(T(2).sum(), tmp / "g.png")  # noqa: E731
    yield _with_path(tmp / "bin", render), ("exit status 3: Error: no plugin",)


@row('mg.render_graph(loss, "graph.xyz")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.render_graph(T(2).sum(), tmp / "graph.xyz"), ("graph.xyz",)
    yield lambda: mg.render_graph(T(2).sum(), tmp / "graph"), ("cannot tell the format",)


@row('mg.draw_graph(loss, rankdir="XX")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.draw_graph(T(2).sum(), rankdir="XX")


@row("mg.draw_graph(loss, max_nodes=1)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.draw_graph(mg.sigmoid(T(2)).sum(), max_nodes=1)


# -- checkpoints


@row('mg.load("half-written.npz")')
def _(tmp: Path) -> Iterable[Case]:
    good = mg.save({"w": np.arange(100.0)}, tmp / "good.npz").read_bytes()
    half = tmp / "half-written.npz"
    half.write_bytes(good[: len(good) // 2])
    yield lambda: mg.load(half), ("half-written.npz",)
    # An archive whose directory is intact but whose member is cut short.
    members = tmp / "members.npz"
    np.savez(members, a=np.ones(3))
    data = members.read_bytes()
    start = data.index(b"\x93NUMPY")
    members.write_bytes(data[:start] + data[start + 64 :])
    yield lambda: mg.load(members), ("members.npz': entry 'a' is corrupt",)


@row('mg.load("notes.txt")')
def _(tmp: Path) -> Iterable[Case]:
    notes = tmp / "notes.txt"
    notes.write_text("not a checkpoint")
    yield lambda: mg.load(notes), ("b'not a '",)
    empty = tmp / "empty.npz"
    empty.write_bytes(b"")
    yield lambda: mg.load(empty), ("b''", "is not a .npz archive")


@row('mg.load("evil.npz")')
def _(tmp: Path) -> Iterable[Case]:
    evil = tmp / "evil.npz"
    np.savez(evil, w=np.ones(2), payload=np.array([{"code": 1}], dtype=object))
    yield lambda: mg.load(evil), ("entry 'payload'",)


@row('mg.load("model.pt")')
def _(tmp: Path) -> Iterable[Case]:
    pt = tmp / "model.pt"
    pt.write_bytes(pickle.dumps({"w": np.ones(2)}))
    yield lambda: mg.load(pt)
    # What torch.save writes today: a zip archive holding the pickle (as data.pkl under a
    # folder named after the file) and the tensors' bytes.
    zipped = tmp / "zipped" / "model.pt"
    zipped.parent.mkdir()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("model/data.pkl", pickle.dumps({"w": [1.0, 1.0]}))
        archive.writestr("model/data/0", np.ones(2).tobytes())
    yield (
        lambda: mg.load(zipped),
        ("entry 'model/data.pkl' is not a NumPy array", "looks like PyTorch's"),
    )


@row('mg.load("w.npy")')
def _(tmp: Path) -> Iterable[Case]:
    np.save(tmp / "w.npy", np.ones(3))
    yield lambda: mg.load(tmp / "w.npy")


@row('mg.save(model, "m.npz")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.save(tutorial_model(), tmp / "m.npz")


@row('mg.save({"w": np.array(["a"])}, "m.npz")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.save({"w": np.array(["a"])}, tmp / "m.npz")


@row('mg.save({"w\\x00": w}, "m.npz")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: mg.save({"w\x00": np.ones(2)}, tmp / "m.npz")
    yield lambda: mg.save({"a\ud800": np.ones(2)}, tmp / "m.npz"), ("save: the key",)


@row('mg.save(state, "missing/dir/m.npz")')
def _(tmp: Path) -> Iterable[Case]:
    yield (
        lambda: mg.save({"w": np.ones(2)}, tmp / "missing" / "dir" / "m.npz"),
        (str(tmp / "missing" / "dir"),),
    )


@row('model.load_state_dict({k: v for k, v in state.items() if k != "0.bias"})')
def _(tmp: Path) -> Iterable[Case]:
    model = tutorial_model()
    state = model.state_dict()
    yield lambda: model.load_state_dict({k: v for k, v in state.items() if k != "0.bias"})


@row('model.load_state_dict({**state, "extra": x})')
def _(tmp: Path) -> Iterable[Case]:
    model = tutorial_model()
    yield lambda: model.load_state_dict({**model.state_dict(), "extra": np.ones(1)})


@row('model.load_state_dict({**state, "0.weight": np.ones((4, 2))})')
def _(tmp: Path) -> Iterable[Case]:
    model = tutorial_model()
    yield lambda: model.load_state_dict({**model.state_dict(), "0.weight": np.ones((4, 2))})


@row("model.load_state_dict([w])")
def _(tmp: Path) -> Iterable[Case]:
    model = tutorial_model()
    yield lambda: model.load_state_dict([model[0].weight])


# -- networks, losses and optimizers


@row("nn.Linear(0, 2)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: nn.Linear(0, 2)
    yield lambda: nn.Linear(2.5, 2), ("Linear: in_features must be a positive integer, got 2.5",)


@row("nn.Linear(2, 3)(x)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: nn.Linear(2, 3, rng=0)(np.ones((2, 400)))


@row("nn.Sequential(mg.sigmoid)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: nn.Sequential(mg.sigmoid)


@row('nn.Linear(2, 3, rng="x")')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: nn.Linear(2, 3, rng="x")
    yield lambda: nn.Linear(2, 3, rng=-1), ("got -1",)
    yield lambda: datasets.make_moons(10, rng=1.5), ("make_moons: rng must be",)
    yield lambda: mg.check_graph(T(2).exp().sum(), rng="x"), ("check_graph: rng must be",)


@row('model["0"]')
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: tutorial_model()["0"]
    yield lambda: tutorial_model()[1.0], ("not 1.0",)


@row("self.heads = {0: nn.Linear(2, 1)}")
def _(tmp: Path) -> Iterable[Case]:
    class Heads(nn.Module):
        def __init__(self, heads: Any) -> None:
            super().__init__()
            self.heads = heads

    yield lambda: Heads({0: nn.Linear(2, 1, rng=0)})
    yield lambda: Heads({"0.5": nn.Linear(2, 1, rng=0)}), ("without '.'",)
    yield lambda: Heads([{"": nn.Linear(2, 1, rng=0)}]), ("the dict attribute 'heads.0'",)


@row("self.layer = nn.Linear(2, 2)")
def _(tmp: Path) -> Iterable[Case]:
    class Net(nn.Module):
        def __init__(self) -> None:
            self.layer = nn.Linear(2, 2, rng=0)
            super().__init__()

    yield lambda: Net()


@row("optim.SGD(params, lr=-1)")
def _(tmp: Path) -> Iterable[Case]:
    params = list(tutorial_model().parameters())
    yield lambda: optim.SGD(params, lr=-1)
    yield lambda: optim.SGD(params, lr=float("nan")), ("SGD: invalid lr=nan",)
    yield lambda: optim.Adam(params, betas=(0.9, 1.0)), ("Adam: invalid betas[1]=1.0",)
    yield lambda: optim.Adam(params, eps=-1e-8), ("Adam: invalid eps=-1e-08",)
    yield lambda: optim.SGD(params, lr=0.1, momentum=-0.5), ("invalid momentum=-0.5",)


@row("optim.Adam(model)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: optim.Adam(tutorial_model())


@row("optim.SGD([], lr=0.1)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: optim.SGD([], lr=0.1)


@row("optim.SGD([w * 2], lr=0.1)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: optim.SGD([T(2) * 2], lr=0.1)


LOSSES: dict[str, Callable[..., Any]] = {
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "binary_cross_entropy": F.binary_cross_entropy,
    "mse_loss": F.mse_loss,
}


@row('binary_cross_entropy_with_logits(z, y, reduction="avg")')
def _(tmp: Path) -> Iterable[Case]:
    for name, loss in LOSSES.items():
        yield (
            (lambda loss=loss: loss(T(3) * 0.5, np.ones(3), reduction="avg")),
            (f"{name}: reduction must be",),
        )
    yield (
        (lambda: F.cross_entropy(T(3, 2), np.array([0, 1, 1]), reduction="avg")),
        ("cross_entropy: reduction must be",),
    )


@row("binary_cross_entropy_with_logits(z, y)")
def _(tmp: Path) -> Iterable[Case]:
    for name, loss in LOSSES.items():
        yield (
            (lambda loss=loss: loss(T(3, 1) * 0.5, np.ones(3))),
            (f"{name}: prediction shape (3, 1) and target shape (3,) differ",),
        )


@row("binary_cross_entropy(p, y)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: F.binary_cross_entropy(T(3) * 2, np.ones(3))


@row("cross_entropy(logits, np.array([0, 2, 1]))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: F.cross_entropy(T(3, 2), np.array([0, 2, 1]))
    yield (lambda: F.cross_entropy(T(3, 2), np.array([0, -1, 1]))), ("label -1 is out of range",)


@row("cross_entropy(logits, np.array([0.0, 1.0, 1.0]))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: F.cross_entropy(T(3, 2), np.array([0.0, 1.0, 1.0]))


@row("cross_entropy(logits, np.array([0, 1]))")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: F.cross_entropy(T(3, 2), np.array([0, 1]))


@row("datasets.make_moons(1)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: datasets.make_moons(1)
    yield lambda: datasets.make_moons(10.5), ("n_samples must be an integer >= 2", "got 10.5")
    for make in (datasets.make_circles, datasets.make_xor, datasets.make_spirals):
        name = make.__name__
        yield (lambda make=make: make(1)), (f"{name}: n_samples must be an integer >= 2",)


@row("datasets.make_moons(10, noise=-1)")
def _(tmp: Path) -> Iterable[Case]:
    yield lambda: datasets.make_moons(10, noise=-1)
    yield (
        lambda: datasets.make_circles(10, noise=-0.5),
        ("make_circles: noise must be a finite number",),
    )


# ---------------------------------------------------------------- the tests


def _cases(key: str, tmp: Path) -> list[tuple[Call, tuple[str, ...]]]:
    cases = []
    for case in ROWS[key](tmp):
        cases.append(case if isinstance(case, tuple) else (case, ()))
    return cases


def _message(err: BaseException) -> str:
    if isinstance(err, KeyError) and err.args and isinstance(err.args[0], str):
        return err.args[0]  # (str(KeyError) is the repr of its message)
    return str(err)


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(
            r,
            id=r.key,
            marks=[pytest.mark.xfail(strict=True, reason=PLANNED.get(r.key, ""))]
            if r.planned
            else [],
        )
        for r in TABLE
        if not r.being_implemented
    ],
)
def test_each_row_raises_the_documented_error(row: Row, tmp_path: Path) -> None:
    error = _exception(row.error)
    cases = _cases(row.key, tmp_path)
    assert cases, f"errors.md:{row.line}: the row's test makes no bad call"
    for i, (call, extra) in enumerate(cases):
        # The first call is the row's example: the whole message cell applies. The others
        # are variants (other ops, other values) that bring their own fragments.
        assert i == 0 or extra, f"errors.md:{row.line}: case {i} checks no message fragment"
        with pytest.raises(error) as info:
            call()
        message = _message(info.value)
        for fragment in (row.fragments if i == 0 else ()) + extra:
            assert fragment in message, (
                f"errors.md:{row.line}, case {i}: {fragment!r} is not in the message:\n{message}"
            )


def test_the_table_is_well_formed() -> None:
    assert len(TABLE) >= 60
    keys = [r.key for r in TABLE]
    assert len(keys) == len(set(keys)), "two rows start with the same example"
    for r in TABLE:
        if not r.being_implemented:
            assert r.fragments, f"errors.md:{r.line}: the message cell quotes nothing"
            _exception(r.error)


def test_every_row_has_a_test_and_every_test_a_row() -> None:
    rows = {r.key for r in TABLE if not r.being_implemented}
    assert rows - set(ROWS) == set(), "rows of docs/errors.md without a test"
    assert set(ROWS) - rows == set(), "tests here without a row in docs/errors.md"


def test_planned_rows_are_exactly_the_pending_changes() -> None:
    assert {r.key for r in TABLE if r.planned} == set(PLANNED)


def test_the_row_being_implemented_is_marked() -> None:
    # The lead fills this row (in-place changes to saved arrays) and its test.
    marked = [r for r in TABLE if r.being_implemented]
    assert all(BEING_IMPLEMENTED in DOC.read_text().splitlines()[r.line - 1] for r in marked)


def test_read_table_parses_rows_and_skips_other_tables() -> None:
    text = "\n".join(
        [
            HEADER,
            "|---|---|---|---|",
            "| A thing: `f(1)` | `ValueError` (planned) | `one` … `two` | fix it |",
            "",
            "| expression | value | gradient | note |",
            "|---|---|---|---|",
            "| `g(2)` | 1 | 0 | |",
        ]
    )
    (parsed,) = read_table(text)
    assert parsed == Row("f(1)", "ValueError", ("one", "two"), True, False, 3)


# ---------------------------------------------------------------- messages, beyond the table


@pytest.mark.parametrize(
    "call",
    [
        lambda: T(2, 3) @ T(4, 5),
        lambda: mg.concatenate([T(2, 3), T(2, 4)]),
        lambda: mg.stack([T(2, 3), T(3, 2)]),
        lambda: mg.concatenate([]),
    ],
    ids=["matmul", "concatenate", "stack", "concatenate([])"],
)
def test_a_message_names_its_op_once(call: Call) -> None:
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    op = message.split(":")[0].split(" ")[0]
    assert message.startswith(f"{op}: ") and message.count(f"{op}:") == 1 and " on (" not in message
