"""The backward engine's promises: order, depth, accumulation, freeing, no leaks, no wasted
work, and errors that say what to do."""

from __future__ import annotations

import gc
import inspect
import sys
import threading
import weakref
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import assert_close

import microgradnp as mg


def test_a_million_node_chain_runs_backward_without_recursion() -> None:
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0000001
    assert sys.getrecursionlimit() < 1_000_000
    y.backward()
    assert_close(x.grad, 1.0000001**1_000_000, rtol=1e-9)


def test_a_deep_retained_graph_is_released_without_recursion() -> None:
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(200_000):
        y = y + 1.0
    y.backward(retain_graph=True)
    del y  # dropping a 200k-long chain must not overflow the C stack
    assert x.grad == 1.0


def test_shared_subexpressions_get_every_contribution() -> None:
    x = mg.tensor(3.0, requires_grad=True)
    a = x * x  # used twice below
    y = a * a + a + x  # x^4 + x^2 + x
    y.backward()
    assert_close(x.grad, 4 * 27 + 2 * 3 + 1)


def test_gradients_accumulate_across_backward_calls_until_zero_grad() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    for expected in ([3.0, 3.0], [6.0, 6.0]):
        (w * 3).sum().backward()
        assert_close(w.grad, expected)
    w.zero_grad()
    assert w.grad is None
    (w * 3).sum().backward()
    assert_close(w.grad, [3.0, 3.0])


