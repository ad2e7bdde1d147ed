"""Toy 2-D classification datasets (NumPy only) for trying networks out.

Each function returns `(X, y)`: X of shape (n_samples, 2), float64, one row per example
(scikit-learn's layout; the tutorial's column layout is `X.T`), and y of shape (n_samples,),
int64 labels 0 and 1, in shuffled order. The classes are as balanced as `n_samples` allows.
`noise` is the standard deviation of Gaussian noise added to every coordinate; `rng` is a
NumPy Generator or a seed (None draws fresh OS entropy), so a seed gives the same data every
time.

    X, y = mg.datasets.make_moons(200, noise=0.1, rng=0)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .recording import is_integer, random_generator

__all__ = ["make_circles", "make_moons", "make_spirals", "make_xor"]

Seed = np.random.Generator | int | None


def _check(name: str, n_samples: int, noise: float) -> None:
    if not is_integer(n_samples) or n_samples < 2:
        raise ValueError(
            f"{name}: n_samples must be an integer >= 2 (one example of each class at least), "
            f"got {n_samples!r}"
        )
    _check_number(name, "noise", noise, lambda x: x >= 0, ">= 0 (a standard deviation)")


def _check_number(
    name: str, option: str, value: object, ok: Callable[[float], bool], condition: str
) -> None:
    """Raise ValueError unless value is a finite real number (not a bool) for which ok holds."""
    real = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and ok(value)):  # type: ignore[arg-type]
        raise ValueError(f"{name}: {option} must be a finite number {condition}, got {value!r}")


def _finish(
    points: np.ndarray, labels: np.ndarray, noise: float, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle the examples and add the noise."""
    order = generator.permutation(len(labels))
    points, labels = points[order], labels[order]
    if noise:
        points = points + generator.normal(scale=noise, size=points.shape)
    return points.astype(np.float64), labels.astype(np.int64)


def _split(n_samples: int) -> tuple[int, int]:
    """Examples of class 0 and class 1 (class 1 gets the odd one, as in scikit-learn)."""
    return n_samples // 2, n_samples - n_samples // 2


def make_moons(
    n_samples: int = 200, *, noise: float = 0.1, rng: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's make_moons, shuffled).

    Class 0: the upper half of the unit circle; class 1: the lower half of the unit circle
    centred at (1, 0.5). Points are evenly spaced along each half before the noise.
    """
    _check("make_moons", n_samples, noise)
    generator = random_generator(rng, "make_moons")
    n0, n1 = _split(n_samples)
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 1 - np.sin(t1) - 0.5], axis=1)
    y = np.repeat([0, 1], [n0, n1])
    return _finish(np.concatenate([upper, lower]), y, noise, generator)


def make_circles(
    n_samples: int = 200, *, noise: float = 0.05, factor: float = 0.5, rng: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """A circle inside another (scikit-learn's make_circles, shuffled; its defaults are
    factor=0.8 and no noise, these make the two classes easier to tell apart).

    Class 0: the circle of radius 1; class 1: the circle of radius `factor` (0 <= factor < 1),
    both centred at the origin, points evenly spaced in angle before the noise.
    """
    _check("make_circles", n_samples, noise)
    _check_number("make_circles", "factor", factor, lambda f: 0 <= f < 1, "in [0, 1)")
    generator = random_generator(rng, "make_circles")
    n0, n1 = _split(n_samples)
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    outer = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    inner = factor * np.stack([np.cos(t1), np.sin(t1)], axis=1)
    y = np.repeat([0, 1], [n0, n1])
    return _finish(np.concatenate([outer, inner]), y, noise, generator)


def make_xor(
    n_samples: int = 200, *, noise: float = 0.25, rng: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Four blobs at the corners (±1, ±1): label 1 where the signs of the two coordinates
    differ, 0 where they agree (the XOR of the signs).

    `noise` is each blob's standard deviation. The corners take turns, so each gets
    n_samples / 4 examples (±1).
    """
    _check("make_xor", n_samples, noise)
    generator = random_generator(rng, "make_xor")
    # Taken round-robin, the corners alternate labels 1, 0, 1, 0: balanced classes, with
    # class 1 getting the odd example, as in the other datasets.
    corners = np.array([[-1.0, 1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    which = np.arange(n_samples) % 4
    points = corners[which]
    y = (points[:, 0] * points[:, 1] < 0).astype(np.int64)
    return _finish(points, y, noise, generator)


def make_spirals(
    n_samples: int = 200, *, noise: float = 0.05, turns: float = 1.5, rng: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals around the origin: class 1 is class 0 rotated by 180°.

    Along each spiral the radius r grows evenly from 0.05 to 1, and the angle is
    2π · turns · r: `turns` full circles per unit of radius (0.95 · turns of them drawn).
    """
    _check("make_spirals", n_samples, noise)
    _check_number("make_spirals", "turns", turns, lambda t: t > 0, "> 0")
    generator = random_generator(rng, "make_spirals")
    arms = []
    for label, n in enumerate(_split(n_samples)):
        r = np.linspace(0.05, 1, n)
        angle = 2 * np.pi * turns * r + np.pi * label
        arms.append(np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1))
    y = np.repeat([0, 1], _split(n_samples))
    return _finish(np.concatenate(arms), y, noise, generator)
