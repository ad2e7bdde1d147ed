"""Nothing leaks: training keeps memory flat, a dropped graph is freed by reference counting
alone, and grad mode / anomaly mode / transform depth stay in their thread or context.

(tests/test_engine.py checks the small cases: a two-op graph freed without the cycle
collector, no_grad in a second thread; tests/test_anomaly.py: detect_anomaly in two
concurrent threads. These extend them to whole training graphs, every public entry point
that touches a graph, asyncio tasks, and concurrent backward passes.)
"""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from conftest import assert_close

import microgradnp as mg
from microgradnp import nn, optim
from microgradnp.engine import topological_order
from microgradnp.nn import functional as F


@contextmanager
def cycle_collector_off() -> Iterator[None]:
    """Reference counting only: anything still alive afterwards is held, or in a cycle."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def tutorial_problem(m: int = 400) -> tuple[np.ndarray, np.ndarray, list[mg.Tensor]]:
    """The tutorial's data (column layout, X (2, m)) and its 2-3-1 network's parameters."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, m))
    Y = (X[0:1] * X[1:2] > 0).astype(float)
    shapes = {"W1": (3, 2), "b1": (3, 1), "W2": (1, 3), "b2": (1, 1)}
    params = [mg.tensor(rng.normal(size=s), requires_grad=True, name=n) for n, s in shapes.items()]
    return X, Y, params


def tutorial_loss(X: np.ndarray, Y: np.ndarray, params: list[mg.Tensor]) -> mg.Tensor:
    W1, b1, W2, b2 = params
    A1 = mg.sigmoid(W1 @ X + b1)
    return F.binary_cross_entropy_with_logits(W2 @ A1 + b2, Y)


def expression_trainer() -> Callable[[], float]:
    """One step of the README's tutorial network: expressions, backward, update in no_grad."""
    X, Y, params = tutorial_problem()

    def step() -> float:
        loss = tutorial_loss(X, Y, params)
        for p in params:
            p.zero_grad()
        loss.backward()
        with mg.no_grad():
            for p in params:
                p -= 0.5 * p.grad
        return loss.item()

    return step


def module_trainer() -> Callable[[], float]:
    """The same network as modules (row layout), trained with Adam."""
    X, Y, _ = tutorial_problem()
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Sigmoid(), nn.Linear(3, 1, rng=1))
    opt = optim.Adam(model.parameters(), lr=0.05)

    def step() -> float:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(X.T), Y.T)
        loss.backward()
        opt.step()
        return loss.item()

    return step


# Measured growth between step 100 and step 1000 is a few hundred bytes (interpreter
# caches settling). Leaking a single Python float per step would add 900 * 24 bytes =
# 21 KiB; a leaked tensor or graph node per step, hundreds of KiB; one step's graph, ~40
# KiB per step. 16 KiB therefore catches the smallest real leak with margin to spare.
TOLERANCE = 16 * 1024


@pytest.mark.parametrize(
    "make_step", [expression_trainer, module_trainer], ids=["expressions", "modules+Adam"]
)
def test_a_thousand_training_steps_keep_memory_flat(
    make_step: Callable[[], Callable[[], float]],
) -> None:
    step = make_step()
    # With the cycle collector off, a reference cycle made per step would grow memory
    # too: flat means no leak and no cyclic garbage.
    with cycle_collector_off():
        tracemalloc.start()
        try:
            first = step()
            for i in range(2, 1001):
                last = step()  # (kept in one variable: a list of 1000 losses would grow)
                if i == 100:
                    after_100 = tracemalloc.get_traced_memory()[0]
            after_1000 = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    assert last < 0.8 * first  # it did train
    assert after_1000 - after_100 < TOLERANCE, f"grew by {after_1000 - after_100} bytes"


# ---------------------------------------------------------------- freed without gc


def graph_refs(root: mg.Tensor) -> list[weakref.ref]:
    """Weak references to every recorded tensor of root's graph and to its array."""
    refs = []
    for t in topological_order(root):
        refs += [weakref.ref(t), weakref.ref(t.data)]
    return refs


def alive(refs: list[weakref.ref]) -> int:
    return sum(r() is not None for r in refs)


