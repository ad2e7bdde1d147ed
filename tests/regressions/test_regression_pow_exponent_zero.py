"""Shrunk by hypothesis from tests/test_random_graphs.py (Hessian-vector products):

    x0 = mg.tensor(np.array(0.0), requires_grad=True)
    x2 = mg.tensor(np.array(0.0), requires_grad=True)
    v1 = mg.pow(x2 + 0.2, x0)
    loss = mg.sum(v1 * 0.126)

microgradnp and HIPS autograd disagreed on d2 loss / dx2 dx0, the derivative of the base's
gradient p * c**(p - 1) with respect to the exponent p at p = 0. microgradnp is right (the
formula and finite differences below); autograd's pow VJP uses x ** where(y, y - 1, 1), a
guard against 0 ** -1 that makes the exponent's derivative wrong at exactly y = 0 (it
gives 0.2 instead of 1 / 0.2 = 5). The random graphs now keep pow exponents off 0; this
keeps microgradnp's answer there checked.
"""

from __future__ import annotations

import numpy as np
from conftest import assert_close

import microgradnp as mg

W = 0.126


def loss(p: object, b: object) -> mg.Tensor:
    return mg.sum(mg.pow(b + 0.2, p) * W)


def test_hessian_of_pow_at_exponent_zero_matches_the_formula() -> None:
    p0, b0, c = np.array(0.0), np.array(0.0), 0.2
    grad = mg.grad(loss, (0, 1))
    hessian = np.array(
        [
            [mg.grad(lambda p, b, i=i: grad(p, b)[i], (0, 1))(p0, b0)[j] for j in (0, 1)]
            for i in (0, 1)
        ]
    )
    # f = W c**p, c = b + 0.2: f_pp = W c**p log(c)**2, f_pb = W c**(p-1) (1 + p log c),
    # f_bb = W p (p-1) c**(p-2)
    expected = W * np.array([[np.log(c) ** 2, 1 / c], [1 / c, 0.0]])
    assert_close(hessian, expected, rtol=1e-13, atol=1e-15)


def test_it_matches_finite_differences_of_the_gradient() -> None:
    p0, b0, h = 0.0, 0.0, 1e-6
    grad = mg.grad(loss, (0, 1))
    column_p = (np.array(grad(p0 + h, b0)) - np.array(grad(p0 - h, b0))) / (2 * h)
    column_b = (np.array(grad(p0, b0 + h)) - np.array(grad(p0, b0 - h))) / (2 * h)
    hvp = mg.grad(lambda p, b: sum(g for g in grad(p, b)), (0, 1))(np.array(p0), np.array(b0))
    assert_close(np.array(hvp), column_p + column_b, rtol=1e-6)
