"""The Tensor type: construction and dtypes, attributes, conversions, indexing, repr."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import assert_close

import microgradnp as mg


@pytest.mark.parametrize(
    ("data", "dtype", "shape"),
    [
        (3, np.float64, ()),
        (2.5, np.float64, ()),
        (True, np.float64, ()),
        ([1, 2, 3], np.float64, (3,)),
        ([[1.0, 2.0], [3.0, 4.0]], np.float64, (2, 2)),
        (np.arange(3, dtype=np.float32), np.float32, (3,)),
        (np.ones((2, 2)), np.float64, (2, 2)),
        (np.arange(3), np.int64, (3,)),
        (np.array([True, False]), np.bool_, (2,)),
        (np.float32(1.5), np.float32, ()),
    ],
)
def test_construction_and_dtypes(data, dtype, shape) -> None:
    t = mg.tensor(data)
    assert isinstance(t.data, np.ndarray)
    assert t.dtype == dtype and t.shape == shape
    assert isinstance(mg.Tensor(data), mg.Tensor) and mg.Tensor(data).dtype == dtype


def test_dtype_argument_and_copy_semantics() -> None:
    source = np.ones(3)
    t = mg.tensor(source)
    source[0] = 5.0
    assert t.data[0] == 1.0  # a copy
    assert mg.tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert mg.tensor(mg.tensor([1.0])).data is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("abc", "strings"),
        (["a", "b"], "strings"),
        ([object()], "Python objects"),
        (None, "Python objects"),
        ({"a": 1}, "Python objects"),
        ([[1, 2], [3]], "ragged"),
        ([1 + 2j], "complex"),
        (2**70, "integers too large for int64"),
    ],
)
def test_bad_data_is_a_type_error_that_says_why(data, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        mg.tensor(data)


def test_grad_can_be_assigned_only_a_gradient_of_the_tensors_shape_and_dtype() -> None:
    w = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(2, 3\) .* tensor of shape \(3,\)"):
        w.grad = np.zeros((2, 3))  # would have been broadcast into by backward
    with pytest.raises(TypeError, match=r"dtype int64 .* dtype float64.*astype"):
        w.grad = np.zeros(3, dtype=np.int64)
    with pytest.raises(TypeError, match="not list"):
        w.grad = [0.0, 0.0, 0.0]
    w.grad = mg.tensor([1.0, 1.0, 1.0])  # a Tensor gives its array
    assert type(w.grad) is np.ndarray
    (w * 2).sum().backward()  # accumulates into the assigned gradient
    assert_close(w.grad, [3.0, 3.0, 3.0])
    w.grad = None
    assert w.grad is None
    w.grad = (w * 3).detach()  # a computed (read-only) array: copied, as backward adds into it
    (w * w).sum().backward()
    assert_close(w.grad, [5.0, 10.0, 15.0])
    w.grad = None
    s = mg.tensor(1.0, requires_grad=True)
    s.grad = np.float64(0.5)  # a NumPy scalar for a 0-d tensor
    assert s.grad.shape == ()


def test_data_can_be_assigned_an_array_of_numbers_of_a_dtype_that_can_have_gradients() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    w.data = np.array([3.0, 4.0, 5.0])  # (the shape may change, as in PyTorch)
    (w * w).sum().backward()
    assert_close(w.grad, [6.0, 8.0, 10.0])
    w.data = 2.5  # a number becomes a 0-d array
    assert w.shape == () and w.item() == 2.5
    with pytest.raises(TypeError, match="requires grad, so its data must be floating-point"):
        w.data = np.array([1, 2])  # (int data: its gradient would be silently truncated)
    with pytest.raises(TypeError, match="data: assign an array of real numbers, not str"):
        w.data = "abc"
    c = mg.tensor([1.0])
    c.data = np.array([1, 2])  # a constant may hold integers
    assert c.dtype == np.int64


def test_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="name"):
        mg.tensor(1.0, name=3)
    t = mg.tensor(1.0)
    with pytest.raises(TypeError, match="name must be a string, got int"):
        t.name = 3  # assigned later, too
    t.name = "w"
    assert t.name == "w"


def test_attributes() -> None:
    t = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="W")
    assert (t.shape, t.ndim, t.size, t.dtype, t.name) == ((2, 3), 2, 6, np.float64, "W")
    assert t.requires_grad and t.is_leaf and t.op is None and t.grad is None
    assert t.T.shape == (3, 2) and t.T.op == "transpose"
    assert_close(t.T.data, t.data.T)
    assert (t * 2).op == "mul" and not (t * 2).is_leaf


def test_conversions() -> None:
    t = mg.tensor([[1.5]])
    assert t.item() == 1.5 and isinstance(t.item(), float)
    assert float(t) == 1.5 and int(mg.tensor(2.7)) == 2
    assert t.numpy() is t.data
    assert t.tolist() == [[1.5]]
    assert np.asarray(t) is t.data
    np.testing.assert_allclose(mg.tensor([1.0, 2.0]), [1.0, 2.0])
    assert f"{mg.tensor(0.123456):.3f}" == "0.123"
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        mg.tensor([1.0, 2.0]).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(mg.tensor([1.0, 2.0]))
    assert bool(mg.tensor([1.0])) and not bool(mg.tensor(0.0))


def test_numpys_copy_keyword_is_honoured() -> None:
    t = mg.tensor([1.0, 2.0])
    assert np.asarray(t) is t.data
    assert np.array(t, copy=False) is t.data
    assert np.array(t, copy=True) is not t.data
    with pytest.raises(ValueError, match="copy"):  # float64 -> float32 needs one
        np.array(t, dtype=np.float32, copy=False)
    assert np.array(t, dtype=np.float32).dtype == np.float32


def test_a_number_format_needs_one_element() -> None:
    assert f"{mg.tensor(1.5):.2f}" == "1.50"
    assert f"{mg.tensor([1.0, 2.0])}" == str(mg.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"'.2f'\) needs a one-element tensor.*shape \(2,\)"):
        f"{mg.tensor([1.0, 2.0]):.2f}"


def test_power_in_place_under_no_grad_updates_the_tensor() -> None:
    p = mg.tensor([2.0, 3.0], requires_grad=True)
    alias = p
    with mg.no_grad():
        p **= 2
    assert p is alias  # updated, not rebound to a new tensor
    assert_close(p.data, [4.0, 9.0])
    with pytest.raises(RuntimeError, match=r"x = x \*\* y"):
        p **= 2  # on a leaf that requires grad, outside no_grad


def test_requires_grad_and_retain_grad_follow_pytorch_on_computed_tensors() -> None:
    x = mg.tensor([1.0], requires_grad=True)
    y = x * 2
    assert y.requires_grad_(True) is y  # already so: nothing to change
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).retain_grad()


def test_item_assignment_errors_name_the_tensor() -> None:
    t = mg.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"item assignment into a tensor of shape \(2,\)"):
        t[:] = np.ones(4)
    with pytest.raises(ValueError, match="dtype float64: could not convert"):
        t[0] = "a"


def test_detach_shares_data_without_history() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    d = (w * 2).detach()
    assert d.is_leaf and not d.requires_grad
    assert_close(d.data, [2.0, 4.0])
    assert w.detach().data is w.data


def test_len_iteration_and_hashing() -> None:
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert len(x) == 2
    rows = list(x)
    assert [r.shape for r in rows] == [(2,), (2,)]
    (rows[0] * 1 + rows[1] * 10).sum().backward()
    assert_close(x.grad, [[1.0, 1.0], [10.0, 10.0]])
    with pytest.raises(TypeError):
        len(mg.tensor(1.0))
    assert len({x, rows[0], x}) == 2  # hashable by identity


def test_indexing_with_repeated_indices_accumulates() -> None:
    x = mg.tensor([10.0, 20.0, 30.0], requires_grad=True)
    y = x[[0, 0, 2, 0]]
    assert_close(y.data, [10.0, 10.0, 30.0, 10.0])
    y.sum().backward()
    assert_close(x.grad, [3.0, 0.0, 1.0])


def test_indexing_with_masks_and_tensor_indices() -> None:
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    mask = x.data > 2
    assert_close(x[mask].data, [3.0, 4.0, 5.0])
    x[mask].sum().backward()
    assert_close(x.grad, mask.astype(float))
    idx = mg.tensor(np.array([2, 0]))
    assert_close(x[0, idx].data, [2.0, 0.0])
    assert_close(x[mg.tensor(np.array([True, False]))].data, [[0.0, 1.0, 2.0]])


def test_repr_shows_values_and_what_matters() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    assert repr(w) == "Tensor([1., 2.], requires_grad=True, name='w')"
    assert repr(w * 2) == "Tensor([2., 4.], op=mul)"
    assert repr(mg.tensor(np.ones(2, np.float32))) == "Tensor([1., 1.], dtype=float32)"
    assert "..." in repr(mg.tensor(np.zeros(5000)))  # long arrays are summarized
    assert str(w) == repr(w)


def test_the_signatures_issue_2_gives_work_positionally_too() -> None:
    # mg.Tensor(data, requires_grad=False, name=None); .backward(grad=None, retain_graph=False)
    w = mg.Tensor([1.0, 2.0], True, "w")
    assert w.requires_grad and w.name == "w"
    assert mg.tensor([1.0], False, "c").name == "c"
    loss = (w * w).sum()
    loss.backward(None, True)  # retains the graph: a second backward works
    loss.backward()
    assert_close(w.grad, [4.0, 8.0])


def test_yes_no_settings_take_bools_only_and_a_dtype_in_second_place_is_named() -> None:
    with pytest.raises(TypeError, match=r"requires_grad must be True or False.*dtype=\.\.\."):
        mg.tensor([1.0, 2.0], np.float32)  # (NumPy's np.array(x, np.float32) habit)
    with pytest.raises(TypeError, match="requires_grad must be True or False, got 'no'"):
        mg.tensor([1.0], requires_grad="no")
    t = mg.tensor([1.0], requires_grad=np.bool_(True))
    with pytest.raises(TypeError, match="requires_grad must be True or False"):
        t.requires_grad = 0
    loss = (t * 2).sum()
    with pytest.raises(TypeError, match="retain_graph must be True or False"):
        loss.backward(None, "no")
    with pytest.raises(TypeError, match="got bool"):
        loss.backward(True)  # (as PyTorch: a bool is no gradient)
    assert "view" not in dir(t) and "reshape" in dir(t)  # (hint names: not offered)


def test_objects_numpy_converts_keep_their_dtype_as_arrays_do() -> None:
    class Array32:  # (what PyTorch's tensors and other array libraries offer NumPy)
        def __array__(self, dtype=None, copy=None):
            return np.ones(2, dtype=np.float32)

    assert mg.tensor(Array32()).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.float64  # Python lists: float64, as before


def test_numpys_reductions_take_the_tensors_own_and_pytorchs_keepdim_habit_is_named() -> None:
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = np.sum(x, axis=0)  # NumPy calls x.sum(axis=0, out=None): a Tensor, graph and all
    assert isinstance(y, mg.Tensor) and y.requires_grad and y.data.tolist() == [4.0, 6.0]
    assert np.mean(x, dtype=np.float32).dtype == np.float32
    for call in (lambda: x.sum(0, True), lambda: x.max(0, True)):
        with pytest.raises(TypeError, match=r"keepdims is a keyword: x\.(sum|max)\(axis"):
            call()
    with pytest.raises(TypeError, match="sum: out= is not supported"):
        np.sum(x, out=np.empty(()))


# ---------------------------------------------------------------- NumPy's ufuncs on tensors


def _central_difference(f, x0: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f(x).sum() / dx by central differences, all in NumPy (the reference)."""
    grad = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        up, down = x0.copy(), x0.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up).sum() - f(down).sum()) / (2 * h)
    return grad


