"""Make the pictures in docs/: python docs/make_pictures.py [--check]

- tutorial_graph.svg: the graph of the tutorial's network after backward, as the README
  shows it (the README's code, with the tutorial's names for the tensors).
- tutorial_neuron.svg, tutorial_backward.svg, tutorial_boundary.svg:
  the pictures of docs/tutorial.md, made by the same code as the page (the last one, the
  trained network's decision boundary, with matplotlib).
- graphs_*.svg (docs/guides/graphs.md), checking_mistake.svg (docs/guides/checking.md).

Each SVG records the SHA-256 of the source it was made from: the DOT source for graphs;
for the plot, the plotting code and the numbers plotted. `--check` (also run by the tests)
recomputes the sources and reports the pictures that no longer match, so a stale picture is
caught without Graphviz or matplotlib, whose output varies by version. Writing the pictures
(without --check) needs Graphviz's `dot` and matplotlib.
"""

# ruff: noqa: N803, N806  (the tutorial's names: X, W1, dZ2)
from __future__ import annotations

import argparse
import hashlib
import inspect
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

import microgradnp as mg
from microgradnp import nn
from microgradnp.graph import draw_graph
from microgradnp.nn.functional import binary_cross_entropy_with_logits

DOCS = Path(__file__).resolve().parent
STAMP = "<!-- made by docs/make_pictures.py from DOT source sha256:{} -->\n"
PLOT_STAMP = "<!-- made by docs/make_pictures.py from plot source sha256:{} -->\n"


class Plot:
    """A matplotlib picture: `source` is what it is made from (hashed), `draw` makes the SVG."""

    def __init__(self, source: str, draw: Callable[[], str]) -> None:
        self.source = source
        self.draw = draw


Picture = graphviz.Digraph | Plot


# ---------------------------------------------------------------- the README's picture


def tutorial_graph() -> graphviz.Digraph:
    """The README's network after loss.backward(retain_graph=True)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 400))  # one column per example
    y = (x[0:1] * x[1:2] > 0).astype(float)  # (1, 400) labels
    w1 = mg.tensor(rng.normal(size=(3, 2)), requires_grad=True, name="W1")
    b1 = mg.tensor(rng.normal(size=(3, 1)), requires_grad=True, name="b1")
    w2 = mg.tensor(rng.normal(size=(1, 3)), requires_grad=True, name="W2")
    b2 = mg.tensor(rng.normal(size=(1, 1)), requires_grad=True, name="b2")
    z1 = w1 @ mg.tensor(x, name="X") + b1
    a1 = mg.sigmoid(z1)
    z2 = w2 @ a1 + b2
    loss = binary_cross_entropy_with_logits(z2, mg.tensor(y, name="Y"))
    for t, name in [(z1, "Z1"), (a1, "A1"), (z2, "Z2"), (loss, "loss")]:
        t.name = name  # the tutorial's names, shown in the picture
    loss.backward(retain_graph=True)
    return draw_graph(loss, show_data=True, rankdir="TB")


# ---------------------------------------------------------------- docs/tutorial.md
# The page's code, step by step (tests/test_docs.py checks that the page trains the same
# parameters as tutorial_trained).


def tutorial_neuron() -> graphviz.Digraph:
    """Section 1: one neuron, after backward."""
    w = mg.tensor([0.5, -0.25], requires_grad=True, name="w")
    b = mg.tensor(0.5, requires_grad=True, name="b")
    x = np.array([2.0, 1.0])
    y = mg.sigmoid(w @ x + b)
    y.backward(retain_graph=True)
    return draw_graph(y, show_data=True)


def _tutorial_forward() -> dict[str, Any]:
    """Sections 2 to 5: data, parameters, forward pass, the tutorial's loss, names."""
    xy, labels = mg.datasets.make_moons(400, noise=0.1, rng=0)
    X, Y = xy.T, labels[None, :].astype(float)
    rng = np.random.default_rng(1)
    W1 = mg.tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W1")
    b1 = mg.tensor(rng.standard_normal((3, 1)), requires_grad=True, name="b1")
    W2 = mg.tensor(rng.standard_normal((1, 3)), requires_grad=True, name="W2")
    b2 = mg.tensor(rng.standard_normal((1, 1)), requires_grad=True, name="b2")
    Z1 = W1 @ X + b1
    A1 = mg.sigmoid(Z1)
    Z2 = W2 @ A1 + b2
    A2 = mg.sigmoid(Z2)
    with mg.stability_warnings(False):  # the page explains the warning
        L = -(Y * mg.log(A2) + (1 - Y) * mg.log(1 - A2)).mean()
    for t, name in [(Z1, "Z1"), (A1, "A1"), (Z2, "Z2"), (A2, "A2"), (L, "L")]:
        t.name = name
    return {"X": X, "Y": Y, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "Z2": Z2, "L": L}


