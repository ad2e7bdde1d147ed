"""Every op in the table: forward against NumPy, gradients against central finite differences
of the NumPy reference, every .grad of its tensor's shape, float32 kept end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import assert_close, numerical_grads
from op_table import CONSTANT_CASES, OP_CASES, ConstantCase, OpCase

import microgradnp as mg

CASE_IDS = [c.id for c in OP_CASES]


@pytest.mark.parametrize("case", OP_CASES, ids=CASE_IDS)
def test_forward_matches_numpy(case: OpCase) -> None:
    arrays = case.inputs()
    out = case.fn(*[mg.tensor(a) for a in arrays])
    expected = case.ref(np, *arrays)
    assert isinstance(out, mg.Tensor)
    assert out.shape == np.shape(expected)
    assert_close(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", OP_CASES, ids=CASE_IDS)
def test_gradients_match_finite_differences(case: OpCase) -> None:
    arrays = case.inputs()
    weights = np.random.default_rng(1).normal(size=np.shape(case.ref(np, *arrays)))
    tensors = [mg.tensor(a, requires_grad=True) for a in arrays]
    (case.fn(*tensors) * weights).sum().backward()

    expected = numerical_grads(lambda *a: float(np.sum(case.ref(np, *a) * weights)), arrays)
    for t, e in zip(tensors, expected, strict=True):
        assert t.grad is not None
        assert t.grad.shape == t.shape
        assert t.grad.dtype == np.float64
        assert_close(t.grad, e, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", OP_CASES, ids=CASE_IDS)
def test_float32_stays_float32(case: OpCase) -> None:
    arrays32 = case.inputs(np.float32)
    tensors = [mg.tensor(a, requires_grad=True) for a in arrays32]
    out = case.fn(*tensors)
    assert out.dtype == np.float32
    weights = np.random.default_rng(1).normal(size=out.shape).astype(np.float32)
    (out * weights).sum().backward()

    tensors64 = [mg.tensor(a.astype(np.float64), requires_grad=True) for a in arrays32]
    (case.fn(*tensors64) * weights.astype(np.float64)).sum().backward()
    for t32, t64 in zip(tensors, tensors64, strict=True):
        assert t32.grad is not None and t32.grad.dtype == np.float32
        assert t32.grad.shape == t32.shape
        # The same inputs in float64 give the reference. float32 rounds to 6e-8 (half its
        # eps, 1.2e-7); a gradient element takes a handful of roundings, plus sums (matmul):
        # rtol 1e-5 is about 80 ulps (seen: up to 65, a matmul). Where a sum cancels, the
        # error is a few ulps of the larger terms instead: atol is 8 ulps of the largest
        # element (seen: under 2).
        scale = float(np.max(np.abs(t64.grad), initial=0.0))
        assert_close(t32.grad, t64.grad, rtol=1e-5, atol=8 * np.finfo(np.float32).eps * scale)


def test_only_inputs_that_require_grad_get_gradients() -> None:
    a = mg.tensor(np.ones((3, 1)), requires_grad=True)
    b = mg.tensor(np.full((1, 4), 2.0))
    (a * b).sum().backward()
    assert_close(a.grad, np.full((3, 1), 8.0))
    assert b.grad is None


@pytest.mark.parametrize(
    "expression",
    [
        lambda x, arr: arr + x,
        lambda x, arr: arr - x,
        lambda x, arr: arr * x,
        lambda x, arr: arr / x,
        lambda x, arr: arr**x,
        lambda x, arr: arr @ x.reshape(4, 1),
        lambda x, arr: np.float64(2.0) * x,
        lambda x, arr: 3 - x,
        lambda x, arr: 2.0**x,
    ],
)
def test_array_or_number_on_the_left_still_gives_a_tensor(expression) -> None:
    x = mg.tensor(np.arange(1.0, 5.0), requires_grad=True)
    arr = np.arange(1.0, 5.0)
    out = expression(x, arr)
    assert isinstance(out, mg.Tensor)
    assert out.requires_grad
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    # the gradient itself, against central differences of the same expression on arrays
    # (sums up to 300, step 1e-6: rounding errors up to eps * 300 / 1e-6 = 7e-8, on gradients
    # of 1 or more where the sums are large)
    (expected,) = numerical_grads(lambda v: float(np.sum(expression(v, arr))), [x.data])
    assert_close(x.grad, expected, rtol=1e-7)


def test_functions_accept_plain_arrays_and_return_tensors() -> None:
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    for fn in [mg.exp, mg.tanh, mg.sigmoid, mg.relu, mg.abs, mg.sum, mg.softmax, mg.transpose]:
        out = fn(x)
        assert isinstance(out, mg.Tensor)
        assert not out.requires_grad
    assert_close(mg.matmul(x, x).data, x @ x)
    assert_close(mg.concatenate([x, x], axis=1).data, np.concatenate([x, x], axis=1))


def test_softmax_family_is_stable_at_plus_minus_1000() -> None:
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0], [1000.0, 1000.0, 1000.0]])
    t = mg.tensor(x, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # not even a warning
        sm = mg.softmax(t, axis=1)
        lsm = mg.log_softmax(t, axis=1)
        lse = mg.logsumexp(t, axis=1)
        (sm.sum() + lsm.sum() + lse.sum()).backward()
    assert_close(sm.data[0], [1.0, 0.0, 0.0])
    assert_close(sm.data[2], [1 / 3] * 3)
    assert_close(lsm.data[0], [0.0, -2000.0, -1000.0])
    assert_close(lse.data, [1000.0, -999.0 + np.log1p(2 * np.exp(-1.0)), 1000.0 + np.log(3.0)])
    assert np.all(np.isfinite(t.grad))


def test_logsumexp_of_all_minus_inf_is_minus_inf_not_nan() -> None:
    x = np.array([-np.inf, -np.inf])
    with np.errstate(divide="ignore"):
        assert mg.logsumexp(x).item() == -np.inf
    assert mg.logsumexp(np.array([np.inf, 0.0])).item() == np.inf


def test_sigmoid_is_exact_in_the_tails_and_quiet() -> None:
    x = np.array([-1000.0, -745.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = mg.sigmoid(x).data
        s32 = mg.sigmoid(np.array([-200.0, 200.0], dtype=np.float32)).data
    assert s[0] < 1e-300 and s[-1] == 1.0 and s[3] == 0.5
    assert_close(s[2], np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-14)
    assert s32.dtype == np.float32 and s32[0] < 1e-37 and s32[1] == 1.0


@pytest.mark.parametrize(
    ("fn", "x", "expected_grad"),
    [
        (mg.relu, 0.0, 0.0),
        (mg.abs, 0.0, 0.0),
        (lambda x: mg.clip(x, 0.0, 1.0), 0.0, 1.0),
        (lambda x: mg.clip(x, 0.0, 1.0), 1.0, 1.0),
        (mg.sqrt, 0.0, np.inf),
        (lambda x: x**0, 0.0, 0.0),
        (lambda x: x**1, 0.0, 1.0),
    ],
)
def test_gradient_conventions_at_kinks(fn, x: float, expected_grad: float) -> None:
    t = mg.tensor(x, requires_grad=True)
    with np.errstate(divide="ignore"):
        fn(t).backward()
    assert t.grad == expected_grad


def test_ties_split_the_gradient_evenly() -> None:
    x = mg.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    assert_close(x.grad, [0.0, 0.5, 0.5, 0.0])
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([1.0, 0.0], requires_grad=True)
    mg.maximum(a, b).sum().backward()
    assert_close(a.grad, [0.5, 1.0])
    assert_close(b.grad, [0.5, 0.0])


def test_pow_gradient_in_the_exponent_at_zero_base() -> None:
    x = mg.tensor([0.0, 2.0])
    p = mg.tensor(3.0, requires_grad=True)
    (x**p).sum().backward()
    assert_close(p.grad, 8 * np.log(2.0))


LOG2 = np.log(2.0)


@pytest.mark.parametrize(
    ("exponent", "grad", "second"),
    [(-1.0, 0.5 * LOG2, 0.5 * LOG2**2), ([-1.0, 2.0], [0.0, 4 * LOG2], [0.0, 4 * LOG2**2])],
    ids=["number", "array"],
)
def test_pow_gradient_in_the_exponent_at_zero_base_is_quiet_for_negative_exponents(
    exponent, grad, second
) -> None:
    # 0**p is inf for p < 0: d/dp = x**p log x is taken as 0 there (first and second
    # derivatives), with no NumPy warning from inf * log(1) on the way (the forward's
    # divide-by-zero warning is about the value, inf)
    x = mg.tensor([0.0, 2.0])
    p = mg.tensor(exponent, requires_grad=True)
    with np.errstate(divide="ignore"):
        y = (x**p).sum()
    with np.errstate(all="raise"):
        y.backward()
    assert_close(p.grad, grad)

    def dp(p: object) -> mg.Tensor:
        return mg.sum(mg.grad(lambda p: mg.sum(x**p))(p))

    with np.errstate(divide="ignore", invalid="raise"):
        assert_close(mg.grad(dp)(np.array(exponent)), second)


@pytest.mark.parametrize(
    "zero",
    [0, 0.0, np.float64(0), np.float32(0), np.int64(0), np.array(0.0), np.zeros(2)],
    ids=["int", "float", "float64", "float32", "int64", "0-d array", "array"],
)
def test_pow_gradient_in_the_base_is_zero_for_a_zero_exponent_however_given(zero) -> None:
    # x**0 is constant: d/dx is 0, also at x = 0 (where p x**(p-1) would be 0 * inf = NaN)
    exponents = [zero, mg.tensor(zero)]
    if np.asarray(zero).dtype.kind == "f":  # (only a float tensor can require grad)
        exponents.append(mg.tensor(zero, requires_grad=True))
    for exponent in exponents:
        x = mg.tensor([0.0, 2.0], requires_grad=True)
        with np.errstate(all="raise"):  # and no NumPy warning on the way
            (x**exponent).sum().backward()
        assert_close(x.grad, [0.0, 0.0])


def test_pow_with_an_exponent_tensor_holding_a_zero() -> None:
    x = mg.tensor([0.0, 2.0], requires_grad=True)
    p = mg.tensor([0.0, 3.0], requires_grad=True)
    (x**p).sum().backward()
    assert_close(x.grad, [0.0, 3 * 2.0**2])
    assert_close(p.grad, [0.0, 2.0**3 * np.log(2.0)])


def test_pow_mixed_second_derivative_where_the_base_gradient_is_masked() -> None:
    # d/dp (p x**(p-1)) = x**(p-1) (1 + p log x): 1/x at p = 0. The element with x = 0 and
    # p = 0 is masked (0); the mask must not change the derivative of the other element.
    def base_gradient_sum(p: object, x: object) -> mg.Tensor:
        return mg.sum(mg.grad(lambda x: mg.sum(x**p))(x))

    d2 = mg.grad(base_gradient_sum)(np.array([0.0, 0.0]), np.array([0.0, 2.0]))
    assert_close(d2, [0.0, 1 / 2.0])


def test_comparisons_give_boolean_tensors_without_history() -> None:
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [
        (x > 2, [False, False, True]),
        (x >= 2, [False, True, True]),
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x == 2, [False, True, False]),
        (x != 2, [True, False, True]),
    ]:
        assert result.dtype == bool and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONSTANT_CASES, ids=[c.id for c in CONSTANT_CASES])
def test_sign_and_comparisons_match_numpy_and_have_no_gradient(case: ConstantCase, dtype) -> None:
    arrays = case.inputs(dtype)
    tensors = [mg.tensor(a, requires_grad=True) for a in arrays]
    out = case.fn(*tensors)
    expected = case.ref(*arrays)
    assert isinstance(out, mg.Tensor)
    assert out.dtype == expected.dtype and out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)
    # no history: nothing to differentiate ...
    assert not out.requires_grad and out.is_leaf and out.op is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.sum(out).backward()
    # ... the derivative is zero (mg.grad of a function of it alone) ...
    argnums = tuple(range(len(arrays)))
    grads = mg.grad(lambda *xs: mg.sum(case.fn(*xs)), argnums=argnums)(*arrays)
    for g, a in zip(grads, arrays, strict=True):
        assert g.shape == a.shape and g.dtype == a.dtype
        np.testing.assert_array_equal(g, np.zeros_like(a))
    # ... and inside a differentiable expression it is a constant: d/dx sum(x * c(x, y)) = c,
    # and y, used only by the comparison, gets no gradient.
    (tensors[0] * out).sum().backward()
    np.testing.assert_array_equal(tensors[0].grad, expected.astype(dtype))
    assert all(t.grad is None for t in tensors[1:])


def test_astype_converts_the_gradient_back() -> None:
    x = mg.tensor(np.arange(3.0), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    assert_close(x.grad, [2.0, 2.0, 2.0])


def test_mixed_float32_and_float64_gradient_keeps_each_inputs_dtype() -> None:
    a = mg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = mg.tensor(np.full(3, 2.0), requires_grad=True)
    out = a * b
    assert out.dtype == np.float64  # NumPy's promotion
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    assert_close(a.grad, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
def test_outer_products_are_exactly_numpys_matmul(dtype) -> None:
    # matmul over an axis of length 1 is computed as a broadcast product: the same numbers
    rng = np.random.default_rng(0)
    for sa, sb in [((3, 1), (1, 4)), ((2, 3, 1), (1, 4)), ((3, 1), (2, 1, 4)), ((0, 1), (1, 2))]:
        a = (rng.normal(size=sa) * 5).astype(dtype)
        b = (rng.normal(size=sb) * 5).astype(dtype)
        out = mg.matmul(a, b).data
        expected = np.matmul(a, b)
        assert out.dtype == expected.dtype and out.shape == expected.shape
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
def test_reductions_take_keepdims_as_a_bool_only(name) -> None:
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    reduce = getattr(mg, name)
    assert reduce(x, axis=1, keepdims=True).shape == (2, 1)
    assert reduce(x, axis=1, keepdims=np.bool_(True)).shape == (2, 1)  # (NumPy's bool too)
    assert reduce(x, axis=1, keepdims=np.bool_(False)).shape == (2,)
    reduce(x, 1, keepdims=True).sum().backward()
    assert x.grad.shape == (2, 3)
    for flag in ["yes", 1, 0, None]:  # NumPy would take each by its truth
        with pytest.raises(TypeError, match=f"{name}: keepdims must be True or False"):
            reduce(x, axis=1, keepdims=flag)


def test_where_takes_a_boolean_or_numeric_condition_and_refuses_others() -> None:
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for condition in [[True, False, True], a > 2, np.array([1, 0, 2]), [0.5, 0.0, -1.0]]:
        expected = np.where(mg.tensor(condition).data, a.data, 0.0)  # NumPy: true if nonzero
        np.testing.assert_array_equal(mg.where(condition, a, 0.0).data, expected)
    mg.where(np.array([1, 0, 2]), a, 0.0).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 1.0])
    for condition in ["", "yes", np.array(["a", "", "c"]), None, [None, 1, 0], [1j, 0, 1]]:
        with pytest.raises(TypeError, match="where: the condition must hold booleans"):
            mg.where(condition, a, 0.0)


def test_joining_names_the_item_that_is_not_numbers() -> None:
    for join in (mg.stack, mg.concatenate, lambda ts: mg.concatenate(ts, axis=None)):
        with pytest.raises(TypeError, match=r"item 1 \(str\) is not an array of real numbers"):
            join([mg.tensor([1.0]), "b"])
        with pytest.raises(ValueError, match="item 1 is not an array: setting an array"):
            join([[1.0, 2.0], [[2.0], [1.0, 2.0]]])  # (a ragged nested list)
    # a generator is read once, also when flattening
    pieces = (mg.tensor([[1.0, 2.0]]) for _ in range(2))
    np.testing.assert_array_equal(mg.concatenate(pieces, axis=None).data, [1.0, 2.0, 1.0, 2.0])


SIGMOID_REFUSES = {
    "None": None,
    "complex": np.array([1j]),
    "date": np.array(["2020-01-01"], dtype="datetime64[D]"),
    "timedelta": np.array([1], dtype="timedelta64[s]"),
    "structured": np.zeros(2, dtype=[("a", float)]),
    "objects": np.array([1.0], dtype=object),
    "string": "abc",
}


@pytest.mark.parametrize("name", list(SIGMOID_REFUSES))
def test_sigmoid_refuses_what_the_other_elementwise_ops_refuse(name) -> None:
    bad = SIGMOID_REFUSES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no ComplexWarning on the way)
        with pytest.raises(TypeError):
            mg.tanh(bad)
        with pytest.raises(TypeError, match=r"sigmoid on .*: expected real numbers"):
            mg.sigmoid(bad)
        with pytest.raises(TypeError, match="sigmoid on"):
            mg.nn.Sigmoid()(bad)


def test_sigmoid_takes_integers_and_booleans_as_float64() -> None:
    for x in [[0, 1], np.array([0, 1]), np.array([False, True]), 0, True]:
        out = mg.sigmoid(x)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out.data, 1 / (1 + np.exp(-np.asarray(x, float))))
    assert mg.sigmoid(np.float32(1.0)).dtype == np.float32


def _stability_warnings(f) -> list[str]:
    z = mg.tensor(np.linspace(-3.0, 3.0, 4), requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f(z)
    return [str(w.message) for w in caught if w.category is mg.StabilityWarning]


JUST_BELOW = float(np.nextafter(0.1, 0.0))


@pytest.mark.parametrize(
    "fragile",
    [
        lambda z, eps: mg.log(mg.sigmoid(z) + eps),
        lambda z, eps: mg.log(eps + mg.softmax(z)),
        lambda z, eps: mg.log(mg.maximum(mg.sigmoid(z), eps)),
        lambda z, eps: mg.log(mg.clip(mg.sigmoid(z), eps, None)),
        lambda z, eps: mg.log(mg.sigmoid(z) + np.full(4, eps)),
    ],
    ids=["p + eps", "eps + softmax", "maximum", "clip", "array eps"],
)
def test_the_stability_lint_looks_through_an_epsilon_strictly_below_0_1(fragile) -> None:
    assert len(_stability_warnings(lambda z: fragile(z, JUST_BELOW))) == 1
    assert len(_stability_warnings(lambda z: fragile(z, 1e-8))) == 1
    assert _stability_warnings(lambda z: fragile(z, 0.1)) == []  # (0.1 keeps log finite)