UFUNC_RNG = np.random.default_rng(7)
X0 = UFUNC_RNG.uniform(0.5, 2.0, (3, 4))
A0 = UFUNC_RNG.uniform(0.5, 2.0, (3, 4))
WEIGHTS = UFUNC_RNG.normal(size=(3, 4))  # so that each element's gradient differs


@pytest.mark.parametrize(
    ("ufunc", "op"),
    [
        (np.exp, "exp"),
        (np.log, "log"),
        (np.sqrt, "sqrt"),
        (np.tanh, "tanh"),
        (np.absolute, "abs"),
        (np.negative, "neg"),
    ],
)
def test_a_numpy_ufunc_on_a_tensor_is_recorded_as_the_op(ufunc, op) -> None:
    x = mg.tensor(X0, requires_grad=True)
    y = ufunc(x)
    assert isinstance(y, mg.Tensor) and y.op == op
    assert_close(y.data, ufunc(X0), rtol=1e-15)
    (y * WEIGHTS).sum().backward()
    assert_close(x.grad, _central_difference(lambda v: ufunc(v) * WEIGHTS, X0), rtol=1e-6)


@pytest.mark.parametrize(
    ("ufunc", "op"),
    [
        (np.add, "add"),
        (np.subtract, "sub"),
        (np.multiply, "mul"),
        (np.divide, "div"),
        (np.power, "pow"),
        (np.maximum, "maximum"),
        (np.minimum, "minimum"),
    ],
)
@pytest.mark.parametrize("tensor_side", ["left", "right", "both"])
def test_a_binary_numpy_ufunc_with_a_tensor_on_either_side_is_recorded(
    ufunc, op, tensor_side
) -> None:
    a = mg.tensor(A0, requires_grad=True) if tensor_side != "right" else A0
    x = mg.tensor(X0, requires_grad=True) if tensor_side != "left" else X0
    y = ufunc(a, x)
    assert isinstance(y, mg.Tensor) and y.op == op
    assert_close(y.data, ufunc(A0, X0), rtol=1e-15)
    (y * WEIGHTS).sum().backward()
    if isinstance(a, mg.Tensor):
        assert_close(a.grad, _central_difference(lambda v: ufunc(v, X0) * WEIGHTS, A0), rtol=1e-6)
    if isinstance(x, mg.Tensor):
        assert_close(x.grad, _central_difference(lambda v: ufunc(A0, v) * WEIGHTS, X0), rtol=1e-6)