def test_the_graph_is_freed_after_backward_unless_retained() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    loss = mg.sigmoid(w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()

    w.zero_grad()
    loss = mg.sigmoid(w).sum()
    loss.backward(retain_graph=True)
    first = w.grad.copy()
    loss.backward()
    assert_close(w.grad, 2 * first)


def test_backward_frees_intermediate_arrays_while_the_loss_is_still_held() -> None:
    w = mg.tensor(np.ones((50, 50)), requires_grad=True)

    def build():
        hidden = mg.tanh(w @ w)
        return (hidden * 2).sum(), weakref.ref(hidden.data)

    loss, hidden_data = build()
    assert hidden_data() is not None  # the graph keeps it alive for backward
    loss.backward()
    assert hidden_data() is None  # freed by backward, although `loss` is alive


def test_backward_frees_each_intermediate_as_soon_as_it_is_done() -> None:
    seen = {}

    @mg.primitive
    def first(x):
        return x * 1.0

    def first_vjp(g, ans, x):  # runs last: by then the later intermediates must be gone
        seen["later intermediate alive"] = later() is not None
        return g

    first.defvjp(first_vjp)
    w = mg.tensor(np.ones((50, 50)), requires_grad=True)

    def build():
        h = mg.tanh(first(w))
        return (h * 2).sum(), weakref.ref(h.data)

    loss, later = build()
    loss.backward()
    assert seen == {"later intermediate alive": False}


def test_dropping_the_loss_frees_the_graph_without_the_cycle_collector() -> None:
    w = mg.tensor(np.ones((50, 50)), requires_grad=True)
    gc.disable()
    try:
        hidden = mg.tanh(w @ w)
        loss = (hidden * 2).sum()
        refs = [weakref.ref(hidden), weakref.ref(hidden.data), weakref.ref(loss)]
        del hidden, loss
        assert all(r() is None for r in refs)  # reference counting alone freed them: no cycles

        hidden = mg.tanh(w @ w)
        loss = hidden.sum()
        loss.backward(retain_graph=True)
        refs = [weakref.ref(hidden), weakref.ref(hidden.data)]
        del hidden, loss
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_inputs_that_do_not_require_grad_get_no_gradient_work() -> None:
    calls = []

    @mg.primitive
    def scaled(a, b):
        return a * b

    scaled.defvjp(
        lambda g, ans, a, b: calls.append("a") or g * b,
        lambda g, ans, a, b: calls.append("b") or g * a,
    )
    a = mg.tensor(np.ones(3), requires_grad=True)
    b = mg.tensor(np.full(3, 2.0))
    scaled(a, b).sum().backward()
    assert calls == ["a"]

    calls.clear()
    c = mg.tensor(np.ones(3))
    out = scaled(c, b)  # nothing requires grad: no record at all
    assert not out.requires_grad and out.is_leaf
    assert calls == []


def test_constants_in_the_graph_get_no_grad() -> None:
    x = mg.tensor(np.arange(3.0))
    w = mg.tensor(np.ones(3), requires_grad=True)
    (mg.exp(x) * w).sum().backward()
    assert x.grad is None
    assert_close(w.grad, np.exp(np.arange(3.0)))


def test_backward_of_a_leaf_and_with_an_explicit_grad() -> None:
    x = mg.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad == 1.0

    v = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (v * v).backward(grad=np.array([1.0, 0.0, 2.0]))  # a vector-Jacobian product
    assert_close(v.grad, [2.0, 0.0, 12.0])

    u = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (u * u).backward(gradient=np.array([1.0, 0.0, 2.0]))  # PyTorch's keyword
    assert_close(u.grad, [2.0, 0.0, 12.0])
    with pytest.raises(TypeError, match="once"):
        (u * u).backward(np.ones(3), gradient=np.ones(3))


def test_backward_on_a_non_scalar_says_to_reduce_or_pass_grad() -> None:
    v = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*scalar.*grad="):
        (v * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\).*\(2,\)"):
        (v * 2).backward(grad=np.ones(3))


def test_backward_on_a_tensor_without_history_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        mg.tensor([1.0, 2.0]).sum().backward()
    w = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        out = (w * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        out.backward()


def test_retain_grad_keeps_an_intermediate_gradient() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    other = x * 5
    (h * h).sum().backward()
    assert_close(h.grad, 2 * h.data)
    assert other.grad is None
    assert_close(x.grad, 18 * x.data)


def test_no_grad_records_nothing_and_enable_grad_turns_it_back_on() -> None:
    w = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        assert not (w * 2).requires_grad
        with mg.enable_grad():
            assert (w * 2).requires_grad
    assert mg.is_grad_enabled()
    assert (w * 2).requires_grad

    @mg.no_grad()
    def evaluate(t):
        return t * 2

    @mg.no_grad
    def evaluate_bare(t):
        return t * 2

    assert not evaluate(w).requires_grad and not evaluate_bare(w).requires_grad


def test_no_grad_on_a_generator_covers_its_body_not_the_caller() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)

    @mg.no_grad()
    def batches(n):
        received = []
        for i in range(n):
            got = yield (w * i, mg.is_grad_enabled())
            received.append(got)
        return received

    outs = []
    for out, enabled in batches(2):
        outs.append(out)
        assert not enabled  # inside the body
        assert mg.is_grad_enabled()  # the caller's code between items
    assert not any(o.requires_grad for o in outs)

    gen = batches(3)
    next(gen)
    gen.send("a")
    with pytest.raises(StopIteration) as stop:
        gen.send("b")
        gen.send("c")
    assert stop.value.value == ["a", "b", "c"]
    gen = batches(3)
    next(gen)
    with pytest.raises(KeyError):
        gen.throw(KeyError("raised inside"))
    gen = batches(3)
    next(gen)
    gen.close()
    assert mg.is_grad_enabled()

    @mg.enable_grad
    def recording():
        yield (w * 2).requires_grad

    with mg.no_grad():
        assert next(recording())


def test_backward_in_several_threads_into_one_leaf_loses_nothing() -> None:
    w = mg.tensor(np.ones(200_000), requires_grad=True)  # big: NumPy adds it without the GIL
    threads_per_run, runs = 4, 10
    for _ in range(runs):
        w.grad = None
        start = threading.Barrier(threads_per_run)

        def worker(start: threading.Barrier) -> None:
            loss = (w * 2.0).sum()
            start.wait(5)
            loss.backward()

        threads = [threading.Thread(target=worker, args=(start,)) for _ in range(threads_per_run)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert np.all(w.grad == 2.0 * threads_per_run)


def test_one_no_grad_object_shared_by_threads_and_tasks() -> None:
    import asyncio

    shared = mg.no_grad()
    w = mg.tensor([1.0], requires_grad=True)
    start = threading.Barrier(2)
    seen: list[object] = []

    def worker(delay: float) -> None:
        try:
            with shared:
                start.wait(5)
                threading.Event().wait(delay)  # exits in the other order than entered
                seen.append((w * 2).requires_grad)
            seen.append(mg.is_grad_enabled())
        except Exception as err:  # (a token from the other thread's context)
            seen.append(err)

    threads = [threading.Thread(target=worker, args=(d,)) for d in (0.05, 0.01)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(map(str, seen)) == ["False", "False", "True", "True"]

    async def task(delay: float) -> bool:
        with shared:
            await asyncio.sleep(delay)
            inside = mg.is_grad_enabled()
        return not inside and mg.is_grad_enabled()

    async def both() -> list[bool]:
        return await asyncio.gather(task(0.02), task(0.01))

    assert asyncio.run(both()) == [True, True]
    assert mg.is_grad_enabled()


def test_no_grad_is_per_thread() -> None:
    w = mg.tensor([1.0], requires_grad=True)
    inside = threading.Event()
    checked = threading.Event()
    seen = {}

    def worker():
        with mg.no_grad():
            inside.set()
            checked.wait(5)
            seen["worker"] = (w * 2).requires_grad

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    seen["main, while the worker is in no_grad"] = (w * 2).requires_grad
    checked.set()
    thread.join(5)
    assert seen == {"worker": False, "main, while the worker is in no_grad": True}

    results = []
    with mg.no_grad():
        t = threading.Thread(target=lambda: results.append((w * 2).requires_grad))
        t.start()
        t.join(5)
    assert results == [True]  # a new thread starts with grad mode on


def test_grad_has_the_shape_of_its_tensor_after_broadcasting() -> None:
    b = mg.tensor(np.zeros((3, 1)), requires_grad=True)
    c = mg.tensor(np.zeros(()), requires_grad=True)
    X = np.ones((3, 400))
    (X + b + c).sum().backward()
    assert b.grad.shape == (3, 1) and c.grad.shape == ()
    assert_close(b.grad, np.full((3, 1), 400.0))
    assert_close(c.grad, 1200.0)


def test_a_vjp_returning_a_wrong_shape_is_reported_not_broadcast() -> None:
    @mg.primitive
    def bad(x):
        return x * 2

    bad.defvjp(lambda g, ans, x: np.ones((2, 2)))  # wrong: x has shape (3,)
    x = mg.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"bad: its VJP returned a gradient of shape \(2, 2\)"):
        bad(x).sum().backward()


def test_in_place_update_under_no_grad_keeps_the_leaf() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    data = w.data
    (w * w).sum().backward()
    with mg.no_grad():
        w -= 0.5 * w.grad
    assert w.data is data and w.is_leaf and w.requires_grad
    assert_close(w.data, [0.0, 0.0])


def test_in_place_update_of_a_parameter_outside_no_grad_is_refused() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    with pytest.raises(RuntimeError, match="no_grad"):
        w -= 1.0
    with pytest.raises(RuntimeError, match="no_grad"):
        w[0] = 3.0


def test_in_place_on_tensors_outside_the_graph_and_through_the_graph() -> None:
    c = mg.tensor([1.0, 2.0])
    c += 1
    assert_close(c.data, [2.0, 3.0])
    c[1] = 7.0
    assert_close(c.data, [2.0, 7.0])

    w = mg.tensor([1.0, 2.0], requires_grad=True)
    h = w * 1.0
    h *= 3.0  # h requires grad: recorded (out of place), so gradients stay right
    h.sum().backward()
    assert_close(w.grad, [3.0, 3.0])


def test_requires_grad_needs_floating_point_data_and_a_leaf() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        mg.tensor(np.array([1, 2]), requires_grad=True)
    w = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        (w * 2).requires_grad = False
    assert w.detach().is_leaf and not w.detach().requires_grad


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: mg.tensor(np.ones((2, 3))) @ mg.tensor(np.ones((4, 5))),
            r"matmul: \(2, 3\) @ \(4, 5\): inner dimensions 3 and 4 differ",
        ),
        (
            lambda: mg.matmul(np.ones(3), np.ones(4)),
            r"matmul: \(3,\) @ \(4,\): inner dimensions 3 and 4 differ",
        ),
        (
            lambda: mg.tensor(np.ones((3, 400))) + mg.tensor(np.ones((3, 401))),
            r"add: shapes \(3, 400\) and \(3, 401\) cannot be broadcast.*axis -1",
        ),
        (
            lambda: mg.tensor(np.ones((2, 3))) * np.ones((3, 2)),
            r"mul: shapes \(2, 3\) and \(3, 2\) cannot be broadcast",
        ),
        (
            lambda: mg.concatenate([np.ones((2, 3)), np.ones((2, 4))]),
            r"concatenate: shapes \(2, 3\) and \(2, 4\) differ on an axis other than axis=0",
        ),
        (
            lambda: mg.stack([np.ones((2, 3)), np.ones((3, 2))]),
            r"stack: all tensors must have the same shape, got \(2, 3\) and \(3, 2\)",
        ),
        (
            lambda: mg.where(np.ones(3, bool), np.ones(3), np.ones(4)),
            r"where: shapes \(3,\) and \(3,\) and \(4,\) cannot be broadcast",
        ),
        (lambda: mg.sum(mg.tensor(np.ones((3, 4))), axis=2), r"sum on \(3, 4\).*axis 2"),
        (lambda: mg.mean(mg.tensor(np.ones((3, 4))), axis=(0, 0)), r"mean on \(3, 4\).*duplicate"),
        (lambda: mg.tensor(np.ones(6)).reshape(4, 2), r"reshape on \(6,\).*size 6"),
        (lambda: mg.concatenate([np.ones(3)], axis=1), r"concatenate: axis 1 is out of range"),
    ],
)
def test_shape_errors_name_the_op_and_the_shapes(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_index_errors_name_the_op() -> None:
    with pytest.raises(IndexError, match=r"getitem on \(3,\).*out of bounds"):
        mg.tensor([1.0, 2.0, 3.0])[5]


def test_no_grad_blocks_exited_out_of_order_leave_the_mode_as_it_was() -> None:
    def batches(n: int):
        with mg.no_grad():
            yield from range(n)

    for _ in zip(batches(2), batches(3), strict=False):  # the first generator ends first
        assert not mg.is_grad_enabled()
    gc.collect()  # (the second one is closed when collected)
    assert mg.is_grad_enabled()
    outer, inner = mg.no_grad(), mg.enable_grad()
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)  # out of order: enable_grad still holds
    assert mg.is_grad_enabled()
    inner.__exit__(None, None, None)
    assert mg.is_grad_enabled()


