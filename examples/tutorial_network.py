"""The tutorial's 2-3-1 sigmoid network, trained three times from the same start.

1. With the tutorial's own NumPy functions and hand-derived backprop (column layout, X (2, m)).
2. With microgradnp: the same equations as expressions; `loss.backward()` derives the
   gradients and `mg.optim.SGD` applies the tutorial's update `w = w - lr * dw`.
3. With `mg.nn` modules: Sequential(Linear(2, 3), Sigmoid(), Linear(3, 1)) in row layout
   (x (m, 2)), loaded with the same starting weights through `load_state_dict`.

All three end at the same parameters (to rounding, about 1e-14; the script fails if they differ by
more than 1e-8) and the accuracy is printed. Writes no files (--out is accepted for
uniformity with the other examples).

Run: python examples/tutorial_network.py [--dataset moons|circles|xor|spirals]
         [--epochs N] [--lr LR] [--seed S]
"""

from __future__ import annotations

import argparse

import numpy as np

import microgradnp as mg
from microgradnp import datasets, nn, optim
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


# ---- 1. by hand, as in the tutorial ----
def train_by_hand(X, Y, start, epochs, lr):
    W1, b1, W2, b2 = start
    for _ in range(epochs):
        Z1, A1, Z2, A2 = forward_propagation(X, W1, b1, W2, b2)
        grads = backward_propagation(X, Y, Z1, A1, Z2, A2, W1, b1, W2, b2)
        W1, b1, W2, b2 = update_parameters(W1, b1, W2, b2, *grads, lr)
    return W1, b1, W2, b2


# ---- 2. the same equations as expressions: no backward_propagation to write ----
def train_with_autodiff(X, Y, start, epochs, lr):
    W1, b1, W2, b2 = params = [
        mg.tensor(p, requires_grad=True, name=n)
        for p, n in zip(start, ["W1", "b1", "W2", "b2"], strict=True)
    ]
    optimizer = optim.SGD(params, lr=lr)  # p = p - lr * p.grad: update_parameters
    for _ in range(epochs):
        optimizer.zero_grad()
        A1 = mg.sigmoid(W1 @ X + b1)
        Z2 = W2 @ A1 + b2
        # The tutorial's loss, computed stably from Z2; its gradient is dZ2 = A2 - Y (over m).
        loss = binary_cross_entropy_with_logits(Z2, Y)
        loss.backward()
        optimizer.step()
    return [p.data for p in params]


# ---- 3. the same network as modules, one row per example ----
def train_with_modules(X, Y, start, epochs, lr):
    model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
    W1, b1, W2, b2 = start
    model.load_state_dict({"0.weight": W1, "0.bias": b1[:, 0], "2.weight": W2, "2.bias": b2[:, 0]})
    x, targets = X.T, Y.T  # (m, 2) and (m, 1)
    optimizer = optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = binary_cross_entropy_with_logits(model(x), targets)
        loss.backward()
        optimizer.step()
    state = model.state_dict()
    return state["0.weight"], state["0.bias"][:, None], state["2.weight"], state["2.bias"][:, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", choices=["moons", "circles", "xor", "spirals"], default="moons"
    )
    parser.add_argument("--epochs", type=int, default=5000, help="training steps (default 5000)")
    parser.add_argument("--lr", type=float, default=2.0, help="learning rate (default 2.0)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and parameters (default 0)"
    )
    parser.add_argument("--out", help="accepted for uniformity; this example writes no files")
    args = parser.parse_args()
    if args.epochs < 0 or args.seed < 0:
        parser.error("--epochs and --seed must be >= 0")

    rng = np.random.default_rng(args.seed)
    x, y = getattr(datasets, f"make_{args.dataset}")(400, rng=rng)
    X, Y = x.T, y[None, :].astype(np.float64)  # the tutorial's layout: X (2, m), Y (1, m)
    start = initialize_parameters(2, 3, 1, rng)

    by_hand = train_by_hand(X, Y, start, args.epochs, args.lr)
    autodiff = train_with_autodiff(X, Y, start, args.epochs, args.lr)
    modules = train_with_modules(X, Y, start, args.epochs, args.lr)

    names = ["W1", "b1", "W2", "b2"]
    accuracy = float(np.mean((forward_propagation(X, *by_hand)[3] > 0.5) == (Y == 1)))
    print(f"{args.dataset}, {args.epochs} epochs of gradient descent (lr {args.lr})")
    print(f"accuracy: {accuracy:.1%}")
    worst = 0.0
    for label, params in [("autodiff", autodiff), ("modules", modules)]:
        diffs = [float(np.max(np.abs(p - h))) for p, h in zip(params, by_hand, strict=True)]
        worst = max(worst, *diffs)
        detail = ", ".join(f"{n} {d:.1e}" for n, d in zip(names, diffs, strict=True))
        print(f"largest difference from the hand-written parameters, {label}: {detail}")
    if worst > 1e-8:
        raise SystemExit(
            f"the parameters differ by {worst:.1e}: autodiff does not match the tutorial"
        )


if __name__ == "__main__":
    main()
