"""gradcheck, check_graph and compare_grads: they find the wrong gradient, and only that.

References are independent of the code under test: the op table's finite differences and
HIPS-autograd-checked ops for "must pass", hand-written derivatives for the wrong values,
and the tutorial's own backprop (tests/test_tutorial_equations.py) for compare_grads.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from op_table import OP_CASES, OpCase
from test_tutorial_equations import backward_propagation, forward_propagation

import microgradnp as mg
from microgradnp.checking import (
    GradcheckError,
    check_graph,
    compare_grads,
    gradcheck,
)
from microgradnp.engine import topological_order
from microgradnp.nn.functional import binary_cross_entropy_with_logits

# ---------------------------------------------------------------- gradcheck


def _projected(case: OpCase, arrays: list[np.ndarray]):
    """The op case as a scalar function: its output times fixed random weights, summed."""
    weights = np.random.default_rng(1).normal(size=np.shape(case.ref(np, *arrays)))
    return lambda *xs: (case.fn(*xs) * weights).sum()


@pytest.mark.parametrize("case", OP_CASES, ids=[c.id for c in OP_CASES])
def test_gradcheck_passes_on_every_built_in_op(case: OpCase) -> None:
    arrays = case.inputs()
    assert gradcheck(_projected(case, arrays), *arrays) is True


@pytest.mark.parametrize("case", OP_CASES[::7], ids=[c.id for c in OP_CASES[::7]])
def test_gradcheck_passes_on_float32_inputs_which_it_promotes(case: OpCase) -> None:
    arrays = case.inputs(np.float32)
    seen = []

    def f(*xs):
        seen.extend(x.dtype for x in xs)
        return _projected(case, arrays)(*xs)

    assert gradcheck(f, *arrays) is True
    assert set(seen) == {np.dtype(np.float64)}


@mg.primitive
def times(a, b):  # a * b, with a VJP for b twice too large
    return a * b


times.defvjp(lambda g, ans, a, b: g * b, lambda g, ans, a, b: 2 * g * a)  # b's is wrong


@mg.primitive
def sine(x):
    return np.sin(x)


def _sine_vjp_wrong_at_one_element(g, ans, x):
    d = np.cos(x)
    d[1, 2] = -d[1, 2]  # one wrong element
    return g * d


sine.defvjp(_sine_vjp_wrong_at_one_element)


@mg.primitive
def scaled_add(a, b):
    return 3.0 * a + b


scaled_add.defvjp(lambda g, ans, a, b: (g, g))  # a's should be 3 g


def test_gradcheck_names_the_wrong_input_its_name_and_the_element() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4))
    b = mg.tensor(rng.normal(size=(4,)), requires_grad=True, name="bias")
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x, y: times(x, y).sum(), a, b)
    err = info.value
    assert isinstance(err, AssertionError)
    assert err.input_index == 1 and err.input_name == "bias"
    assert "input 1 ('bias')" in str(err) and "input 0" not in str(err)
    # d/db sum(a * b) = column sums of a; the wrong VJP gives twice that
    true = a.sum(axis=0)
    (j,) = err.index
    assert err.numerical == pytest.approx(true[j], rel=1e-6)
    assert err.reverse == pytest.approx(2 * true[j], rel=1e-12)
    assert err.abs_err == pytest.approx(abs(true[j]), rel=1e-6)
    assert err.rel_err == pytest.approx(0.5, rel=1e-6)
    assert j == int(np.argmax(np.abs(true)))  # the worst element is the largest error
    assert f"({j},)" in str(err) and f"{2 * true[j]:.6g}" in str(err)


def test_gradcheck_points_at_the_one_wrong_element() -> None:
    x = np.random.default_rng(1).normal(size=(3, 4))
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: sine(t).sum(), x)
    err = info.value
    assert err.input_index == 0 and err.input_name is None and err.index == (1, 2)
    assert err.numerical == pytest.approx(np.cos(x[1, 2]), rel=1e-6)
    assert err.reverse == pytest.approx(-np.cos(x[1, 2]), rel=1e-12)
    assert "1 of 12 elements differ" in str(err)


def test_gradcheck_handles_non_contiguous_inputs() -> None:
    x = np.asfortranarray(np.random.default_rng(1).normal(size=(3, 4)))
    assert gradcheck(lambda t: (mg.tanh(t) * np.arange(12.0).reshape(3, 4)).sum(), x)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: sine(t).sum(), x)
    assert info.value.index == (1, 2)


def test_gradcheck_counts_positions_including_constant_inputs() -> None:
    labels = np.array([0, 1, 1])  # integer: passed unchanged, not differentiated
    a = np.random.default_rng(2).normal(size=(3,))
    b = np.random.default_rng(3).normal(size=(3,))

    def f(lab, x, y):
        assert isinstance(lab, np.ndarray) and lab.dtype.kind == "i"
        return (scaled_add(x, y) * lab).sum()

    with pytest.raises(GradcheckError) as info:
        gradcheck(f, labels, a, b)
    assert info.value.input_index == 1  # a, the second argument; b's gradient is right
    assert "input 2" not in str(info.value)


def test_gradcheck_reports_every_failing_input() -> None:
    @mg.primitive
    def both_wrong(a, b):
        return a * b

    both_wrong.defvjp(lambda g, ans, a, b: (g * a, g * b))  # swapped
    a, b = np.array([1.0, 2.0]), np.array([5.0, -3.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x, y: both_wrong(x, y).sum(), a, b)
    assert info.value.input_index == 0
    assert "input 0" in str(info.value) and "input 1" in str(info.value)


def test_with_a_tensor_requiring_grad_only_those_are_checked() -> None:
    a = mg.tensor(np.random.default_rng(4).normal(size=(4,)), requires_grad=True)
    b = np.random.default_rng(5).normal(size=(4,))  # b's VJP is wrong, but b is data here
    assert gradcheck(lambda x, y: times(x, y).sum(), a, b) is True
    assert gradcheck(lambda x, y: times(x, y).sum(), a, mg.tensor(b)) is True
    # Without any such tensor every floating-point input is checked, Tensors included.
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x, y: times(x, y).sum(), mg.tensor(a.data), mg.tensor(b, name="b"))
    assert info.value.input_index == 1 and info.value.input_name == "b"


def test_gradcheck_leaves_every_grad_alone() -> None:
    w = mg.tensor([1.0, -2.0], requires_grad=True)  # used by f, not an input
    x = mg.tensor([0.5, 0.25], requires_grad=True)
    assert gradcheck(lambda t: (mg.tanh(t * w) ** 2).sum(), x)
    assert w.grad is None and x.grad is None


def test_gradcheck_needs_a_scalar_function_and_something_to_differentiate() -> None:
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match=r"scalar.*shape \(2, 3\).*\.sum\(\)"):
        gradcheck(lambda t: t * 2, x)
    with pytest.raises(ValueError, match="no input to differentiate: every input is an int"):
        gradcheck(lambda t: t.sum(), np.array([1, 2]))
    with pytest.raises(ValueError, match="no input to differentiate: none was given"):
        gradcheck(lambda: mg.tensor(1.0))
    with pytest.raises(ValueError, match="finite"), np.errstate(divide="ignore"):
        gradcheck(lambda t: mg.log(t).sum(), np.array([0.0, 1.0]))


def test_gradcheck_of_a_function_that_ignores_its_input() -> None:
    assert gradcheck(lambda t: mg.tensor(3.0), np.ones(3)) is True


def test_gradcheck_fails_when_a_vjp_forgets_an_input() -> None:
    @mg.primitive
    def partial_product(a, b):
        return a * b

    partial_product.defvjp(lambda g, ans, a, b: g * b, None)  # b "not differentiable"
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x, y: partial_product(x, y).sum(), np.array([2.0]), np.array([3.0]))
    assert info.value.input_index == 1
    assert info.value.reverse == 0.0 and info.value.numerical == pytest.approx(2.0)


def test_gradcheck_moves_large_inputs_by_a_relative_step() -> None:
    # One ulp of 1e11 is 1.5e-5: moved by a fixed 1e-6, x would not change at all (finite
    # differences 0); moved by eps * |x|, it does.
    x = np.array([1e11, -3e11])
    assert gradcheck(lambda t: (t * 1.0).sum(), x) is True
    assert gradcheck(lambda t: (t * t).sum() / 1e11, x) is True  # 2 x / 1e11: 2 and -6
    # times' VJP is right for a (g * b) and wrong for b (2 g a): only b fails, measured
    # against the true derivative d/db sum(a * b) = a
    a, b = np.array([1e11, 2e11]), np.array([3.0, -4.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x, y: times(x, y).sum(), a, b)
    err = info.value
    assert err.input_index == 1 and "input 0" not in str(err)
    assert err.numerical == pytest.approx(a[err.index], rel=1e-9)
    assert err.reverse == pytest.approx(2 * a[err.index], rel=1e-12)


@pytest.mark.parametrize(
    ("cut", "returned"),
    [
        (lambda y: y.item(), "a float, not a Tensor"),
        (lambda y: y.detach(), "a Tensor that does not require grad"),
    ],
    ids=["item", "detach"],
)
def test_gradcheck_says_when_f_cut_its_result_off_the_graph(cut, returned) -> None:
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: cut((t * t).sum()), np.ones(3))
    err = info.value
    assert err.reverse == 0.0 and err.numerical == pytest.approx(2.0)  # d/dt sum(t * t)
    message = str(err)
    assert message.startswith(
        f"gradcheck: f returned {returned}, so reverse mode gives 0, yet its value changes "
        "with the inputs: the result was cut off from the graph"
    )
    assert "check_graph" not in message and "a gradient is wrong" not in message
    # a result that truly does not depend on the inputs still passes
    assert gradcheck(lambda t: mg.tensor(3.0), np.ones(3)) is True


# ---------------------------------------------------------------- check_graph


@mg.primitive
def my_sigmoid(z):
    return 1 / (1 + np.exp(-z))


my_sigmoid.defvjp(lambda g, ans, z: g * ans * (1 - ans))


@mg.primitive
def bad_sigmoid(z):
    return 1 / (1 + np.exp(-z))


bad_sigmoid.defvjp(lambda g, ans, z: g * ans)  # the derivative is ans * (1 - ans)


@mg.primitive
def affine(w, x, b):
    return w @ x + b


affine.defvjp(
    lambda g, ans, w, x, b: g @ x.T,
    lambda g, ans, w, x, b: w.T @ g,
    lambda g, ans, w, x, b: 0.5 * g,  # wrong: the bias's gradient is g (summed over columns)
)


def _ten_op_network(rng: np.random.Generator, wrong: str):
    """The tutorial's 2-3-1 network with its naive loss: 13 or 14 recorded ops, one of them a
    user primitive. Returns (root, the 1-based position of the user op, its name)."""
    X = rng.normal(size=(2, 400))
    Y = (rng.random((1, 400)) < 0.5).astype(float)
    W1 = mg.tensor(rng.normal(size=(3, 2)), requires_grad=True, name="W1")
    b1 = mg.tensor(rng.normal(size=(3, 1)), requires_grad=True, name="b1")
    W2 = mg.tensor(rng.normal(size=(1, 3)), requires_grad=True, name="W2")
    b2 = mg.tensor(rng.normal(size=(1, 1)), requires_grad=True, name="b2")
    sig1 = bad_sigmoid if wrong == "sigmoid" else my_sigmoid
    Z1 = W1 @ X  # 1
    Z1 = Z1 + b1  # 2
    A1 = sig1(Z1)  # 3
    Z2 = affine(W2, A1, b2) if wrong == "affine" else W2 @ A1 + b2  # 4 (or 4, 5)
    A2 = mg.sigmoid(Z2)
    loss = -mg.mean(Y * mg.log(A2) + (1 - Y) * mg.log(1 - A2))
    return (
        loss,
        {"sigmoid": 3, "affine": 4}[wrong],
        {"sigmoid": "bad_sigmoid", "affine": "affine"}[wrong],
    )


@pytest.mark.filterwarnings("ignore::UserWarning")  # the naive loss's stability warning
def test_check_graph_finds_the_one_wrong_vjp_in_a_graph_of_ten() -> None:
    loss, position, name = _ten_op_network(np.random.default_rng(0), "sigmoid")
    report = check_graph(loss)
    ops = [t.op for t in reversed(topological_order(loss))]
    assert len(report) == len(ops) >= 10
    assert [n.op for n in report] == ops  # numbered as the graph picture numbers them
    assert [n.number for n in report] == list(range(1, len(ops) + 1))
    assert not report.ok
    assert report.failed_nodes() == [position] and ops[position - 1] == name
    bad = report.failed[0]
    assert bad.op == "bad_sigmoid" and bad.shape == (3, 400)
    line = f"node {position}: bad_sigmoid (3, 400): VJP wrong, max rel err "
    assert line in str(report)
    # The VJP is off by the factor 1 / (1 - s): the relative error is s at the worst element.
    arg = bad.args[0]
    assert 0.5 < arg.max_rel_err < 1 and not arg.ok
    # Every other node is reported, and fine.
    assert sum("ok (" in line for line in str(report).splitlines()) == len(ops) - 1


def test_check_graph_values_are_the_ops_true_derivatives() -> None:
    z = mg.tensor(np.linspace(-3, 3, 7), requires_grad=True)
    s = bad_sigmoid(z)
    report = check_graph(s.sum())
    arg = report.nodes[0].args[0]
    i = arg.worst_index
    sig = 1 / (1 + np.exp(-z.data[i]))
    # With a random cotangent g: VJP = g s, finite differences = g s (1 - s); the ratio is
    # independent of g.
    assert arg.numerical / arg.vjp == pytest.approx(1 - sig, rel=1e-5)
    assert arg.max_rel_err == pytest.approx(sig, rel=1e-5)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_check_graph_names_the_argument_of_a_multi_input_op() -> None:
    loss, position, _ = _ten_op_network(np.random.default_rng(1), "affine")
    report = check_graph(loss)
    assert report.failed_nodes() == [position]
    node = report.failed[0]
    assert [a.ok for a in node.args] == [True, True, False]
    assert f"node {position}: affine (1, 400): VJP wrong for argument 2 (1, 1)" in str(report)
    # sum over columns of g against 0.5 * the same: rel err 0.5 exactly
    assert node.args[2].max_rel_err == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("case", OP_CASES, ids=[c.id for c in OP_CASES])
def test_check_graph_passes_every_built_in_op(case: OpCase) -> None:
    tensors = [mg.tensor(a, requires_grad=True) for a in case.inputs()]
    out = case.fn(*tensors)
    weights = np.random.default_rng(1).normal(size=out.shape)
    report = check_graph((out * weights).sum())
    assert report.ok, str(report)


def test_check_graph_accepts_subgradients_at_kinks() -> None:
    x = mg.tensor(np.random.default_rng(2).normal(size=(4, 5)), requires_grad=True)
    inner = mg.relu(x)  # exact zeros: the outer relu sees its kink
    y = mg.maximum(mg.relu(inner), 0.0) + mg.abs(inner)
    report = check_graph(y.sum())
    assert report.ok, str(report)
    assert sum(a.kinks for n in report for a in n.args) > 0
    # ...but a VJP that is wrong where the function is smooth is still caught there.
    bad = bad_sigmoid(mg.relu(x))
    assert check_graph(bad.sum()).failed_nodes() == [2]


def test_check_graph_needs_the_graph_and_says_how_to_keep_it() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    loss = bad_sigmoid(x * 3).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"freed by backward\(\).*retain_graph=True"):
        check_graph(loss)
    kept = bad_sigmoid(x * 3).sum()
    kept.backward(retain_graph=True)
    assert check_graph(kept).failed_nodes() == [2]
    with pytest.raises(ValueError, match="no graph"):
        check_graph(x)


def test_check_graph_reports_a_vjp_that_raises_or_returns_a_wrong_shape() -> None:
    @mg.primitive
    def wrong_shape(x):
        return 2 * x

    wrong_shape.defvjp(lambda g, ans, x: np.ones((7,)))

    @mg.primitive
    def raising(x):
        return 2 * x

    raising.defvjp(lambda g, ans, x: g[99])

    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    report = check_graph((wrong_shape(x) + raising(x)).sum())
    text = str(report)
    assert report.failed_nodes() == [1, 2]
    assert "node 1: wrong_shape (2, 3): VJP error" in text and "(7,)" in text
    assert "node 2: raising (2, 3): VJP error: IndexError" in text


def test_check_graph_samples_large_arguments_and_still_finds_the_wrong_vjp() -> None:
    x = mg.tensor(np.random.default_rng(3).normal(size=(50, 60)), requires_grad=True)
    report = check_graph(bad_sigmoid(x).sum(), max_elements=100, rng=5)
    arg = report.nodes[0].args[0]
    assert arg.checked == 100 and not arg.ok
    again = check_graph(bad_sigmoid(x).sum(), max_elements=100, rng=5)
    assert again.nodes[0].args[0].worst_index == arg.worst_index  # rng: reproducible


def test_check_graph_checks_float32_graphs_in_float64() -> None:
    rng = np.random.default_rng(4)
    W = mg.tensor(rng.normal(size=(3, 2)).astype(np.float32), requires_grad=True)
    X = rng.normal(size=(2, 50)).astype(np.float32)
    out = mg.tanh(W @ X).astype(np.float64)
    report = check_graph((out * out).mean())
    assert report.ok, str(report)


def test_report_lists_names_of_wrong_tensors_for_the_graph_picture() -> None:
    x = mg.tensor([0.5, -1.0], requires_grad=True, name="x")
    a = bad_sigmoid(x)
    a.name = "A"
    report = check_graph((a * 2).sum())
    assert report.failed_names() == ["A"]


def test_check_graph_passes_built_in_ops_on_large_values() -> None:
    # Linear regression on unscaled data: targets around 1e5, the mean's input (squared
    # errors) up to 1e11, where a fixed step of 1e-6 is below one ulp; and a sum of outputs
    # around 1e6, whose rounding would swamp the change the step makes.
    rng = np.random.default_rng(0)
    X = rng.uniform(500, 4000, size=(200, 1))
    y = 150 * X + rng.normal(0, 2e4, size=(200, 1))
    w = mg.tensor(np.zeros((1, 1)), requires_grad=True)
    report = check_graph(mg.nn.functional.mse_loss(X @ w, y))
    assert [n.op for n in report] == ["matmul", "sub", "mul", "mean"]
    assert report.ok and not report.unchecked_nodes(), str(report)
    x = mg.tensor(rng.normal(size=(10, 10)), requires_grad=True)
    report = check_graph((x + 1e6).sum())
    assert report.ok and not report.unchecked_nodes(), str(report)


@mg.primitive
def bad_square(x):
    return x * x


bad_square.defvjp(lambda g, ans, x: g * x)  # the derivative is 2 x


def test_check_graph_measures_a_wrong_vjp_on_large_values_exactly() -> None:
    # squares around 1e14: their sum's rounding (about 2) is larger than the change a fixed
    # step of 1e-6 makes; differenced elementwise, with the step |x| / 2**30 (x's last 22
    # bits), they give 2 x to about 2**-22 of it
    x = mg.tensor(1e7 * (1 + np.random.default_rng(6).random(100)), requires_grad=True)
    arg = check_graph(bad_square(x).sum()).nodes[0].args[0]
    assert not arg.ok and arg.checked == 100
    assert arg.numerical == pytest.approx(2 * arg.vjp, rel=2**-20)
    assert arg.max_rel_err == pytest.approx(0.5, rel=2**-20)


@mg.primitive
def big_sine(x):
    return np.sin(x)


big_sine.defvjp(lambda g, ans, x: g * np.cos(x))


def test_the_step_stays_small_beside_the_curvature_of_a_function_of_large_values() -> None:
    # sin near 1e5: a step of 1e-6 |x| (0.1) would be off by its curvature (rel err 1.7e-3)
    x = np.array([1e5, 2.5e5, -3e5])
    assert gradcheck(lambda t: big_sine(t).sum(), x)
    assert check_graph(big_sine(mg.tensor(x, requires_grad=True)).sum()).ok


def test_check_graph_prints_the_rel_err_of_the_element_it_names() -> None:
    # The VJP is off by a factor c per element: the rel err is |c - 1| / max(|c|, 1) whatever
    # the cotangent, 2/3 at element 1 (c = 3) and 1 at element 2 (c = 0). Element 1 is further
    # outside the tolerance (|c - 1| = 2 against 1), but "max rel err X (at element I" must
    # be one element's: 1, at element 2.
    c = np.array([1.0, 3.0, 0.0, 1.0])

    @mg.primitive
    def scaled_identity(x):
        return x * 1.0

    scaled_identity.defvjp(lambda g, ans, x: g * c)
    x = mg.tensor(np.linspace(1.0, 2.0, 4), requires_grad=True)
    report = check_graph(scaled_identity(x).sum(), rng=0)
    arg = report.nodes[0].args[0]
    assert arg.worst_index == (2,) and arg.vjp == 0.0
    assert arg.max_rel_err == pytest.approx(1.0, rel=1e-9)
    assert (
        f"node 1: scaled_identity (4,): VJP wrong, max rel err 1 (at element (2,): VJP 0, "
        f"finite differences {arg.numerical:.6g})"
    ) in str(report)


def test_check_graph_names_an_argument_only_among_several_arrays() -> None:
    @mg.primitive
    def bad_total(x, axis):  # the axis recorded positionally, as x.sum() records it
        return np.sum(x, axis)

    bad_total.defvjp(lambda g, ans, x, axis: 0.5 * np.broadcast_to(g, x.shape))  # should be g
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    text = str(check_graph(bad_total(x, None) * 1.0))
    assert "node 1: bad_total (): VJP wrong, max rel err 0.5 (at element" in text
    assert "argument" not in text
    # an array beside the tensor: the position says which one is meant
    text = str(check_graph(times(np.ones(3), x).sum()))
    assert "node 1: times (3,): VJP wrong for argument 1 (3,), max rel err 0.5" in text


def test_draw_graph_refusal_counts_the_ops_it_found() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError) as info:
        mg.draw_graph(mg.sigmoid(x).sum(), max_nodes=1)
    assert "max_nodes=1 (at least 1 op, each drawn with its result: 2 nodes or more)" in str(
        info.value
    )
    with pytest.raises(ValueError, match=r"max_nodes=5 \(at least 3 ops, .*: 6 nodes or more\)"):
        mg.draw_graph(mg.exp(mg.sigmoid(x)).sum(), max_nodes=5)


# ---------------------------------------------------------------- non-finite values


@mg.primitive
def bad_log(x):
    return np.log(x)


bad_log.defvjp(lambda g, ans, x: g / (2 * x))  # the derivative is 1 / x


def _at_zero() -> mg.Tensor:
    return mg.tensor([0.0, 1.0, 4.0], requires_grad=True)


def _quietly(f, *args):
    """Build a graph whose forward pass is meant to leave the domain (log(0) and friends)."""
    with np.errstate(all="ignore"):
        return f(*args)


HINT = "(an input at the edge of the op's domain, or non-finite values flowing in)"


def test_check_graph_does_not_call_a_vjp_wrong_where_values_are_not_finite() -> None:
    # log at 0 is -inf: element 0 cannot be checked, 1 and 2 are; sum's input holds -inf,
    # so none of its elements can be (finite differences of sum are NaN everywhere)
    report = check_graph(_quietly(lambda x: mg.log(x).sum(), _at_zero()))
    text = str(report)
    assert report.ok and report.failed_nodes() == [] and report.unchecked_nodes() == [1, 2]
    assert [n.status for n in report] == ["partly checked", "not checked"]
    assert "VJP wrong" not in text and "with a wrong VJP" not in text
    assert "check_graph: 2 ops, no VJP found wrong, 2 not checked at some elements" in text
    log_node, sum_node = report.nodes
    assert (log_node.args[0].checked, log_node.args[0].unchecked) == (2, 1)
    assert log_node.args[0].ok and log_node.args[0].max_abs_err < 1e-6
    assert (
        "node 1: log (3,): ok where checked (max abs err " in text
        and f"not checked at 1 element: its output is -inf there {HINT}" in text
    )
    assert (sum_node.args[0].checked, sum_node.args[0].unchecked) == (0, 3)
    # counts, not indices (the -inf is at index 0); sum's axis=None is no second argument
    assert "node 2: sum (): not checked at every element: " in text
    assert "the input is -inf at 1 element, its output is -inf at 2 elements" in text


def test_check_graph_takes_sqrts_infinite_vjp_at_zero_as_unchecked_not_wrong() -> None:
    report = check_graph(mg.sqrt(_at_zero()).sum())
    assert report.ok and report.unchecked_nodes() == [1]
    assert [n.status for n in report] == ["partly checked", "ok"]
    arg = report.nodes[0].args[0]
    assert (arg.checked, arg.unchecked) == (2, 1)
    assert arg.why_unchecked == "finite differences are NaN there"
    assert "node 1: sqrt (3,): ok where checked" in str(report)
    assert "node 2: sum (): ok (max abs err" in str(report)


def test_check_graph_still_finds_a_wrong_vjp_next_to_non_finite_values() -> None:
    # downstream of log(0): bad_sigmoid's input holds -inf at element 0
    report = check_graph(_quietly(lambda x: bad_sigmoid(mg.log(x)).sum(), _at_zero()))
    assert not report.ok and report.failed_nodes() == [2] and report.unchecked_nodes() == [1, 2]
    assert [n.status for n in report] == ["partly checked", "wrong", "ok"]
    bad = report.nodes[1]
    assert bad.args[0].worst_index != (0,) and np.isfinite(bad.args[0].max_rel_err)
    assert "node 2: bad_sigmoid (3,): VJP wrong, max rel err" in str(report)
    assert "not checked at 1 element: the input is -inf there" in str(report)
    # in its own branch, beside a log at 0
    report = check_graph(_quietly(lambda x: (mg.log(x) + bad_sigmoid(x)).sum(), _at_zero()))
    assert report.failed_nodes() == [2] and report.nodes[0].status == "partly checked"
    # in the op whose output is -inf itself: wrong at the finite elements 1 and 2
    report = check_graph(_quietly(lambda x: bad_log(x) * 1.0, _at_zero()))
    node = report.nodes[0]
    assert node.status == "wrong" and report.failed_nodes() == [1]
    assert node.args[0].worst_index in {(1,), (2,)} and node.args[0].unchecked == 1
    assert node.args[0].max_rel_err == pytest.approx(0.5, rel=1e-6)


def test_check_graph_checks_a_multi_input_op_on_its_finite_outputs() -> None:
    # inf in B's element (0, 0): the outputs' column 0 is NaN/inf; A's column 0 meets the inf,
    # its other columns are checked on the finite outputs
    A = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    B = np.arange(12.0).reshape(3, 4)
    B[0, 0] = np.inf
    report = check_graph(_quietly(lambda a: a @ B * 1.0, A))
    node = report.nodes[0]
    assert node.status == "partly checked" and report.ok
    assert (node.args[0].checked, node.args[0].unchecked) == (4, 2)
    # affine's wrong VJP (for b) is still found at b's finite element; w's row 0 only feeds
    # the inf output, so it is not checked (rather than passing vacuously, 0 against 0)
    b = mg.tensor([[np.inf], [1.0]], requires_grad=True)
    report = check_graph(_quietly(affine, A, np.ones((3, 1)), b))
    w_check, b_check = report.nodes[0].args
    assert report.failed_nodes() == [1] and "VJP wrong for argument 2 (2, 1)" in str(report)
    assert (w_check.ok, w_check.checked, w_check.unchecked) == (True, 3, 3)
    assert (b_check.ok, b_check.checked, b_check.unchecked) == (False, 1, 1)
    assert w_check.why_unchecked == "its output is inf there"
    assert b_check.why_unchecked == "the input is inf there"


def test_check_graph_and_gradcheck_keep_numpys_warnings_to_themselves() -> None:
    x = _at_zero()
    y = mg.sqrt(x).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would raise
        assert check_graph(y).unchecked_nodes() == [1]
        # sqrt(t + 1e-7) just inside its domain: the reverse pass is finite, and finite
        # differences leave the domain at every step tried (the smallest, eps / 4**5, too)
        with pytest.raises(GradcheckError) as info:
            gradcheck(lambda t: mg.sqrt(t + 1e-7).sum(), np.array([-1e-7 + 1e-13, 1.0]))
    err = info.value
    assert err.index == (0,) and np.isnan(err.numerical) and np.isfinite(err.reverse)
    assert "a non-finite value there: f is not differentiable at this point" in str(err)
    assert "check at a point inside the domain" in str(err)


@mg.primitive
def naive_sigmoid(z):
    return 0.5 * (1 + np.tanh(z / 2))


def _naive_sigmoid_vjp(g, ans, z):
    e = np.exp(-z)
    return g * e / (1 + e) ** 2  # inf / inf = NaN for z < -709, where the derivative is 0


naive_sigmoid.defvjp(_naive_sigmoid_vjp)


def test_check_graph_calls_a_nan_vjp_wrong_where_every_value_is_finite() -> None:
    z = mg.tensor([-800.0, 0.0, 3.0], requires_grad=True)
    report = check_graph(naive_sigmoid(z).sum())
    assert not report.ok and report.failed_nodes() == [1] and report.unchecked_nodes() == []
    assert [n.status for n in report] == ["wrong", "ok"]
    arg = report.nodes[0].args[0]
    assert (arg.checked, arg.unchecked) == (3, 0)
    # the true derivative s (1 - s) at -800 is 0 (s = 0.5 (1 + tanh(-400)) = 0)
    assert arg.worst_index == (0,) and np.isnan(arg.vjp) and arg.numerical == 0.0
    assert (
        "node 1: naive_sigmoid (3,): VJP wrong: it gives NaN at element (0,), where the op's "
        "values and finite differences (0) are finite"
    ) in str(report)
    # ...which is what a real backward pass hands z
    with np.errstate(over="ignore", invalid="ignore"):
        naive_sigmoid(z).sum().backward()
    assert np.isnan(z.grad[0]) and np.all(np.isfinite(z.grad[1:]))


def test_gradcheck_names_a_nan_reverse_gradient_where_f_is_smooth() -> None:
    z = np.array([-800.0, 0.0, 3.0])
    with pytest.raises(GradcheckError) as info, np.errstate(over="ignore", invalid="ignore"):
        gradcheck(lambda t: naive_sigmoid(t).sum(), z)
    err = info.value
    assert err.index == (0,) and np.isnan(err.reverse) and err.numerical == 0.0
    message = str(err)
    assert "1 of 3 elements differ; reverse mode is NaN where f and its finite differences" in (
        message
    )
    assert "check_graph" in message and "not differentiable" not in message


# ---------------------------------------------------------------- compare_grads


NAMES = ("W1", "b1", "W2", "b2")


@pytest.fixture
def tutorial():
    """Data and parameters as in the tutorial; autodiff gradients of the fused loss."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2, 400))
    Y = (X[0:1] ** 2 + X[1:2] ** 2 < 1.2).astype(float)
    params = [rng.normal(size=s) for s in ((3, 2), (3, 1), (1, 3), (1, 1))]
    tensors = {
        n: mg.tensor(p, requires_grad=True, name=n) for n, p in zip(NAMES, params, strict=True)
    }
    A1 = mg.sigmoid(tensors["W1"] @ X + tensors["b1"])
    Z2 = tensors["W2"] @ A1 + tensors["b2"]
    loss = binary_cross_entropy_with_logits(Z2, Y)
    loss.backward(retain_graph=True)
    return X, Y, params, tensors, loss