def test_operators_with_an_array_on_the_left_go_through_the_ufuncs_and_are_recorded() -> None:
    x = mg.tensor(X0, requires_grad=True)
    m = UFUNC_RNG.normal(size=(2, 3))
    y = m @ x  # NumPy's matmul ufunc, given the tensor
    assert isinstance(y, mg.Tensor) and y.op == "matmul"
    y.sum().backward()
    assert_close(x.grad, _central_difference(lambda v: m @ v, X0), rtol=1e-6)
    for result in (A0 < x, A0 == x, A0 >= x, np.sign(x)):  # noqa: SIM300 (array on the left)
        assert isinstance(result, mg.Tensor) and not result.requires_grad
    assert np.array_equal((A0 < x).data, A0 < X0)  # noqa: SIM300


def test_other_ufuncs_answer_on_the_values_where_no_gradient_is_lost() -> None:
    c = mg.tensor(X0)  # requires no grad: nothing to lose
    assert isinstance(np.sin(c), np.ndarray) and np.array_equal(np.sin(c), np.sin(X0))
    mask = mg.tensor(X0, requires_grad=True) > 1.0
    assert np.array_equal(np.ones((3, 4), bool) & mask, X0 > 1.0)  # booleans
    with pytest.raises(TypeError, match=r"np\.sin got a Tensor that requires grad"):
        np.sin(mg.tensor(X0, requires_grad=True))


