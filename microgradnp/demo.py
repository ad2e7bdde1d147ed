"""The demo: `python -m microgradnp demo` trains the tutorial's kind of network and shows it.

A 2 → H → 1 network with sigmoid hidden units (the tutorial's, with H = 3 there), trained
with Adam on a toy dataset with the binary cross-entropy of its logits. It prints the
accuracy on the training set and on fresh points, and writes to --out:

- graph.svg: the loss graph of the trained network, with its gradients (or graph.dot and a
  note when Graphviz's `dot` program is missing, or fails);
- decision_boundary.png: the learned decision boundary (when matplotlib is installed).

    python -m microgradnp demo --dataset spirals --epochs 2000 --hidden 32

`main(argv)` is the command; `train` and `plot_decision_boundary` are usable on their own.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import datasets, optim
from .nn import Linear, Module, Sequential, Sigmoid
from .nn.functional import binary_cross_entropy_with_logits
from .ops import sigmoid
from .recording import no_grad
from .tensors import Tensor

DESCRIPTION = (
    "Train a 2 → H → 1 sigmoid network (the tutorial's) on a toy dataset, print its accuracy, "
    "and write the loss graph (graph.svg) and the decision boundary (decision_boundary.png)."
)

N_SAMPLES = 400  # training points, and as many fresh ones to measure the test accuracy

DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "moons": datasets.make_moons,
    "circles": datasets.make_circles,
    "xor": datasets.make_xor,
    "spirals": datasets.make_spirals,
}


@dataclass
class TrainResult:
    """What `train` returns. `loss` is the final loss, after a backward that kept its graph
    (so it can be drawn, with every parameter's gradient)."""

    model: Sequential
    x: np.ndarray  # the training points (n, 2) and their labels (n,)
    y: np.ndarray
    loss: Tensor
    train_accuracy: float
    test_accuracy: float


def accuracy(model: Module, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of x whose predicted class (logit > 0) equals the label y."""
    with no_grad():
        logits = model(x)
    return float(np.mean((logits.data[:, 0] > 0) == (y == 1)))


def train(
    dataset: str = "moons",
    *,
    epochs: int = 1000,
    hidden: int = 16,
    lr: float = 0.05,
    n_samples: int = N_SAMPLES,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainResult:
    """Train Sequential(Linear(2, hidden), Sigmoid(), Linear(hidden, 1)) on `dataset`.

    Full-batch Adam on the mean binary cross-entropy of the logits. The test accuracy is
    measured on `n_samples` fresh points from the same distribution. Deterministic in `seed`.
    """
    if dataset not in DATASETS:
        raise ValueError(f"train: unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    rng = np.random.default_rng(seed)
    x, y = DATASETS[dataset](n_samples, rng=rng)
    x_test, y_test = DATASETS[dataset](n_samples, rng=rng)
    targets = y[:, None].astype(np.float64)  # (n, 1), like the network's output
    model = Sequential(Linear(2, hidden, rng=rng), Sigmoid(), Linear(hidden, 1, rng=rng))
    optimizer = optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        optimizer.zero_grad()
        logits = model(x)
        loss = binary_cross_entropy_with_logits(logits, targets)
        loss.backward()
        optimizer.step()
        if progress is not None:
            correct = float(np.mean((logits.data[:, 0] > 0) == (y == 1)))
            progress.update(epoch + 1, loss=loss.item(), accuracy=correct)
    # One more forward and backward of the trained network, keeping the graph for drawing.
    model.zero_grad()
    loss = binary_cross_entropy_with_logits(model(x), targets)
    loss.backward(retain_graph=True)
    return TrainResult(model, x, y, loss, accuracy(model, x, y), accuracy(model, x_test, y_test))


class Progress:
    """A progress bar with loss and accuracy: tqdm when installed, else a plain text line;
    nothing at all when `stream` is not a terminal (a log file, a pipe, a test)."""

    def __init__(self, total: int, *, stream: TextIO | None = None, desc: str = "training") -> None:
        self.stream = sys.stdout if stream is None else stream
        self.total = total
        self.desc = desc
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar: Any = None
        self._last = 0.0  # when the plain line was last written
        self._done = 0
        if self.enabled:
            try:
                tqdm = importlib.import_module("tqdm").tqdm
            except ImportError:
                pass  # the plain text line
            else:
                self._bar = tqdm(total=total, desc=desc, unit="epoch", file=self.stream)

    def update(self, done: int, *, loss: float, accuracy: float) -> None:
        """Report that `done` of `total` steps are finished, with the current statistics."""
        if not self.enabled:
            return
        if self._bar is not None:
            if done == self.total or done % max(1, self.total // 50) == 0:
                stats = {"loss": f"{loss:.4f}", "acc": f"{accuracy:.1%}"}
                self._bar.set_postfix(stats, refresh=False)  # a dict keeps this order
            self._bar.update(done - self._done)
        else:
            now = time.monotonic()
            if done == self.total or now - self._last >= 0.1:
                self._last = now
                filled = 30 * done // self.total
                bar = "#" * filled + "-" * (30 - filled)
                self.stream.write(
                    f"\r{self.desc} [{bar}] {done}/{self.total}  loss {loss:.4f}  "
                    f"accuracy {accuracy:.1%}"
                )
                self.stream.flush()
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self._done:
            self.stream.write("\n")
            self.stream.flush()


def plot_decision_boundary(
    model: Module, x: np.ndarray, y: np.ndarray, path: str | Path, *, title: str = ""
) -> Path:
    """Save a picture of the model's predicted probability over the plane, with the points.

    `model` maps rows of 2 coordinates to one logit each. Needs matplotlib (raises
    ImportError saying how to install it).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            "plot_decision_boundary needs matplotlib: pip install matplotlib "
            "(or pip install 'microgradnp[plot]')"
        ) from err
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(
            f"plot_decision_boundary: x must hold points of the plane, shape (n, 2); got {x.shape}"
        )
    lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    xs, ys = np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    with no_grad():
        probability = sigmoid(model(grid)).data.reshape(grid_x.shape)
    height = float(np.clip(6 * (hi[1] - lo[1]) / (hi[0] - lo[0]), 3, 9))
    figure = Figure(figsize=(6, height + 0.6), layout="constrained")
    axes = figure.subplots()
    axes.contourf(grid_x, grid_y, probability, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.6)
    axes.contour(grid_x, grid_y, probability, levels=[0.5], colors="black", linewidths=1.5)
    axes.scatter(
        x[:, 0], x[:, 1], c=y, cmap="RdBu", vmin=0, vmax=1, s=12, edgecolors="black", linewidths=0.4
    )
    axes.set_title(title)
    axes.set_xlabel("x[:, 0]")
    axes.set_ylabel("x[:, 1]")
    axes.set_aspect("equal")
    target = Path(path)
    figure.savefig(target, dpi=100)
    return target


def _write_graph(loss: Tensor, out: Path) -> str:
    """Render the loss graph to out/graph.svg, or out/graph.dot when `dot` is missing or
    fails."""
    from .graph import GraphvizNotFoundError, render_graph

    try:
        path = render_graph(loss, out / "graph.svg")
    except GraphvizNotFoundError:
        path = render_graph(loss, out / "graph.dot")
        return (
            f"wrote {path} (the trained network's loss graph, as DOT text)\n"
            "note: Graphviz's `dot` program was not found, so there is no graph.svg. Install\n"
            "      Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install\n"
            "      graphviz; others: https://graphviz.org/download/) and run the demo again,\n"
            f"      or convert the file: dot -Tsvg {path} -o {out / 'graph.svg'}"
        )
    except RuntimeError as err:  # (dot is installed, but failed)
        path = render_graph(loss, out / "graph.dot")
        return (
            f"wrote {path} (the trained network's loss graph, as DOT text)\n"
            f"note: there is no graph.svg: {err}"
        )
    return f"wrote {path} (the trained network's loss graph, with its gradients)"


# ------------------------------------------------------------------ the command


def _number(convert: Callable[[str], Any], ok: Callable[[Any], bool], what: str) -> Any:
    """An argparse type: `convert`, then `ok`, else argparse's error "expected <what>"."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_seed = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: bool(np.isfinite(v)) and v > 0, "a positive number")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options, on `parser`."""
    parser.add_argument(
        "--dataset",
        choices=list(DATASETS),
        default="moons",
        help="the toy dataset to learn (default: moons)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=1000,
        help="full-batch training steps (default: 1000)",
    )
    parser.add_argument(
        "--hidden",
        type=_positive_int,
        default=16,
        help="sigmoid units in the hidden layer (default: 16)",
    )
    parser.add_argument(
        "--lr", type=_positive_float, default=0.05, help="Adam's learning rate (default: 0.05)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        help="directory for graph.svg and decision_boundary.png (default: out)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed for the data and the initial weights (default: 0)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo with parsed arguments; returns the exit status."""
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"demo: cannot create the output directory {str(out)!r}: {err}", file=sys.stderr)
        return 1
    print(
        f"Training a 2 → {args.hidden} → 1 sigmoid network on {args.dataset} ({N_SAMPLES} points) "
        f"with Adam (lr {args.lr}) for {args.epochs} epochs"
    )
    progress = Progress(args.epochs)
    try:
        result = train(
            args.dataset,
            epochs=args.epochs,
            hidden=args.hidden,
            lr=args.lr,
            seed=args.seed,
            progress=progress,
        )
    finally:
        progress.close()
    print(result.model)
    print(
        f"final loss {result.loss.item():.4f}   accuracy {result.train_accuracy:.1%} on the "
        f"training set, {result.test_accuracy:.1%} on {N_SAMPLES} new points"
    )
    try:
        print(_write_graph(result.loss, out))
        path = plot_decision_boundary(
            result.model,
            result.x,
            result.y,
            out / "decision_boundary.png",
            title=f"{args.dataset}: accuracy {result.train_accuracy:.1%}",
        )
    except OSError as err:  # (a directory in the file's place, no permission, disk full)
        print(f"demo: cannot write into {str(out)!r}: {err}", file=sys.stderr)
        return 1
    except ImportError:
        print(
            "note: matplotlib is not installed, so there is no decision_boundary.png; "
            "pip install matplotlib (or 'microgradnp[plot]') to get it"
        )
    else:
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m microgradnp demo [options]`, with argv the options after `demo`."""
    parser = argparse.ArgumentParser(prog="python -m microgradnp demo", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))