def _manual(X, Y, params):
    Z1, A1, Z2, A2 = forward_propagation(X, *params)
    return dict(zip(NAMES, backward_propagation(X, Y, Z1, A1, Z2, A2, *params), strict=True))


def test_compare_grads_agrees_with_the_tutorials_backprop(tutorial) -> None:
    X, Y, params, tensors, _ = tutorial
    report = compare_grads(_manual(X, Y, params), tensors)
    assert report.ok and report.failed_names() == []
    assert [r.name for r in report.rows] == list(NAMES)
    for r in report.rows:
        assert r.ok and r.shape_ok and r.max_abs_err < 1e-15 and r.note == ""
    text = str(report)
    assert "all agree" in text and "FAIL" not in text
    assert all(name in text for name in NAMES)


def test_compare_grads_finds_a_forgotten_one_over_m_in_db1(tutorial) -> None:
    X, Y, params, tensors, _ = tutorial
    m = X.shape[1]
    _, A1, _, A2 = forward_propagation(X, *params)
    manual = _manual(X, Y, params)
    dZ1 = (params[2].T @ (A2 - Y)) * A1 * (1 - A1)
    manual["b1"] = np.sum(dZ1, axis=1, keepdims=True)  # the mistake: no 1/m
    report = compare_grads(manual, tensors)
    assert not report.ok and report.failed_names() == ["b1"]
    row = report["b1"]
    auto = tensors["b1"].grad
    diff = np.abs(manual["b1"] - auto)
    assert row.max_abs_err == pytest.approx(diff.max(), rel=1e-12)
    assert row.max_rel_err == pytest.approx((m - 1) / m, rel=1e-9)
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    assert row.worst_index == tuple(int(i) for i in worst)
    assert row.manual == pytest.approx(manual["b1"][worst]) and row.auto == pytest.approx(
        auto[worst]
    )
    assert f"manual = {m} x auto" in row.note and "1/m" in row.note
    fail_lines = [line for line in str(report).splitlines() if "FAIL" in line]
    assert len(fail_lines) == 1 and fail_lines[0].startswith("b1")


