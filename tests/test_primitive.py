"""Users' own ops with mg.primitive + defvjp, the mechanism the built-in ops use too."""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest
from conftest import assert_close, numerical_grads

import microgradnp as mg
from microgradnp import ops


def test_every_built_in_op_is_a_primitive() -> None:
    names = [
        "matmul add sub mul div neg pow exp log sigmoid tanh relu sqrt abs sum mean max min",
        "maximum minimum where clip reshape transpose softmax log_softmax logsumexp getitem",
        "broadcast_to astype sum_to scatter_add",
    ]
    for name in " ".join(names).split():
        op = getattr(ops, name)
        assert isinstance(op, mg.Primitive), name
        assert op.vjp is not None or op.vjps is not None, name
    assert isinstance(ops._concatenate, mg.Primitive) and ops._concatenate.name == "concatenate"
    assert isinstance(ops._stack, mg.Primitive)


def test_a_unary_op_with_one_vjp() -> None:
    @mg.primitive
    def cube(x):
        """x cubed."""
        return x**3

    @cube.defvjp
    def cube_vjp(g, ans, x):
        return 3 * x**2 * g

    assert cube.__doc__ == "x cubed." and cube.name == "cube"
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = cube(x)
    assert y.op == "cube"
    y.sum().backward()
    assert_close(x.grad, [3.0, 12.0])
    assert_close(mg.grad(mg.grad(lambda s: cube(s)))(2.0), 12.0)  # VJP written with operators


def test_a_binary_op_with_one_vjp_returning_a_tuple_and_settings() -> None:
    @mg.primitive
    def weighted(a, b, *, alpha=1.0):
        return alpha * a * b

    weighted.defvjp(lambda g, ans, a, b, *, alpha=1.0: (alpha * g * b, alpha * g * a))
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 5.0], requires_grad=True)
    weighted(a, b, alpha=2.0).sum().backward()
    assert_close(a.grad, [6.0, 10.0])
    assert_close(b.grad, [2.0, 4.0])


def test_one_vjp_per_argument_and_a_non_differentiable_argument() -> None:
    @mg.primitive
    def shift(x, offset):
        return x + offset

    shift.defvjp(lambda g, ans, x, offset: g, None)
    x = mg.tensor([1.0], requires_grad=True)
    offset = mg.tensor([2.0], requires_grad=True)
    shift(x, offset).sum().backward()
    assert_close(x.grad, [1.0])
    assert offset.grad is None  # declared not differentiable


def test_a_user_vjp_with_the_wrong_number_of_gradients_is_an_error() -> None:
    @mg.primitive
    def f(a, b):
        return a * b

    f.defvjp(lambda g, ans, a, b: (g, g, g))
    with pytest.raises(TypeError, match="3 gradients for 2 positional arguments"):
        f(mg.tensor(1.0, requires_grad=True), 2.0).backward()


def test_a_single_gradient_is_the_first_arguments_and_never_silently_another_ones() -> None:
    @mg.primitive
    def f(x, y):
        return x * y

    f.defvjp(lambda g, ans, x, y: g * y)  # forgets y's gradient
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    f(x, np.array([3.0, 4.0])).sum().backward()  # only x requires grad: fine
    assert_close(x.grad, [3.0, 4.0])
    y = mg.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"f: argument 1 requires grad.*tuple"):
        f(x, y).sum().backward()
    with pytest.raises(NotImplementedError, match="argument 1"):
        mg.grad(lambda y: mg.sum(f(np.ones(2), y)))(np.ones(2))


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (None, r"returned None \(does the function forget to `return`"),
        (np.array(["a"]), "returned ndarray of dtype <U1"),
        (np.array([1j]), "returned ndarray of dtype complex128"),
        (np.array([object()]), "returned ndarray of dtype object"),
    ],
)
def test_a_forward_that_returns_no_numbers_is_an_error_naming_the_op(result, message) -> None:
    @mg.primitive
    def broken(x):
        return result

    with pytest.raises(TypeError, match="broken: its function " + message):
        broken(mg.tensor([1.0], requires_grad=True))
    with pytest.raises(TypeError, match="real numbers"):
        broken(np.ones(1))  # (also without a graph)


def test_a_partial_function_becomes_a_primitive_named_after_its_function() -> None:
    twice = mg.primitive(functools.partial(np.multiply, 2.0))
    assert twice.name == "multiply"
    assert_close(twice(mg.tensor([1.0, 3.0])).data, [2.0, 6.0])


