"""mg.datasets: shapes, dtypes, balanced classes, determinism, and the geometry of each
dataset checked from its definition (and against scikit-learn when it is installed)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

from microgradnp import datasets
from microgradnp.datasets import make_circles, make_moons, make_spirals, make_xor

MAKERS = [make_moons, make_circles, make_xor, make_spirals]
# Geometry without noise is exact up to rounding: coordinates, radii and angles (up to 5 pi)
# from a few libm calls, each within an ulp or so (2e-16 at 1, 4e-15 at 16). An absolute
# tolerance (rtol=0): some coordinates are 0 or nearly so.
ROUNDING = 1e-14


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("n", [2, 7, 200, 201])
def test_shapes_dtypes_and_balanced_classes(make, n) -> None:
    X, y = make(n, rng=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert np.sum(y == 0) == n // 2 and np.sum(y == 1) == n - n // 2
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("make", MAKERS)
def test_deterministic_given_rng(make) -> None:
    X1, y1 = make(100, rng=3)
    X2, y2 = make(100, rng=3)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    X3, _ = make(100, rng=np.random.default_rng(3))  # a Generator seeded alike
    assert np.array_equal(X1, X3)
    X4, _ = make(100, rng=4)
    assert not np.array_equal(X1, X4)
    X5, _ = make(100)  # fresh entropy
    X6, _ = make(100)
    assert not np.array_equal(X5, X6)


@pytest.mark.parametrize("make", MAKERS)
def test_shuffled(make) -> None:
    _, y = make(200, rng=0)
    assert 0 < np.sum(y[:100]) < 100  # not all of one class first


def test_moons_lie_on_their_half_circles() -> None:
    X, y = make_moons(101, noise=0.0, rng=0)
    upper, lower = X[y == 0], X[y == 1]
    assert_close(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=0, atol=ROUNDING)
    assert np.all(upper[:, 1] >= -ROUNDING)
    assert_close(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, rtol=0, atol=ROUNDING)
    assert np.all(lower[:, 1] <= 0.5 + ROUNDING)
    # Evenly spaced along each half: the angles are a linspace from 0 to pi.
    angles = np.sort(np.arctan2(upper[:, 1], upper[:, 0]))
    assert_close(angles, np.linspace(0, np.pi, len(upper)), rtol=0, atol=ROUNDING)


def test_circles_radii_and_factor() -> None:
    X, y = make_circles(100, noise=0.0, factor=0.3, rng=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert_close(r[y == 0], 1.0, rtol=0, atol=ROUNDING)
    assert_close(r[y == 1], 0.3, rtol=0, atol=ROUNDING)
    angles = np.sort(np.mod(np.arctan2(X[y == 0, 1], X[y == 0, 0]), 2 * np.pi))
    assert_close(np.diff(angles), 2 * np.pi / 50, rtol=0, atol=ROUNDING)


def test_xor_corners_and_labels() -> None:
    X, y = make_xor(400, noise=0.0, rng=0)
    assert set(map(tuple, X)) == {(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)}
    assert np.array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))
    for corner in [(1, 1), (-1, 1), (-1, -1), (1, -1)]:
        assert np.sum(np.isclose(X, corner).all(axis=1)) == 100
    # With noise, points stay in their quadrant (4 standard deviations away) and keep the rule.
    X, y = make_xor(2000, noise=0.25, rng=1)
    agree = (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int) == y
    assert agree.mean() > 0.995


def test_spirals_are_rotations_of_each_other() -> None:
    X, y = make_spirals(200, noise=0.0, rng=0)
    zero, one = X[y == 0], X[y == 1]
    # Class 1 is class 0 turned by 180 degrees: the same points negated.
    key = np.lexsort((zero[:, 1], zero[:, 0]))
    neg = -one
    assert_close(zero[key], neg[np.lexsort((neg[:, 1], neg[:, 0]))], rtol=0, atol=ROUNDING)
    r = np.hypot(zero[:, 0], zero[:, 1])
    assert_close(np.sort(r), np.linspace(0.05, 1, 100), rtol=0, atol=ROUNDING)
    # The angle grows with the radius: `turns` full turns from r = 0.05 to r = 1.
    X2, y2 = make_spirals(200, noise=0.0, turns=2.0, rng=0)
    pts = X2[y2 == 0]
    r2 = np.hypot(pts[:, 0], pts[:, 1])
    phase = np.mod(np.arctan2(pts[:, 1], pts[:, 0]) - 2 * np.pi * 2.0 * r2 + np.pi, 2 * np.pi)
    assert_close(phase, np.pi, rtol=0, atol=ROUNDING)


@pytest.mark.parametrize("noise", [0.02, 0.1])
@pytest.mark.parametrize(
    ("make", "centres"),
    [
        (make_circles, {0: (0.0, 0.0)}),  # the outer circle (radius 1)
        (make_moons, {0: (0.0, 0.0), 1: (1.0, 0.5)}),  # two half circles of radius 1
    ],
    ids=["circles", "moons"],
)
def test_noise_is_the_standard_deviation(make, centres, noise) -> None:
    X, y = make(200_000, noise=noise, rng=0)
    for label, (cx, cy) in centres.items():
        points = X[y == label]
        # Isotropic Gaussian noise moves the distance to the centre by that same standard
        # deviation (less noise**2 / 4 of it: 0.25% at 0.1). The sample standard deviation of
        # 100,000 points has a relative standard error of 1 / sqrt(2 * 100,000) = 0.0022
        # (0.0026 measured over seeds): rtol 0.02 is more than 6 standard errors beyond the bias.
        radial = np.hypot(points[:, 0] - cx, points[:, 1] - cy) - 1
        assert_close(np.std(radial), noise, rtol=0.02)


def test_against_scikit_learn_when_available() -> None:
    sk = pytest.importorskip("sklearn.datasets")
    for ours, theirs, settings in [
        (make_moons, sk.make_moons, {}),
        (make_circles, sk.make_circles, {"factor": 0.3}),
    ]:
        X, y = ours(101, noise=0.0, rng=0, **settings)
        Xs, ys = theirs(101, noise=0.0, random_state=0, **settings)
        for label in (0, 1):
            a, b = X[y == label], Xs[ys == label]
            assert_close(a[np.lexsort(a.T)], b[np.lexsort(b.T)], rtol=0, atol=ROUNDING)


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("n", [0, 1, -5, 2.5, True, "100"])
def test_bad_n_samples(make, n) -> None:
    with pytest.raises(ValueError, match=f"{make.__name__}: n_samples must be an integer >= 2"):
        make(n)


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("noise", [-0.1, float("nan"), float("inf"), "low", None])
def test_bad_noise(make, noise) -> None:
    with pytest.raises(ValueError, match=f"{make.__name__}: noise must be a finite number >= 0"):
        make(10, noise=noise)


@pytest.mark.parametrize("factor", [1.0, -0.1, float("nan"), "0.5", None, True])
def test_bad_factor(factor) -> None:
    with pytest.raises(ValueError, match=r"factor must be a finite number in \[0, 1\), got"):
        make_circles(10, factor=factor)


@pytest.mark.parametrize("turns", [0, -1.0, float("inf"), "1", None])
def test_bad_turns(turns) -> None:
    with pytest.raises(ValueError, match="turns must be a finite number > 0, got"):
        make_spirals(10, turns=turns)


def test_module_lists_its_makers() -> None:
    assert sorted(datasets.__all__) == sorted(m.__name__ for m in MAKERS)