def test_compare_grads_finds_sigmoid_used_instead_of_its_derivative(tutorial) -> None:
    X, Y, params, tensors, _ = tutorial
    m = X.shape[1]
    _, A1, _, A2 = forward_propagation(X, *params)
    dZ1 = (params[2].T @ (A2 - Y)) * A1  # the mistake: sigmoid(Z1), not its derivative
    manual = _manual(X, Y, params)
    manual["W1"] = (1 / m) * dZ1 @ X.T
    manual["b1"] = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    report = compare_grads(manual, tensors)
    assert report.failed_names() == ["W1", "b1"]
    assert report["W2"].ok and report["b2"].ok


def test_compare_grads_reports_missing_names_shapes_and_missing_grads(tutorial) -> None:
    X, Y, params, tensors, _ = tutorial
    manual = _manual(X, Y, params)
    manual["b1"] = manual["b1"].reshape(-1)  # np.sum without keepdims=True: shape (3,)
    manual["W2"] = manual["W2"].T  # transposed
    del manual["b2"]
    manual["extra"] = np.zeros(2)
    unused = mg.tensor(np.zeros(3), requires_grad=True, name="unused")
    report = compare_grads(manual, {**tensors, "unused": unused})
    assert report.failed_names() == ["b1", "W2", "extra", "b2", "unused"]
    assert report["W1"].ok
    assert report["b1"].manual_shape == (3,) and report["b1"].auto_shape == (3, 1)
    assert not report["b1"].shape_ok and "keepdims" in report["b1"].note
    assert "transpose" in report["W2"].note
    assert report["extra"].note == "missing in auto"
    assert report["b2"].note == "missing in manual"
    assert ".grad is None" in report["unused"].note and "backward()" in report["unused"].note
    text = str(report)
    assert "(3,) vs (3, 1)" in text and text.count("FAIL") == 5