def test_a_decorated_generator_leaves_its_caller_in_the_caller_s_mode() -> None:
    @mg.no_grad()
    def batches():
        with mg.enable_grad():  # (held across the yield)
            yield 1

    with mg.no_grad():
        g = batches()
        next(g)
        assert not mg.is_grad_enabled()  # (PyTorch's answer too)
    assert mg.is_grad_enabled()
    g.close()
    assert mg.is_grad_enabled()


def test_a_no_grad_block_left_in_another_task_or_context_does_not_crash() -> None:
    import asyncio
    import contextvars

    def held():
        with mg.no_grad():
            yield 1
            yield 2

    async def finish(gen) -> None:
        for _ in gen:
            pass

    def scenario() -> None:  # (entered in one context, left in another: the first keeps
        g = held()  # no_grad, as nothing can change a context from outside it)
        next(g)  # entered in this context
        contextvars.copy_context().run(next, g)  # ... resumed and
        with pytest.raises(StopIteration):
            contextvars.copy_context().run(next, g)  # ... left in copies of it
        g = held()
        next(g)
        asyncio.run(finish(g))  # ... or left in a task
        g.close()

    contextvars.copy_context().run(scenario)
    assert mg.is_grad_enabled()


def test_an_out_of_order_exit_restores_only_its_own_setting() -> None:
    def watched():
        with mg.detect_anomaly():
            yield

    it = watched()
    next(it)
    with mg.no_grad():
        it.close()  # detect_anomaly ends here: no_grad, another switch's, stays
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_stability_warnings_can_be_left_in_another_context_and_reused() -> None:
    import asyncio
    import contextvars

    quiet = mg.stability_warnings(False)

    def held():
        with quiet:
            yield

    def scenario() -> None:
        it = held()
        next(it)

        async def finish() -> None:
            for _ in it:
                pass

        asyncio.run(finish())  # (ended in the task's copy of the context: no crash)

    contextvars.copy_context().run(scenario)
    with quiet:  # (the same object again)
        pass
    with mg.stability_warnings(True):
        pass
    assert mg.checking.current_mode().stability_warnings


