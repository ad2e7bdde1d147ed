"""Cross-check against an independent autodiff library: HIPS autograd (the dev extra).

The op table's references are written against an array namespace, so autograd can
differentiate the very same reference code.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close
from op_table import OP_CASES, OpCase

import microgradnp as mg

# These tests build the naive loss on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::microgradnp.ops.StabilityWarning")

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")


@pytest.mark.parametrize("case", OP_CASES, ids=[c.id for c in OP_CASES])
def test_gradients_match_autograd(case: OpCase) -> None:
    arrays = case.inputs()
    weights = np.random.default_rng(2).normal(size=np.shape(case.ref(np, *arrays)))
    tensors = [mg.tensor(a, requires_grad=True) for a in arrays]
    (case.fn(*tensors) * weights).sum().backward()

    def scalar(*a):
        return anp.sum(case.ref(anp, *a) * weights)

    expected = autograd.grad(scalar, tuple(range(len(arrays))))(*arrays)
    for t, e in zip(tensors, expected, strict=True):
        assert_close(t.grad, e, rtol=1e-10, atol=1e-12)


def test_tutorial_network_second_derivatives_match_autograd() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 30))
    Y = (rng.random((1, 30)) < 0.5).astype(float)
    W1, b1, W2 = rng.normal(size=(3, 2)), rng.normal(size=(3, 1)), rng.normal(size=(1, 3))
    v = rng.normal(size=(1, 3))

    def loss(xp, w2):
        a1 = 1 / (1 + xp.exp(-(W1 @ X + b1)))
        a2 = 1 / (1 + xp.exp(-(w2 @ a1)))
        return xp.mean(-(Y * xp.log(a2) + (1 - Y) * xp.log(1 - a2)))

    # Hessian-vector product with respect to W2, both ways.
    ours = mg.grad(lambda w: mg.sum(mg.grad(lambda u: loss(mg, u))(w) * v))(W2)
    theirs = autograd.grad(lambda w: anp.sum(autograd.grad(lambda u: loss(anp, u))(w) * v))(W2)
    assert_close(ours, theirs, rtol=1e-10, atol=1e-14)