def test_compare_grads_takes_arrays_from_mg_grad_and_names_a_sign_flip() -> None:
    x = np.array([1.0, -2.0, 3.0])
    auto = {"x": mg.grad(lambda t: (t**3).sum())(x)}
    assert compare_grads({"x": 3 * x**2}, auto).ok
    flipped = compare_grads({"x": -3 * x**2}, auto)
    assert not flipped.ok and "sign" in flipped["x"].note


def test_compare_grads_nan_is_a_failure_not_a_crash() -> None:
    report = compare_grads({"a": np.array([1.0, np.nan])}, {"a": np.array([1.0, 2.0])})
    assert not report.ok and np.isnan(report["a"].max_abs_err) and report["a"].worst_index == (1,)


def test_a_nan_reference_is_reported_at_its_own_element() -> None:
    # NaN on the reference side has no tolerance to compare with: it must still be the
    # element reported, not a passing one
    report = compare_grads({"w": np.array([2.0, 4.0, 6.0])}, {"w": np.array([2.0, 4.0, np.nan])})
    row = report["w"]
    assert not row.ok and row.worst_index == (2,) and row.manual == 6.0 and np.isnan(row.auto)
    # sqrt at 0: inf against the finite differences' nan
    with pytest.raises(GradcheckError) as err, np.errstate(all="ignore"):
        gradcheck(lambda x: mg.sum(mg.sqrt(x)), np.array([0.0, 1.0]))
    assert err.value.index == (0,) and err.value.reverse == np.inf
    assert "at element (0,)" in str(err.value)


