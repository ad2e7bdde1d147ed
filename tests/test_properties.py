"""Property-based tests (hypothesis): any broadcastable shapes, any axes, any composition."""

from __future__ import annotations

import numpy as np
from conftest import assert_close, numerical_grads
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import microgradnp as mg

BINARY = {
    "add": (mg.add, np.add),
    "sub": (mg.sub, np.subtract),
    "mul": (mg.mul, np.multiply),
    "div": (mg.div, lambda a, b: a / b),
    "maximum": (mg.maximum, np.maximum),
}
UNARY = {
    "tanh": (mg.tanh, np.tanh),
    "sigmoid": (mg.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "exp": (lambda x: mg.exp(x * 0.5), lambda x: np.exp(x * 0.5)),
    "square": (lambda x: x * x, lambda x: x * x),
    "softplus-ish": (lambda x: mg.log(1 + mg.exp(x)), lambda x: np.log(1 + np.exp(x))),
    "scale-shift": (lambda x: 2.5 - 0.5 * x, lambda x: 2.5 - 0.5 * x),
}


def values(shape: tuple[int, ...], seed: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape)


@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    name=st.sampled_from(sorted(BINARY)),
    seed=st.integers(0, 2**16),
)
def test_binary_ops_on_any_broadcastable_shapes(shapes, name, seed) -> None:
    fn, ref = BINARY[name]
    sa, sb = shapes.input_shapes
    a = values(sa, seed)
    b = values(sb, seed + 1, 0.5, 2.0)  # positive: a safe divisor
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    out = fn(ta, tb)
    assert out.shape == shapes.result_shape
    weights = values(out.shape, seed + 2)
    (out * weights).sum().backward()
    assert ta.grad.shape == sa and tb.grad.shape == sb
    expected = numerical_grads(lambda x, y: float(np.sum(ref(x, y) * weights)), [a, b])
    # Central differences (step 1e-6) of a sum of up to 27 terms of up to 8: rounding errors
    # up to eps * 216 / 2e-6 = 2.4e-8 (atol); truncation, relatively, far below rtol.
    assert_close(ta.grad, expected[0], rtol=1e-7, atol=1e-7)
    assert_close(tb.grad, expected[1], rtol=1e-7, atol=1e-7)


@st.composite
def reductions(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    axes = draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    negate = draw(st.booleans())
    axis = tuple(a - len(shape) if negate else a for a in axes) if axes else None
    if axis is not None and len(axis) == 1 and draw(st.booleans()):
        axis = axis[0]
    return shape, axis, draw(st.booleans())


@given(spec=reductions(), name=st.sampled_from(["sum", "mean", "max", "logsumexp"]))
def test_reductions_over_any_axes(spec, name) -> None:
    shape, axis, keepdims = spec
    x = values(shape, hash((shape, axis)) % 1000)
    refs = {
        "sum": lambda v: np.sum(v, axis=axis, keepdims=keepdims),
        "mean": lambda v: np.mean(v, axis=axis, keepdims=keepdims),
        "max": lambda v: np.max(v, axis=axis, keepdims=keepdims),
        "logsumexp": lambda v: np.log(np.sum(np.exp(v), axis=axis, keepdims=keepdims)),
    }
    t = mg.tensor(x, requires_grad=True)
    out = getattr(mg, name)(t, axis=axis, keepdims=keepdims)
    assert_close(out.data, refs[name](x), rtol=1e-12)
    out.sum().backward()
    (expected,) = numerical_grads(lambda v: float(np.sum(refs[name](v))), [x])
    assert t.grad.shape == shape
    # (as above: sums of up to 64 terms of up to 2, or their logsumexp)
    assert_close(t.grad, expected, rtol=1e-7, atol=1e-7)


@given(
    chain=st.lists(st.sampled_from(sorted(UNARY)), min_size=1, max_size=6),
    shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_compositions_of_elementwise_ops(chain, shape, seed) -> None:
    x = values(shape, seed)

    def run(v, table_index):
        for name in chain:
            v = UNARY[name][table_index](v)
        return v

    # Finite differences only mean something where the reference is well conditioned: values
    # stay moderate (exp(exp(exp(x))) reaches 1e21 and beyond), and log(1 + e^v) is not taken
    # far below 0, where 1 + e^v rounds to 1 and differences of it measure that rounding.
    moderate = x
    with np.errstate(over="ignore"):
        for name in chain:
            if name == "softplus-ish":
                assume(np.all(moderate > -5))
            moderate = UNARY[name][1](moderate)
            assume(np.all(np.abs(moderate) < 1e3))

    t = mg.tensor(x, requires_grad=True)
    out = run(t, 0)
    expected = run(x, 1)
    # The same floating-point operations either way: equal up to rounding, relatively (with
    # no absolute tolerance: outputs such as x**64 can be 1e-20).
    assert_close(out.data, expected, rtol=1e-12)
    (out * 1.0).sum().backward()
    # Each output depends on its own input only, so each element gets its own central
    # difference and its own tolerance. The step is relative to x (floored at 1e-8): the
    # truncation error, about step**2 f'''/6, then stays small next to f', even for x**64
    # near 0. Rounding: f(x +- step) is off by a few ulps of f, divided by the step; atol
    # allows 50 ulps per element, at that element's own scale. rtol: intermediates that cancel
    # (2.5 - 0.5 v, v up to 1e3) cost up to about 1e-6 of the derivative.
    step = 1e-6 * np.maximum(np.abs(x), 1e-2)
    up, down = x + step, x - step
    differences = (run(up, 1) - run(down, 1)) / (up - down)
    rounding = 50 * np.finfo(float).eps * np.abs(expected) / (up - down)
    error = np.abs(t.grad - differences)
    assert np.all(error <= 1e-5 * np.abs(differences) + rounding), (chain, t.grad, differences)


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=4, max_side=3))
def test_broadcast_then_sum_back_multiplies_by_the_copies(shapes) -> None:
    (small,) = shapes.input_shapes
    big = shapes.result_shape
    x = mg.tensor(values(small, 3), requires_grad=True)
    mg.broadcast_to(x, big).sum().backward()
    copies = int(np.prod(big)) // int(np.prod(small))
    assert x.grad.shape == small
    assert_close(x.grad, np.full(small, float(copies)))