def test_ufunc_settings_given_at_their_defaults_change_nothing() -> None:
    x = mg.tensor(X0, requires_grad=True)
    y = np.add(x, 1.0, dtype=None)
    assert isinstance(y, mg.Tensor) and y.op == "add"


def test_np_dot_with_a_python_number_promotes_as_numpy_does() -> None:
    x32 = mg.tensor(np.array([0.5, 2.0], np.float32), requires_grad=True)
    for result, expected in [
        (np.dot(x32, 2.0), np.dot(x32.data, 2.0)),
        (np.dot(2.0, x32), np.dot(2.0, x32.data)),
    ]:
        assert result.dtype == expected.dtype == np.float64
        assert np.array_equal(result.data, expected)


def test_boolean_ufuncs_give_numpys_answer_on_the_values() -> None:
    x = mg.tensor([1.0, np.nan, np.inf], requires_grad=True)
    assert isinstance(np.isnan(x), np.ndarray)
    assert np.isnan(x).tolist() == [False, True, False]
    assert np.isfinite(x).tolist() == [True, False, False]
    assert not np.all(x > 0) and np.any(x > 0)  # NaN > 0 is False
    assert bool(np.isfinite(mg.tensor(2.0, requires_grad=True).sum()))


def test_numpy_ufuncs_inside_mg_grad_record_their_ops_to_every_order() -> None:
    x0 = 0.3
    d1 = mg.grad(lambda x: np.tanh(x))(x0)
    d2 = mg.grad(mg.grad(lambda x: np.tanh(x)))(x0)
    t = np.tanh(x0)
    assert_close(d1, 1 - t**2, rtol=1e-12)
    assert_close(d2, -2 * t * (1 - t**2), rtol=1e-12)