def test_a_dropped_training_graph_is_freed_by_reference_counting() -> None:
    X, Y, params = tutorial_problem()
    with cycle_collector_off():
        loss = tutorial_loss(X, Y, params)
        refs = graph_refs(loss)
        assert len(refs) >= 12 and alive(refs) == len(refs)  # 6 ops: 2 matmul, 2 add, ...
        del loss
        assert alive(refs) == 0


@pytest.mark.parametrize("retain_graph", [False, True])
def test_after_backward_and_del_loss_the_intermediates_are_freed(retain_graph: bool) -> None:
    X, Y, params = tutorial_problem()
    with cycle_collector_off():
        loss = tutorial_loss(X, Y, params)
        refs = graph_refs(loss)
        loss.backward(retain_graph=retain_graph)
        if not retain_graph:  # backward freed the graph: only the loss itself is left
            assert alive(refs) == 2
        del loss
        assert alive(refs) == 0
    assert all(p.grad is not None for p in params)


def _module_loss() -> mg.Tensor:
    X, Y, _ = tutorial_problem()
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Sigmoid(), nn.Linear(3, 1, rng=1))
    return F.binary_cross_entropy_with_logits(model(X.T), Y.T)


def _anomaly_loss() -> mg.Tensor:
    X, Y, params = tutorial_problem()
    with mg.detect_anomaly():  # nodes remember where they were created
        return tutorial_loss(X, Y, params)


@pytest.mark.parametrize(
    "build", [_module_loss, _anomaly_loss], ids=["nn scopes", "detect_anomaly"]
)
def test_graphs_with_scopes_or_traces_are_freed_too(build: Callable[[], mg.Tensor]) -> None:
    with cycle_collector_off():
        loss = build()
        refs = graph_refs(loss)
        loss.backward(retain_graph=True)
        del loss
        assert alive(refs) == 0


INSPECTIONS: dict[str, Callable[[mg.Tensor], Any]] = {
    "format_graph": mg.format_graph,
    "draw_graph": lambda loss: mg.draw_graph(loss).source,  # (builds the picture, no `dot`)
    "check_graph": lambda loss: str(mg.check_graph(loss)),
}


@pytest.mark.parametrize("name", INSPECTIONS)
def test_looking_at_a_graph_keeps_nothing_alive(name: str) -> None:
    X, Y, params = tutorial_problem(m=20)
    with cycle_collector_off():
        loss = tutorial_loss(X, Y, params)
        refs = graph_refs(loss)
        result = INSPECTIONS[name](loss)
        assert isinstance(result, str) and result
        del loss, result
        assert alive(refs) == 0


def test_transforms_keep_nothing_alive_even_to_second_order() -> None:
    X, Y, params = tutorial_problem(m=20)
    seen: list[weakref.ref] = []

    def loss_of_w2(w2: Any) -> mg.Tensor:
        loss = tutorial_loss(X, Y, [params[0], params[1], w2, params[3]])
        seen.extend(graph_refs(loss))
        return loss

    v = np.ones((1, 3))
    with cycle_collector_off():
        g = mg.value_and_grad(loss_of_w2)(params[2].data)[1]  # (the value array: dropped)
        hvp = mg.grad(lambda w: (mg.grad(loss_of_w2)(w) * v).sum())(params[2].data)
        assert isinstance(g, np.ndarray) and isinstance(hvp, np.ndarray)
        assert len(seen) >= 24  # (two graphs of 6 ops, each a tensor and an array)
        assert alive(seen) == 0
    assert all(p.grad is None for p in params)  # transforms leave .grad alone


def test_an_error_mid_graph_leaves_no_cycle_holding_the_graph() -> None:
    X, _, (W1, b1, W2, _) = tutorial_problem()
    with cycle_collector_off():
        for bad in (
            lambda h: h @ W2,  # a shape error raised inside an op
            lambda h: mg.log(h - 1.0),  # an anomaly (log of a negative number)
        ):
            h = mg.sigmoid(W1 @ X + b1)
            refs = graph_refs(h)
            with (
                np.errstate(invalid="ignore"),
                mg.detect_anomaly(),
                pytest.raises((ValueError, FloatingPointError)),
            ):
                bad(h)
            del h
            assert alive(refs) == 0


def test_an_optimizer_holds_no_graph() -> None:
    X, Y, _ = tutorial_problem()
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.Sigmoid(), nn.Linear(3, 1, rng=1))
    opt = optim.Adam(model.parameters(), lr=0.05)
    with cycle_collector_off():
        loss = F.binary_cross_entropy_with_logits(model(X.T), Y.T)
        refs = graph_refs(loss)
        loss.backward()
        opt.step()
        del loss
        assert alive(refs) == 0


