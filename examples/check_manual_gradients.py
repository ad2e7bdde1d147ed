"""Check hand-derived gradients against autodiff, and find where they go wrong.

1. The tutorial's `backward_propagation` (dZ2 = A2 - Y, ...) against autodiff of the same
   network: compare_grads agrees on W1, b1, W2, b2.
2. The same with two classic mistakes: `db1` without the 1/m, and sigmoid(Z1) used where
   its derivative belongs. The report names the tensors, the worst element and (for the
   1/m) the factor; the graph picture highlights them (DIR/mistake_*.svg, or .dot files
   when Graphviz is not installed).
3. A hand-written op (`mg.primitive`) whose VJP has the second mistake: gradcheck fails
   naming the input and element, and check_graph points at the op's node in the graph.

Exits with an error if any check does not come out as described.
Run: python examples/check_manual_gradients.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import microgradnp as mg
from microgradnp.checking import GradcheckError, check_graph, compare_grads, gradcheck
from microgradnp.graph import GraphvizNotFoundError, render_graph
from microgradnp.nn.functional import binary_cross_entropy_with_logits


# ---- the tutorial's functions, as it gives them ----
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(z):
    return sigmoid(z) * (1 - sigmoid(z))


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


# ---- two classic mistakes ----
def backward_forgetting_one_over_m(X, Y, Z1, A1, Z2, A2, W1, b1, W2, b2):
    dW1, db1, dW2, db2 = backward_propagation(X, Y, Z1, A1, Z2, A2, W1, b1, W2, b2)
    dZ1 = np.dot(W2.T, A2 - Y) * sigmoid_derivative(Z1)
    db1 = np.sum(dZ1, axis=1, keepdims=True)  # mistake: no (1 / m)
    return dW1, db1, dW2, db2


def backward_with_sigmoid_not_its_derivative(X, Y, Z1, A1, Z2, A2, W1, b1, W2, b2):
    m = X.shape[1]
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * sigmoid(Z1)  # mistake: sigmoid, not sigmoid_derivative
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return dW1, db1, dW2, db2


NAMES = ("W1", "b1", "W2", "b2")


def autodiff(X, Y, params):
    """The same network as expressions; returns the loss (graph kept) and the named tensors."""
    tensors = {
        n: mg.tensor(p, requires_grad=True, name=n) for n, p in zip(NAMES, params, strict=True)
    }
    A1 = mg.sigmoid(tensors["W1"] @ X + tensors["b1"])
    Z2 = tensors["W2"] @ A1 + tensors["b2"]
    loss = binary_cross_entropy_with_logits(Z2, Y)  # mean over m: the tutorial's 1/m
    loss.backward(retain_graph=True)  # keep the graph to draw it
    return loss, tensors


def draw(root, out: Path, stem: str, report) -> None:
    """Write the graph with the report's failures highlighted, as SVG (or DOT without dot)."""
    try:
        path = render_graph(root, out / f"{stem}.svg", highlight=report)
    except GraphvizNotFoundError as err:
        path = render_graph(root, out / f"{stem}.dot", highlight=report)
        print(f"   (wrote the DOT source instead) {err}")
    print(f"   graph with the failures highlighted: {path}")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"check_manual_gradients: expected {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="directory for the pictures")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and parameters (default 0)"
    )
    args = parser.parse_args()
    out = Path(args.out)

    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(2, 400))  # one column per example, as in the tutorial
    Y = (X[0:1] ** 2 + X[1:2] ** 2 < 1.2).astype(float)
    params = [rng.normal(size=s) for s in ((3, 2), (3, 1), (1, 3), (1, 1))]
    cache = forward_propagation(X, *params)
    loss, tensors = autodiff(X, Y, params)

    print("1. The tutorial's backprop against autodiff")
    right = dict(zip(NAMES, backward_propagation(X, Y, *cache, *params), strict=True))
    report = compare_grads(right, tensors)
    print(report, end="\n\n")
    expect(report.ok, "the tutorial's gradients to agree with autodiff")

    print("2a. The same, forgetting 1/m in db1")
    wrong = dict(zip(NAMES, backward_forgetting_one_over_m(X, Y, *cache, *params), strict=True))
    report = compare_grads(wrong, tensors)
    print(report)
    draw(loss, out, "mistake_db1_without_1_over_m", report)
    expect(report.failed_names() == ["b1"] and "400 x auto" in report["b1"].note, "b1 to fail")

    print("\n2b. The same, with sigmoid(Z1) where sigmoid_derivative(Z1) belongs")
    wrong = dict(
        zip(NAMES, backward_with_sigmoid_not_its_derivative(X, Y, *cache, *params), strict=True)
    )
    report = compare_grads(wrong, tensors)
    print(report)
    draw(loss, out, "mistake_sigmoid_not_derivative", report)
    expect(report.failed_names() == ["W1", "b1"], "W1 and b1 to fail")

    print("\n3. A hand-written sigmoid op with the same mistake in its VJP")

    @mg.primitive
    def my_sigmoid(z):
        return sigmoid(z)

    @my_sigmoid.defvjp
    def my_sigmoid_vjp(g, ans, z):
        return g * ans  # mistake: the derivative is ans * (1 - ans)

    def network_loss(W1, b1, W2, b2):
        A1 = my_sigmoid(W1 @ X + b1)
        A1.name = "A1"
        return binary_cross_entropy_with_logits(W2 @ A1 + b2, Y)

    try:
        gradcheck(network_loss, *params)
        expect(False, "gradcheck to fail")
    except GradcheckError as err:
        print(err)
        expect(err.input_index == 0, "gradcheck to name input 0 (W1) first")

    root = network_loss(
        *[mg.tensor(p, requires_grad=True, name=n) for n, p in zip(NAMES, params, strict=True)]
    )
    graph_report = check_graph(root)
    print(graph_report)
    expect([n.op for n in graph_report.failed] == ["my_sigmoid"], "check_graph to flag my_sigmoid")
    draw(root, out, "wrong_vjp", graph_report)


if __name__ == "__main__":
    main()
