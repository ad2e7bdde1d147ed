"""mg.grad and mg.value_and_grad: JAX semantics, nesting, and what they leave alone."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close, numerical_grads
from op_table import OP_CASES, OpCase

import microgradnp as mg


def test_grad_of_a_scalar_function_returns_an_array() -> None:
    df = mg.grad(lambda x: x**3 + 2 * x)
    g = df(2.0)
    assert isinstance(g, np.ndarray) and g.shape == ()
    assert_close(g, 3 * 4 + 2)


def test_grad_has_the_shape_of_the_argument() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    g = mg.grad(lambda x: mg.sum(mg.exp(x)))(x)
    assert isinstance(g, np.ndarray) and g.shape == (2, 2)
    assert_close(g, np.exp(x))


def test_argnums_and_value_and_grad() -> None:
    def f(a, b, c):
        return mg.sum(a * b) + c

    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    ga, gb = mg.grad(f, argnums=(0, 1))(a, b, 5.0)
    assert_close(ga, b)
    assert_close(gb, a)
    assert_close(mg.grad(f, argnums=2)(a, b, 5.0), 1.0)
    assert_close(mg.grad(f, argnums=-1)(a, b, 5.0), 1.0)
    assert_close(mg.grad(f, argnums=np.int64(1))(a, b, 5.0), a)  # NumPy integers too
    assert_close(mg.grad(f, argnums=[np.int32(0)])(a, b, 5.0)[0], b)

    value, g = mg.value_and_grad(f)(a, b, 5.0)
    assert isinstance(value, np.ndarray)
    assert_close(value, 11.0 + 5.0)
    assert_close(g, b)


def test_has_aux_returns_the_auxiliary_output() -> None:
    def f(x):
        y = mg.sum(x**2)
        return y, {"norm": float(np.sqrt(y.item()))}

    g, aux = mg.grad(f, has_aux=True)(np.array([3.0, 4.0]))
    assert_close(g, [6.0, 8.0])
    assert aux == {"norm": 5.0}
    (value, aux), g = mg.value_and_grad(f, has_aux=True)(np.array([3.0, 4.0]))
    assert_close(value, 25.0)


def test_grad_leaves_the_grad_of_other_tensors_alone() -> None:
    W = mg.tensor([[1.0, 2.0]], requires_grad=True)
    W.grad = np.array([[10.0, 10.0]])
    b = mg.tensor([0.5], requires_grad=True)

    g = mg.grad(lambda x: mg.sum(mg.tanh(W @ x + b)))(np.array([1.0, -1.0]))
    assert isinstance(g, np.ndarray)
    assert_close(W.grad, [[10.0, 10.0]])
    assert b.grad is None
    assert_close(g, (1 - np.tanh(-0.5) ** 2) * W.data[0])


@pytest.mark.parametrize("argnums", [(0, 0), (1, -1), (-2, 0)])
def test_argnums_naming_an_argument_twice_is_an_error(argnums: tuple[int, int]) -> None:
    # (one argument cannot be two targets: the gradient of the first copy would be lost)
    f = mg.grad(lambda a, b: mg.sum(a * b * b), argnums=argnums)
    with pytest.raises(ValueError, match=r"argnums=\(.*\) names the same argument more than once"):
        f(np.ones(2), np.array([2.0, 3.0]))


def test_grad_leaves_retained_intermediates_alone_and_nests() -> None:
    kept = []

    def f(x):
        h = x * 3.0
        h.retain_grad()
        kept.append(h)
        return mg.sum(h * h)

    assert_close(mg.grad(f)(np.array([1.0])), [18.0])
    assert kept[-1].grad is None  # mg.grad touches no .grad, retained or not
    assert_close(mg.grad(lambda x: mg.sum(mg.grad(f)(x)))(np.array([1.0])), [18.0])
    value, g = mg.value_and_grad(f)(np.array([2.0]))
    assert_close(value, 36.0)
    assert_close(g, [36.0])  # d/dx (3x)^2 = 18x
    assert kept[-1].grad is None


def test_grad_leaves_the_callers_array_writeable_even_with_graph_outputs_kept() -> None:
    X = np.array([1.0, 2.0])
    g, aux = mg.grad(lambda x: (mg.sum(x * x), x * 3.0), has_aux=True)(X)
    X[0] = 5.0  # aux is still alive (its graph saved a copy of X's values)
    assert_close(g, [2.0, 4.0])
    assert type(aux) is np.ndarray and aux.tolist() == [3.0, 6.0]


def test_grad_of_a_constant_function_is_zero() -> None:
    g = mg.grad(lambda x: 3.0)(np.array([1.0, 2.0]))
    assert_close(g, [0.0, 0.0])
    g = mg.grad(lambda x, y: mg.sum(y * 2), argnums=0)(np.ones(3), np.ones(2))
    assert_close(g, np.zeros(3))


def test_grad_works_under_no_grad_like_a_transform() -> None:
    with mg.no_grad():
        assert_close(mg.grad(lambda x: x * x)(3.0), 6.0)


def test_grad_of_a_non_scalar_function_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"must return a scalar.*\(3,\)"):
        mg.grad(lambda x: x * 2)(np.ones(3))


def test_grad_needs_floating_point_arguments_and_valid_argnums() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        mg.grad(lambda x: mg.sum(x * 1.0))(np.array([1, 2]))
    with pytest.raises(ValueError, match="argument 2"):
        mg.grad(lambda x: x, argnums=2)(1.0)
    with pytest.raises(TypeError, match="argnums"):
        mg.grad(lambda x: x, argnums="0")


def test_python_ints_are_differentiable_like_floats() -> None:
    assert_close(mg.grad(lambda x: x**2)(3), 6.0)
    assert_close(mg.grad(lambda x: mg.sum(x**2))([1, 2]), [2.0, 4.0])


def test_second_and_third_derivatives_by_nesting() -> None:
    f = lambda x: mg.tanh(x) * x**3  # noqa: E731
    d1, d2, d3 = mg.grad(f), mg.grad(mg.grad(f)), mg.grad(mg.grad(mg.grad(f)))
    x0, eps = 0.7, 1e-5
    for lower, higher in [(d1, d2), (d2, d3)]:
        # central differences: truncation about eps**2 / 6 of the next derivative, ~1e-10
        # relative here; rounding, an ulp of the lower derivative over 2 eps, ~1e-11
        fd = (lower(x0 + eps) - lower(x0 - eps)) / (2 * eps)
        assert_close(higher(x0), fd, rtol=1e-8)
    t = np.tanh(x0)
    assert_close(d1(x0), (1 - t**2) * x0**3 + 3 * x0**2 * t, rtol=1e-12)


def test_nesting_with_a_closure_over_the_outer_variable() -> None:
    # d/dx [x * d/dy (x y)] = d/dx x^2 = 2x
    f = lambda x: x * mg.grad(lambda y: x * y)(2.0)  # noqa: E731
    assert_close(mg.grad(f)(3.0), 6.0)


def test_an_argument_is_apart_from_the_same_value_used_elsewhere() -> None:
    # (JAX and HIPS autograd give these; differentiating the shared object gave 2, [2, 4]
    # and (12, 12))
    # d/dx [x * d/dy (x + y)] = d/dx x = 1: the inner y is not the outer x, though equal
    assert_close(mg.grad(lambda x: x * mg.grad(lambda y: x + y)(x))(2.0), 1.0)
    # a tensor f closes over is a constant, even when it is also the argument
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    assert_close(mg.grad(lambda x: (w * x).sum())(w).data, [1.0, 2.0])
    # one tensor passed as two arguments: d(a b^2)/da = b^2, d/db = 2ab
    t = mg.tensor(2.0, requires_grad=True)
    da, db = mg.grad(lambda a, b: a * b**2, argnums=(0, 1))(t, t)
    assert_close(da.data, 4.0)
    assert_close(db.data, 8.0)
    (da + db).backward()  # d/dt (t^2 + 2 t^2) = 6 t
    assert_close(t.grad, 12.0)


def test_a_closed_over_tensor_whose_graph_backward_freed_is_a_constant() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = w * 2
    y.sum().backward()  # frees y's graph
    assert_close(mg.grad(lambda a: (a * y).sum())(np.ones(2)), [2.0, 4.0])

    def uses_up_its_own_graph(x: mg.Tensor) -> mg.Tensor:
        loss = (x * x).sum()
        loss.backward()  # frees a graph that depends on x: that one cannot be a constant
        return loss

    with pytest.raises(RuntimeError, match=r"grad: .* freed by a backward\(\) run inside"):
        mg.grad(uses_up_its_own_graph)(np.ones(2))


def test_grad_of_a_tensor_that_requires_grad_is_differentiable() -> None:
    # A gradient penalty: backprop through the gradient itself.
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    g = mg.grad(lambda x: mg.sum(x**3))(x)
    assert isinstance(g, mg.Tensor) and g.requires_grad
    assert_close(g.data, 3 * x.data**2)
    mg.sum(g).backward()
    assert_close(x.grad, 6 * x.data)


def test_hessian_vector_product_of_a_vector_function() -> None:
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    f = lambda x: 0.5 * mg.sum(x * (A @ x)) + mg.sum(mg.exp(x))  # noqa: E731
    v = np.array([1.0, -2.0])
    x0 = np.array([0.3, -0.1])
    hvp = mg.grad(lambda x: mg.sum(mg.grad(f)(x) * v))(x0)
    assert_close(hvp, A @ v + np.exp(x0) * v, rtol=1e-12)


def _along_a_line(case: OpCase):
    """The op as a scalar function of s: inputs move along fixed directions, output weighted."""
    arrays = case.inputs()
    rng = np.random.default_rng(5)
    directions = [rng.normal(size=a.shape) * 0.1 for a in arrays]
    weights = rng.normal(size=np.shape(case.ref(np, *arrays)))

    def scalar(s):
        moved = [a + s * d for a, d in zip(arrays, directions, strict=True)]
        return mg.sum(case.fn(*moved) * weights)

    def reference(s):
        moved = [a + s * d for a, d in zip(arrays, directions, strict=True)]
        return float(np.sum(case.ref(np, *moved) * weights))

    return scalar, reference


@pytest.mark.parametrize("case", OP_CASES, ids=[c.id for c in OP_CASES])
def test_second_derivative_of_every_op_by_nested_grad(case: OpCase) -> None:
    scalar, reference = _along_a_line(case)
    first, second = mg.grad(scalar), mg.grad(mg.grad(scalar))
    s0, eps = 0.0, 1e-5
    # the first derivative against finite differences of the NumPy reference ...
    (fd_first,) = numerical_grads(lambda s: reference(float(s)), [np.array(s0)])
    assert_close(first(s0), fd_first, rtol=1e-5, atol=1e-7)
    # ... and the second against finite differences of the first (first derivatives up to 2,
    # step 1e-5: rounding errors of about 1e-11, which atol covers where the second is 0)
    fd_second = (first(s0 + eps) - first(s0 - eps)) / (2 * eps)
    assert_close(second(s0), fd_second, rtol=1e-5, atol=1e-9)


def test_grad_of_a_parameter_leaves_it_free_to_update() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    gw = mg.grad(lambda x: (x**3).sum())(w)  # a Tensor: it records how it depends on w
    w.data -= 0.1 * gw.data  # the caller's array is not locked by the transform
    with mg.no_grad():
        w -= 0.1
    gw.sum().backward()  # and the recorded gradient keeps the values it was made from
    assert_close(w.grad, [6.0, 12.0])


# ---------------------------------------------------------------- what JAX users rely on


def test_a_tensor_argument_outside_argnums_keeps_the_result_connected_to_it() -> None:
    W = mg.tensor([1.0, 2.0], requires_grad=True)
    x = np.array([3.0, 4.0])
    penalty = mg.grad(lambda x, W: mg.sum(W * x * x), 0)(x, W)  # = W * 2x, a function of W
    assert isinstance(penalty, mg.Tensor)
    (mg.sum(W) + mg.sum(penalty**2)).backward()
    assert_close(W.grad, 1 + 8 * W.data * x**2, rtol=1e-15)  # [73, 257]


def test_numpy_functions_on_a_differentiated_tensor_are_refused_not_silently_zero() -> None:
    x = np.array([1.0, 2.0])
    for f in (lambda x: np.vdot(x, x), lambda x: mg.sum(np.outer(x, x)), np.linalg.norm):
        with pytest.raises(TypeError, match=r"grad: a NumPy function .* silently be 0"):
            mg.grad(f)(x)
    # NumPy's reductions call the tensor's own methods, and its functions that are ops
    # (np.dot, np.clip, np.where, ...) run them: they record
    assert_close(mg.grad(lambda x: np.sum(x * x) + np.mean(x) + np.max(x))(x), [2.5, 5.5])
    assert_close(mg.grad(lambda x: np.dot(x, x) + mg.sum(np.clip(x, 0, 1.5)))(x), [3.0, 4.0])
    # outside a transform, and for constants, NumPy still takes tensors (with a warning
    # where one that requires grad loses its gradient)
    with pytest.warns(mg.GraphCutWarning, match=r"np\.vdot .* \(\(a \* b\)\.sum\(\)\)"):
        assert np.vdot(mg.tensor([1.0, 2.0], requires_grad=True), x) == 5.0
    assert_close(mg.grad(lambda x: mg.sum(x * np.asarray(mg.tensor([3.0]))))(x), [3.0, 3.0])


def test_a_vjp_converting_to_python_numbers_cannot_be_differentiated_again() -> None:
    @mg.primitive
    def cube(x):
        return x**3

    cube.defvjp(lambda g, ans, x: g * 3 * float(x) ** 2)
    assert_close(mg.grad(cube)(2.0), 12.0)  # first order: arrays, fine
    with pytest.raises(TypeError, match="cube: its VJP uses NumPy functions"):
        mg.grad(mg.grad(cube))(2.0)  # was 0.0: float() cut the graph


def test_gradients_are_separate_writeable_arrays() -> None:
    dx, dy = mg.grad(lambda a, b: mg.sum(a + b), argnums=(0, 1))(np.ones(2), np.ones(2))
    assert dx is not dy
    dx *= 10
    assert_close(dy, [1.0, 1.0])
    g = mg.grad(lambda x: mg.sum(x))(np.ones(10_000))  # (sum's VJP broadcasts g)
    g[0] = 5.0
    assert g.flags.owndata and g.sum() == 10_004.0


def test_aux_comes_back_as_arrays_and_locks_nothing() -> None:
    W = mg.tensor([1.0, 2.0], requires_grad=True)
    x = np.array([3.0, 4.0])
    (_, aux), _ = mg.value_and_grad(
        lambda x: (mg.sum(W * x), {"pred": W * x, "both": (W * 2, 1)}), has_aux=True
    )(x)
    assert type(aux["pred"]) is np.ndarray and aux["pred"].tolist() == [3.0, 8.0]
    assert type(aux["both"][0]) is np.ndarray and aux["both"][1] == 1
    W.data[0] = 5.0  # the aux graph is gone: W is writeable


def test_arguments_that_are_no_arrays_get_a_clear_error() -> None:
    f = mg.grad(lambda d: 0.0)
    with pytest.raises(TypeError, match="grad: argument 0 is a dict, not an array of numbers"):
        f({"w": np.ones(2)})
    with pytest.raises(TypeError, match="grad: argument 0 is a list, not an array of numbers"):
        f([np.ones(2), np.ones(3)])  # ragged: a JAX pytree, not an array


def test_the_transformed_function_does_not_carry_a_primitives_attributes() -> None:
    df = mg.grad(mg.tanh)
    assert df.__name__ == "tanh" and not hasattr(df, "vjp") and not hasattr(df, "fun")


def test_numpy_may_take_a_closed_over_parameter_and_mg_tensor_may_copy_an_argument() -> None:
    W = mg.tensor([3.0, 4.0], requires_grad=True)  # a constant for f (README)
    x = np.array([1.0, 2.0])
    with pytest.warns(mg.GraphCutWarning):  # (W requires grad: its own gradient is cut)
        g = mg.grad(lambda x: mg.sum(x * np.linalg.norm(W)) + mg.sum(mg.tensor(x) * x))(x)
    assert_close(g, 5.0 + x, rtol=1e-15)  # mg.tensor(x) copies the values: a constant


def test_item_in_a_recorded_vjp_is_refused_and_numpy_under_no_grad_in_f_is_allowed() -> None:
    @mg.primitive
    def square(x):
        return x * x

    square.defvjp(lambda g, ans, x: g * 2 * x.item())
    with pytest.raises(TypeError, match="square: its VJP uses NumPy functions"):
        mg.grad(mg.grad(square))(3.0)

    def f(x):
        with mg.no_grad():
            scale = np.linalg.norm(x)  # a constant, on purpose
        return mg.sum(x * scale)

    assert_close(mg.grad(f)(np.array([3.0, 4.0])), [5.0, 5.0])