def test_data_of_another_shape_or_dtype_forgets_the_old_grad() -> None:
    w = mg.tensor([1.0, 2.0, 3.0], requires_grad=True, name="w")
    (w * w).sum().backward()
    w.data = np.array([5.0])  # (before: [12, 14, 16] broadcast into a (1,) tensor's .grad)
    assert w.grad is None
    (w * w).sum().backward()
    assert w.grad.tolist() == [10.0]
    w.data = np.array([5.0], dtype=np.float32)
    assert w.grad is None
    (w * w).sum().backward()
    assert w.grad.dtype == np.float32
    w.data = np.array([6.0], dtype=np.float32)  # same shape and dtype: accumulated as before
    (w * w).sum().backward()
    assert w.grad.tolist() == [22.0]


def test_an_assigned_grad_is_a_copy_so_backward_adds_into_no_other_array() -> None:
    a = mg.tensor([1.0, 1.0], requires_grad=True)
    b = mg.tensor([1.0, 1.0], requires_grad=True)
    (a * 1.0 + b * 1.0).sum().backward()
    b.grad = a.grad
    (a * 1.0 + b * 10.0).sum().backward()
    assert a.grad.tolist() == [2.0, 2.0] and b.grad.tolist() == [11.0, 11.0]


def test_a_parameter_frozen_before_backward_gets_no_gradient_as_in_pytorch() -> None:
    layer = mg.nn.Linear(2, 1, rng=0)
    loss = layer(np.ones((3, 2))).sum()
    layer.weight.requires_grad = False
    loss.backward()
    assert layer.weight.grad is None and layer.bias.grad.tolist() == [3.0]


