"""Example 4: drawing and rendering a graph.

The tutorial's 2-3-1 network (column layout: X (2, m), W1 (3, 2), b1 (3, 1), ...) as
expressions, and pictures of the graph they record:

- <out>/graph_forward.svg: the graph before backward (shapes, values with show_data=True);
- <out>/graph.svg: after backward(retain_graph=True), with every parameter's gradient and
  its norm. The orange edges say where a gradient was summed over broadcast axes: b1 (3, 1)
  was added to W1 @ X (3, 400), so its gradient is the (3, 400) one summed over axis 1;
- <out>/graph_modules.svg and <out>/graph_collapsed.svg: the same network built from
  mg.nn modules, each module call a cluster, then each drawn as one node (collapse=True);
- <out>/graph.dot: the DOT source, written even without Graphviz.

The graph is also printed as a text tree (print_graph). Rendering .svg needs Graphviz's
`dot`; without it the script says how to install it and writes the .dot file only.

Run: python examples/draw_graph.py [--out DIR]   (a second or so)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import microgradnp as mg
from microgradnp.graph import GraphvizNotFoundError, print_graph, render_graph
from microgradnp.nn.functional import binary_cross_entropy_with_logits


def tutorial_network(rng: np.random.Generator) -> mg.Tensor:
    """The tutorial's network on 400 points: its mean binary cross-entropy."""
    X = rng.normal(size=(2, 400))  # one column per example
    Y = (X[0:1] * X[1:2] > 0).astype(float)  # (1, 400) labels
    W1 = mg.tensor(rng.normal(size=(3, 2)), requires_grad=True, name="W1")
    b1 = mg.tensor(rng.normal(size=(3, 1)), requires_grad=True, name="b1")
    W2 = mg.tensor(rng.normal(size=(1, 3)), requires_grad=True, name="W2")
    b2 = mg.tensor(rng.normal(size=(1, 1)), requires_grad=True, name="b2")
    # Constants and intermediates can be named too: the picture then uses the tutorial's names.
    Xt, Yt = mg.tensor(X, name="X"), mg.tensor(Y, name="Y")
    Z1 = W1 @ Xt + b1
    Z1.name = "Z1"
    A1 = mg.sigmoid(Z1)
    A1.name = "A1"
    Z2 = W2 @ A1 + b2
    Z2.name = "Z2"
    loss = binary_cross_entropy_with_logits(Z2, Yt)
    loss.name = "loss"
    return loss


MISSING_DOT: list[Path] = []  # pictures skipped for want of Graphviz


def render(root: mg.Tensor, path: Path, **options: object) -> None:
    """Write path (.svg) with Graphviz; without it, say how to install it (once)."""
    try:
        render_graph(root, path, **options)
        print(f"wrote {path}")
    except GraphvizNotFoundError as err:
        if not MISSING_DOT:
            print(err)
        MISSING_DOT.append(path)
        print(f"skipped {path}: Graphviz's dot is not installed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="directory for the files")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and parameters (default 0)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    loss = tutorial_network(rng)
    print("The graph before backward (shapes and values; no gradients yet):\n")
    print_graph(loss, show_data=True)
    render(loss, args.out / "graph_forward.svg", show_data=True)

    loss.backward(retain_graph=True)  # retain_graph: keep the graph to draw it afterwards
    print("\nAfter backward, with every parameter's gradient:\n")
    print_graph(loss)
    render(loss, args.out / "graph.svg", show_data=True)
    print(f"wrote {render_graph(loss, args.out / 'graph.dot', show_data=True)} (DOT source)")

    # The same network from modules (row layout, x (m, 2)): each call is a labelled cluster.
    model = mg.nn.Sequential(
        mg.nn.Linear(2, 3, rng=rng), mg.nn.Sigmoid(), mg.nn.Linear(3, 1, rng=rng)
    )
    x = rng.normal(size=(400, 2))
    y = (x[:, :1] * x[:, 1:] > 0).astype(float)
    model_loss = binary_cross_entropy_with_logits(model(x), y)
    model_loss.backward(retain_graph=True)
    render(model_loss, args.out / "graph_modules.svg")
    render(model_loss, args.out / "graph_collapsed.svg", collapse=True)
    print("\nThe module version, each module call collapsed to one line:\n")
    print_graph(model_loss, collapse=True)


if __name__ == "__main__":
    main()
