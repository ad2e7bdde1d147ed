"""Where the naive step's time goes: NumPy's own work, a minimal tape, and microgradnp.

bench_step.py times microgradnp against the tutorial's hand-written NumPy. This script splits
the difference for the step with the tutorial's loss (naive), at the sizes where Python
overhead matters (tiny, small). Contenders, each one full training step:

- numpy (tutorial): the reference, the tutorial's own functions (as in bench_step).
- numpy calls only: the NumPy calls microgradnp makes for the step (forward, every VJP, the
  gradient copies, the update), written out with no tape. Nothing written in Python over
  NumPy can be faster than this.
- minimal tape: a generic reverse-mode tape with none of microgradnp's features: each op
  keeps its inputs and one VJP closure per input (micrograd's design, over arrays); no shape
  or dtype checks, no saved-input protection, no stability lint, nothing to draw a graph
  from. What recording and walking a tape costs with nothing else.
- microgradnp: as in bench_step (the stability lint warns about log(sigmoid) each step).
- microgradnp, lint off: inside `mg.stability_warnings(False)`.
- microgradnp, no lint, no locks: also without locking the leaves an op saves against
  in-place changes (measures what that protection costs; not a supported setting).

All run from the same parameters, their gradients checked against the tutorial first; timed
interleaved over several rounds; the median ratio to the tutorial is printed.

    python benchmarks/bench_overhead.py            # tiny and small (about a minute)
    python benchmarks/bench_overhead.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from bench_step import CONTENDERS as STEP_CONTENDERS
from bench_step import (
    LEARNING_RATE,
    check_agreement,
    measure_speed,
    numpy_tutorial,
    settle_malloc,
)

import microgradnp as mg

MICROGRADNP = STEP_CONTENDERS["microgradnp"][1]  # the naive loss, as bench_step times it


def numpy_calls_only(X, Y, params):
    """microgradnp's NumPy calls for one naive step, in its order, with nothing around them."""
    state = [p.copy() for p in params]
    m = X.shape[1]

    def sigmoid(z):
        out = np.negative(z, out=np.empty_like(z))
        with np.errstate(over="raise"):
            np.exp(out, out=out)
        out += 1
        return np.divide(1, out, out=out)

    def sigmoid_vjp(g, s):
        d = 1 - s
        d *= s
        d *= g
        return d

    def grads(W1, b1, W2, b2):
        A1 = sigmoid(W1 @ X + b1)
        A2 = sigmoid(W2 @ A1 + b2)
        one_minus, not_Y = 1 - A2, 1 - Y
        terms = Y * np.log(A2) + not_Y * np.log(one_minus)
        -(1 / m) * np.sum(terms)
        g_terms = np.broadcast_to(np.ones(()) * -(1 / m), terms.shape)  # root grad, mul, sum
        g_A2 = -((g_terms * not_Y) / one_minus) + (g_terms * Y) / A2
        g_Z2 = sigmoid_vjp(g_A2, A2)
        g_A1 = W2.T * g_Z2  # an outer product (W2 has one row), as microgradnp computes it
        g_Z1 = sigmoid_vjp(g_A1, A1)
        found = (g_Z1 @ X.T, g_Z1.sum(axis=1, keepdims=True), g_Z2 @ A1.T)
        return [g.copy() for g in (*found, g_Z2.sum(axis=1, keepdims=True))]

    def step():
        for p, g in zip(state, grads(*state), strict=True):
            p -= LEARNING_RATE * g

    return step, lambda: grads(*params)


