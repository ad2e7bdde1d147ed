"""The op table: every built-in op, in several shapes, with an independent reference.

Each case pairs a microgradnp expression (`fn`, on Tensors) with a reference written against
an array namespace (`ref(xp, *arrays)`), so that the same reference runs with NumPy (for
forward values and finite differences) and with HIPS autograd's `autograd.numpy` (for an
independent autodiff cross-check).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import microgradnp as mg

Shape = tuple[int, ...]


@dataclass(frozen=True)
class OpCase:
    id: str
    fn: Callable[..., Any]  # microgradnp: Tensors in, Tensor out
    ref: Callable[..., Any]  # ref(xp, *arrays), xp = numpy or autograd.numpy
    shapes: tuple[Shape, ...]
    domains: tuple[str, ...] = ()  # per input: "real" (default), "positive", "nonzero"

    def inputs(self, dtype: Any = np.float64) -> list[np.ndarray]:
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        arrays = []
        for i, shape in enumerate(self.shapes):
            domain = self.domains[i] if i < len(self.domains) else "real"
            if domain == "positive":
                a = rng.uniform(0.5, 2.0, size=shape)
            elif domain == "nonzero":  # away from kinks at 0 (abs, relu) and poles (1/x)
                a = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 2.0, size=shape)
            else:
                a = rng.normal(size=shape)
            arrays.append(np.asarray(a, dtype=dtype))
        return arrays


BROADCAST_PAIRS: list[tuple[Shape, Shape]] = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((3, 4), (4,)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2, 1, 3), (4, 1)),
]
UNARY_SHAPES: list[Shape] = [(), (5,), (3, 4), (2, 3, 2)]
REDUCTIONS: list[tuple[Shape, Any, bool]] = [
    ((3, 4), None, False),
    ((3, 4), 0, False),
    ((3, 4), -1, True),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (-1, 0), True),
    ((5,), 0, False),
    ((), None, False),
]


def sigmoid_reference(xp: Any, x: Any) -> Any:
    return 1 / (1 + xp.exp(-x))


def logsumexp_reference(xp: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    m = xp.max(x, axis=axis, keepdims=True)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def softmax_reference(xp: Any, x: Any, axis: int) -> Any:
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _cases() -> list[OpCase]:
    cases: list[OpCase] = []
    binary = {
        "add": (mg.add, lambda xp, a, b: a + b, ("real", "real")),
        "sub": (mg.sub, lambda xp, a, b: a - b, ("real", "real")),
        "mul": (mg.mul, lambda xp, a, b: a * b, ("real", "real")),
        "div": (mg.div, lambda xp, a, b: a / b, ("real", "nonzero")),
        "pow": (mg.pow, lambda xp, a, b: a**b, ("positive", "real")),
        "maximum": (mg.maximum, lambda xp, a, b: xp.maximum(a, b), ("real", "real")),
        "minimum": (mg.minimum, lambda xp, a, b: xp.minimum(a, b), ("real", "real")),
    }
    for name, (fn, ref, domains) in binary.items():
        for sa, sb in BROADCAST_PAIRS:
            cases.append(OpCase(f"{name}{sa}{sb}", fn, ref, (sa, sb), domains))
    operators = {
        "a+b": (lambda a, b: a + b, lambda xp, a, b: a + b),
        "a-b": (lambda a, b: a - b, lambda xp, a, b: a - b),
        "a*b": (lambda a, b: a * b, lambda xp, a, b: a * b),
        "a/b": (lambda a, b: a / b, lambda xp, a, b: a / b),
        "a**b": (lambda a, b: a**b, lambda xp, a, b: a**b),
        "2-a/b+a*3": (lambda a, b: 2 - a / b + a * 3, lambda xp, a, b: 2 - a / b + a * 3),
    }
    for name, (fn, ref) in operators.items():
        cases.append(OpCase(name, fn, ref, ((3, 1), (4,)), ("positive", "positive")))
    cases += [
        OpCase("a**2", lambda a: a**2, lambda xp, a: a**2, ((3, 4),)),
        OpCase("a**0.5", lambda a: a**0.5, lambda xp, a: a**0.5, ((3, 4),), ("positive",)),
        OpCase("2**a", lambda a: 2**a, lambda xp, a: 2**a, ((3, 4),)),
        OpCase("a**-1", lambda a: a**-1, lambda xp, a: a**-1, ((5,),), ("nonzero",)),
        OpCase("-a", lambda a: -a, lambda xp, a: -a, ((3, 4),)),
        OpCase("abs(a)", lambda a: abs(a), lambda xp, a: xp.abs(a), ((3, 4),), ("nonzero",)),
    ]
    unary = {
        "neg": (mg.neg, lambda xp, x: -x, "real"),
        "exp": (mg.exp, lambda xp, x: xp.exp(x), "real"),
        "log": (mg.log, lambda xp, x: xp.log(x), "positive"),
        "sqrt": (mg.sqrt, lambda xp, x: xp.sqrt(x), "positive"),
        "abs": (mg.abs, lambda xp, x: xp.abs(x), "nonzero"),
        "tanh": (mg.tanh, lambda xp, x: xp.tanh(x), "real"),
        "sigmoid": (mg.sigmoid, sigmoid_reference, "real"),
        "relu": (mg.relu, lambda xp, x: xp.maximum(x, 0.0), "nonzero"),
    }
    for name, (fn, ref, domain) in unary.items():
        for shape in UNARY_SHAPES:
            cases.append(OpCase(f"{name}{shape}", fn, ref, (shape,), (domain,)))
    for shape, axis, keepdims in REDUCTIONS:
        tag = f"{shape},axis={axis},keepdims={keepdims}"
        for name, fn, ref in [
            ("sum", mg.sum, lambda xp, x, ax=axis, kd=keepdims: xp.sum(x, axis=ax, keepdims=kd)),
            ("mean", mg.mean, lambda xp, x, ax=axis, kd=keepdims: xp.mean(x, axis=ax, keepdims=kd)),
            ("max", mg.max, lambda xp, x, ax=axis, kd=keepdims: xp.max(x, axis=ax, keepdims=kd)),
            ("min", mg.min, lambda xp, x, ax=axis, kd=keepdims: xp.min(x, axis=ax, keepdims=kd)),
            (
                "logsumexp",
                mg.logsumexp,
                lambda xp, x, ax=axis, kd=keepdims: logsumexp_reference(xp, x, ax, kd),
            ),
        ]:
            cases.append(
                OpCase(
                    f"{name}{tag}",
                    lambda x, f=fn, ax=axis, kd=keepdims: f(x, axis=ax, keepdims=kd),
                    ref,
                    (shape,),
                )
            )
    cases.append(OpCase("x.sum(1)", lambda x: x.sum(1), lambda xp, x: xp.sum(x, 1), ((3, 4),)))
    cases.append(
        OpCase("mg.mean(x, 0)", lambda x: mg.mean(x, 0), lambda xp, x: xp.mean(x, 0), ((3, 4),))
    )
    for shape, axis in [((5,), -1), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), 1)]:
        cases.append(
            OpCase(
                f"softmax{shape},axis={axis}",
                lambda x, ax=axis: mg.softmax(x, axis=ax),
                lambda xp, x, ax=axis: softmax_reference(xp, x, ax),
                (shape,),
            )
        )
        cases.append(
            OpCase(
                f"log_softmax{shape},axis={axis}",
                lambda x, ax=axis: mg.log_softmax(x, axis=ax),
                lambda xp, x, ax=axis: x - logsumexp_reference(xp, x, ax, True),
                (shape,),
            )
        )
    cond = np.random.default_rng(7).random((3, 4)) > 0.5
    cases += [
        OpCase(
            "where(3,4)",
            lambda a, b: mg.where(cond, a, b),
            lambda xp, a, b: xp.where(cond, a, b),
            ((3, 4), (3, 4)),
        ),
        OpCase(
            "where broadcast",
            lambda a, b: mg.where(cond[:, :1], a, b),
            # (a and b broadcast explicitly: autograd's own where cannot unbroadcast them)
            lambda xp, a, b: xp.where(cond[:, :1], a + xp.zeros((3, 4)), b + xp.zeros((3, 4))),
            ((1, 4), ()),
        ),
        OpCase(
            "clip(x,-0.5,0.7)",
            lambda x: mg.clip(x, -0.5, 0.7),
            lambda xp, x: xp.clip(x, -0.5, 0.7),
            ((4, 5),),
        ),
        OpCase(
            "clip(x,min=0)",
            lambda x: x.clip(min=0.1),
            lambda xp, x: xp.maximum(x, 0.1),
            ((4, 5),),
        ),
        OpCase(
            "clip tensor bounds",
            lambda x, lo, hi: mg.clip(x, lo - 1.0, hi + 1.0),
            lambda xp, x, lo, hi: xp.minimum(xp.maximum(x, lo - 1.0), hi + 1.0),
            ((3, 4), (4,), (3, 1)),
        ),
        OpCase(
            "clip crossing bounds",  # where min > max, max is the result (as in NumPy)
            lambda x, lo, hi: mg.clip(x, lo + 1.0, hi - 1.0),
            lambda xp, x, lo, hi: xp.minimum(xp.maximum(x, lo + 1.0), hi - 1.0),
            ((3, 4), (4,), (3, 1)),
        ),
        OpCase(
            "reshape",
            lambda x: mg.reshape(x, (4, 3)),
            lambda xp, x: xp.reshape(x, (4, 3)),
            ((3, 4),),
        ),
        OpCase(
            "x.reshape(-1)", lambda x: x.reshape(-1), lambda xp, x: xp.reshape(x, (-1,)), ((3, 4),)
        ),
        OpCase(
            "x.transpose(0) of a vector",  # (NumPy takes one int as the axes of a 1-d x)
            lambda x: x.transpose(0),
            lambda xp, x: xp.transpose(x, (0,)),
            ((4,),),
        ),
        OpCase(
            "x.reshape(2,1,6)",
            lambda x: x.reshape(2, 1, 6),
            lambda xp, x: xp.reshape(x, (2, 1, 6)),
            ((3, 4),),
        ),
        OpCase("transpose", mg.transpose, lambda xp, x: xp.transpose(x), ((2, 3, 4),)),
        OpCase(
            "transpose(1,0,2)",
            lambda x: mg.transpose(x, (1, 0, 2)),
            lambda xp, x: xp.transpose(x, (1, 0, 2)),
            ((2, 3, 4),),
        ),
        OpCase("x.T", lambda x: x.T, lambda xp, x: x.T, ((3, 4),)),
        OpCase(
            "x.transpose(-1,0,1)",
            lambda x: x.transpose(-1, 0, 1),
            lambda xp, x: xp.transpose(x, (2, 0, 1)),
            ((2, 3, 4),),
        ),
        OpCase(
            "broadcast_to",
            lambda x: mg.broadcast_to(x, (2, 3, 4)),
            lambda xp, x: x + xp.zeros((2, 3, 4)),
            ((3, 1),),
        ),
        OpCase(
            "concatenate axis 0",
            lambda a, b: mg.concatenate([a, b]),
            lambda xp, a, b: xp.concatenate([a, b]),
            ((2, 3), (4, 3)),
        ),
        OpCase(
            "concatenate axis -1",
            lambda a, b, c: mg.concatenate([a, b, c], axis=-1),
            lambda xp, a, b, c: xp.concatenate([a, b, c], axis=-1),
            ((2, 3), (2, 1), (2, 2)),
        ),
        OpCase(
            "concatenate axis None",  # flattened first, as in NumPy
            lambda a, b: mg.concatenate([a, b], axis=None),
            lambda xp, a, b: xp.concatenate([xp.reshape(a, (-1,)), xp.reshape(b, (-1,))]),
            ((2, 3), (4,)),
        ),
        OpCase(
            "astype to float64 and back",  # each VJP converts the gradient to its input's dtype
            lambda x: mg.astype(x.astype(np.float64) * 3.0, x.dtype),
            lambda xp, x: 3.0 * x,
            ((3, 4),),
        ),
        OpCase(
            "broadcast_to an int shape",
            lambda x: mg.broadcast_to(x, 4),
            lambda xp, x: x * xp.ones(4),
            ((1,),),
        ),
        OpCase(
            "stack axis 0",
            lambda a, b: mg.stack([a, b]),
            lambda xp, a, b: xp.stack([a, b]),
            ((3,), (3,)),
        ),
        OpCase(
            "stack axis -1",
            lambda a, b, c: mg.stack((a, b, c), axis=-1),
            lambda xp, a, b, c: xp.stack([a, b, c], axis=-1),
            ((2, 3), (2, 3), (2, 3)),
        ),
    ]
    mask = np.random.default_rng(3).random((4, 5)) > 0.4
    indices: list[tuple[str, Any]] = [
        ("[1]", 1),
        ("[1:3]", slice(1, 3)),
        ("[:, 2]", (slice(None), 2)),
        ("[::-2, 1:]", (slice(None, None, -2), slice(1, None))),
        ("[[0,0,2]] (repeats)", [0, 0, 2]),
        ("[mask]", mask),
        ("[..., None]", (Ellipsis, None)),
        ("[rows, cols] (repeats)", (np.array([0, 1, 1, 3]), np.array([2, 2, 2, 0]))),
        ("[-1, -2]", (-1, -2)),
    ]
    for label, index in indices:
        cases.append(
            OpCase(
                f"getitem{label}", lambda x, i=index: x[i], lambda xp, x, i=index: x[i], ((4, 5),)
            )
        )
    matmul_shapes = [
        ((3, 4), (4, 2)),
        ((4,), (4, 2)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)),
        ((1, 3, 4), (2, 4, 2)),
        ((4,), (2, 4, 3)),
        ((2, 3, 4), (4,)),
        # a summed axis of length 1 (an outer product: computed as a broadcast product),
        # and products whose VJPs are outer products
        ((3, 1), (1, 4)),
        ((2, 3, 1), (1, 4)),
        ((3, 1), (2, 1, 4)),
        ((1, 3), (3, 4)),
        ((3, 4), (4, 1)),
    ]
    for sa, sb in matmul_shapes:
        cases.append(
            OpCase(f"matmul{sa}{sb}", mg.matmul, lambda xp, a, b: xp.matmul(a, b), (sa, sb))
        )
        cases.append(OpCase(f"{sa}@{sb}", lambda a, b: a @ b, lambda xp, a, b: a @ b, (sa, sb)))
    return cases


OP_CASES = _cases()


@dataclass(frozen=True)
class ConstantCase:
    """An op without a gradient (piecewise constant: its derivative is zero wherever it
    exists), with the NumPy function it must agree with. The first input has the output's
    shape; the others broadcast to it."""

    id: str
    fn: Callable[..., Any]  # microgradnp
    ref: Callable[..., Any]  # NumPy
    shapes: tuple[Shape, ...]

    def inputs(self, dtype: Any = np.float64) -> list[np.ndarray]:
        # small integers (as floats), so that ties, and zeros for sign, occur
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        return [rng.integers(-2, 3, size=shape).astype(dtype) for shape in self.shapes]


def _constant_cases() -> list[ConstantCase]:
    cases = [ConstantCase(f"sign{shape}", mg.sign, np.sign, (shape,)) for shape in [(3, 4), ()]]
    comparisons = {
        "equal": (mg.equal, np.equal),
        "not_equal": (mg.not_equal, np.not_equal),
        "less": (mg.less, np.less),
        "less_equal": (mg.less_equal, np.less_equal),
        "greater": (mg.greater, np.greater),
        "greater_equal": (mg.greater_equal, np.greater_equal),
    }
    for name, (fn, ref) in comparisons.items():
        for shapes in [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), ())]:
            cases.append(ConstantCase(f"{name}{shapes[0]}{shapes[1]}", fn, ref, shapes))
    return cases


CONSTANT_CASES = _constant_cases()