def test_data_of_another_shape_between_forward_and_backward_is_named_not_the_vjp() -> None:
    W = mg.tensor([1.0, 2.0, 3.0], requires_grad=True, name="W")
    y = (W * W).sum()
    W.data = np.zeros(4)
    with pytest.raises(RuntimeError, match=r"tensor 'W' had shape \(3,\) when mul used it"):
        y.backward()


def test_a_backward_that_raises_leaves_the_gradients_summed_so_far_as_documented() -> None:
    a = mg.tensor([0.0], requires_grad=True)
    b = mg.tensor([3.0], requires_grad=True)
    loss = mg.sqrt(a).sum() + (b * b).sum()
    with mg.detect_anomaly(), pytest.raises(FloatingPointError), np.errstate(divide="ignore"):
        loss.backward()
    assert b.grad.tolist() == [6.0] and a.grad is None  # (design.md: "An error stops...")


def test_a_node_freed_by_another_threads_backward_mid_walk_raises_not_a_silent_zero() -> None:
    W = mg.tensor(np.full((3, 3), 0.5), requires_grad=True)
    h = mg.tanh(np.eye(3) @ W)  # shared by two losses
    switched: list[int] = []

    @mg.primitive
    def hands_over(a):
        return a.sum()

    @hands_over.defvjp
    def hands_over_vjp(g, ans, a):
        if not switched:  # another thread's backward() frees h's graph, mid-walk here
            switched.append(1)
            t = threading.Thread(target=lambda: (h * 3.0).sum().backward())
            t.start()
            t.join()
        return g * np.ones_like(a)

    with pytest.raises(RuntimeError, match="already freed by an earlier backward"):
        hands_over(h).backward(retain_graph=True)  # was: no error, and h's part lost


@contextmanager
def other_thread_at(function, line_ends: str, action, *, wait: float = 10):
    """Run `action` in another thread when `function` reaches its line ending in
    `line_ends` (a thread switch there, made certain); join it for up to `wait` s there."""
    source, first = inspect.getsourcelines(function)
    line = next(first + i for i, text in enumerate(source) if text.strip().endswith(line_ends))
    thread = threading.Thread(target=action)

    def switch_there(frame, event, arg):
        if frame.f_code is not function.__code__:
            return None

        def on_line(f, e, a):
            if e == "line" and f.f_lineno == line and thread.ident is None:
                thread.start()
                thread.join(wait)
            return on_line

        return on_line

    previous = sys.gettrace()
    sys.settrace(switch_there)
    try:
        yield thread
    finally:
        sys.settrace(previous)
    thread.join(10)
    assert thread.ident is not None  # (the switch happened)


def test_zero_grad_racing_with_backwards_accumulation_is_never_undone() -> None:
    from microgradnp import engine

    p = mg.tensor(np.ones(3), requires_grad=True)
    (p * 2.0).sum().backward()  # p.grad = [2, 2, 2]
    loss = (p * 2.0).sum()
    # (zero_grad may have to wait for the gradient lock: it is joined for 0.5 s there)
    with other_thread_at(engine._accumulate, "grad += g", lambda: p.zero_grad(), wait=0.5):
        loss.backward()
    assert p.grad is None  # backward, then zero_grad


def test_data_given_another_shape_during_backward_gets_no_stale_gradient() -> None:
    from microgradnp import engine

    q = mg.tensor(np.ones(3), requires_grad=True)
    loss = (q * 2.0).sum()
    with other_thread_at(
        engine._walk, "_accumulate(p, gi)", lambda: setattr(q, "data", np.zeros(5))
    ):
        loss.backward()  # (another thread reshapes q just before the sum)
    assert q.shape == (5,) and q.grad is None  # was: a (3,) gradient on a (5,) tensor