def minimal_tape(X, Y, params):
    """A closure per op, as in micrograd, over NumPy arrays; no checks of any kind."""

    class Var:
        __slots__ = ("data", "grad", "inputs", "backward")

        def __init__(self, data, inputs=(), backward=None):
            self.data, self.grad, self.inputs, self.backward = data, None, inputs, backward

    def send(v, g):
        if g.shape != v.data.shape:  # a broadcast bias: sum over the columns
            g = g.sum(axis=1, keepdims=True)
        v.grad = g if v.grad is None else v.grad + g

    def op(data, inputs, vjps):
        def backward(g):
            for v, vjp in zip(inputs, vjps, strict=True):
                if isinstance(v, Var):
                    send(v, vjp(g))

        return Var(data, inputs, backward)

    def sigmoid(v):
        s = 1 / (1 + np.exp(-v.data))
        return op(s, (v,), (lambda g: g * s * (1 - s),))

    def log(v):
        return op(np.log(v.data), (v,), (lambda g: g / v.data,))

    def run_backward(root):
        order, seen, stack = [], set(), [(root, False)]
        while stack:  # iterative depth-first topological sort
            v, expanded = stack.pop()
            if expanded:
                order.append(v)
            elif v not in seen:
                seen.add(v)
                stack.append((v, True))
                stack.extend((u, False) for u in v.inputs if isinstance(u, Var))
        root.grad = np.ones(())
        for v in reversed(order):
            if v.backward is not None:
                v.backward(v.grad)

    state = [Var(p.copy()) for p in params]
    m = X.shape[1]

    def forward(W1, b1, W2, b2):
        Z1 = op(W1.data @ X, (W1, X), (lambda g: g @ X.T, None))
        A1 = sigmoid(op(Z1.data + b1.data, (Z1, b1), (lambda g: g, lambda g: g)))
        Z2 = op(W2.data @ A1.data, (W2, A1), (lambda g: g @ A1.data.T, lambda g: W2.data.T * g))
        A2 = sigmoid(op(Z2.data + b2.data, (Z2, b2), (lambda g: g, lambda g: g)))
        one_minus = op(1 - A2.data, (A2,), (lambda g: -g,))
        log1, log2 = log(A2), log(one_minus)
        term1 = op(Y * log1.data, (log1,), (lambda g: g * Y,))
        not_Y = 1 - Y
        term2 = op(not_Y * log2.data, (log2,), (lambda g: g * not_Y,))
        both = op(term1.data + term2.data, (term1, term2), (lambda g: g, lambda g: g))
        total = op(np.sum(both.data), (both,), (lambda g: np.broadcast_to(g, both.data.shape),))
        return op(-(1 / m) * total.data, (total,), (lambda g: -(1 / m) * g,))

    def step():
        run_backward(forward(*state))
        for v in state:
            v.data = v.data - LEARNING_RATE * v.grad
            v.grad = None

    def gradients():
        fresh = [Var(p.copy()) for p in params]
        run_backward(forward(*fresh))
        return [v.grad for v in fresh]

    return step, gradients


def microgradnp_lint_off(X, Y, params):
    """bench_step's microgradnp step (naive loss) inside `mg.stability_warnings(False)`."""
    step, gradients = MICROGRADNP(X, Y, params)

    def quiet_step():
        with mg.stability_warnings(False):
            step()

    return quiet_step, gradients


def microgradnp_unprotected(X, Y, params):
    """As microgradnp_lint_off, and without locking the weights that `@` saves for its VJP
    (issue 8's protection against in-place changes): `matmul.saves_inputs` is off for the step.
    The only op of this network that saves a leaf is `@`, so this is the protection's cost."""
    step, gradients = microgradnp_lint_off(X, Y, params)

    def unprotected_step():
        mg.ops.matmul.saves_inputs = False
        try:
            step()
        finally:
            mg.ops.matmul.saves_inputs = True

    return unprotected_step, gradients


CONTENDERS: dict[str, Callable[..., Any]] = {
    "numpy (tutorial)": numpy_tutorial,
    "numpy calls only": numpy_calls_only,
    "minimal tape": minimal_tape,
    "microgradnp": MICROGRADNP,
    "microgradnp, lint off": microgradnp_lint_off,
    "microgradnp, no lint, no locks": microgradnp_unprotected,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: rough numbers")
    parser.add_argument("--sizes", nargs="+", choices=["tiny", "small"], default=None)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the naive loss is meant to be naive
    settle_malloc()
    names = list(CONTENDERS)
    rounds, budget = (2, 0.02) if args.quick else (9, 0.25)
    print(f"ratio to hand-written NumPy, median of {rounds} interleaved rounds (lower is better)")
    for size in args.sizes or ["tiny", "small"]:
        check_agreement(size, names, CONTENDERS)
        seconds = measure_speed(size, names, rounds, budget, CONTENDERS)
        base = seconds[names[0]]
        print(f"\n{size}: NumPy step {1e6 * statistics.median(base):.1f} us")
        for name in names:
            ratio = statistics.median(s / b for s, b in zip(seconds[name], base, strict=True))
            us = 1e6 * statistics.median(seconds[name])
            print(f"  {name:30s} {ratio:6.2f}   {us:7.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
