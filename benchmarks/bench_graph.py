"""Forward + backward time per node for long chains and a wide graph: is the engine linear?

A chain: y = x; y = y * c, n times; y.backward(). 10x more nodes should cost at most ~10x
the time (the issue's bar: <= 11x). A wide graph: one sum over n independent products.

Each is measured twice: with the interpreter's defaults, and with CPython's cycle collector
paused while the graph is built. The collector's full passes traverse every live tensor, so
in a graph of 100k+ nodes (which no longer fits in the CPU caches) they make building it
slower per node; backward() pauses the collector itself. The second measurement shows the
library's own cost, which is what must be linear.

    python benchmarks/bench_graph.py            # 10k, 100k, 1M nodes
    python benchmarks/bench_graph.py --quick    # 1k, 10k, 100k
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

import microgradnp as mg


def chain_seconds(n: int, *, pause_gc: bool = False) -> tuple[float, float]:
    x = mg.tensor(1.0, requires_grad=True)
    if pause_gc:
        gc.disable()
    start = time.perf_counter()
    y = x
    for _ in range(n):
        y = y * 1.0000001
    middle = time.perf_counter()
    gc.enable()
    y.backward()
    end = time.perf_counter()
    assert x.grad is not None and np.isclose(x.grad, 1.0000001**n)
    return middle - start, end - middle


def wide_seconds(n: int) -> tuple[float, float]:
    x = mg.tensor(np.ones(3), requires_grad=True)
    start = time.perf_counter()
    branches = [x * float(i) for i in range(n)]
    total = mg.stack(branches).sum()
    middle = time.perf_counter()
    total.backward()
    end = time.perf_counter()
    assert x.grad is not None and np.allclose(x.grad, n * (n - 1) / 2)
    return middle - start, end - middle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller graphs (a smoke run)")
    args = parser.parse_args(argv)
    sizes = [1_000, 10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    for pause_gc in (False, True):
        print(
            "\n" + ("cycle collector paused while building" if pause_gc else "interpreter defaults")
        )
        print(f"{'graph':>18s} {'forward us/node':>16s} {'backward us/node':>17s} {'total s':>8s}")
        totals = []
        for n in sizes:
            gc.collect()
            forward, backward = chain_seconds(n, pause_gc=pause_gc)
            totals.append(forward + backward)
            print(
                f"{f'chain {n:,}':>18s} {1e6 * forward / n:16.2f} {1e6 * backward / n:17.2f}"
                f" {forward + backward:8.2f}"
            )
        for small, big, n in zip(totals, totals[1:], sizes[1:], strict=False):
            print(f"  {n:,} nodes cost {big / small:.1f}x the time of {n // 10:,} (linear: 10x)")
    n = sizes[1]
    gc.collect()
    forward, backward = wide_seconds(n)
    print()
    print(f"{f'wide {n:,}':>18s} {1e6 * forward / n:16.2f} {1e6 * backward / n:17.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
