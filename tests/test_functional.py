"""Loss functions in mg.nn.functional: values against their formulas, gradients against
finite differences, stability where the sigmoid saturates, and bad input refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import assert_close, numerical_grads

import microgradnp as mg
from microgradnp.nn import functional as F

_rng = np.random.default_rng(0)  # (the module's data, drawn once at import)
Z = _rng.normal(size=(1, 50)) * 3
Y = (_rng.random((1, 50)) < 0.5).astype(float)
P = 1 / (1 + np.exp(-Z))


def naive_bce(p, y):
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_binary_cross_entropy_value_and_gradient() -> None:
    p = mg.tensor(P, requires_grad=True)
    loss = F.binary_cross_entropy(p, Y)
    assert_close(loss.item(), naive_bce(P, Y), rtol=1e-12)
    loss.backward()
    (expected,) = numerical_grads(lambda q: naive_bce(q, Y), [P])
    assert_close(p.grad, expected, rtol=1e-5)


def test_binary_cross_entropy_is_finite_at_zero_and_one_like_pytorch() -> None:
    p = mg.tensor([[0.0, 1.0, 0.0]], requires_grad=True)
    loss = F.binary_cross_entropy(p, np.array([[1.0, 0.0, 0.0]]))
    assert_close(loss.item(), 200.0 / 3)  # logs clamped at -100
    loss.backward()
    # (p - y) / max(p (1 - p), 1e-12) over the 3 elements, PyTorch's clamp of the denominator
    assert_close(p.grad, [[-1e12 / 3, 1e12 / 3, 0.0]], rtol=1e-12)


def test_binary_cross_entropy_refuses_values_outside_zero_one() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\].*with_logits"):
        F.binary_cross_entropy(mg.tensor([[0.5, 1.5]]), np.array([[1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"\[0, 1\], got nan"):  # (as PyTorch refuses NaN)
        F.binary_cross_entropy(mg.tensor([[0.5, np.nan]]), np.array([[1.0, 0.0]]))


def test_bce_with_logits_equals_the_naive_formula_and_its_gradient_is_s_minus_y() -> None:
    z = mg.tensor(Z, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, Y)
    assert_close(loss.item(), naive_bce(P, Y), rtol=1e-12)
    loss.backward()
    assert_close(z.grad, (P - Y) / Z.size, rtol=1e-14, atol=0)


def test_bce_with_logits_is_exact_where_the_sigmoid_saturates() -> None:
    z = mg.tensor([[1000.0, -1000.0, 40.0, -40.0]], requires_grad=True)
    y = np.array([[0.0, 1.0, 1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        loss.sum().backward()
    assert_close(loss.data[0, :2], [1000.0, 1000.0])
    assert_close(loss.data[0, 2:], [np.log1p(np.exp(-40.0))] * 2, rtol=1e-12, atol=0)
    tail = np.exp(-40.0) / (1 + np.exp(-40.0))  # 1 - sigmoid(40) = sigmoid(-40), exactly
    # (sigmoid(z) - y: right to an ulp of 1, the size of its terms)
    assert_close(z.grad, [[1.0, -1.0, -tail, tail]], rtol=0, atol=np.finfo(float).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_keeps_the_small_loss_of_a_confident_right_prediction(dtype) -> None:
    # log(1 + e^-|z|) for y = 1, z > 0 (and y = 0, z < 0): no digit lost to cancellation
    z = np.array([10.0, 15.0, 30.0, -10.0, -15.0, -30.0], dtype)
    y = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0], dtype)
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    assert loss.dtype == dtype
    exact = np.log1p(np.exp(-np.abs(z.astype(np.float64))))
    assert_close(loss.data, exact, rtol=4 * np.finfo(dtype).eps, atol=0)


def test_bce_takes_targets_and_predictions_as_lists_like_the_ops() -> None:
    p = mg.tensor([0.2, 0.7], requires_grad=True)
    loss = F.binary_cross_entropy(p, [0.0, 1.0])
    assert_close(loss.item(), naive_bce(np.array([0.2, 0.7]), np.array([0.0, 1.0])), rtol=1e-12)
    loss.backward()
    assert_close(p.grad, [1 / (2 * 0.8), -1 / (2 * 0.7)], rtol=1e-12)
    z = [0.2, -0.7]
    loss = F.binary_cross_entropy_with_logits(z, [0, 1])
    assert_close(loss.item(), naive_bce(1 / (1 + np.exp(-np.array(z))), np.array([0, 1])))
    p32 = mg.tensor(np.array([0.2, 0.7], np.float32), requires_grad=True)
    assert F.binary_cross_entropy(p32, [0, 1]).dtype == np.float32  # the target follows p
    assert F.binary_cross_entropy_with_logits(p32, [0, 1]).dtype == np.float32


def test_bce_backward_at_zero_and_one_is_silent_for_the_target_too() -> None:
    p = mg.tensor([0.0, 1.0, 0.5], requires_grad=True)
    y = mg.tensor([0.0, 1.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "divide by zero encountered in log"
        F.binary_cross_entropy(p, y).backward()
    assert_close(p.grad, [0.0, 0.0, -2.0 / 3], rtol=1e-12)
    # d/dy = (log(1 - p) - log(p)) / 3 with each log clamped at -100
    assert_close(y.grad, [100.0 / 3, -100.0 / 3, 0.0], rtol=1e-12)


def test_bce_with_logits_second_derivative_is_s_times_one_minus_s() -> None:
    y = np.array(1.0)
    d2 = mg.grad(mg.grad(lambda z: F.binary_cross_entropy_with_logits(z, y)))
    s = 1 / (1 + np.exp(-0.7))
    assert_close(d2(0.7), s * (1 - s), rtol=1e-12)


def test_gradient_with_respect_to_the_targets() -> None:
    z = mg.tensor(Z)
    y = mg.tensor(np.full(Z.shape, 0.3), requires_grad=True)
    F.binary_cross_entropy_with_logits(z, y).backward()
    assert_close(y.grad, -Z / Z.size, rtol=1e-12)
    p = mg.tensor(P)
    y.zero_grad()
    F.binary_cross_entropy(p, y).backward()
    (expected,) = numerical_grads(lambda t: naive_bce(P, t), [y.data])
    assert_close(y.grad, expected, rtol=1e-5)


def test_mse_loss_and_reductions() -> None:
    a = mg.tensor([1.0, 2.0, 4.0], requires_grad=True)
    b = np.array([1.0, 0.0, 1.0])
    assert_close(F.mse_loss(a, b).item(), 13.0 / 3)
    assert_close(F.mse_loss(a, b, reduction="sum").item(), 13.0)
    assert_close(F.mse_loss(a, b, reduction="none").data, [0.0, 4.0, 9.0])
    F.mse_loss(a, b).backward()
    assert_close(a.grad, 2 * (a.data - b) / 3)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(a, b, reduction="avg")


@pytest.mark.parametrize(
    "loss", [F.mse_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits]
)
def test_losses_refuse_mismatched_shapes_instead_of_broadcasting(loss) -> None:
    with pytest.raises(ValueError, match=r"\(400, 1\).*\(400,\).*Reshape"):
        loss(mg.tensor(np.full((400, 1), 0.5)), np.zeros(400))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_every_reduction_and_soft_labels_against_finite_differences(
    reduction: str,
) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    soft = rng.dirichlet(np.ones(3), size=5)
    weights = rng.normal(size=5)  # (a projection of the per-example losses for "none")
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]

    def reference(x: np.ndarray, targets: np.ndarray) -> np.ndarray:
        log_p = x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))
        if targets.ndim == 1:
            return reduce(-log_p[np.arange(5), targets])
        return reduce(-np.sum(targets * log_p, axis=1))

    for targets in (labels, soft):
        t = mg.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(t, targets, reduction=reduction)
        assert_close(loss.data, reference(logits, targets), rtol=1e-12)
        projected = loss * weights if reduction == "none" else loss
        projected.sum().backward()
        (expected,) = numerical_grads(
            lambda x, tg=targets: float(
                np.sum(reference(x, tg) * (weights if reduction == "none" else 1.0))
            ),
            [logits],
        )
        assert_close(t.grad, expected, rtol=1e-5, atol=1e-10)


def test_cross_entropy_with_integer_labels() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 4))
    labels = np.array([0, 3, 1, 1, 2, 3])

    def reference(x):
        log_p = x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))
        return -np.mean(log_p[np.arange(6), labels])

    t = mg.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(t, labels)
    assert_close(loss.item(), reference(logits), rtol=1e-12)
    loss.backward()
    (expected,) = numerical_grads(reference, [logits])
    assert_close(t.grad, expected, rtol=1e-5)


def test_cross_entropy_with_probabilities_and_a_single_example() -> None:
    logits = np.array([[2.0, 0.5, -1.0]])
    probs = np.array([[0.2, 0.5, 0.3]])
    log_p = logits - np.log(np.sum(np.exp(logits)))
    assert_close(F.cross_entropy(logits, probs).item(), -np.sum(probs * log_p), rtol=1e-12)
    assert_close(F.cross_entropy(logits[0], np.int64(1)).item(), -log_p[0, 1], rtol=1e-12)


def test_cross_entropy_refuses_bad_labels() -> None:
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        F.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\)"):
        F.cross_entropy(logits, np.array([[0, 1]]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_every_reduction_against_finite_differences(reduction: str) -> None:
    # soft targets that require grad too: both VJPs, and the reduction inside the op
    rng = np.random.default_rng(2)  # (its own: the inputs do not depend on the tests run)
    z0, y0 = rng.normal(size=(2, 5)) * 3, rng.random((2, 5))
    weights = rng.normal(size=(2, 5))

    def reference(z, y):
        per_element = np.log1p(np.exp(z)) - z * y
        if reduction == "none":
            return np.sum(weights * per_element)  # a scalar of the unreduced losses
        return np.mean(per_element) if reduction == "mean" else np.sum(per_element)

    z, y = mg.tensor(z0, requires_grad=True), mg.tensor(y0, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    assert out.shape == ((2, 5) if reduction == "none" else ())
    total = mg.sum(out * weights) if reduction == "none" else out
    assert_close(total.item(), reference(z0, y0), rtol=1e-12)
    total.backward()
    dz, dy = numerical_grads(reference, [z0, y0])
    assert_close(z.grad, dz, rtol=1e-6, atol=1e-9)
    assert_close(y.grad, dy, rtol=1e-6, atol=1e-9)


def test_bce_with_logits_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    z0, y0 = rng.normal(size=(3, 4)) * 5, rng.random((3, 4))
    for reduction in ("mean", "sum", "none"):
        z, y = mg.tensor(z0, requires_grad=True), mg.tensor(y0, requires_grad=True)
        zt = torch.tensor(z0, requires_grad=True)
        yt = torch.tensor(y0, requires_grad=True)
        out = F.binary_cross_entropy_with_logits(z, y, reduction=reduction)
        ref = torch.nn.functional.binary_cross_entropy_with_logits(zt, yt, reduction=reduction)
        assert_close(out.data, ref.detach().numpy(), rtol=1e-12)
        mg.sum(out).backward()
        ref.sum().backward()
        assert_close(z.grad, zt.grad.numpy(), rtol=1e-12)
        assert_close(y.grad, yt.grad.numpy(), rtol=1e-12)


def test_every_loss_keeps_a_float32_prediction_float32_given_list_targets() -> None:
    p = mg.tensor(np.array([[0.2, 0.8], [0.6, 0.4]], np.float32), requires_grad=True)
    targets = [[0.0, 1.0], [1.0, 0.0]]
    for loss in (
        F.mse_loss(p, targets),
        F.binary_cross_entropy(p, targets),
        F.binary_cross_entropy_with_logits(p, targets),
        F.cross_entropy(p, targets),  # (probabilities as targets)
    ):
        assert loss.dtype == np.float32
