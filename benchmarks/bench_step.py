"""One training step of the tutorial's network, timed against the tutorial's hand-written NumPy.

A step is: forward, the mean binary cross-entropy, backward, an SGD update; float64, column
layout X (n_in, m). Contenders: the tutorial's own functions (the reference), microgradnp with
the loss written as in the tutorial (naive) and with binary_cross_entropy_with_logits (fused),
and PyTorch, HIPS autograd and MyGrad when they are installed. All start from the
same parameters; their gradients are checked against the tutorial's before anything is timed.
Timing: all contenders in this one process, interleaved, several rounds; each contender's
ratio to NumPy is taken per round and the median is printed. Peak memory growth of one step is
measured per contender in a child process.

    python benchmarks/bench_step.py            # the full table (a few minutes)
    python benchmarks/bench_step.py --quick    # a smoke run (seconds; numbers are rough)
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

SIZES: dict[str, tuple[int, int, int, int]] = {  # (n_in, hidden, n_out, m)
    "tiny": (2, 3, 1, 400),
    "small": (2, 16, 1, 1000),
    "medium": (64, 256, 1, 4096),
    "large": (784, 512, 1, 16384),
}
TARGETS = {"tiny": 2.0, "small": 1.3, "medium": 0.6, "large": 1.0}
LEARNING_RATE = 0.1
Params = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Step = Callable[[], None]


def problem(size: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Params]:
    n_in, hidden, n_out, m = SIZES[size]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_in, m))
    Y = (rng.random((n_out, m)) < 0.5).astype(np.float64)
    scale = 1 / np.sqrt(n_in)  # keeps the hidden sigmoids out of saturation at every size
    params = (
        rng.standard_normal((hidden, n_in)) * scale,
        rng.standard_normal((hidden, 1)),
        rng.standard_normal((n_out, hidden)) / np.sqrt(hidden),
        rng.standard_normal((n_out, 1)),
    )
    return X, Y, params


# ------------------------------------------------------------ the tutorial, as it gives it
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(z):
    return sigmoid(z) * (1 - sigmoid(z))


def forward_propagation(X, W1, b1, W2, b2):
    Z1 = np.dot(W1, X) + b1
    A1 = sigmoid(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = sigmoid(Z2)
    return Z1, A1, Z2, A2


def backward_propagation(X, Y, Z1, A1, Z2, A2, W1, b1, W2, b2):
    m = X.shape[1]
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * sigmoid_derivative(Z1)
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return dW1, db1, dW2, db2


def update_parameters(W1, b1, W2, b2, dW1, db1, dW2, db2, learning_rate):
    W1 = W1 - learning_rate * dW1
    b1 = b1 - learning_rate * db1
    W2 = W2 - learning_rate * dW2
    b2 = b2 - learning_rate * db2
    return W1, b1, W2, b2


def tutorial_loss(A2, Y):
    m = Y.shape[1]
    return -(1 / m) * np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))


# ------------------------------------------------------------ contenders
# Each: setup(X, Y, params) -> (step, gradients); gradients() runs forward and backward once
# from the initial parameters and returns (dW1, db1, dW2, db2) for the agreement check.


def numpy_tutorial(X, Y, params):
    state = list(params)

    def step():
        Z1, A1, Z2, A2 = forward_propagation(X, *state)
        tutorial_loss(A2, Y)
        grads = backward_propagation(X, Y, Z1, A1, Z2, A2, *state)
        state[:] = update_parameters(*state, *grads, LEARNING_RATE)

    def gradients():
        Z1, A1, Z2, A2 = forward_propagation(X, *params)
        return backward_propagation(X, Y, Z1, A1, Z2, A2, *params)

    return step, gradients


def _microgradnp(fused: bool):
    import microgradnp as mg
    from microgradnp.nn.functional import binary_cross_entropy_with_logits

    def setup(X, Y, params):
        tensors = [mg.tensor(p, requires_grad=True) for p in params]
        W1, b1, W2, b2 = tensors
        m = X.shape[1]

        def loss():
            A1 = mg.sigmoid(W1 @ X + b1)
            Z2 = W2 @ A1 + b2
            if fused:
                return binary_cross_entropy_with_logits(Z2, Y)
            A2 = mg.sigmoid(Z2)
            return -(1 / m) * mg.sum(Y * mg.log(A2) + (1 - Y) * mg.log(1 - A2))

        def step():
            loss().backward()
            with mg.no_grad():
                for t in tensors:
                    t -= LEARNING_RATE * t.grad
                    t.grad = None

        def gradients():
            fresh = [mg.tensor(p, requires_grad=True) for p in params]
            for t, p in zip(tensors, fresh, strict=True):
                t.data, t.grad = p.data, None
            loss().backward()
            return [t.grad for t in tensors]

        return step, gradients

    return setup


def torch_eager(X, Y, params):
    import torch

    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    W1, b1, W2, b2 = tensors
    m = X.shape[1]

    def loss():
        A1 = torch.sigmoid(W1 @ Xt + b1)
        A2 = torch.sigmoid(W2 @ A1 + b2)
        return -(1 / m) * torch.sum(Yt * torch.log(A2) + (1 - Yt) * torch.log(1 - A2))

    def step():
        loss().backward()
        with torch.no_grad():
            for t in tensors:
                t -= LEARNING_RATE * t.grad
                t.grad = None

    def gradients():
        with torch.no_grad():
            for t, p in zip(tensors, params, strict=True):
                t.copy_(torch.from_numpy(p))
                t.grad = None
        loss().backward()
        return [t.grad.numpy() for t in tensors]

    return step, gradients


def hips_autograd(X, Y, params):
    import autograd
    import autograd.numpy as anp

    m = X.shape[1]

    def loss(p):
        W1, b1, W2, b2 = p
        A1 = 1 / (1 + anp.exp(-(anp.dot(W1, X) + b1)))
        A2 = 1 / (1 + anp.exp(-(anp.dot(W2, A1) + b2)))
        return -(1 / m) * anp.sum(Y * anp.log(A2) + (1 - Y) * anp.log(1 - A2))

    grad = autograd.grad(loss)
    state = [list(params)]

    def step():
        g = grad(state[0])
        state[0] = [p - LEARNING_RATE * d for p, d in zip(state[0], g, strict=True)]

    return step, lambda: grad(list(params))


def mygrad(X, Y, params):
    import mygrad as mgd

    tensors = [mgd.tensor(p) for p in params]
    m = X.shape[1]

    def loss():
        W1, b1, W2, b2 = tensors
        A1 = 1 / (1 + mgd.exp(-(mgd.matmul(W1, X) + b1)))
        A2 = 1 / (1 + mgd.exp(-(mgd.matmul(W2, A1) + b2)))
        return -(1 / m) * mgd.sum(Y * mgd.log(A2) + (1 - Y) * mgd.log(1 - A2))

    def step():
        loss().backward()
        for t in tensors:
            t.data -= LEARNING_RATE * t.grad  # MyGrad's documented in-place update of .data

    def gradients():
        for i, p in enumerate(params):
            tensors[i] = mgd.tensor(p)
        loss().backward()
        return [t.grad for t in tensors]

    return step, gradients


CONTENDERS: dict[str, tuple[str | None, Callable[..., Any]]] = {
    # name: (module that must be importable, setup)
    "numpy (tutorial)": (None, numpy_tutorial),
    "microgradnp": (None, _microgradnp(fused=False)),
    "microgradnp fused": (None, _microgradnp(fused=True)),
    "PyTorch": ("torch", torch_eager),
    "HIPS autograd": ("autograd", hips_autograd),
    "MyGrad": ("mygrad", mygrad),
}
# micrograd is not here: its package's Value has no exp or log, so it cannot express this
# network (and it is scalar-only: one Python object per number).


def available() -> list[str]:
    return [
        name for name, (module, _) in CONTENDERS.items() if module is None or importable(module)
    ]


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _setups(names: list[str], setups: dict[str, Callable[..., Any]] | None) -> dict[str, Any]:
    """Each contender's setup function: from `setups` if given, else from CONTENDERS."""
    if setups is None:
        return {name: CONTENDERS[name][1] for name in names}
    return {name: setups[name] for name in names}


