"""Found by tests/test_random_graphs.py (an "Exception ignored in SavedLeaves.__del__"
while differentiating a graph whose inputs share memory), reduced by hand:

    x = np.ones(4)
    v = x[:2]                                   # a view of x
    mg.grad(lambda a, b: (a * a).sum() + (b * b).sum(), (0, 1))(x, v)

mg.grad wraps its array arguments without copying, and recording makes saved leaf arrays
read-only until backward frees the nodes. The node saving `a` locks x; the node saving `b`
locks the view. When the view is unlocked while x is still locked, NumPy refuses
("cannot set WRITEABLE flag to True of this array", raised inside __del__, so only printed)
and the caller's `v` stays read-only for good.
"""

from __future__ import annotations

import numpy as np

import microgradnp as mg


def test_arguments_that_share_memory_are_writeable_again_after_grad() -> None:
    x = np.ones(4)
    v = x[:2]
    g = mg.grad(lambda a, b: (a * a).sum() + (b * b).sum(), (0, 1))(x, v)
    assert np.array_equal(g[0], 2 * x) and np.array_equal(g[1], 2 * v)
    assert x.flags.writeable and v.flags.writeable
    v[0] = 5.0  # the caller's arrays are theirs again
    assert x[0] == 5.0


def test_arguments_that_share_memory_in_the_other_order() -> None:
    # (the order in which the nodes are freed decides: this one already works)
    x = np.ones(4)
    v = x[:2]
    mg.grad(lambda a, b: (b * b).sum() + (a * a).sum(), (0, 1))(x, v)
    assert x.flags.writeable and v.flags.writeable