def test_a_vjp_written_with_numpy_ufuncs_that_are_ops_differentiates_again() -> None:
    @mg.primitive
    def softplus(x):
        return np.logaddexp(0.0, x)

    @softplus.defvjp
    def softplus_vjp(g, ans, x):
        return g / (1 + np.exp(-x))  # np.exp of a Tensor at second order: recorded

    s = 1 / (1 + np.exp(-0.3))
    assert_close(mg.grad(softplus)(0.3), s, rtol=1e-12)
    assert_close(mg.grad(mg.grad(softplus))(0.3), s * (1 - s), rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "op"),
    [
        (lambda x: np.where(x > 1.2, x * x, 3 * x), "where"),
        (lambda x: np.clip(x, 0.8, 1.5), "clip"),
        (lambda x: np.clip(x, None, 1.5), "clip"),
        (lambda x: np.clip(x, min=0.8, max=1.5), "clip"),
        (lambda x: np.concatenate([x, x[:1] * 2], axis=0), "concatenate"),
        (lambda x: np.concatenate([x, A0], axis=None, casting="same_kind"), "concatenate"),
        (lambda x: np.stack([x, A0 * x], axis=1, casting="same_kind"), "stack"),
        (lambda x: np.transpose(x, (1, 0)), "transpose"),
        (lambda x: np.transpose(a=x), "transpose"),
        (lambda x: np.reshape(x, (4, 3)), "reshape"),
        (lambda x: np.broadcast_to(x, (2, 3, 4)), "broadcast_to"),
        (lambda x: np.dot(x, A0.T), "matmul"),
        (lambda x: np.dot(x[0], x[1]), "matmul"),
        (lambda x: np.dot(x, 2.5), "mul"),
        (lambda x: np.ravel(x), "reshape"),
        (lambda x: np.squeeze(x[None, :, None, :], axis=(0, 2)), "reshape"),
        (lambda x: np.expand_dims(x, (0, -1)), "reshape"),
        (lambda x: np.swapaxes(x[None], -1, 0), "transpose"),
        (lambda x: np.vstack([x, x[0] * 2, A0[:1]]), "concatenate"),
        (lambda x: np.hstack([x, A0 * x]), "concatenate"),
        (lambda x: np.hstack([x[0], x[1, :2], 3.0]), "concatenate"),
    ],
)
def test_numpy_functions_that_are_ops_record_them(call, op) -> None:
    x = mg.tensor(X0, requires_grad=True)
    y = call(x)
    assert isinstance(y, mg.Tensor) and y.op == op
    assert np.array_equal(y.data, call(X0))
    weights = UFUNC_RNG.normal(size=y.shape)
    (y * weights).sum().backward()
    assert_close(x.grad, _central_difference(lambda v: call(v) * weights, X0), rtol=1e-6)


def test_numpy_functions_keep_numpys_meaning_or_say_what_they_lack() -> None:
    x = mg.tensor([[0.0, 2.0], [3.0, 0.0]], requires_grad=True)
    rows, cols = np.where(x)  # one argument: np.nonzero's indices, as in NumPy
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    assert np.argmax(x) == 2 and np.allclose(x, x.data)  # others see the values
    with pytest.raises(TypeError, match=r"np.concatenate with out= got a Tensor"):
        np.concatenate([x, x], out=np.zeros((4, 2)))
    with pytest.raises(TypeError, match=r"np.reshape with order= got a Tensor"):
        np.reshape(x, (4,), order="F")
    with pytest.raises(TypeError, match=r"np.dot of a 3-d and a 2-d array.*a @ b"):
        np.dot(mg.tensor(np.ones((2, 2, 2))), x)


def test_boolean_reductions_reduce_every_axis_as_numpy_does() -> None:
    x = mg.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], requires_grad=True)
    assert np.all(x > -1) and not np.all(x > 0) and np.any(x > 4)  # (not per column)
    assert np.all(x > 0, axis=0).tolist() == [False, True, True]
    assert np.prod(mg.tensor(x.data + 1)) == 720.0  # requires no grad: NumPy's, on the values