def check_agreement(
    size: str, names: list[str], setups: dict[str, Callable[..., Any]] | None = None
) -> None:
    X, Y, params = problem(size)
    reference = numpy_tutorial(X, Y, params)[1]()
    for name, setup in _setups(names, setups).items():
        got = setup(X, Y, params)[1]()
        for label, g, r in zip(("dW1", "db1", "dW2", "db2"), got, reference, strict=True):
            if not np.allclose(np.asarray(g), r, rtol=1e-6, atol=1e-12):
                raise SystemExit(f"{size}: {name} disagrees with the tutorial on {label}")


def settle_malloc() -> None:
    """Put glibc's malloc where a long-running process ends up, whatever was imported.

    glibc raises its mmap and trim thresholds (up to 32 MiB) the first time it frees a large
    block. Importing PyTorch does that; importing NumPy alone does not, and then each large
    temporary of hand-written NumPy (16 x 1000 floats and up) is fresh memory from the OS,
    paid for in page faults: the small size's NumPy step runs about 3x slower. Freeing one
    block just under 32 MiB here makes every run start from the raised thresholds, whatever
    is installed: the conservative choice, NumPy at its fastest. (`--no-settle` skips it.)
    """
    block = np.ones((32 << 20) // 8 - 1024)
    del block


def time_steps(step: Step, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        step()
    return time.perf_counter() - start


def measure_speed(
    size: str,
    names: list[str],
    rounds: int,
    budget: float,
    setups: dict[str, Callable[..., Any]] | None = None,
) -> dict[str, list[float]]:
    """Per-round seconds per step for each contender (interleaved, order rotated)."""
    X, Y, params = problem(size)
    steps = {name: setup(X, Y, params)[0] for name, setup in _setups(names, setups).items()}
    counts = {}
    for name, step in steps.items():  # warm up, and size each contender's batch to ~budget
        step()
        once = max(time_steps(step, 1), 1e-6)
        counts[name] = max(1, int(budget / once))
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            seconds[name].append(time_steps(steps[name], counts[name]) / counts[name])
    return seconds


def peak_memory_mib(size: str, name: str) -> float | None:
    """Peak RSS growth of one step, in a fresh child process (None if unmeasurable).

    glibc's malloc keeps freed blocks below a threshold that it raises as it goes, so RSS
    would depend on what ran before; a fixed threshold makes every large array a fresh
    mapping, returned when freed, and RSS growth then equals the arrays alive at the peak
    (the same number tracemalloc reports for the NumPy-based contenders).
    """
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    result = subprocess.run(
        [sys.executable, __file__, "--memory-child", name, size],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    try:
        return float(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(field)


def memory_child(name: str, size: str) -> None:
    X, Y, params = problem(size)
    step = CONTENDERS[name][1](X, Y, params)[0]
    step()  # warm: first-call allocations are not a step's cost
    gc.collect()
    before = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS counter (VmHWM) to the current RSS
    step()
    print((_rss_kib("VmHWM") - before) / 1024)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: rough numbers")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--no-settle", action="store_true", help="leave glibc's malloc as the imports left it"
    )
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    warnings.simplefilter("ignore")  # the naive loss is meant to be naive
    if not args.no_settle:
        settle_malloc()
    sizes = args.sizes or (["tiny", "small"] if args.quick else list(SIZES))
    rounds = args.rounds or (2 if args.quick else 9)
    budget = 0.02 if args.quick else 0.25
    print(f"machine: {machine()}")
    print("malloc: " + ("as imported (--no-settle)" if args.no_settle else "settled"))
    print(f"ratio to hand-written NumPy, median of {rounds} interleaved rounds (lower is better)")
    results: dict[str, Any] = {}
    for size in sizes:
        names = available()
        check_agreement(size, names)
        seconds = measure_speed(size, names, rounds, budget)
        base = seconds["numpy (tutorial)"]
        row = {}
        for name in names:
            ratios = [s / b for s, b in zip(seconds[name], base, strict=True)]
            row[name] = {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
            if not args.no_memory and not args.quick:
                row[name]["peak_mib"] = peak_memory_mib(size, name)
        results[size] = {"step_ms_numpy": 1e3 * statistics.median(base), "contenders": row}
        print(
            f"\n{size} {SIZES[size]}: NumPy step {1e3 * statistics.median(base):.3f} ms"
            f" (target for microgradnp: <= {TARGETS[size]})"
        )
        for name, r in row.items():
            memory = f"   peak +{r['peak_mib']:.0f} MiB" if r.get("peak_mib") is not None else ""
            print(f"  {name:20s} {r['ratio']:8.2f}   ({r['min']:.2f}-{r['max']:.2f}){memory}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": machine(), "malloc_settled": not args.no_settle, "results": results},
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
