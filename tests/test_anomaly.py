"""detect_anomaly: the first op whose value (forward) or gradient (backward) turns NaN/Inf
raises FloatingPointError naming the op, the shapes and the user's file:line."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from conftest import assert_close

import microgradnp as mg
from microgradnp.checking import check_graph, detect_anomaly

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's log(0) etc.


def _here() -> int:
    """The caller's current line number."""
    return sys._getframe(1).f_lineno


def test_forward_names_the_op_shapes_and_line() -> None:
    p = mg.tensor(np.array([[0.5, 0.0, 2.0]]), requires_grad=True)
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        line = _here() + 1
        mg.log(p * 1.0)
    message = str(info.value)
    assert "log produced -inf from finite inputs" in message
    assert "output (1, 3), inputs (1, 3)" in message
    assert "element (0, 1)" in message and "log(0) = -inf" in message
    assert f"{__file__}:{line}" in message
    assert "mg.log(p * 1.0)" in message  # the source line itself


def test_forward_raises_at_the_first_op_not_at_the_ones_that_propagate() -> None:
    x = mg.tensor([1.0, 0.0, 3.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        y = x * 2
        line = _here() + 1
        z = y / x  # 0 / 0: NaN here, first
        (mg.exp(z) + 1).sum()
    message = str(info.value)
    assert message.startswith("detect_anomaly: div produced NaN")
    assert f":{line} " in message and "div(0, 0) = nan" in message


def test_forward_from_inputs_that_were_already_non_finite_does_not_raise() -> None:
    # -inf used on purpose (a mask): ops that carry it along are not the cause.
    scores = mg.tensor([[0.0, 1.0, -np.inf]], requires_grad=True)
    with detect_anomaly():
        out = mg.log_softmax(scores * 2.0, axis=-1)
        assert np.isneginf(out.data[0, 2])
        plain = mg.tensor([np.nan]) + 1.0
        assert np.isnan(plain.data[0])


def test_backward_names_the_op_the_argument_and_the_line_that_created_it() -> None:
    x = mg.tensor([[1.0, 0.0], [4.0, 9.0]], requires_grad=True, name="x")
    with detect_anomaly():
        h = x * 1.0
        line = _here() + 1
        y = mg.sqrt(h)  # finite forward; its derivative at 0 is inf
        loss = (y * 3.0).sum()
        with pytest.raises(FloatingPointError) as info:
            loss.backward()
    message = str(info.value)
    assert "during backward, sqrt's VJP gave argument 0 (shape (2, 2))" in message
    assert "containing inf" in message and "element (0, 1)" in message
    assert "where the argument is 0" in message
    assert f"{__file__}:{line}" in message and "mg.sqrt(h)" in message
    assert x.grad is None  # it stopped at the first bad gradient


def test_backward_through_a_user_primitive_with_a_bad_vjp() -> None:
    @mg.primitive
    def safe_inverse(x):
        return np.where(x == 0, 0.0, 1 / np.where(x == 0, 1.0, x))

    safe_inverse.defvjp(lambda g, ans, x: -g / x**2)  # inf at 0, unlike its forward

    x = mg.tensor(np.array([2.0, 0.0, -1.0]), requires_grad=True)
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        line = _here() + 1
        out = safe_inverse(x).sum()
        out.backward()
    assert "safe_inverse's VJP" in str(info.value) and f":{line} " in str(info.value)


def test_backward_under_mg_grad_points_into_the_lambda() -> None:
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        line = _here() + 1
        mg.grad(lambda t: (mg.sqrt(t) * 2).sum())(np.array([0.0, 1.0]))
    assert "sqrt's VJP" in str(info.value) and f"{__file__}:{line}" in str(info.value)


def test_graph_built_outside_the_block_says_so() -> None:
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    loss = mg.sqrt(x).sum()
    with detect_anomaly(), pytest.raises(FloatingPointError, match="outside detect_anomaly"):
        loss.backward()


def test_nothing_is_raised_when_everything_is_finite_or_outside_the_block() -> None:
    x = mg.tensor([0.5, 1.0], requires_grad=True)
    with detect_anomaly():
        mg.log(mg.sigmoid(x) * 0 + x).sum().backward()
    assert np.all(np.isfinite(x.grad))
    mg.log(x - 0.5)  # -inf, but anomaly detection is off again
    (mg.sqrt(x - 0.5)).sum().backward()


def test_it_works_as_a_decorator_with_and_without_parentheses() -> None:
    @detect_anomaly
    def bare(t):
        return mg.log(t)

    @detect_anomaly()
    def called(t):
        return mg.log(t)

    for fn in (bare, called):
        with pytest.raises(FloatingPointError, match="log produced -inf"):
            fn(mg.tensor([0.0]))
    mg.log(mg.tensor([0.0]))  # and it is off again afterwards


def test_it_is_per_thread() -> None:
    barrier = threading.Barrier(2, timeout=10)
    results: dict[str, str] = {}

    def guarded() -> None:
        with detect_anomaly():
            barrier.wait()  # both threads are now running, this one inside the block
            try:
                mg.log(mg.tensor([0.0]))
                results["guarded"] = "no error"
            except FloatingPointError:
                results["guarded"] = "raised"
            barrier.wait()

    def unguarded() -> None:
        barrier.wait()
        try:
            mg.log(mg.tensor([0.0]))
            results["unguarded"] = "no error"
        except FloatingPointError:
            results["unguarded"] = "raised"
        barrier.wait()

    threads = [threading.Thread(target=guarded), threading.Thread(target=unguarded)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"guarded": "raised", "unguarded": "no error"}


def test_check_graph_shows_where_ops_were_created_under_detect_anomaly() -> None:
    @mg.primitive
    def doubled(x):
        return 2 * x

    doubled.defvjp(lambda g, ans, x: g)  # should be 2 g

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with detect_anomaly():
        line = _here() + 1
        y = doubled(x).sum()
    report = check_graph(y)
    assert "node 1: doubled (2,): VJP wrong" in str(report)
    assert f"(created at {__file__}:{line} " in str(report)


def test_a_nan_parameter_is_named_where_it_enters_and_nan_data_in_backward() -> None:
    V = mg.tensor([[1.0, 2.0], [np.nan, 1.0]], requires_grad=True, name="V")  # (an update
    message = r"argument 0 of matmul, the parameter 'V' of shape \(2, 2\), holds NaN"
    with pytest.raises(FloatingPointError, match=message), detect_anomaly():  # made it NaN)
        (V @ np.ones((2, 2))).sum()
    X = np.array([[1.0, np.nan], [2.0, 3.0]])  # NaN data: backward says the inputs held it
    W = mg.tensor(np.ones((2, 2)), requires_grad=True, name="W")
    with pytest.raises(FloatingPointError, match="from the data or a constant"), detect_anomaly():
        mg.sigmoid(W @ X).mean().backward()
    y = np.array([1.0, np.nan, 3.0])  # missing labels, masked out: nothing to report
    pred = mg.tensor([2.0, 2.0, 2.0], requires_grad=True)
    with detect_anomaly():
        (mg.where(~np.isnan(y), pred - y, 0.0) ** 2).sum().backward()
        mg.softmax(mg.tensor([0.0, -np.inf], requires_grad=True) * 1.0)  # (a -inf mask)
    assert_close(pred.grad, [2.0, 0.0, -2.0])


def test_it_takes_no_settings() -> None:
    with pytest.raises(TypeError, match=r"detect_anomaly: takes no settings \(got True\)"):
        detect_anomaly(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no_grad: takes no settings"):
        mg.no_grad(False)  # type: ignore[arg-type]


def test_gradients_that_overflow_only_when_summed_are_caught() -> None:
    with detect_anomaly():
        z = mg.tensor([1e-300, 1.0], requires_grad=True, name="z")
        y = (mg.sqrt(z) * 2e158 + mg.sqrt(z) * 2e158).sum()  # each use's gradient: 1e308
        with pytest.raises(FloatingPointError) as info, np.errstate(over="ignore"):
            y.backward()
    assert "the .grad of tensor 'z' became inf when sqrt's VJP added its part" in str(info.value)
    with detect_anomaly():
        s = mg.tensor([1e-300, 1.0], requires_grad=True) * 1.0
        y = (mg.sqrt(s) * 2e158 + mg.sqrt(s) * 2e158).sum()
        with (
            pytest.raises(FloatingPointError, match="the gradient of a tensor of shape"),
            np.errstate(over="ignore"),
        ):
            y.backward()


def test_a_non_finite_grad_given_to_backward_is_named_as_the_callers() -> None:
    with detect_anomaly():
        y = mg.tensor([1.0, 2.0], requires_grad=True) * 2
        with pytest.raises(FloatingPointError, match=r"the gradient given to backward \(grad="):
            y.backward(np.array([np.nan, 1.0]))


def test_inside_mg_grad_the_vjp_that_overflows_is_named_not_the_ops_it_runs() -> None:
    def f(x):
        line[0] = _here() + 1
        return mg.sqrt(x).sum()

    line = [0]
    x = mg.tensor([0.0, 1.0], requires_grad=True)  # a Tensor: the gradient is recorded
    with detect_anomaly(), pytest.raises(FloatingPointError) as info, np.errstate(divide="ignore"):
        mg.grad(f)(x)
    message = str(info.value)
    assert message.startswith("detect_anomaly: during backward, sqrt's VJP gave argument 0")
    assert f":{line[0]} " in message and "div" not in message


def test_the_sum_check_looks_at_the_elements_that_were_finite_before() -> None:
    W = mg.tensor([1.0, 1.0], requires_grad=True, name="W")
    W.grad = np.array([1.7e308, np.nan])  # element 1 was NaN already: not this backward's
    with detect_anomaly():
        loss = (W * 1e308)[0]
        with (
            pytest.raises(FloatingPointError, match=r"the \.grad of tensor 'W' became inf"),
            np.errstate(over="ignore"),
        ):
            loss.backward()
    W.grad = np.array([1.0, np.nan])
    with detect_anomaly():
        (W * 2.0)[0].backward()  # element 0 stays finite; element 1's NaN is old
    assert W.grad[0] == 3.0