def test_numpy_settings_that_are_tensors_or_targets_are_handled() -> None:
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert np.sum(np.ones(3), where=(x > 1)) == 2.0  # a mask tensor: its values (was endless)
    with pytest.raises(TypeError, match=r"np\.exp with out= a Tensor: NumPy cannot write into"):
        np.exp(np.ones(3), out=(mg.tensor(np.zeros(3)),))
    y = np.add(x, 1.0, casting="same_kind", where=True)  # NumPy's defaults, given
    assert isinstance(y, mg.Tensor) and y.op == "add"
    with pytest.raises(TypeError, match=r"np\.exp with dtype= .* \(and x\.astype"):
        np.exp(x, dtype=np.float32)
    with pytest.raises(TypeError, match=r"np\.add\.outer got a Tensor that requires grad"):
        np.add.outer(x, x)


def test_numpy_functions_defer_to_other_array_libraries_and_to_numpy_errors() -> None:
    class Theirs:
        def __array_function__(self, func, types, args, kwargs):
            return "theirs"

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert np.concatenate([x, Theirs()]) == "theirs"
    with pytest.raises(TypeError, match=r"no implementation found for 'numpy\.zeros'"):
        np.zeros(2, like=x)  # (not an AttributeError from inside microgradnp)
    with pytest.raises(ValueError, match="either both or neither of x and y"):
        np.where(x > 1, x)
    with pytest.raises(ValueError, match="a bound given twice"):
        np.clip(x, 1.0, 4.0, min=2.0)
    with pytest.raises(np.exceptions.AxisError):
        np.swapaxes(x, 0, 5)


def test_a_numpy_function_that_cuts_a_gradient_warns_and_says_what_to_write() -> None:
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    with pytest.warns(
        mg.GraphCutWarning, match=r"np\.linalg\.norm .*mg\.sqrt\(\(x \* x\)\.sum\(\)\)"
    ) as seen:
        loss = (w * 2).sum() + np.linalg.norm(w)  # the norm's gradient is lost
    assert seen[0].filename == __file__  # (the user's line)
    loss.backward()
    assert_close(w.grad, [2.0, 2.0])  # as the warning said
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these warn:
        np.allclose(w, [3.0, 4.0]), np.argmax(w), np.shape(w)  # (no gradient to lose)
        np.linalg.norm(w.data), np.linalg.norm(mg.tensor([1.0]))  # (values; a constant)
        with mg.no_grad():
            np.linalg.norm(w)
        np.testing.assert_allclose(w, [3.0, 4.0])


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize(
    "settings", [{}, {"axis": 1}, {"axis": 0, "keepdims": True}, {"axis": -1, "ddof": 1}]
)
def test_var_and_std_are_numpys_and_np_var_records_them(name, settings) -> None:
    x = mg.tensor(X0, requires_grad=True)
    y = getattr(np, name)(x, **settings)  # (np.var calls x.var)
    assert isinstance(y, mg.Tensor) and y.requires_grad
    assert_close(y.data, getattr(np, name)(X0, **settings), rtol=1e-12)
    weights = UFUNC_RNG.normal(size=y.shape)
    (y * weights).sum().backward()
    reference = _central_difference(lambda v: getattr(np, name)(v, **settings) * weights, X0)
    assert_close(x.grad, reference, rtol=1e-6)


def test_shape_only_and_nested_numpy_functions_do_not_warn_twice_or_wrongly() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = w * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y.backward(np.ones_like(y))  # PyTorch's y.backward(torch.ones_like(y)), ported
        np.zeros_like(w), np.full_like(w, 2.0), np.empty_like(w)  # (values never read)
    with pytest.warns(mg.GraphCutWarning) as seen:
        np.cov(mg.tensor(np.ones((2, 3)), requires_grad=True))  # (np.cov calls np.average)
    assert [(w.category, w.filename) for w in seen] == [(mg.GraphCutWarning, __file__)]
    assert str(seen[0].message).startswith("np.cov got a Tensor")


def test_std_has_gradient_zero_where_it_is_zero_and_ddof_past_n_gives_inf() -> None:
    X = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]])  # the first feature is constant
    w = mg.tensor(np.ones(2), requires_grad=True)
    (X * w).std(axis=0).sum().backward()  # PyTorch: 0 where the std is 0 (not NaN)
    assert_close(w.grad, [0.0, np.std(X[:, 1])], rtol=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = mg.tensor(np.arange(8.0).reshape(2, 4)).var(axis=0, ddof=3).data
        assert np.array_equal(got, np.var(np.arange(8.0).reshape(2, 4), axis=0, ddof=3))
    with pytest.raises(TypeError, match="std: out= is not supported"):
        mg.tensor([1.0, 2.0]).std(out=np.zeros(1))