def test_compare_grads_names_a_transposed_square_gradient() -> None:
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    row = compare_grads({"W": A.T}, {"W": A})["W"]
    assert not row.ok and "transpose" in row.note
    assert "transpose" not in compare_grads({"W": A + 1}, {"W": A})["W"].note


def test_compare_grads_tolerances_are_np_allclose() -> None:
    manual = {"a": np.array([1.0, 100.0])}
    auto = {"a": np.array([1.0 + 0.9e-5, 100.0])}
    assert compare_grads(manual, auto).ok == np.allclose(manual["a"], auto["a"])
    assert not compare_grads(manual, auto, rtol=1e-7, atol=0).ok


def test_compare_grads_wants_mappings() -> None:
    with pytest.raises(TypeError, match="mapping"):
        compare_grads([np.zeros(2)], {"a": np.zeros(2)})  # type: ignore[arg-type]


def test_compare_grads_reports_values_that_are_not_gradients() -> None:
    manual = {"a": None, "b": "oops", "c": np.ones(2)}
    report = compare_grads(manual, {"a": np.zeros(2), "b": np.zeros(2), "c": None})
    assert report.failed_names() == ["a", "b", "c"]
    assert report["a"].note == "manual: None instead of a gradient"
    assert report["b"].note.startswith("manual: not an array of numbers")
    assert report["c"].note == "auto: None instead of a gradient"
    assert "FAIL" in str(report)


