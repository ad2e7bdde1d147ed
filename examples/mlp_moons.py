"""An MLP on two toy datasets, moons and spirals, with mg.nn, mg.optim and mg.datasets.

For each dataset: train Sequential(Linear(2, H), Tanh(), Linear(H, H), Tanh(), Linear(H, 1))
with Adam on the binary cross-entropy of its logits, print the accuracy on the training set
and on fresh points, and draw the decision boundary to <out>/<dataset>_boundary.png (needs
matplotlib, an optional extra: pip install matplotlib; without it the pictures are skipped
with a note). The moons model is also saved to <out>/moons_mlp.npz with mg.save, loaded
into a fresh model, and checked to predict exactly the same.

Run: python examples/mlp_moons.py [--out DIR] [--epochs N] [--hidden H] [--seed S]
(about a second with the defaults).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import microgradnp as mg
from microgradnp import datasets, nn, optim
from microgradnp.demo import accuracy, plot_decision_boundary
from microgradnp.nn.functional import binary_cross_entropy_with_logits
from microgradnp.serialization import load, save


def mlp(hidden: int, rng: np.random.Generator) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(2, hidden, rng=rng),
        nn.Tanh(),
        nn.Linear(hidden, hidden, rng=rng),
        nn.Tanh(),
        nn.Linear(hidden, 1, rng=rng),
    )


def fit(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float) -> float:
    """Full-batch Adam on the mean binary cross-entropy; returns the final loss."""
    targets = y[:, None].astype(np.float64)  # (n, 1), like the model's output
    optimizer = optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = binary_cross_entropy_with_logits(model(x), targets)
        loss.backward()
        optimizer.step()
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("out"), help="directory for the picture (default out)"
    )
    parser.add_argument("--epochs", type=int, default=500, help="training epochs (default 500)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    parser.add_argument(
        "--lr", type=float, default=0.02, help="Adam's learning rate (default 0.02)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and parameters (default 0)"
    )
    args = parser.parse_args()
    if args.epochs < 1 or args.hidden < 1 or args.seed < 0 or not args.lr > 0:
        parser.error("--epochs and --hidden must be >= 1, --lr > 0 and --seed >= 0")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file; give a directory")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)

    models = {}
    for name, make in [("moons", datasets.make_moons), ("spirals", datasets.make_spirals)]:
        x, y = make(400, rng=rng)
        x_test, y_test = make(400, rng=rng)
        model = models[name] = mlp(args.hidden, rng)
        loss = fit(model, x, y, epochs=args.epochs, lr=args.lr)
        train_acc, test_acc = accuracy(model, x, y), accuracy(model, x_test, y_test)
        print(
            f"{name}: loss {loss:.4f}, train accuracy {train_acc:.1%}, test accuracy {test_acc:.1%}"
        )
        try:
            path = plot_decision_boundary(
                model,
                x,
                y,
                args.out / f"{name}_boundary.png",
                title=f"{name}: test accuracy {test_acc:.1%}",
            )
            print(f"  wrote {path}")
        except ImportError as err:
            print(f"  note: no picture: {err}")

    # A checkpoint round trip: the reloaded model predicts exactly what the trained one does.
    path = save(models["moons"].state_dict(), args.out / "moons_mlp.npz")
    fresh = mlp(args.hidden, np.random.default_rng(12345))
    fresh.load_state_dict(load(path))
    grid = rng.uniform(-2, 3, size=(1000, 2))
    with mg.no_grad():
        same = np.array_equal(models["moons"](grid).data, fresh(grid).data, equal_nan=True)
    print(f"saved {path}; the reloaded model predicts {'identically' if same else 'DIFFERENTLY'}")
    if not same:
        raise SystemExit("the reloaded model's predictions differ")


if __name__ == "__main__":
    main()
