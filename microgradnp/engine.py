"""The backward engine: from an output back to its inputs, calling each op's VJP once.

Invariants (tests/test_engine.py checks each):
- Topological order, found iteratively (Kahn's algorithm): an op's VJP runs only after
  every use of its output has contributed to that output's gradient; no recursion, so
  depth is unlimited.
- Broadcasting is undone in one place, `unbroadcast`: every gradient handed to an input has
  exactly that input's shape and dtype.
- Only inputs that require grad get gradient work; with `targets`, only ops on a path to a
  target do.
- After `backward()` the graph is freed (each node drops its arguments, so intermediate
  arrays can go) unless `retain_graph=True`; a second pass through a freed node raises.

Tensors key the engine's dictionaries directly: they hash by identity (`==` is elementwise,
but distinct live objects never share a hash, so a lookup never calls it).
"""

from __future__ import annotations

import gc
import inspect
import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import ops
from .recording import (
    Node,
    NumPyInRecordedVJPError,
    Primitive,
    current_mode,
    is_tensor,
    restore_mode,
    switch_mode,
    values_of,
)

if TYPE_CHECKING:
    from .tensors import Tensor


def backward(root: Tensor, grad: Any = None, *, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires grad.

    `grad` is the gradient of some scalar with respect to `root` (same shape); it may be
    omitted when `root` has a single element (then it is 1).
    """
    g0 = _root_grad(root, grad, "backward")
    anomaly = current_mode().anomaly
    if anomaly is not None:
        anomaly.seed(root, g0)
    if root._node is None:
        _accumulate(root, g0)
        return
    _walk(root, g0, retain_graph=retain_graph, create_graph=False, targets=None)


def gradients(
    root: Tensor, targets: list[Tensor], *, create_graph: bool, made_at: int = 0
) -> list[Any]:
    """d(root)/d(target) for each target (None where root does not depend on it).

    Touches no `.grad`; retains the graph. With `create_graph` the gradients are Tensors
    recorded as functions of the graph's inputs, so they can be differentiated again.
    `made_at`: a `sequence_number()` taken before the targets were made; nodes recorded
    earlier cannot depend on them, so one that backward() freed is a constant here (a
    tensor f closes over, whose graph was used up), not an error.
    """
    g0: Any = _root_grad(root, None, "grad")
    if create_graph:
        g0 = root._wrap(g0)
    if root._node is None:  # the output is one of the inputs
        return [g0 if t is root else None for t in targets]
    found = _walk(
        root,
        g0,
        retain_graph=True,
        create_graph=create_graph,
        targets=targets,
        freed_ok_before=made_at,
    )
    return [found.get(t) for t in targets]


def unbroadcast(g: Any, shape: tuple[int, ...], op: Primitive, argnum: int) -> Any:
    """Sum a VJP's gradient over the axes along which argument `argnum` was broadcast.

    The one place broadcasting is undone. A gradient that cannot have come from broadcasting
    an argument of `shape` means the VJP is wrong, and is reported as such.
    """
    gshape = g.shape
    try:
        # sum_to's NumPy function directly for arrays: the primitive matters when recording.
        g = ops.sum_to.fun(g, shape) if type(g) is np.ndarray else ops.sum_to(g, shape)
    except ValueError:
        raise ValueError(
            f"{op.name}: its VJP returned a gradient of shape {gshape} for argument {argnum}, "
            f"which has shape {shape}; a VJP must return the argument's shape (or a shape "
            "it broadcasts to)"
        ) from None
    if g.shape != shape:  # sum_to's own contract; cheap, and a wrong shape must never escape
        raise AssertionError(f"unbroadcast: {gshape} summed to {g.shape}, not {shape}")
    return g


def topological_order(root: Tensor, *, allow_freed: bool = False) -> list[Tensor]:
    """The recorded tensors reachable from root, each before the ones it was computed from.

    Root first; deterministic for a given expression (it is the order `backward` processes
    them in). A node freed by backward() raises, unless `allow_freed` (then it counts as
    having no inputs). Graph pictures and `check_graph` number ops by `recorded_order`.
    """
    return _order(root, _count_uses(root, math.inf if allow_freed else 0))


def _order(root: Tensor, uses: dict[Tensor, int]) -> list[Tensor]:
    """Kahn's order from root, given the use counts (which it counts down: pass a copy)."""
    order = []
    ready = [root]
    while ready:
        t = ready.pop()
        order.append(t)
        _release_inputs(t._node, uses, ready)  # type: ignore[arg-type]
    return order


def recorded_order(root: Tensor) -> list[Tensor]:
    """The recorded tensors root depends on (root included), in the order their ops ran:
    op #1 of graph pictures and `check_graph` is the first. Also after backward() freed
    part of the graph (the freed ops' inputs are then unknown, and left out)."""
    return sorted(topological_order(root, allow_freed=True), key=lambda t: t._node.seq)  # type: ignore[union-attr]


# ------------------------------------------------------------------ Kahn's algorithm
# Count how many recorded ops use each tensor; a tensor is ready once all its users are done.


def _count_uses(root: Tensor, freed_ok_before: float = 0) -> dict[Tensor, int]:
    """For each recorded tensor that root depends on: how many recorded ops use it.

    A node freed by backward() raises, unless it was recorded before `freed_ok_before`
    (a sequence number): then it counts as having no inputs.
    """
    uses: dict[Tensor, int] = {}
    stack = [root]
    while stack:
        node: Node = stack.pop()._node  # type: ignore[assignment]
        args = node.args
        if args is None:
            if node.seq < freed_ok_before:
                continue
            raise _freed(node, freed_ok_before)
        for i in node.parents:
            p = args[i]
            if p._node is not None:
                if p in uses:
                    uses[p] += 1
                else:
                    uses[p] = 1
                    stack.append(p)
    return uses


def _freed(node: Node, freed_ok_before: float) -> RuntimeError:
    """The error for a node that backward() freed (see _count_uses)."""
    if freed_ok_before:  # (a transform: mg.grad, gradcheck)
        return RuntimeError(
            f"grad: the graph through this {node.op.name} was freed by a backward() run "
            "inside the function (it may not even depend on the arguments: a freed op's "
            "inputs are unknown). Pass retain_graph=True to that backward(), or run it "
            "before calling the transform"
        )
    return RuntimeError(
        f"backward: the graph through this {node.op.name} was already freed by an earlier "
        "backward(); to run backward() through a graph more than once, pass "
        "retain_graph=True to the earlier calls"
    )


def _release_inputs(node: Node, uses: dict[Tensor, int], ready: list[Tensor]) -> None:
    """Count one use of each recorded input of node as done; queue the inputs now ready."""
    args = node.args
    if args is None:
        return
    for i in node.parents:
        p = args[i]
        if p._node is not None:
            left = uses[p] - 1
            uses[p] = left
            if left == 0:
                ready.append(p)


def _on_path_to(order: list[Tensor], targets: list[Tensor]) -> set[Tensor]:
    """The tensors in `order` (and the targets) from which some target is reachable."""
    needed = set(targets)
    for t in reversed(order):  # inputs before the tensors computed from them
        args = t._node.args  # type: ignore[union-attr]
        if args is not None and any(args[i] in needed for i in t._node.parents):  # type: ignore[union-attr]
            needed.add(t)
    return needed


# ------------------------------------------------------------------ the walk


def _root_grad(root: Tensor, grad: Any, caller: str) -> np.ndarray:
    if not root._requires_grad:
        raise RuntimeError(
            f"{caller}: this tensor does not require grad: it was not computed from any "
            "tensor with requires_grad=True (or was computed under no_grad), so there is "
            "nothing to differentiate. Create the inputs you want gradients for with "
            "requires_grad=True"
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"{caller}: the output has shape {root.shape}, but an implicit gradient needs "
                "a scalar (one-element) output such as a loss. Reduce it first (e.g. "
                f".sum() or .mean()), or pass grad= with shape {root.shape}"
            )
        return np.ones(root.data.shape, root.data.dtype)  # (ones_like: slower, same array)
    try:
        g = values_of(grad)
    except (TypeError, ValueError):  # (a ragged list)
        g = np.empty(0, dtype=object)
    if g.dtype.kind not in "biuf":  # (complex too: casting would drop the imaginary part)
        what = type(grad).__name__
        if g.dtype.kind in "cUS" and not isinstance(grad, str):
            what += f" of dtype {g.dtype}"
        raise TypeError(
            f"{caller}: grad must be an array of real numbers of shape {root.shape}, got {what}"
        )
    g = g.astype(root.dtype, copy=False)
    if g.shape != root.shape:
        raise ValueError(
            f"{caller}: grad has shape {g.shape} but the output has shape {root.shape}; "
            "they must be equal"
        )
    return g


def _walk(
    root: Tensor,
    g0: Any,
    *,
    retain_graph: bool,
    create_graph: bool,
    targets: list[Tensor] | None,
    freed_ok_before: float = 0,
) -> dict[Tensor, Any]:
    """Propagate g0 from root to the leaves; returns the gradients of `targets`, if given
    (else accumulates into the leaves' .grad). The loop runs once per recorded op, so it is
    written out in one place rather than split into helpers (about half the cost). Freed
    nodes recorded before `freed_ok_before` are constants (see `gradients`)."""
    uses = _count_uses(root, freed_ok_before)
    needed = None
    if targets is not None:
        needed = _on_path_to(_order(root, dict(uses)), targets)
    target_set = set() if targets is None else set(targets)
    found: dict[Tensor, Any] = {}  # gradients of the targets
    pending: dict[Tensor, Any] = {root: g0}  # summed gradients of tensors not yet processed
    anomaly = current_mode().anomaly
    # VJPs see plain arrays and build no graph, unless the gradient is to be differentiated.
    # (anomaly off for the ops a recorded VJP runs: the gradients they make are checked as
    # that VJP's, below, where the message can name the op whose VJP it is)
    token = switch_mode(
        grad_enabled=create_graph,
        raw_arrays=not create_graph,
        recording_vjps=create_graph,
        anomaly=None,
    )
    paused = len(uses) >= _PAUSE_FROM
    if paused:
        _pause_collector()
    try:
        ready = [root]
        while ready:
            t = ready.pop()
            node: Node = t._node  # type: ignore[assignment]
            # (each field read once, and in the reverse order of the freeing below: a
            # backward() in another thread may free the node meanwhile, and if args is still
            # there, so was everything read before it)
            saved, ans, vals, args = node.saved, node.ans, node.vals, node.args
            op = node.op
            if args is None or vals is None:  # (vals: for the type checker)
                if node.seq < freed_ok_before:
                    continue  # freed before a transform began: a constant there
                raise _freed(node, freed_ok_before)  # (by another thread since _count_uses)
            g = pending.pop(t, None)  # None: no path from root reached t with a gradient
            if g is not None and (needed is None or t in needed):
                if saved is not None:
                    saved.check(op)
                if t._retain_grad and targets is None:  # (mg.grad touches no .grad)
                    _accumulate(t, g)
                if targets is not None and t in target_set:
                    found[t] = g
                # 1. The VJPs, for the inputs that require grad (and lead to a target).
                wanted = node.parents
                if needed is not None:
                    wanted = tuple(i for i in wanted if args[i] in needed)
                if not wanted:  # (a target whose own inputs lead to no target)
                    grads = []
                elif create_graph:  # Tensors in, so the VJPs record their own graph
                    grads = _recorded_vjps(op, wanted, g, t, args, vals, node.kwargs)
                else:  # plain arrays in: NumPy only
                    grads = call_vjps(op, wanted, g, ans, vals, node.kwargs)
                # 2. Each gradient made an array (or Tensor) of its input's shape and dtype,
                #    then summed into that input's pending gradient, or into a leaf's .grad.
                for i, gi in zip(wanted, grads, strict=True):
                    if gi is None:
                        continue  # the op declares no gradient for this argument: zero
                    p = args[i]
                    data = p._data
                    if create_graph or type(gi) is not np.ndarray:
                        gi = _as_gradient(gi, p, create_graph, op, i)
                    used = vals[i]
                    if used is not data and used.shape != data.shape:  # (.data replaced)
                        _raise_shape_changed(p, used, op)
                    if gi.shape != data.shape:
                        gi = unbroadcast(gi, data.shape, op, i)
                    if gi.dtype is not data.dtype and gi.dtype != data.dtype:  # (`is`: fast)
                        _check_real(gi, op, i)
                        gi = ops.astype(gi, data.dtype)
                    if anomaly is not None:
                        anomaly.backward(node, t, p, gi)
                    total = gi
                    if p._node is not None:
                        old = pending.get(p)
                        total = pending[p] = gi if old is None else old + gi
                    elif targets is None:
                        if not p._requires_grad:
                            continue  # (frozen since the forward pass, as in PyTorch)
                        was_finite = None
                        if anomaly is not None and p._grad is not None:
                            was_finite = np.isfinite(p._grad)
                        _accumulate(p, gi)
                        if was_finite is not None:  # (checked below, where it was finite)
                            total = np.where(was_finite, p._grad, 0.0)
                    elif p in target_set:
                        old = found.get(p)
                        total = found[p] = gi if old is None else old + gi
                    if anomaly is not None and total is not gi:
                        anomaly.summed(node, p, total)
            # 3. t's op has used its inputs: queue those whose every user is now done
            #    (and forget them here, so that nothing but `ready` keeps them alive).
            for i in node.parents:
                p = args[i]
                if p._node is not None:
                    left = uses[p] - 1
                    if left:
                        uses[p] = left
                    else:
                        del uses[p]
                        ready.append(p)
            if not retain_graph:
                # free the graph: its arrays can go now, and its saved leaves are unlocked
                node.args = node.vals = node.ans = node.saved = None  # (args first: see above)
    finally:
        if paused:
            _resume_collector()
        restore_mode(token)
    return found


# The walk makes no reference cycles, so the cycle collector has nothing to find there;
# pausing it saves it from traversing the whole graph again and again in big graphs (small
# ones leave it alone: it is one switch for the whole process). Passes in several threads
# overlap: the first to start pauses it, the last to end resumes it (if it was on), under a
# lock, so that no interleaving can leave it off. (A gc.disable() in another thread while
# a big pass runs is undone when it ends.)
_PAUSE_FROM = 1000  # recorded tensors
_COLLECTOR = threading.Lock()
_collector_state = {"passes": 0, "was_on": False}


def _pause_collector() -> None:
    with _COLLECTOR:
        if _collector_state["passes"] == 0:
            _collector_state["was_on"] = gc.isenabled()
            gc.disable()
        _collector_state["passes"] += 1


def _resume_collector() -> None:
    with _COLLECTOR:
        _collector_state["passes"] -= 1
        if _collector_state["passes"] == 0 and _collector_state["was_on"]:
            gc.enable()


def _raise_shape_changed(input: Tensor, used: np.ndarray, op: Primitive) -> None:
    """input's data was replaced by data of another shape after op used it: its gradient
    has the old shape, and no VJP is at fault."""
    label = f"tensor {input.name!r}" if input.name else "a tensor"
    raise RuntimeError(
        f"backward: {label} had shape {used.shape} when {op.name} used it, and has shape "
        f"{input.shape} now (its .data was replaced); compute the output again after "
        "changing .data"
    )


def _as_gradient(gi: Any, input: Tensor, create_graph: bool, op: Primitive, argnum: int) -> Any:
    """A VJP's result as an array, or as a Tensor when the gradient is to be differentiated
    (a VJP may return a NumPy scalar, a number, or a Tensor for an array)."""
    array = values_of(gi)
    _check_real(array, op, argnum)
    if create_graph:
        return gi if is_tensor(gi) else input._wrap(array)
    return array


def _check_real(gi: Any, op: Primitive, argnum: int) -> None:
    """Raise unless a VJP's result holds real numbers (not text, objects or complex)."""
    if gi.dtype.kind not in "biuf":
        raise TypeError(
            f"{op.name}: its VJP returned a gradient of dtype {gi.dtype} for argument "
            f"{argnum}; a gradient is an array of real numbers (of the argument's shape)"
        )


def _recorded_vjps(
    op: Primitive,
    wanted: tuple[int, ...],
    g: Any,
    out: Tensor,
    args: tuple[Any, ...],
    vals: Sequence[Any],
    kwargs: dict[str, Any],
) -> list[Any]:
    """call_vjps on Tensors (a gradient to be differentiated), with a clear error for a VJP
    written with NumPy functions, which cannot record a graph."""
    # (the Tensors, and the values the other arguments had: a small array of the caller's
    # was copied into vals)
    inputs = [a if is_tensor(a) else v for a, v in zip(args, vals, strict=True)]
    try:
        return call_vjps(op, wanted, g, out, inputs, kwargs)
    except TypeError as err:
        if isinstance(err, NumPyInRecordedVJPError):
            raise TypeError(
                f"{op.name}: its VJP uses NumPy functions, so it cannot be differentiated "
                "again (needed for this higher-order derivative); write it with "
                f"microgradnp functions (mg.exp, mg.sum, ...) instead. ({err})"
            ) from err
        raise


def call_vjps(
    op: Primitive,
    wanted: tuple[int, ...],
    g: Any,
    ans: Any,
    vals: Sequence[Any],
    kwargs: dict[str, Any],
) -> list[Any]:
    """The op's VJP results for the argument positions in `wanted` (None: no gradient).

    The one place that knows the two ways a VJP can be defined (see Primitive.defvjp).
    """
    if op.vjp is not None:
        try:
            res = op.vjp(g, ans, *vals, **kwargs)
        except TypeError as err:
            _raise_if_miscalled(op, op.vjp, err, g, ans, vals, kwargs)
            raise
        if type(res) is not tuple and not isinstance(res, list):  # the first argument's
            if wanted == (0,):
                return [res]
            other = next(i for i in wanted if i != 0)
            raise NotImplementedError(
                f"{op.name}: argument {other} requires grad, but {op.name}'s VJP returned a "
                "single gradient, which is argument 0's; return a tuple with one gradient "
                "per positional argument (None where there is none)"
            )
        if len(res) != len(vals):
            raise TypeError(
                f"{op.name}: its VJP returned {len(res)} gradients for {len(vals)} "
                "positional arguments; return one per argument (None where there is none)"
            )
        return [res[i] if i < len(res) else None for i in wanted]
    vjps = op.vjps
    grads: list[Any] = []
    for i in wanted:
        if vjps is None or i >= len(vjps):
            detail = "defines no VJP" if vjps is None else "has no VJP for it"
            raise NotImplementedError(
                f"{op.name}: argument {i} requires grad, but {op.name} {detail}; "
                f"define one with {op.name}.defvjp(...)"
            )
        vjp = vjps[i]  # None: declared not differentiable in this argument
        if vjp is None:
            grads.append(None)
            continue
        try:
            grads.append(vjp(g, ans, *vals, **kwargs))
        except TypeError as err:
            _raise_if_miscalled(op, vjp, err, g, ans, vals, kwargs)
            raise
    return grads


def _raise_if_miscalled(
    op: Primitive,
    vjp: Any,
    err: TypeError,
    g: Any,
    ans: Any,
    vals: Sequence[Any],
    kwargs: dict[str, Any],
) -> None:
    """If the VJP raised err because it cannot take this call's arguments, raise an error
    naming the op and the call (a TypeError from inside the VJP is left to propagate)."""
    try:
        inspect.signature(vjp, follow_wrapped=False).bind(g, ans, *vals, **kwargs)
    except TypeError:
        given = ", ".join(["g", "ans", *(f"arg{i}" for i in range(len(vals))), *kwargs])
        raise TypeError(
            f"{op.name}: its VJP cannot take this call's arguments, vjp({given}): {err}. A VJP "
            "takes (g, ans, *args, **settings), the op's arguments and settings as given"
        ) from err
    except ValueError:  # (no signature to read)
        pass


# Backward in several threads may reach the same leaf (a shared model's weights): its
# .grad is read, added to and written under this lock (NumPy adds big arrays without the GIL),
# which the setters of .grad and .data take too.
GRADS_LOCK = threading.RLock()  # (re-entrant: a collection under it may run user code)


def _accumulate(t: Tensor, g: np.ndarray) -> None:
    """Add g into t.grad (PyTorch semantics: gradients accumulate across backward calls)."""
    with GRADS_LOCK:
        data = t._data
        # (another thread gave .data another shape or dtype meanwhile: g is a gradient of
        # other values, forgotten as the .data setter forgets .grad)
        if g.shape != data.shape or g.dtype != data.dtype:
            return
        if t._grad is None:
            # A copy: g may be shared (the VJP of a + b hands the same array to both). It has
            # t's shape and dtype already (the walk made sure), so .grad's checks are skipped.
            t._grad = g.copy()
        else:
            # (in place: .grad has g's shape and dtype, as the setters of .grad and .data see
            # to; an array this function made, or a copy of the one the user assigned. No
            # store back: `t._grad += g` would bring back a .grad set to None meanwhile)
            grad = t._grad
            grad += g