def test_missing_vjps_fail_at_backward_with_a_fix() -> None:
    @mg.primitive
    def nograd(x):
        return x * 2

    out = nograd(mg.tensor(1.0, requires_grad=True))  # forward is fine
    with pytest.raises(NotImplementedError, match=r"nograd.defvjp"):
        out.backward()

    @mg.primitive
    def half(a, b):
        return a * b

    half.defvjp(lambda g, ans, a, b: g * b, None)
    half.vjps = half.vjps[:1]  # only argument 0
    with pytest.raises(NotImplementedError, match="argument 1"):
        half(1.0, mg.tensor(2.0, requires_grad=True)).backward()


def test_defvjp_rejects_non_functions() -> None:
    @mg.primitive
    def f(x):
        return x

    with pytest.raises(TypeError, match="defvjp"):
        f.defvjp()
    with pytest.raises(TypeError, match="defvjp"):
        f.defvjp(3)


def test_a_numpy_vjp_works_once_and_says_why_it_cannot_nest() -> None:
    @mg.primitive
    def sine(x):
        return np.sin(x)

    sine.defvjp(lambda g, ans, x: g * np.cos(x))
    assert_close(mg.grad(lambda x: sine(x))(0.5), np.cos(0.5))
    with pytest.raises(TypeError, match="microgradnp functions"):
        mg.grad(mg.grad(lambda x: sine(x)))(0.5)


def test_a_vjp_built_from_microgradnp_functions_nests() -> None:
    @mg.primitive
    def softplus(x):
        return np.logaddexp(0.0, x)

    softplus.defvjp(lambda g, ans, x: g * mg.sigmoid(x))
    x0 = 0.3
    s = 1 / (1 + np.exp(-x0))
    assert_close(mg.grad(lambda x: softplus(x))(x0), s)
    assert_close(mg.grad(mg.grad(lambda x: softplus(x)))(x0), s * (1 - s))


def test_non_differentiable_primitives_record_no_history() -> None:
    @mg.primitive(differentiable=False)
    def step(x):
        return (x > 0).astype(float)

    x = mg.tensor([-1.0, 2.0], requires_grad=True)
    y = step(x)
    assert not y.requires_grad and y.is_leaf
    assert_close(y.data, [0.0, 1.0])


def test_tensors_passed_as_settings_are_refused() -> None:
    @mg.primitive
    def scale(x, *, by=1.0):
        return x * by

    with pytest.raises(TypeError, match="setting by="):
        scale(1.0, by=mg.tensor(2.0))


def test_forward_errors_name_the_user_op() -> None:
    @mg.primitive
    def pairwise(a, b):
        return a + b

    with pytest.raises(ValueError, match=r"pairwise: shapes \(2,\) and \(3,\)"):
        pairwise(np.ones(2), np.ones(3))


def test_a_user_op_matches_finite_differences_in_a_network() -> None:
    @mg.primitive
    def swish(x):
        return x / (1 + np.exp(-x))

    @swish.defvjp
    def swish_vjp(g, ans, x):
        s = mg.sigmoid(x)
        return g * (s + x * s * (1 - s))

    W = np.random.default_rng(0).normal(size=(3, 2))
    X = np.random.default_rng(1).normal(size=(2, 5))
    Wt = mg.tensor(W, requires_grad=True)
    swish(Wt @ X).sum().backward()
    (expected,) = numerical_grads(lambda w: float(np.sum((w @ X) / (1 + np.exp(-(w @ X))))), [W])
    assert_close(Wt.grad, expected, rtol=1e-6)


def test_defvjp_accepts_every_vjp_that_can_be_called_as_documented() -> None:
    def with_ans_dropped(vjp):  # a decorator adapting the call: its own signature counts
        @functools.wraps(vjp)
        def adapted(g, ans, *args, **settings):
            return vjp(g, *args, **settings)

        return adapted

    @mg.primitive
    def cube(x):
        return x**3

    cube.defvjp(with_ans_dropped(lambda g, x: 3 * x**2 * g))
    assert mg.grad(cube)(2.0) == 12.0

    @mg.primitive
    def scale(x, s=1.0):
        return x * s

    scale.defvjp(lambda g, ans, x, s: g * s, None)  # needs s, which callers pass
    assert mg.grad(lambda x: scale(x, 3.0))(2.0) == 3.0
    scale.defvjp(functools.partial(lambda k, g, ans, x, s=1.0: k * g * s, 1.0), None)
    assert mg.grad(lambda x: scale(x, 3.0))(2.0) == 3.0


def test_mg_grad_names_the_node_standing_for_a_named_argument() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    g = mg.grad(lambda x: (x**2).sum())(w)
    assert "identity → w" in mg.format_graph(g)


