"""Make the pictures in docs/: python docs/make_pictures.py [--check]

- docs/tutorial_graph.svg: the graph of the tutorial's network after backward, as the README
  shows it (the README's code, with the tutorial's names for the tensors).

Each SVG records the SHA-256 of the DOT source it was rendered from. `--check` (also run by
tests/test_graph.py) recomputes the DOT source and reports the pictures that no longer match,
so a stale picture is caught without needing Graphviz, whose layout varies by version.
Rendering (without --check) needs Graphviz's `dot`.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import graphviz
import numpy as np

import microgradnp as mg
from microgradnp.graph import draw_graph
from microgradnp.nn.functional import binary_cross_entropy_with_logits

DOCS = Path(__file__).resolve().parent
STAMP = "<!-- made by docs/make_pictures.py from DOT source sha256:{} -->\n"


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


PICTURES: dict[str, Callable[[], graphviz.Digraph]] = {"tutorial_graph.svg": tutorial_graph}


def digest(picture: graphviz.Digraph) -> str:
    return hashlib.sha256(picture.source.encode("utf-8")).hexdigest()


def stale() -> list[str]:
    """The pictures in docs/ that are missing or were not made from today's DOT source."""
    out = []
    for name, make in PICTURES.items():
        path = DOCS / name
        current = path.exists() and STAMP.format(digest(make())) in path.read_text("utf-8")
        if not current:
            out.append(name)
    return out


def write(name: str, picture: graphviz.Digraph) -> Path:
    svg = picture.pipe(format="svg", encoding="utf-8")
    header, _, body = svg.partition("\n")  # after the <?xml ...?> declaration
    path = DOCS / name
    path.write_text(header + "\n" + STAMP.format(digest(picture)) + body, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale pictures")
    args = parser.parse_args()
    if args.check:
        names = stale()
        for name in names:
            print(f"docs/{name} is stale: run python docs/make_pictures.py", file=sys.stderr)
        return 1 if names else 0
    for name, make in PICTURES.items():
        print(f"wrote {write(name, make())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