# ---------------------------------------------------------------- per thread, per context


def test_threads_started_inside_no_grad_or_detect_anomaly_start_without_them() -> None:
    w = mg.tensor([0.0], requires_grad=True)
    seen: dict[str, Any] = {}

    def probe() -> None:
        seen["records"] = (w * 2).requires_grad
        try:
            with np.errstate(divide="ignore"):  # (NumPy's error state is per thread too)
                mg.log(w * 1.0)  # log(0): raises only under detect_anomaly
            seen["anomaly"] = False
        except FloatingPointError:
            seen["anomaly"] = True

    with np.errstate(divide="ignore"), mg.no_grad(), mg.detect_anomaly():
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join(10)
    assert seen == {"records": True, "anomaly": False}


def test_modes_are_per_asyncio_task() -> None:
    w = mg.tensor([1.0], requires_grad=True)

    async def in_no_grad(inside: asyncio.Event, done: asyncio.Event) -> bool:
        with mg.no_grad():
            inside.set()
            await done.wait()  # the other task runs while this one is inside no_grad
            return (w * 2).requires_grad

    async def plain(inside: asyncio.Event, done: asyncio.Event) -> tuple[bool, bool]:
        await inside.wait()
        records = (w * 2).requires_grad
        with np.errstate(divide="ignore"):
            quiet = mg.log(w * 0.0).data[0] == -np.inf  # no anomaly mode here
        done.set()
        return records, quiet

    async def anomaly_task(inside: asyncio.Event, done: asyncio.Event) -> bool:
        with mg.detect_anomaly():
            inside.set()
            await done.wait()
            try:
                with np.errstate(divide="ignore"):
                    mg.log(w * 0.0)
            except FloatingPointError:
                return True
            return False

    async def main() -> tuple[Any, ...]:
        inside, done = asyncio.Event(), asyncio.Event()
        inside2, done2 = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(
            in_no_grad(inside, done),
            plain(inside, done),
            anomaly_task(inside2, done2),
            plain(inside2, done2),
        )

    no_grad_result, plain_result, anomaly_result, plain_result2 = asyncio.run(main())
    assert no_grad_result is False and anomaly_result is True
    assert plain_result == (True, True) and plain_result2 == (True, True)


def test_a_transform_running_in_one_thread_does_not_change_another() -> None:
    # mg.grad keeps its nesting depth in a context variable: a thread inside mg.grad(f)
    # must not make another thread's mg.grad return recorded Tensors.
    inside, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def slow(x: Any) -> mg.Tensor:
        inside.set()
        release.wait(10)
        return (x * x).sum()

    def worker() -> None:
        results["worker"] = mg.grad(slow)(np.array([3.0]))

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    results["main"] = mg.grad(lambda x: x**3)(2.0)
    release.set()
    thread.join(10)
    assert type(results["main"]) is np.ndarray and type(results["worker"]) is np.ndarray
    assert_close(results["main"], 12.0)
    assert_close(results["worker"], [6.0])


def test_overlapping_passes_cannot_leave_the_cycle_collector_off(monkeypatch) -> None:
    # The race: pass B looks at the collector while pass A has paused it, A ends and
    # resumes it, then B pauses it and, having seen it off, never resumes it. This gc makes
    # B's look wait for A's end, so that the interleaving happens whenever B looks.
    from microgradnp import engine

    a_inside, a_done, b_done = threading.Event(), threading.Event(), threading.Event()

    class SlowToLook:
        def isenabled(self) -> bool:
            on = gc.isenabled()
            if threading.current_thread().name == "B":
                a_done.wait(10)
            return on

        def disable(self) -> None:
            gc.disable()

        def enable(self) -> None:
            gc.enable()

    @mg.primitive
    def slow(x):
        return x * 1.0

    overlapped = []

    @slow.defvjp
    def slow_vjp(g, ans, x):
        a_inside.set()
        overlapped.append(b_done.wait(10))  # B's whole pass runs here (or looks, and waits)
        return g

    def pass_a() -> None:
        slow(mg.tensor(1.0, requires_grad=True)).backward()
        a_done.set()

    def pass_b() -> None:
        (mg.tensor(1.0, requires_grad=True) * 2).backward()
        b_done.set()

    monkeypatch.setattr(engine, "gc", SlowToLook())
    monkeypatch.setattr(engine, "_PAUSE_FROM", 0)  # (small graphs do not pause it)
    a = threading.Thread(target=pass_a, name="A")
    b = threading.Thread(target=pass_b, name="B")
    assert gc.isenabled()
    try:
        a.start()
        assert a_inside.wait(10)
        b.start()
        a.join(20)
        b.join(20)
        assert overlapped == [True] and gc.isenabled()
    finally:
        gc.enable()