# ---------------------------------------------------------------- options


def _graph() -> mg.Tensor:
    return (mg.tensor([1.0, 2.0], requires_grad=True) * 2).sum()


CHECKERS = {
    "gradcheck": lambda **kw: gradcheck(lambda t: (t * 2).sum(), np.array([1.0, 2.0]), **kw),
    "check_graph": lambda **kw: check_graph(_graph(), **kw),
    "compare_grads": lambda **kw: compare_grads({"a": np.ones(2)}, {"a": np.ones(2)}, **kw),
}
BAD_OPTIONS = [
    ("gradcheck", "eps", 0.0, "> 0"),
    ("gradcheck", "eps", -1e-6, "> 0"),
    ("gradcheck", "eps", np.inf, "> 0"),
    ("gradcheck", "atol", -1, ">= 0"),
    ("gradcheck", "rtol", np.nan, ">= 0"),
    ("check_graph", "eps", 0, "> 0"),
    ("check_graph", "atol", -1e-5, ">= 0"),
    ("check_graph", "rtol", -np.inf, ">= 0"),
    ("check_graph", "max_elements", 0, "positive int"),
    ("check_graph", "max_elements", -3, "positive int"),
    ("compare_grads", "atol", -1e-8, ">= 0"),
    ("compare_grads", "rtol", np.nan, ">= 0"),
]