def tutorial_backward() -> graphviz.Digraph:
    """Section 6: Z2.retain_grad(); L.backward(retain_graph=True);
    mg.render_graph(L, "network.svg", rankdir="TB")."""
    t = _tutorial_forward()
    t["Z2"].retain_grad()
    t["L"].backward(retain_graph=True)
    return draw_graph(t["L"], rankdir="TB")


def tutorial_trained() -> dict[str, np.ndarray]:
    """Section 9: the parameters after 3000 steps of gradient descent (lr 2.0)."""
    t = _tutorial_forward()
    X, Y = t["X"], t["Y"]
    params = [t["W1"], t["b1"], t["W2"], t["b2"]]
    W1, b1, W2, b2 = params
    for _ in range(3000):
        for p in params:
            p.zero_grad()
        loss = binary_cross_entropy_with_logits(W2 @ mg.sigmoid(W1 @ X + b1) + b2, Y)
        loss.backward()
        with mg.no_grad():
            for p in params:
                p -= 2.0 * p.grad
    return {"X": X, "Y": Y, **{str(p.name): p.data for p in params}}


def _plot_boundary(X: np.ndarray, Y: np.ndarray, W1: Any, b1: Any, W2: Any, b2: Any) -> str:
    """Section 10's plot, as SVG text (the same calls as the page)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "microgradnp-docs"  # the same file every time
    xs, ys = np.meshgrid(np.linspace(-1.5, 2.5, 200), np.linspace(-1.0, 1.5, 200))
    grid = np.stack([xs.ravel(), ys.ravel()])
    with mg.no_grad():
        P = mg.sigmoid(W2 @ mg.sigmoid(W1 @ grid + b1) + b2).data.reshape(xs.shape)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.contourf(xs, ys, P, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.6, rasterized=True)
    ax.contour(xs, ys, P, levels=[0.5], colors="black")
    ax.scatter(X[0], X[1], c=Y[0], cmap="RdBu", edgecolors="black", linewidths=0.4, s=12)
    ax.set_title("2-3-1 sigmoid network on moons")
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def tutorial_boundary() -> Plot:
    """Section 10: the trained network's decision boundary."""
    t = tutorial_trained()
    numbers = "\n".join(
        f"{name}: " + " ".join(f"{v:.6g}" for v in np.ravel(t[name]))
        for name in ("W1", "b1", "W2", "b2", "X", "Y")
    )
    source = inspect.getsource(_plot_boundary) + numbers
    return Plot(source, lambda: _plot_boundary(*(t[k] for k in ("X", "Y", "W1", "b1", "W2", "b2"))))


# ---------------------------------------------------------------- docs/guides/graphs.md


def _broadcast_example() -> Any:
    x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], name="x")
    w = mg.tensor([[0.5], [-1.0]], requires_grad=True, name="w")
    b = mg.tensor([0.1, 0.2, 0.3], requires_grad=True, name="b")
    y = mg.tanh(w * x + b).sum()
    y.name = "y"
    y.backward(retain_graph=True)
    return y


