"""Function transforms: mg.grad, mg.value_and_grad, and derivatives of derivatives.

`mg.grad(f)` is a new function computing df/dx; it takes and returns NumPy arrays, and it
can be differentiated again. This example checks every result against the derivative
worked out by hand (and exits with an error if one differs):

1. derivatives of tanh up to the third, at many points at once;
2. a Hessian, one row at a time, as the gradient of a gradient's entry;
3. Newton's method, x <- x - f'(x) / f''(x), with both derivatives from mg.grad;
4. logistic regression fitted with value_and_grad, argnums=(0, 1) and has_aux.

Writes no files (--out is accepted for uniformity with the other examples).
Run: python examples/transforms.py
"""

from __future__ import annotations

import argparse

import numpy as np

import microgradnp as mg


def check(label: str, got: object, expected: object) -> None:
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=label)
    print(f"  ok: {label}")


def derivatives_of_tanh() -> None:
    print("1. tanh and its derivatives (elementwise, so grad of the sum gives each point's)")
    xs = np.linspace(-3, 3, 13)

    def f(x):
        return mg.sum(mg.tanh(x))

    df = mg.grad(f)
    d2f = mg.grad(lambda x: mg.sum(df(x)))
    d3f = mg.grad(lambda x: mg.sum(d2f(x)))
    t = np.tanh(xs)
    check("d/dx tanh = 1 - tanh²", df(xs), 1 - t**2)
    check("d²/dx² tanh = -2 tanh (1 - tanh²)", d2f(xs), -2 * t * (1 - t**2))
    check("d³/dx³ tanh = (1 - tanh²)(6 tanh² - 2)", d3f(xs), (1 - t**2) * (6 * t**2 - 2))


def hessian() -> None:
    print("2. the Hessian of f(v) = v0² v1 + exp(v0 v1), row i = grad of (grad f)[i]")

    def f(v):
        return v[0] ** 2 * v[1] + mg.exp(v[0] * v[1])

    grad_f = mg.grad(f)
    v = np.array([0.5, -1.2])
    rows = [mg.grad(lambda w, i=i: grad_f(w)[i])(v) for i in range(2)]
    x, y = v
    e = np.exp(x * y)
    expected = np.array(
        [
            [2 * y + y**2 * e, 2 * x + e + x * y * e],
            [2 * x + e + x * y * e, x**2 * e],
        ]
    )
    check("Hessian", np.stack(rows), expected)


def newton() -> None:
    print("3. Newton's method on f(x) = x⁴ - 3x² + x, from x = 2")

    def f(x):
        return x**4 - 3 * x**2 + x

    df = mg.grad(f)
    d2f = mg.grad(df)
    x = 2.0
    for step in range(6):
        x = x - df(x) / d2f(x)
        print(f"  step {step + 1}: x = {float(x):.12f}, f'(x) = {float(df(x)):.2e}")
    check("f'(x) = 4x³ - 6x + 1 is 0 at the minimum", 4 * x**3 - 6 * x + 1, 0.0)


def logistic_regression() -> None:
    print("4. logistic regression with value_and_grad(argnums=(0, 1), has_aux=True)")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x @ np.array([2.0, -1.0]) + 0.5 > 0).astype(np.float64)

    def loss(w, b):
        logits = x @ w + b
        value = mg.nn.functional.binary_cross_entropy_with_logits(logits, y)
        correct = np.mean((logits.data > 0) == (y == 1))
        return value, correct  # (value, aux)

    step = mg.value_and_grad(loss, argnums=(0, 1), has_aux=True)
    w, b = np.zeros(2), np.zeros(())
    (value, _), (dw, db) = step(w, b)
    p = 0.5  # at w = 0, b = 0 every prediction is sigmoid(0)
    check("first gradient dL/dw = mean((p - y) x)", dw, np.mean((p - y)[:, None] * x, axis=0))
    check("first gradient dL/db = mean(p - y)", db, np.mean(p - y))
    for _ in range(300):
        (value, correct), (dw, db) = step(w, b)
        w, b = w - 1.0 * dw, b - 1.0 * db
    print(f"  after 300 steps: loss {float(value):.4f}, accuracy {correct:.1%}, w = {w}, b = {b}")
    if correct < 0.97:
        raise SystemExit("logistic regression did not learn the linear rule")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="accepted for uniformity; this example writes no files")
    parser.parse_args()
    derivatives_of_tanh()
    hessian()
    newton()
    logistic_regression()


if __name__ == "__main__":
    main()
