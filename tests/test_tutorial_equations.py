"""The tutorial's hand-derived backprop (shared/seed, docs/tutorial-source.md) against autodiff.

The four functions below are written out as the tutorial gives them. Autodiff of the same
network must reproduce their gradients: with the loss written naively from `log` and
`sigmoid`, and with `binary_cross_entropy_with_logits`.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

import microgradnp as mg
from microgradnp.nn.functional import binary_cross_entropy_with_logits

# These tests build the naive loss on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::microgradnp.ops.StabilityWarning")


# ---------------------------------------------------------------- the tutorial, verbatim
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(z):
    return sigmoid(z) * (1 - sigmoid(z))


def initialize_parameters(input_size, hidden_size, output_size):
    W1 = np.random.randn(hidden_size, input_size)
    b1 = np.random.randn(hidden_size, 1)
    W2 = np.random.randn(output_size, hidden_size)
    b2 = np.random.randn(output_size, 1)

    return W1, b1, W2, b2


def forward_propagation(X, W1, b1, W2, b2):
    Z1 = np.dot(W1, X) + b1
    A1 = sigmoid(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = sigmoid(Z2)

    return Z1, A1, Z2, A2


def backward_propagation(X, Y, Z1, A1, Z2, A2, W1, b1, W2, b2):
    m = X.shape[1]

    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * sigmoid_derivative(Z1)
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)

    return dW1, db1, dW2, db2


def update_parameters(W1, b1, W2, b2, dW1, db1, dW2, db2, learning_rate):
    W1 = W1 - learning_rate * dW1
    b1 = b1 - learning_rate * db1
    W2 = W2 - learning_rate * dW2
    b2 = b2 - learning_rate * db2

    return W1, b1, W2, b2


# ---------------------------------------------------------------- the same, as expressions
NAMES = ("W1", "b1", "W2", "b2")


def tensors_of(params):
    return [mg.tensor(p, requires_grad=True, name=n) for p, n in zip(params, NAMES, strict=True)]


def network_loss(X, Y, W1, b1, W2, b2, *, fused: bool):
    """The tutorial's network and mean BCE as expressions: (Z2, loss)."""
    m = X.shape[1]
    Z2 = W2 @ mg.sigmoid(W1 @ X + b1) + b2
    if fused:
        return Z2, binary_cross_entropy_with_logits(Z2, Y)
    A2 = mg.sigmoid(Z2)
    return Z2, -(1 / m) * mg.sum(Y * mg.log(A2) + (1 - Y) * mg.log(1 - A2))


def autodiff_gradients(X, Y, params, *, fused: bool):
    """Gradients of the mean BCE by backward(), Z2 (with its retained grad) and the loss."""
    tensors = tensors_of(params)
    Z2, loss = network_loss(X, Y, *tensors, fused=fused)
    Z2.retain_grad()
    loss.backward()
    return [t.grad for t in tensors], Z2, loss


@pytest.fixture
def data():
    """The tutorial's setting: X (2, m) one column per example, Y (1, m); seeded parameters."""
    state = np.random.get_state()
    np.random.seed(2)  # with weights x40 this network saturates (see below)
    params = initialize_parameters(2, 3, 1)
    np.random.set_state(state)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2, 400))
    Y = (X[0:1] ** 2 + X[1:2] ** 2 < 1.2).astype(float)
    return X, Y, params


def hand_gradients(X, Y, params):
    Z1, A1, Z2, A2 = forward_propagation(X, *params)
    return backward_propagation(X, Y, Z1, A1, Z2, A2, *params)


def test_sigmoid_derivative_is_s_times_one_minus_s() -> None:
    z = mg.tensor(np.linspace(-6, 6, 25), requires_grad=True)
    mg.sigmoid(z).sum().backward()
    assert_close(z.grad, sigmoid_derivative(z.data), rtol=1e-12)


def test_naive_loss_gradients_equal_the_tutorials_backprop(data) -> None:
    X, Y, params = data
    auto, Z2, _ = autodiff_gradients(X, Y, params, fused=False)
    # Here 0.4 < A2 < 0.9: the naive loss's logs lose no more than a few bits, and the
    # gradients agree to rounding (seen: 2 ulps), as the fused loss's do.
    for name, a, h in zip(NAMES, auto, hand_gradients(X, Y, params), strict=True):
        assert a.shape == h.shape, name
        assert_close(a, h, rtol=1e-12, atol=0)
    # dZ2 = A2 - Y is the gradient of the summed loss: m times that of the mean.
    A2 = forward_propagation(X, *params)[3]
    assert_close(Z2.grad * X.shape[1], A2 - Y, rtol=1e-12, atol=0)


def test_fused_loss_gradients_equal_the_tutorials_backprop(data) -> None:
    X, Y, params = data
    auto, Z2, _ = autodiff_gradients(X, Y, params, fused=True)
    for a, h in zip(auto, hand_gradients(X, Y, params), strict=True):
        assert_close(a, h, rtol=1e-12, atol=1e-16)
    A2 = forward_propagation(X, *params)[3]
    assert_close(Z2.grad, (A2 - Y) / X.shape[1], rtol=1e-14, atol=0)


def test_both_losses_have_the_tutorials_value(data) -> None:
    X, Y, params = data
    A2 = forward_propagation(X, *params)[3]
    m = X.shape[1]
    expected = np.sum(-Y * np.log(A2) - (1 - Y) * np.log(1 - A2)) / m
    for fused in (False, True):
        _, _, loss = autodiff_gradients(X, Y, params, fused=fused)
        assert_close(loss.item(), expected, rtol=1e-12)


def test_saturated_network_naive_graph_breaks_fused_loss_matches_hand_formula(data) -> None:
    X, Y, params = data
    big = tuple(40 * p for p in params)  # the sigmoids saturate: A2 is exactly 0 or 1 somewhere
    A2 = forward_propagation(X, *big)[3]
    assert np.any(A2 == 1.0) or np.any(A2 == 0.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        naive, _, naive_loss = autodiff_gradients(X, Y, big, fused=False)
    assert not np.isfinite(naive_loss.item()) or not all(np.all(np.isfinite(g)) for g in naive)

    fused, _, fused_loss = autodiff_gradients(X, Y, big, fused=True)
    assert np.isfinite(fused_loss.item())
    for a, h in zip(fused, hand_gradients(X, Y, big), strict=True):
        assert np.all(np.isfinite(a))
        assert_close(a, h, rtol=1e-12, atol=1e-15)  # (atol: a few ulps of the largest, 0.24)


@pytest.mark.parametrize("fused", [False, True])
def test_200_training_steps_end_at_the_same_parameters(data, fused: bool) -> None:
    X, Y, params = data
    learning_rate = 0.5
    hand = params
    for _ in range(200):
        Z1, A1, Z2, A2 = forward_propagation(X, *hand)
        grads = backward_propagation(X, Y, Z1, A1, Z2, A2, *hand)
        hand = update_parameters(*hand, *grads, learning_rate)

    tensors = tensors_of(params)
    for _ in range(200):
        _, loss = network_loss(X, Y, *tensors, fused=fused)
        loss.backward()
        with mg.no_grad():
            for t in tensors:
                t -= learning_rate * t.grad
                t.zero_grad()

    for t, h in zip(tensors, hand, strict=True):
        assert t.is_leaf and t.requires_grad
        # 200 steps compound rounding differences (seen: about 20 ulps)
        assert_close(t.data, h, rtol=1e-12, atol=0)
    assert not np.allclose(hand[0], params[0])  # training moved them
