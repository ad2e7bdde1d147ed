"""The tutorial's 2-3-1 sigmoid network, trained twice from the same start: once with the
tutorial's hand-written NumPy backprop, once with microgradnp deriving the gradients.

Both end at the same parameters (to about 1e-10); the accuracy is printed.
Run: python examples/tutorial_network.py [--epochs N]
"""

from __future__ import annotations

import argparse

import numpy as np

import microgradnp as mg
from microgradnp.nn.functional import binary_cross_entropy_with_logits


# ---- the tutorial's functions, as it gives them (initialization takes an rng here) ----
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(z):
    return sigmoid(z) * (1 - sigmoid(z))


def initialize_parameters(input_size, hidden_size, output_size, rng):
    W1 = rng.standard_normal((hidden_size, input_size))
    b1 = rng.standard_normal((hidden_size, 1))
    W2 = rng.standard_normal((output_size, hidden_size))
    b2 = rng.standard_normal((output_size, 1))
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


# ---- a dataset: two noisy blobs, one column per example, labels (1, m) ----
def make_blobs(m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    Y = (rng.random((1, m)) < 0.5).astype(float)
    centers = np.where(Y == 1, 1.0, -1.0)
    X = centers + 0.6 * rng.standard_normal((2, m))
    return X, Y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    X, Y = make_blobs(400, rng)
    start = initialize_parameters(2, 3, 1, rng)

    # By hand, as in the tutorial.
    W1, b1, W2, b2 = start
    for _ in range(args.epochs):
        Z1, A1, Z2, A2 = forward_propagation(X, W1, b1, W2, b2)
        grads = backward_propagation(X, Y, Z1, A1, Z2, A2, W1, b1, W2, b2)
        W1, b1, W2, b2 = update_parameters(W1, b1, W2, b2, *grads, args.lr)
    by_hand = (W1, b1, W2, b2)

    # With microgradnp: the same network as expressions; backward() derives the gradients.
    params = [
        mg.tensor(p, requires_grad=True, name=n)
        for p, n in zip(start, ["W1", "b1", "W2", "b2"], strict=True)
    ]
    tW1, tb1, tW2, tb2 = params
    for _ in range(args.epochs):
        A1 = mg.sigmoid(tW1 @ X + tb1)
        Z2 = tW2 @ A1 + tb2
        loss = binary_cross_entropy_with_logits(Z2, Y)
        loss.backward()
        with mg.no_grad():
            for p in params:
                p -= args.lr * p.grad
                p.zero_grad()

    difference = max(
        float(np.max(np.abs(p.data - h))) for p, h in zip(params, by_hand, strict=True)
    )
    predictions = forward_propagation(X, *by_hand)[3] > 0.5
    accuracy = float(np.mean(predictions == (Y == 1)))
    print(f"epochs: {args.epochs}   final loss: {loss.item():.4f}   accuracy: {accuracy:.1%}")
    print(f"largest difference between hand-written and autodiff parameters: {difference:.1e}")


if __name__ == "__main__":
    main()