@pytest.mark.parametrize(
    ("checker", "option", "value", "allowed"),
    BAD_OPTIONS,
    ids=[f"{c}-{o}={v}" for c, o, v, _ in BAD_OPTIONS],
)
def test_options_out_of_range_are_refused_at_the_call(checker, option, value, allowed) -> None:
    with pytest.raises(ValueError) as info:
        CHECKERS[checker](**{option: value})
    message = str(info.value)
    assert message.startswith(f"{checker}: {option}={value:g} is out of range")
    assert allowed in message
    assert option == "max_elements" or "finite" in message


def test_options_of_the_wrong_type_are_refused_and_edge_values_accepted() -> None:
    with pytest.raises(
        TypeError, match=r"check_graph: max_elements must be a positive int, got float"
    ):
        check_graph(_graph(), max_elements=1.5)
    with pytest.raises(TypeError, match=r"gradcheck: eps .* must be a finite number > 0, got str"):
        CHECKERS["gradcheck"](eps="1e-6")
    with pytest.raises(TypeError, match="compare_grads: atol"):
        CHECKERS["compare_grads"](atol=True)
    assert CHECKERS["gradcheck"](atol=0, rtol=0.01, eps=np.float32(1e-3))
    assert CHECKERS["check_graph"](max_elements=np.int64(1), atol=0).ok
    assert CHECKERS["compare_grads"](atol=0, rtol=0).ok


def test_check_graph_leaves_unchecked_what_rounding_hides_and_says_so() -> None:
    # the mean of 9e8 and 0.25: a step of 1e-6 in 0.25 moves the mean by less than its
    # rounding, so finite differences cannot tell a right VJP from a slightly wrong one
    x = mg.tensor([3e4, 0.5, -0.2, 1.0], requires_grad=True)
    report = check_graph((x**2).mean())
    assert report.ok and report.unchecked_nodes() == [2], str(report)
    assert "not checked at some elements (rounding)" in str(report)
    assert "lose the change to the outputs' rounding" in str(report.nodes[1])
    # ... but a VJP wrong by more than the rounding is still wrong
    wrong = mg.primitive(lambda a: np.mean(a))
    wrong.defvjp(lambda g, ans, a: g * np.ones_like(a))  # (forgets the 1/n)
    report = check_graph(wrong(x**2))
    assert not report.ok and report.failed_nodes() == [2]


@mg.primitive
def cube_root(x):
    return np.cbrt(x)


cube_root.defvjp(lambda g, ans, x: g / (3 * ans**2))  # inf at 0: the slope is vertical


def test_an_infinite_vjp_at_a_vertical_tangent_is_not_checked_not_wrong() -> None:
    with np.errstate(divide="ignore"):
        report = check_graph(cube_root(mg.tensor([0.0, 8.0], requires_grad=True)).sum())
    assert report.ok and report.unchecked_nodes() == [1], str(report)
    assert "the VJP is inf" in str(report.nodes[0])


def test_compare_grads_keys_may_be_any_hashable_and_sides_swapped_are_named() -> None:
    W = mg.tensor(np.ones((2, 2)), requires_grad=True, name="W")
    b = mg.tensor(np.zeros((2, 1)), requires_grad=True, name="b")
    X = np.arange(8.0).reshape(2, 4)
    (W @ X + b).sum().backward()
    assert compare_grads({0: W.grad.copy()}, {0: W}).ok  # (int keys were "missing")
    report = compare_grads({W: W.grad.copy()}, {W: W})
    assert report.ok and report.rows[0].name == "W"
    swapped = compare_grads({"W": W}, {"W": W.grad.copy()})
    assert not swapped.ok and "manual and auto swapped" in str(swapped)
    unsummed = compare_grads({"b": np.ones((2, 4))}, {"b": b})
    assert "summed over its broadcast axes (axis 1, keepdims=True) equals auto" in str(unsummed)


def test_gradcheck_takes_a_closed_over_tensor_whose_graph_was_freed_as_a_constant() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = w * 2
    y.sum().backward()  # frees y's graph; f only reads y's values
    assert gradcheck(lambda a: (a * y).sum(), np.ones(2))


@mg.primitive
def pad_with_big(x):
    return np.concatenate([2 * x, np.full(1000, 1e8)])


pad_with_big.defvjp(lambda g, ans, x: g[: x.shape[0]])  # forgets the 2


def test_outputs_that_do_not_depend_on_an_input_hide_no_wrong_vjp_as_rounding() -> None:
    x = mg.tensor([0.3, -0.7], requires_grad=True)
    report = check_graph(pad_with_big(x).sum())
    assert report.failed_nodes() == [1], str(report)


@mg.primitive
def square_inf(x):
    return x * x


square_inf.defvjp(lambda g, ans, x: g * np.full_like(x, np.inf))


def test_an_infinite_vjp_where_finite_differences_are_moderate_is_wrong() -> None:
    report = check_graph(square_inf(mg.tensor([1.0, 2.0], requires_grad=True)).sum())
    assert report.failed_nodes() == [1] and "gives inf" in str(report)


def test_defvjp_checks_a_decorated_forward_by_the_function_it_wraps() -> None:
    @mg.primitive
    @np.errstate(divide="ignore")
    def safe_log(x):
        return np.log(x)

    safe_log.defvjp(lambda g, ans, x: g / x)  # (the wrapper's own signature is *args)
    assert check_graph(safe_log(mg.tensor([1.0, 2.0], requires_grad=True)).sum()).ok


@mg.primitive
def shift_big(x):
    return x + 1e9


shift_big.defvjp(lambda g, ans, x: 0.5 * g)  # half the derivative


def test_a_wrong_vjp_of_an_op_with_large_outputs_is_wrong_not_hidden_as_rounding() -> None:
    report = check_graph(shift_big(mg.tensor([1.0, 2.0, 3.0], requires_grad=True)).sum())
    assert report.failed_nodes() == [1], str(report)


