"""Shared test helpers: central finite differences, the independent gradient reference."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def numerical_grads(
    f: Callable[..., float], arrays: Sequence[np.ndarray], eps: float = 1e-6
) -> list[np.ndarray]:
    """Central differences of the scalar f(*arrays) with respect to each array, in float64."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = f(*arrays)
            a[idx] = old - eps
            down = f(*arrays)
            a[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def assert_close(actual: object, expected: object, rtol: float = 1e-6, atol: float = 0.0) -> None:
    """|actual - expected| <= atol + rtol * |expected| elementwise. No absolute tolerance
    unless given: a silent one would accept anything for values smaller than it."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


# Hypothesis: a bounded number of examples by default (CI); more with
# `pytest --hypothesis-profile=thorough`.
from hypothesis import settings  # noqa: E402

settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile("default")


# Graphviz's `dot`: rendering tests skip without it, except in CI (MICROGRADNP_REQUIRE_DOT=1),
# where a missing `dot` must fail them.
import os  # noqa: E402
import shutil  # noqa: E402

import pytest  # noqa: E402


def require_dot() -> str:
    """The path of Graphviz's `dot`; skips the calling test without it (fails it in CI)."""
    path = shutil.which("dot")
    if path is None:
        if os.environ.get("MICROGRADNP_REQUIRE_DOT"):
            pytest.fail("MICROGRADNP_REQUIRE_DOT is set but Graphviz's `dot` is not on PATH")
        pytest.skip("Graphviz's `dot` is not installed")
    return path


@pytest.fixture
def dot() -> str:
    """Graphviz's `dot` (see require_dot)."""
    return require_dot()