def test_a_backward_pass_leaves_a_collector_the_user_switched_off_off(monkeypatch) -> None:
    from microgradnp import engine

    monkeypatch.setattr(engine, "_PAUSE_FROM", 0)
    gc.disable()
    try:
        (mg.tensor(1.0, requires_grad=True) * 2).backward()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_only_big_graphs_pause_the_cycle_collector(monkeypatch) -> None:
    from microgradnp import engine

    seen = []
    real_pause = engine._pause_collector
    monkeypatch.setattr(engine, "_pause_collector", lambda: (seen.append(1), real_pause()))
    w = mg.tensor(1.0, requires_grad=True)
    (w * 2).backward()
    assert seen == []  # one switch for the whole process: small passes leave it alone
    y = w
    for _ in range(engine._PAUSE_FROM + 1):
        y = y * 1.0
    y.backward()
    assert seen == [1] and gc.isenabled()


def test_concurrent_backward_passes_agree_with_serial_ones_and_leave_gc_on() -> None:
    X, Y, _ = tutorial_problem(m=100)
    starts = [tutorial_problem()[2] for _ in range(8)]
    rng = np.random.default_rng(1)
    for params in starts:  # eight different starting points
        for p in params:
            p.data += rng.normal(size=p.shape)

    def gradients(params: list[mg.Tensor], repeat: int) -> list[np.ndarray]:
        for _ in range(repeat):
            for p in params:
                p.zero_grad()
            if repeat % 2:
                tutorial_loss(X, Y, params).backward()
            else:
                with mg.no_grad():  # interleave no_grad blocks with recording in other threads
                    assert not tutorial_loss(X, Y, params).requires_grad
                tutorial_loss(X, Y, params).backward()
        return [p.grad.copy() for p in params]

    serial = [gradients(params, 1) for params in starts]
    assert gc.isenabled()
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(gradients, params, 20 + i) for i, params in enumerate(starts)]
        concurrent = [f.result(timeout=60) for f in futures]
    assert gc.isenabled()  # the engine pauses the cycle collector per pass, and restores it
    for one, other in zip(serial, concurrent, strict=True):
        for a, b in zip(one, other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_collection_nested_in_a_release_cannot_leave_a_view_locked() -> None:
    # A garbage collection can start at any allocation, also inside SavedLeaves.__del__,
    # and free other graphs there, nested. Here one starts at the one allocation on the path
    # that parks a view until its owner is unlocked, and unlocks that owner.
    import sys
    from pathlib import Path

    from microgradnp import recording

    source = Path(recording.__file__).read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if text.strip() == "bucket = []")
    release = recording.SavedLeaves.__del__.__code__
    pending: list[object] = []

    def collect_there(frame, event, arg):
        if frame.f_code is not release:
            return None

        def on_line(f, e, a):
            if e == "line" and f.f_lineno == line and pending:
                pending.clear()
                gc.collect()  # (what an automatic collection at that allocation does)
            return on_line

        return on_line

    X = np.ones((600, 300))  # 1.4 MiB: locked by the ops that save it, not copied
    V = X[:500]  # a view taken before any graph
    w = mg.tensor(np.ones(300), requires_grad=True)

    class Cycle:
        pass

    c = Cycle()
    c.self, c.loss = c, (w * X).sum()  # a graph saving X, in a reference cycle
    pending.append(c)
    del c
    live = (w * V).sum()  # saves V, and X through it
    previous = sys.gettrace()
    sys.settrace(collect_there)
    try:
        del live  # V's node goes while X is locked (by the cycle's graph, until collected)
    finally:
        sys.settrace(previous)
    assert not pending  # (the collection ran there)
    gc.collect()
    assert X.flags.writeable and V.flags.writeable
    assert id(X) not in recording._WAITING_VIEWS