@mg.primitive
def exp_inf_at_10(x):
    return np.exp(x)


exp_inf_at_10.defvjp(lambda g, ans, x: g * np.where(x == 10, -np.inf, ans))


def test_an_inf_vjp_at_a_smooth_point_or_of_the_wrong_sign_is_wrong() -> None:
    report = check_graph(exp_inf_at_10(mg.tensor([1.0, 10.0], requires_grad=True)).sum())
    assert report.failed_nodes() == [1], str(report)
    with np.errstate(divide="ignore"):
        flipped = mg.primitive(lambda x: np.cbrt(x))
        flipped.defvjp(lambda g, ans, x: -g / (3 * ans**2))  # -inf at 0: the wrong sign
        report = check_graph(flipped(mg.tensor([0.0, 8.0], requires_grad=True)).sum())
    assert report.failed_nodes() == [1], str(report)


def test_an_op_returning_float32_from_float64_is_checked_at_float32_resolution() -> None:
    x = mg.tensor(np.linspace(1000.0, 1001.0, 5), requires_grad=True)
    assert check_graph((x.astype(np.float32) * 1.0).sum()).ok


def test_compare_grads_takes_the_tensor_mg_grad_returns_by_its_values() -> None:
    W = mg.tensor(np.ones((2, 2)), requires_grad=True, name="W")
    g = mg.grad(lambda w: (w * w).sum())(W)  # a computed Tensor (it records how)
    assert compare_grads({"W": 2 * np.ones((2, 2))}, {"W": g}).ok


# ---------------------------------------------------------------- steps that fit the function


def test_gradcheck_checks_inputs_of_very_different_sizes() -> None:
    # 1e-3 beside 1e4: moving it by eps changes f (about 1e8) by less than f's rounding
    assert gradcheck(lambda x: (x**2).sum(), mg.tensor([1e4, 1e-3], requires_grad=True))
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(20, 1)) * 1e3, rng.normal(size=(20, 1)) * 1e-2], axis=1)
    y = rng.normal(size=20) * 1e5
    w = mg.tensor(rng.normal(size=2), requires_grad=True)
    assert gradcheck(lambda w: mg.nn.functional.mse_loss(mg.tensor(X) @ w, y), w)


@mg.primitive
def _log_5_percent_off(x):
    return np.log(x)


_log_5_percent_off.defvjp(lambda g, ans, x: 1.05 * g / x)


def test_gradcheck_steps_closer_where_f_curves_within_eps() -> None:
    x = mg.tensor([5e-6, 3e-6, 2e-6], requires_grad=True)  # log's curvature over eps: 4-25 %
    assert gradcheck(lambda x: mg.log(x).sum(), x)
    with pytest.raises(GradcheckError, match="a gradient is wrong") as info:
        gradcheck(lambda x: _log_5_percent_off(x).sum(), x)
    assert info.value.reverse == pytest.approx(1.05 * 1 / x.data[info.value.index], rel=1e-12)
    # relu within eps of its kink: a smaller step stays on one side of it
    assert gradcheck(lambda z: mg.relu(z).sum(), mg.tensor([3e-7, -2e-7, 1.0], requires_grad=True))


def test_gradcheck_says_when_fs_rounding_hides_an_element_instead_of_calling_it_wrong() -> None:
    x = mg.tensor([60.0, -4.0], requires_grad=True)  # exp(-4) beside exp(60) = 1e26
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: mg.exp(x).sum(), x)
    message = str(info.value)
    assert info.value.index == (1,)
    assert "(all of them too small beside f's value for finite differences to tell" in message
    assert "No gradient was found wrong, but these elements could not be checked" in message
    assert "a gradient is wrong" not in message


def test_check_graph_tells_a_kink_from_an_op_curved_over_the_step() -> None:
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.uniform(2e-6, 1e-5, size=200), requires_grad=True)
    right, wrong = check_graph(mg.log(x).sum()), check_graph(_log_5_percent_off(x).sum())
    assert right.ok and right.nodes[0].args[0].kinks == 0
    assert wrong.failed_nodes() == [1] and wrong.nodes[0].args[0].checked == 200
    node = wrong.nodes[0].args[0]
    assert node.vjp == pytest.approx(1.05 * node.numerical, rel=1e-3)  # the derivative, found
    relu = check_graph(mg.relu(mg.tensor([0.0, 1.0, 0.0], requires_grad=True)).sum())
    assert relu.ok and relu.nodes[0].args[0].kinks == 2  # a true kink stays one


@mg.primitive
def _plus_1e9_1_percent_off(x):
    return x + 1e9


_plus_1e9_1_percent_off.defvjp(lambda g, ans, x: 1.01 * g)


def test_check_graph_does_not_take_rounding_for_a_kink() -> None:
    x = mg.tensor(np.random.default_rng(2).normal(size=3), requires_grad=True)
    node = check_graph(_plus_1e9_1_percent_off(x).sum()).nodes[0]
    assert node.status == "not checked" and node.args[0].kinks == 0
    assert "lose the change to the outputs' rounding" in node.args[0].why_unchecked


def test_check_graph_of_an_empty_argument_has_nothing_wrong() -> None:
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    report = check_graph((x * 2).sum() + (x[np.zeros(3, dtype=bool)] ** 2).sum())
    assert report.ok and report.failed_nodes() == []
    assert all("error" not in str(node) for node in report)


def test_check_graph_max_elements_none_checks_every_element() -> None:
    x = mg.tensor(np.random.default_rng(3).normal(size=50), requires_grad=True)
    assert check_graph((x * 2.0).sum(), max_elements=None).nodes[0].args[0].checked == 50
    assert check_graph((x * 2.0).sum(), max_elements=10).nodes[0].args[0].checked == 10


def test_compare_grads_asks_for_retain_grad_for_a_computed_tensor() -> None:
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(2, 5)), (rng.random((1, 5)) > 0.5).astype(float)
    W = mg.tensor(rng.normal(size=(1, 2)), requires_grad=True)
    Z = W @ X
    binary_cross_entropy_with_logits(Z, Y).backward(retain_graph=True)
    dZ = (1 / (1 + np.exp(-Z.data)) - Y) / 5  # right
    row = compare_grads({"Z": dZ}, {"Z": Z})["Z"]
    assert not row.ok and "call Z.retain_grad() before backward()" in row.note
    Z = W @ X
    Z.retain_grad()
    binary_cross_entropy_with_logits(Z, Y).backward()
    assert compare_grads({"Z": dZ}, {"Z": Z}).ok
