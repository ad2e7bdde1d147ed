"""Numerical edge cases: saturation at +-1000, log(0), sqrt(0), ties, float32 end to end.

What is right at each edge is listed in docs/errors.md ("Conventions at kinks, ties and
the edges of the domain"); tests/test_ops.py checks the kinks of relu, abs and clip and
the softmax family's values at +-1000 (not repeated here).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import pytest
from conftest import assert_close

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.engine import topological_order
from microgradnp.nn import functional as F

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")

FLOATS = [np.float64, np.float32]


@contextmanager
def no_warnings() -> Iterator[None]:
    """Any warning (NumPy's RuntimeWarnings included) fails the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def exact_sigmoid(x: float) -> float:
    """1 / (1 + e^-x), correctly rounded to float64 (60 significant digits on the way)."""
    with localcontext() as ctx:
        ctx.prec = 60
        return float(1 / (1 + (-Decimal(x)).exp()))


def value_and_grad(f: Callable[[mg.Tensor], mg.Tensor], x: Any, w: Any = None) -> tuple:
    """f(x) and the gradient of sum(f(x) * w) (w = 1 by default), by backward."""
    t = mg.tensor(x, requires_grad=True)
    out = f(t)
    (out * (1.0 if w is None else w)).sum().backward()
    return out, t.grad


# ---------------------------------------------------------------- saturation at +-1000


@pytest.mark.parametrize("dtype", FLOATS, ids=["float64", "float32"])
def test_sigmoid_and_tanh_at_plus_minus_1000_are_their_limits_quietly(dtype) -> None:
    x = np.array([-1000.0, 1000.0], dtype=dtype)
    tiny = np.finfo(dtype).tiny  # the smallest normal number: e^-1000 is below it
    with no_warnings():
        s, ds = value_and_grad(mg.sigmoid, x)
        t, dt = value_and_grad(mg.tanh, x)
    for out, grad in [(s, ds), (t, dt)]:
        assert out.dtype == dtype and grad.dtype == dtype
    assert 0 <= s.data[0] <= tiny and s.data[1] == 1.0
    assert 0 <= ds[0] <= tiny and ds[1] == 0.0
    assert np.array_equal(t.data, [-1.0, 1.0]) and np.array_equal(dt, [0.0, 0.0])


def test_exp_and_log_at_plus_minus_1000() -> None:
    with no_warnings():  # e^-1000 rounds to 0: NumPy (and we) stay quiet about underflow
        out, grad = value_and_grad(mg.exp, [-1000.0])
        assert out.item() == 0.0 and grad[0] == 0.0
        out, grad = value_and_grad(mg.log, [1000.0])
        assert_close(out.data, np.log(1000.0), rtol=1e-15)
        assert_close(grad, 1e-3, rtol=1e-15)
    # e^1000 is not representable: inf, with NumPy's overflow warning; its gradient too.
    with pytest.warns(RuntimeWarning, match="overflow"):
        out, grad = value_and_grad(mg.exp, [1000.0])
    assert out.item() == np.inf and grad[0] == np.inf
    # log of a negative number: NaN, with NumPy's invalid-value warning, as NumPy.
    with pytest.warns(RuntimeWarning, match="invalid value"):
        out, grad = value_and_grad(mg.log, [-1000.0])
    assert np.isnan(out.item()) and grad[0] == -1e-3  # 1/x: finite, NaN-free


@pytest.mark.parametrize("dtype", FLOATS, ids=["float64", "float32"])
def test_softmax_family_gradients_at_plus_minus_1000(dtype) -> None:
    # Two tied huge entries and a hugely negative one, in each row: the exact softmax is
    # (1/2, 1/2, 0), so the gradients are exact too (values: tests/test_ops.py).
    x = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    w = np.array([[1.0, -2.0, 3.0], [0.5, 1.0, -1.0]], dtype=dtype)
    s = np.array([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    with no_warnings():
        sm, d_sm = value_and_grad(lambda t: mg.softmax(t, axis=1), x, w)
        lsm, d_lsm = value_and_grad(lambda t: mg.log_softmax(t, axis=1), x, w)
        lse, d_lse = value_and_grad(lambda t: mg.logsumexp(t, axis=1), x, w[:, 0])
    # Exact results of order 1 (halves, thirds), a few roundings away in the dtype: 4 ulps.
    # The zeros (e^-2000 and the like) are 0 to within the smallest normal number.
    rtol, tiny = 4 * float(np.finfo(dtype).eps), float(np.finfo(dtype).tiny)
    assert_close(sm.data, s, rtol=rtol, atol=tiny)
    # d sum(w softmax) = s * (w - sum(w s));  d sum(w log_softmax) = w - s sum(w)
    assert_close(d_sm, s * (w - (w * s).sum(axis=1, keepdims=True)), rtol=rtol, atol=tiny)
    assert_close(d_lsm, w - s * w.sum(axis=1, keepdims=True), rtol=rtol, atol=tiny)
    assert_close(lse.data, [1000 + np.log(2), -1000 + np.log(3)], rtol=rtol)
    assert_close(d_lse, s * w[:, :1], rtol=rtol, atol=tiny)
    for array in (sm.data, d_sm, lsm.data, d_lsm, lse.data, d_lse):
        assert array.dtype == dtype


def test_logsumexp_gradient_is_accurate_in_float32_at_1000() -> None:
    x = np.array([1000.0, 1000.0, -1000.0], dtype=np.float32)
    _, grad = value_and_grad(mg.logsumexp, x)
    assert_close(grad, [0.5, 0.5, 0.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS, ids=["float64", "float32"])
def test_bce_with_logits_at_plus_minus_1000_is_exact_and_quiet(dtype) -> None:
    z = np.array([-1000.0, -1000.0, 1000.0, 1000.0], dtype=dtype)
    y = np.array([0.0, 1.0, 0.0, 1.0], dtype=dtype)
    with no_warnings():
        loss, grad = value_and_grad(
            lambda t: F.binary_cross_entropy_with_logits(t, y, reduction="none"), z
        )
        mean, dmean = value_and_grad(lambda t: F.binary_cross_entropy_with_logits(t, y), z)
    assert np.array_equal(loss.data, [0.0, 1000.0, 1000.0, 0.0])
    assert_close(grad, [0.0, -1.0, 1.0, 0.0], atol=float(np.finfo(dtype).tiny))
    assert mean.item() == 500.0
    assert_close(dmean, [0.0, -0.25, 0.25, 0.0], atol=float(np.finfo(dtype).tiny))
    assert loss.dtype == mean.dtype == grad.dtype == dmean.dtype == dtype


def test_cross_entropy_and_bce_of_a_saturated_sigmoid_stay_finite() -> None:
    with no_warnings():
        ce, dce = value_and_grad(
            lambda t: F.cross_entropy(t, np.array([1, 0])), [[1000.0, -1000.0], [1000.0, -1000.0]]
        )
        # log clamped at -100 (PyTorch's rule): finite loss, finite gradient
        bce, dbce = value_and_grad(
            lambda t: F.binary_cross_entropy(mg.sigmoid(t), np.array([1.0, 0.0])),
            [-1000.0, 1000.0],
        )
    assert ce.item() == 1000.0  # (2000 + 0) / 2
    assert np.array_equal(dce, [[0.5, -0.5], [0.0, 0.0]])  # (softmax - one-hot) / 2, exactly
    assert bce.item() == 100.0  # both terms clamped: (100 + 100) / 2
    # The sigmoid's derivative underflows to 0 at -+1000 (e^-1000 is below the smallest
    # float): the gradient is 0, not 0 * inf = NaN ...
    assert np.array_equal(dbce, [0.0, 0.0])
    # ... and in p it is PyTorch's, (p - y) / max(p (1 - p), 1e-12) / n = -+1e12 / 2.
    t = mg.tensor([-1000.0, 1000.0], requires_grad=True)
    p = mg.sigmoid(t)
    p.retain_grad()
    with no_warnings():
        F.binary_cross_entropy(p, np.array([1.0, 0.0])).backward()
    assert np.array_equal(p.data, [0.0, 1.0])
    assert_close(p.grad, [-5e11, 5e11], rtol=1e-15)


def test_sigmoid_keeps_its_relative_accuracy_down_to_the_smallest_float() -> None:
    x = np.array([-744.0, -740.0, -730.0, -720.0, -710.0, -700.0, -40.0, -1.0, 30.0])
    expected = np.array([exact_sigmoid(v) for v in x])
    with no_warnings():
        s = mg.sigmoid(x).data
    # Subnormal results carry fewer digits: compare in units of the smallest subnormal.
    spacing = np.maximum(np.abs(expected) * np.finfo(float).eps, np.finfo(float).smallest_subnormal)
    assert np.all(np.abs(s - expected) <= 2 * spacing), (s, expected)


# ---------------------------------------------------------------- log(0), sqrt(0)


def test_log_of_zero_is_minus_inf_with_gradient_plus_inf() -> None:
    # d log(x)/dx = 1/x -> +inf as x -> 0+: the gradient is +inf (PyTorch gives the same),
    # and NumPy's divide-by-zero warning is kept, forward and backward: the value is not
    # representable.
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        y = mg.log(x)
    assert y.data[0] == -np.inf and y.data[1] == 0.0
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        y.sum().backward()
    assert x.grad[0] == np.inf and x.grad[1] == 1.0
    # mg.grad agrees, and the gradient's sign follows the weight
    with np.errstate(divide="ignore"):
        g = mg.grad(lambda t: (mg.log(t) * np.array([-2.0, 1.0])).sum())(np.array([0.0, 4.0]))
    assert g[0] == -np.inf and g[1] == 0.25


def test_sqrt_of_zero_has_gradient_plus_inf_and_sqrt_of_a_square_nan() -> None:
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = mg.sqrt(x)  # sqrt(0) = 0 is representable: no warning forward
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        y.sum().backward()
    assert x.grad[0] == np.inf and x.grad[1] == 0.25
    # sqrt(x*x) at 0: inf * 0 = NaN (as in PyTorch); mg.abs(x) has gradient 0 there
    x = mg.tensor([0.0], requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mg.sqrt(x * x).sum().backward()
    assert np.isnan(x.grad[0])
    x.zero_grad()
    mg.abs(x).sum().backward()
    assert x.grad[0] == 0.0


def test_nan_in_the_data_is_carried_along_silently_outside_detect_anomaly() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    x = np.array([np.nan, 1.0])
    with no_warnings():  # NaN arithmetic is quiet in NumPy too
        loss = (mg.tanh(w * x) * 3.0).sum()
        loss.backward()
    assert np.isnan(loss.item())
    assert np.isnan(w.grad[0]) and np.isfinite(w.grad[1])


# ---------------------------------------------------------------- inf flowing into a flat op

R5 = 1 / (2 * np.sqrt(5.0))  # d sqrt(x)/dx at 5

# f(x) at x = [-1, 4, 0, 5], and its gradient, as PyTorch gives it: exactly 0 where the inner
# op is constant (relu, clip, maximum, minimum), even though sqrt's or log's gradient is
# inf there; inf where the inner op passes x on at 0 (clip at a bound; maximum's tie, 1/2)
FLAT_WITH_INF_ABOVE: dict[str, tuple[Callable[[mg.Tensor], mg.Tensor], list[float]]] = {
    "sqrt(relu(x))": (lambda x: mg.sqrt(mg.relu(x)), [0.0, 0.25, 0.0, R5]),
    "sqrt(clip(x, 0, None))": (lambda x: mg.sqrt(mg.clip(x, 0.0, None)), [0.0, 0.25, np.inf, R5]),
    "log(clip(x, 0, None))": (lambda x: mg.log(mg.clip(x, 0, None)), [0.0, 0.25, np.inf, 0.2]),
    "log(clip(x, 0, 3))": (lambda x: mg.log(mg.clip(x, 0.0, 3.0)), [0.0, 0.0, np.inf, 0.0]),
    "sqrt(4 - clip(x, None, 4))": (
        lambda x: mg.sqrt(4 - mg.clip(x, None, 4.0)),
        [-R5, -np.inf, -0.25, 0.0],
    ),
    "sqrt(maximum(x, 0))": (lambda x: mg.sqrt(mg.maximum(x, 0.0)), [0.0, 0.25, np.inf, R5]),
    "sqrt(-minimum(x, 0))": (lambda x: mg.sqrt(-mg.minimum(x, 0.0)), [-0.5, 0.0, np.inf, 0.0]),
}


@pytest.mark.parametrize("dtype", FLOATS, ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(FLAT_WITH_INF_ABOVE))
def test_an_infinite_gradient_gives_0_where_the_op_below_is_flat(name, dtype) -> None:
    f, expected = FLAT_WITH_INF_ABOVE[name]
    x = mg.tensor(np.array([-1.0, 4.0, 0.0, 5.0], dtype=dtype), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = f(x).sum()
    with np.errstate(divide="ignore", invalid="raise"):  # (no inf * 0 on the way)
        y.backward()
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad, np.array(expected, dtype=dtype), rtol=1e-6)


def test_masking_also_zeroes_a_nan_gradient_and_reaches_tensor_bounds() -> None:
    x = mg.tensor([-1.0, 4.0], requires_grad=True)
    (mg.relu(x) * np.array([np.nan, 1.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])  # (PyTorch: the same)
    y = mg.tensor([0.0, 0.0], requires_grad=True)
    x.zero_grad()
    with np.errstate(divide="ignore"):
        mg.sqrt(mg.maximum(x, y)).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.25])
    np.testing.assert_array_equal(y.grad, [np.inf, 0.0])
    # clip by tensors: each of x, min and max gets the gradient only where it is the result
    x = mg.tensor([1.0, -3.0, 5.0], requires_grad=True)
    low = mg.tensor([0.0, -2.0, 0.0], requires_grad=True)
    high = mg.tensor([4.0, 4.0, 5.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        mg.sqrt(mg.clip(x, low, high) - np.array([1.0, -2.0, 5.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [np.inf, 0.0, np.inf])
    np.testing.assert_array_equal(low.grad, [0.0, np.inf, 0.0])
    np.testing.assert_array_equal(high.grad, [0.0, 0.0, 0.0])


def test_masking_in_a_recorded_backward_gives_the_same_first_and_right_second_derivatives() -> None:
    def f(x):
        return mg.sqrt(mg.relu(x)).sum()

    first = []

    def weighted_gradient(x):
        g = mg.grad(f)(x)  # recorded: its VJPs run on Tensors
        first.append(g.data.copy())
        return mg.sum(g * np.array([1.0, 2.0]))

    with np.errstate(divide="ignore", invalid="ignore"):
        second = mg.grad(weighted_gradient)(np.array([-1.0, 4.0]))
    np.testing.assert_array_equal(first[0], [0.0, 0.25])
    np.testing.assert_allclose(second, [0.0, -0.0625])  # (PyTorch: the same)
    # second derivatives through each op's masking, against PyTorch's
    x = np.array([-1.0, -0.5, 0.0, 0.5, 0.7, 1.0, 2.0])
    cases = {
        "relu": (lambda t: mg.relu(t) ** 3, [0.0, 0.0, 0.0, 3.0, 4.2, 6.0, 12.0]),
        "maximum": (lambda t: mg.maximum(t, 0.5) ** 2, [0.0, 0.0, 0.0, 0.5, 2.0, 2.0, 2.0]),
        "minimum": (lambda t: mg.minimum(t, t * 0 + 0.5) ** 3, [-6.0, -3.0, 0.0, 0.75, 0, 0, 0]),
        "clip": (lambda t: mg.clip(t, -0.5, 1.0) ** 3, [0.0, -3.0, 0.0, 3.0, 4.2, 6.0, 0.0]),
    }
    for name, (g, expected) in cases.items():
        hessian_diagonal = mg.grad(lambda t, g=g: mg.sum(mg.grad(lambda u: mg.sum(g(u)))(t)))(x)
        np.testing.assert_allclose(hessian_diagonal, expected, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------- ties


TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, -1.0, 5.0, -1.0]])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_max_and_min_split_ties_evenly_as_autograd_does(name, axis, keepdims) -> None:
    w = np.random.default_rng(0).normal(size=np.shape(np.max(TIES, axis=axis, keepdims=keepdims)))
    _, grad = value_and_grad(lambda t: getattr(mg, name)(t, axis=axis, keepdims=keepdims), TIES, w)
    expected = autograd.grad(
        lambda x: anp.sum(getattr(anp, name)(x, axis=axis, keepdims=keepdims) * w)
    )(TIES)
    assert_close(grad, expected, rtol=1e-15)
    # and the convention itself: each tied element gets an equal share
    extreme = getattr(np, name)(TIES, axis=axis, keepdims=True)
    hits = extreme == TIES
    share = np.broadcast_to(np.reshape(w, extreme.shape), TIES.shape) / hits.sum(
        axis=axis, keepdims=True
    )
    assert_close(grad, np.where(hits, share, 0.0), rtol=1e-15)


def test_three_way_tie_gives_a_third_each_and_maximum_with_itself_gives_all() -> None:
    _, grad = value_and_grad(mg.max, [2.0, 7.0, 7.0, 7.0])
    assert_close(grad, [0.0, 1 / 3, 1 / 3, 1 / 3], rtol=1e-15)
    _, grad = value_and_grad(lambda t: mg.maximum(t, t), [1.0, -2.0])
    assert np.array_equal(grad, [1.0, 1.0])  # half through each argument (halves: exact)
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = mg.tensor([1.0, 0.0, 3.0], requires_grad=True)
    mg.minimum(a, b).sum().backward()
    assert np.array_equal(a.grad, [0.5, 0.0, 0.5])
    assert np.array_equal(b.grad, [0.5, 1.0, 0.5])


# ---------------------------------------------------------------- empty arrays


def test_gradients_of_empty_tensors_are_empty_arrays_of_their_shape() -> None:
    x = mg.tensor(np.zeros((0, 3)), requires_grad=True)
    W = mg.tensor(np.ones((3, 2)), requires_grad=True)
    loss = (x @ W).sum() + x.sum() + mg.tanh(x).sum()
    assert loss.item() == 0.0
    loss.backward()
    assert x.grad.shape == (0, 3) and W.grad.shape == (3, 2)
    assert np.array_equal(W.grad, np.zeros((3, 2)))


def test_a_product_over_an_empty_axis_and_the_softmax_family_of_an_empty_axis() -> None:
    a = mg.tensor(np.ones((2, 0)), requires_grad=True)
    b = mg.tensor(np.ones(0), requires_grad=True)
    out = a @ b  # an empty sum: zeros, whose gradients are empty
    assert np.array_equal(out.data, np.zeros(2))
    out.sum().backward()
    assert a.grad.shape == (2, 0) and b.grad.shape == (0,)
    x = mg.tensor(np.ones((0, 3)), requires_grad=True)
    with np.errstate(divide="ignore"):  # log(0): the log of an empty sum is -inf (PyTorch's)
        lse = mg.logsumexp(x, axis=0)
        assert np.array_equal(lse.data, np.full(3, -np.inf))
        assert mg.log_softmax(x, axis=0).shape == (0, 3)
    assert mg.softmax(x, axis=0).shape == (0, 3)
    mg.softmax(x, axis=0).sum().backward()
    assert x.grad.shape == (0, 3)
    x32 = mg.tensor(np.ones((0, 3), np.float32), requires_grad=True)
    with np.errstate(divide="ignore"):
        assert mg.logsumexp(x32, axis=0).dtype == np.float32  # (float32 stays float32)
        assert mg.log_softmax(x32, axis=0).dtype == np.float32
    assert mg.softmax(x32, axis=0).dtype == np.float32
    v = mg.tensor(np.ones(3), requires_grad=True)
    stack = mg.tensor(np.ones((0, 3, 2)), requires_grad=True)
    (v @ stack).sum().backward()  # (3,) @ (0, 3, 2): no matrices, zero gradients
    assert np.array_equal(v.grad, np.zeros(3)) and stack.grad.shape == (0, 3, 2)


def test_a_float32_base_of_a_float64_power_is_differentiated_in_float64() -> None:
    base = np.array([0.7, 1.3, 5.1], np.float32)  # a constant, or a leaf: the same VJPs
    x = mg.tensor(base, requires_grad=True)
    p = mg.tensor([0.5, 2.0, 1.5], requires_grad=True)  # float64: the result is float64
    (x**p).sum().backward()
    exact = base.astype(np.float64)  # the float32 values, exactly
    assert_close(p.grad, exact**p.data * np.log(exact), rtol=1e-14, atol=0)
    assert_close(x.grad, p.data * exact ** (p.data - 1), rtol=1e-6, atol=0)  # (in float32)
    e = mg.tensor(np.array([0.5, 2.0, 1.5], np.float32), requires_grad=True)
    y = mg.tensor(exact, requires_grad=True)
    (y**e).sum().backward()  # a float32 exponent: p - 1 taken in float64
    assert_close(y.grad, e.data * exact ** (e.data.astype(np.float64) - 1), rtol=1e-14, atol=0)


# ---------------------------------------------------------------- float32 end to end


def tutorial_data(dtype: Any, m: int = 200) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The tutorial's problem (column layout: X (2, m), Y (1, m)) and a starting point."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, m))
    Y = (X[0:1] * X[1:2] > 0).astype(float)
    start = [rng.normal(size=s) for s in [(3, 2), (3, 1), (1, 3), (1, 1)]]
    return X.astype(dtype), Y.astype(dtype), [p.astype(dtype) for p in start]


def train_tutorial_network(dtype: Any, steps: int, *, check: bool = False) -> list[mg.Tensor]:
    """The README's tutorial network, trained with plain gradient descent; with `check`,
    every value of every step's graph must have `dtype`."""
    X, Y, start = tutorial_data(dtype)
    W1, b1, W2, b2 = params = [mg.tensor(p, requires_grad=True) for p in start]
    for _ in range(steps):
        A1 = mg.sigmoid(W1 @ X + b1)
        Z2 = W2 @ A1 + b2
        loss = F.binary_cross_entropy_with_logits(Z2, Y)
        for p in params:
            p.zero_grad()
        loss.backward(retain_graph=check)
        if check:
            dtypes = {t.dtype for t in topological_order(loss)}
            assert dtypes == {np.dtype(dtype)}, dtypes
            assert all(p.grad.dtype == dtype for p in params)
        with mg.no_grad():
            for p in params:
                p -= 0.5 * p.grad
    return params


def test_float32_end_to_end_tutorial_network() -> None:
    trained32 = train_tutorial_network(np.float32, 300, check=True)
    trained64 = train_tutorial_network(np.float64, 300)
    for p32, p64 in zip(trained32, trained64, strict=True):
        assert p32.dtype == np.float32 and p32.grad.dtype == np.float32
        # the same training, to float32's precision: its rounding (6e-8) compounded over 300
        # steps reaches about 6e-7 here (parameters of order 1); rtol 1e-5 is 80 ulps
        assert_close(p32.data, p64.data, rtol=1e-5)
    X, Y, _ = tutorial_data(np.float32)
    W1, b1, W2, b2 = trained32
    loss = F.binary_cross_entropy_with_logits(W2 @ mg.sigmoid(W1 @ X + b1) + b2, Y)
    assert loss.dtype == np.float32 and isinstance(loss.item(), float)


def test_float32_end_to_end_with_modules_adam_and_transforms() -> None:
    X, Y, _ = tutorial_data(np.float32)
    x, y = X.T, Y.T  # nn uses one row per example
    model = nn.Sequential(
        nn.Linear(2, 3, rng=0, dtype=np.float32),
        nn.Sigmoid(),
        nn.Linear(3, 1, rng=1, dtype=np.float32),
    )
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        assert loss.dtype == np.float32
        loss.backward()
        opt.step()
    for p in model.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
    for state in opt.state:
        assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == np.float32
    # transforms keep float32 too, to second order
    w = np.array([0.5, -1.5], dtype=np.float32)

    def f(v: Any) -> mg.Tensor:
        return (mg.tanh(v) * v**3).sum()

    g = mg.grad(f)(w)
    hvp = mg.grad(lambda v: (mg.grad(f)(v) * w).sum())(w)
    assert g.dtype == hvp.dtype == np.float32
    # Against f' and f'' by hand, in float64 at the same (exactly representable) points. A
    # dozen float32 roundings each (6e-8): rtol 1e-6, about 8 ulps (seen: under 1).
    x = w.astype(np.float64)
    t = np.tanh(x)
    assert_close(g, (1 - t**2) * x**3 + 3 * x**2 * t, rtol=1e-6)
    f2 = -2 * t * (1 - t**2) * x**3 + 6 * x**2 * (1 - t**2) + 6 * x * t  # f'' (H is diagonal)
    assert_close(hvp, f2 * x, rtol=1e-6)


def test_an_integer_result_never_requires_grad() -> None:
    x = mg.tensor([1.5, 2.5], requires_grad=True)
    assert not x.astype(np.int64).requires_grad


def test_a_nan_input_to_the_ops_that_compare_gets_no_gradient_as_documented() -> None:
    x = mg.tensor([np.nan, 1.0], requires_grad=True)
    c = mg.tensor([0.0, 0.0], requires_grad=True)
    for y in (mg.relu(x), mg.maximum(x, c), mg.minimum(x, c + 5.0), mg.clip(x, 0.0, 2.0)):
        x.grad = c.grad = None
        y.sum().backward()
        assert np.isnan(y.data[0]) and x.grad.tolist() == [0.0, 1.0]
        assert c.grad is None or c.grad[0] == 0.0