def graphs_broadcast() -> graphviz.Digraph:
    """graphs.md: data, gradients and broadcast sums."""
    return draw_graph(_broadcast_example(), show_data=True, rankdir="TB")


def _modules_example() -> Any:
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Sigmoid(), nn.Linear(3, 1, rng=1))
    x = np.array([[0.5, -1.0], [1.5, 0.25]])  # two examples, one per row
    y = np.array([[1.0], [0.0]])
    loss = binary_cross_entropy_with_logits(model(x), y)
    loss.name = "loss"
    return loss


def graphs_modules() -> graphviz.Digraph:
    """graphs.md: nn.Module calls drawn as clusters."""
    return draw_graph(_modules_example(), rankdir="TB")


def graphs_collapsed() -> graphviz.Digraph:
    """graphs.md: the same with collapse=True."""
    return draw_graph(_modules_example(), collapse=True, rankdir="TB")


# ---------------------------------------------------------------- docs/guides/checking.md


def checking_mistake() -> graphviz.Digraph:
    """checking.md: a hand-derived gradient with a forgotten 1/m, highlighted."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 50))
    Y = (X[0:1] > X[1:2]).astype(float)
    W = mg.tensor(rng.normal(size=(1, 2)), requires_grad=True, name="W")
    b = mg.tensor(np.zeros((1, 1)), requires_grad=True, name="b")
    Z = W @ X + b
    loss = binary_cross_entropy_with_logits(Z, Y)
    loss.backward(retain_graph=True)
    dZ = 1 / (1 + np.exp(-Z.data)) - Y
    manual = {"W": dZ @ X.T / 50, "b": dZ.sum(axis=1, keepdims=True)}
    report = mg.compare_grads(manual, {"W": W, "b": b})
    return draw_graph(loss, highlight=report)


PICTURES: dict[str, Callable[[], Picture]] = {
    "tutorial_graph.svg": tutorial_graph,
    "tutorial_neuron.svg": tutorial_neuron,
    "tutorial_backward.svg": tutorial_backward,
    "tutorial_boundary.svg": tutorial_boundary,
    "graphs_broadcast.svg": graphs_broadcast,
    "graphs_modules.svg": graphs_modules,
    "graphs_collapsed.svg": graphs_collapsed,
    "checking_mistake.svg": checking_mistake,
}


# ---------------------------------------------------------------- writing and checking


def digest(picture: Picture) -> str:
    return hashlib.sha256(picture.source.encode("utf-8")).hexdigest()


def stamp(picture: Picture) -> str:
    """The comment a picture's SVG carries: what it was made from."""
    return (PLOT_STAMP if isinstance(picture, Plot) else STAMP).format(digest(picture))


def stale() -> list[str]:
    """The pictures in docs/ that are missing or were not made from today's source."""
    out = []
    for name, make in PICTURES.items():
        path = DOCS / name
        current = path.exists() and stamp(make()) in path.read_text("utf-8")
        if not current:
            out.append(name)
    return out


def write(name: str, picture: Picture) -> Path:
    if isinstance(picture, Plot):
        svg = picture.draw()
    else:
        svg = picture.pipe(format="svg", encoding="utf-8")
    header, _, body = svg.partition("\n")  # after the <?xml ...?> declaration
    path = DOCS / name
    path.write_text(header + "\n" + stamp(picture) + body, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale pictures")
    parser.add_argument("names", nargs="*", help="pictures to write (default: all)")
    args = parser.parse_args()
    if args.check:
        names = stale()
        for name in names:
            print(f"docs/{name} is stale: run python docs/make_pictures.py", file=sys.stderr)
        return 1 if names else 0
    unknown = [n for n in args.names if n not in PICTURES]
    if unknown:
        parser.error(f"unknown picture(s) {', '.join(unknown)}; choose from {', '.join(PICTURES)}")
    for name in args.names or PICTURES:
        print(f"wrote {write(name, PICTURES[name]())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