def test_a_vjp_that_cannot_take_a_call_s_settings_is_named_at_backward() -> None:
    @mg.primitive
    def scale(x, *, k=1.0):
        return x * k

    scale.defvjp(lambda g, ans, x: g * 2)  # (fine while k is not given)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    scale(x).sum().backward()
    with pytest.raises(TypeError, match=r"scale: its VJP cannot take this call's arguments"):
        scale(x, k=2.0).sum().backward()

    @mg.primitive
    def broken(x):
        return x * 1.0

    broken.defvjp(lambda g, ans, x: g + "a")  # a TypeError from inside the VJP: its own
    with pytest.raises(TypeError, match=r"unsupported operand|ufunc") as err:
        broken(x).sum().backward()
    assert "cannot take this call" not in str(err.value)


def test_a_type_error_inside_a_wrapped_vjp_that_takes_the_call_stays_its_own() -> None:
    def drop_settings(vjp):  # a wrapper whose own signature takes the call
        @functools.wraps(vjp)
        def wrapper(g, ans, *args, **settings):
            return vjp(g, ans, *args)

        return wrapper

    @mg.primitive
    def scaled(x, *, k=1.0):
        return x * k

    scaled.defvjp(drop_settings(lambda g, ans, x: g * len(3)))  # a bug in the VJP's body
    with pytest.raises(TypeError, match="has no len") as err:
        scaled(mg.tensor([1.0], requires_grad=True), k=2.0).sum().backward()
    assert "cannot take this call" not in str(err.value)


def test_an_input_given_by_keyword_is_an_input_not_a_setting() -> None:
    x = mg.tensor([0.5, 2.0, -1.0], requires_grad=True)
    hi = mg.tensor(1.0, requires_grad=True)
    y = mg.clip(x, max=hi)  # clip(x, min=None, max=None): min and max are inputs
    y.sum().backward()
    assert y.data.tolist() == [0.5, 1.0, -1.0]
    assert x.grad.tolist() == [1.0, 0.0, 1.0] and hi.grad == 1.0

    @mg.primitive
    def scaled(x, *, by=2.0):  # `by` is keyword-only: a setting
        return x * by

    with pytest.raises(TypeError, match="scaled: got a Tensor for the setting by="):
        scaled(x, by=mg.tensor(3.0))


def test_built_in_ops_on_things_that_are_not_numbers_say_so() -> None:
    with pytest.raises(TypeError, match=r"reshape: its inputs must be real numbers .* got str"):
        mg.reshape("abc", -1)
    with pytest.raises(TypeError, match=r"where: its inputs must be real numbers .*NoneType"):
        mg.where(np.array([True]), None, 1.0)
    with pytest.raises(TypeError, match=r"relu on int: .* integers beyond int64"):
        mg.relu(2**70)


def test_primitive_settings_are_bools_and_help_shows_a_tensor_result() -> None:
    with pytest.raises(TypeError, match="primitive: differentiable must be True or False"):
        mg.primitive(np.sin, differentiable="no")
    with pytest.raises(TypeError, match="primitive: saves_inputs must be True or False"):
        mg.primitive(saves_inputs=1)(np.sin)
    assert inspect.signature(mg.exp).return_annotation == "Tensor"


def test_a_keyword_tensor_moves_to_its_position_only_for_an_input_with_a_vjp() -> None:
    @mg.primitive
    def scale(x, factor=2.0):
        return x * factor

    scale.defvjp(lambda g, ans, x, factor=2.0: g * factor, None)  # factor: no gradient
    t = mg.tensor(3.0, requires_grad=True)
    with pytest.raises(TypeError, match="scale: got a Tensor for the setting factor="):
        scale(mg.tensor([1.0], requires_grad=True), factor=t)
    x = mg.tensor([0.5, 2.0], requires_grad=True)
    y = mg.clip(x, max=t)  # min, before it, takes its default; nothing else is added
    assert y.op == "clip" and len(y._node.args) == 3 and y._node.args[1] is None
    assert not y._node.kwargs


def test_keyword_inputs_constant_tensors_positional_only_and_repeated_arguments() -> None:
    x = mg.tensor([0.5, 2.0], requires_grad=True)
    y = mg.clip(x, max=mg.tensor(1.0))  # clip has a VJP for max: an input, even constant
    assert y.data.tolist() == [0.5, 1.0]

    @mg.primitive
    def shift(x, by, /):
        return x + by

    shift.defvjp(lambda g, ans, x, by: g, lambda g, ans, x, by: g)
    with pytest.raises(TypeError, match="shift: got a Tensor for the setting by="):
        shift(x, by=mg.tensor(1.0, requires_grad=True))  # positional-only, as Python says
    with pytest.raises(TypeError, match="clip: got multiple values for argument 'min'"):
        mg.clip(x, 0.0, min=mg.tensor(1.0))
