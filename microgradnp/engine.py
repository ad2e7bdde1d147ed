"""The backward engine: from an output back to its inputs, calling each op's VJP once.

Invariants (tests/test_engine.py checks each):
- Topological order, found iteratively: an op's VJP runs only after every use of its output
  has contributed to that output's gradient; no recursion, so depth is unlimited.
- Broadcasting is undone in one place, `unbroadcast`: every gradient handed to an input has
  exactly that input's shape and dtype.
- Only inputs that require grad get gradient work; with `targets`, only ops on a path to a
  target do.
- After `backward()` the graph is freed (each node drops its arguments, so intermediate
  arrays can go) unless `retain_graph=True`; a second pass through a freed node raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import ops
from .primitive import Node, Primitive, current_mode, is_tensor, restore_mode, switch_mode

if TYPE_CHECKING:
    from .tensor import Tensor


def backward(root: Tensor, grad: Any = None, *, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into `.grad` of every leaf that requires grad.

    `grad` is the gradient of some scalar with respect to `root` (same shape); it may be
    omitted when `root` has a single element (then it is 1).
    """
    g0 = _root_grad(root, grad, "backward")
    if root._node is None:
        _accumulate(root, g0)
        return
    _walk(root, g0, retain_graph=retain_graph, create_graph=False, targets=None)


def gradients(root: Tensor, targets: list[Tensor], *, create_graph: bool) -> list[Any]:
    """d(root)/d(target) for each target (None where root does not depend on it).

    Touches no `.grad`; retains the graph. With `create_graph` the gradients are Tensors
    recorded as functions of the graph's inputs, so they can be differentiated again.
    """
    g0: Any = _root_grad(root, None, "grad")
    if create_graph:
        g0 = root._wrap(g0)
    if root._node is None:  # the output is one of the inputs
        return [g0 if t is root else None for t in targets]
    found = _walk(root, g0, retain_graph=True, create_graph=create_graph, targets=targets)
    return [found.get(id(t)) for t in targets]


def unbroadcast(g: Any, shape: tuple[int, ...], op: Primitive, argnum: int) -> Any:
    """Sum a VJP's gradient over the axes along which argument `argnum` was broadcast.

    The one place broadcasting is undone. A gradient that cannot have come from broadcasting
    an argument of `shape` means the VJP is wrong, and is reported as such.
    """
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, gshape[lead:], strict=True)):
        raise ValueError(
            f"{op.name}: its VJP returned a gradient of shape {gshape} for argument {argnum}, "
            f"which has shape {shape}; a VJP must return the argument's shape (or a shape "
            "it broadcasts to)"
        )
    g = ops.sum_to(g, shape)
    if g.shape != shape:  # sum_to's own contract; cheap, and a wrong shape must never escape
        raise AssertionError(f"unbroadcast: {gshape} summed to {g.shape}, not {shape}")
    return g


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
        return np.ones_like(root.data)
    g = np.asarray(grad.data if is_tensor(grad) else grad, dtype=root.dtype)
    if g.shape != root.shape:
        raise ValueError(
            f"{caller}: grad has shape {g.shape} but the output has shape {root.shape}; "
            "they must be equal"
        )
    return g


def topological_order(root: Tensor, *, allow_freed: bool = False) -> list[Tensor]:
    """The recorded tensors reachable from root, each before the ones it was computed from.

    Root first; deterministic for a given expression. Graph pictures and `check_graph`
    number ops in the reverse of this order (inputs first): op #1 is its last entry.
    A node freed by backward() raises, unless `allow_freed` (then it counts as having no
    inputs).
    """
    order: list[Tensor] = []
    seen = {id(root)}
    stack: list[tuple[Tensor, int]] = [(root, 0)]
    while stack:
        t, i = stack.pop()
        node: Node = t._node  # type: ignore[assignment]
        args = node.args
        if args is None:
            if allow_freed:
                order.append(t)
                continue
            raise RuntimeError(
                f"backward: the graph through this {node.op.name} was already freed by an "
                "earlier backward(); to run backward() through a graph more than once, pass "
                "retain_graph=True to the earlier calls"
            )
        parents = node.parents
        while i < len(parents):
            p = args[parents[i]]
            i += 1
            if p._node is not None and id(p) not in seen:
                seen.add(id(p))
                stack.append((t, i))
                stack.append((p, 0))
                break
        else:
            order.append(t)  # all of t's inputs are placed: t comes after them
    order.reverse()
    return order


def _on_path_to(order: list[Tensor], targets: list[Tensor]) -> set[int]:
    """ids of the tensors in `order` (and the targets) from which some target is reachable."""
    needed = {id(t) for t in targets}
    for t in reversed(order):  # inputs before the tensors computed from them
        node: Node = t._node  # type: ignore[assignment]
        if any(id(node.args[i]) in needed for i in node.parents):  # type: ignore[index]
            needed.add(id(t))
    return needed


def _walk(
    root: Tensor,
    g0: Any,
    *,
    retain_graph: bool,
    create_graph: bool,
    targets: list[Tensor] | None,
) -> dict[int, Any]:
    order = topological_order(root)
    needed = None if targets is None else _on_path_to(order, targets)
    target_ids = set() if targets is None else {id(t) for t in targets}
    found: dict[int, Any] = {}  # gradients of the targets, by id
    pending: dict[int, Any] = {id(root): g0}  # summed gradients of tensors not yet processed
    anomaly = current_mode().anomaly
    # VJPs see plain arrays and build no graph, unless the gradient is to be differentiated.
    token = switch_mode(grad_enabled=create_graph, raw_arrays=not create_graph)
    try:
        for k, t in enumerate(order):
            order[k] = None  # type: ignore[call-overload]  # let t go once it is done
            node: Node = t._node  # type: ignore[assignment]
            g = pending.pop(id(t), None)
            if g is not None and (needed is None or id(t) in needed):
                if t._retain_grad:
                    _accumulate(t, g)
                if id(t) in target_ids:
                    found[id(t)] = g
                for p, gp in _input_grads(node, g, t, create_graph, needed):
                    if anomaly is not None:
                        anomaly.backward(node, t, p, gp)
                    if p._node is None:
                        if targets is None:
                            _accumulate(p, gp)
                        elif id(p) in target_ids:
                            old = found.get(id(p))
                            found[id(p)] = gp if old is None else old + gp
                    else:
                        old = pending.get(id(p))
                        pending[id(p)] = gp if old is None else old + gp
            if not retain_graph:
                node.args = None
    finally:
        restore_mode(token)
    return found


def _input_grads(
    node: Node, g: Any, out: Tensor, create_graph: bool, needed: set[int] | None
) -> list[tuple[Tensor, Any]]:
    """(input, gradient) for each input of `node` that requires grad (and is needed)."""
    op, args, kwargs = node.op, node.args, node.kwargs
    assert args is not None
    wanted = [i for i in node.parents if needed is None or id(args[i]) in needed]
    if not wanted:
        return []
    if create_graph:
        vals: Any = args
        ans: Any = out
    else:
        vals = [a.data if is_tensor(a) else a for a in args]
        ans = out.data
    try:
        if op.vjp is not None:
            res = op.vjp(g, ans, *vals, **kwargs)
            if not isinstance(res, tuple | list):
                res = (res,)
            elif len(res) != len(args):
                raise TypeError(
                    f"{op.name}: its VJP returned {len(res)} gradients for {len(args)} "
                    "positional arguments; return one per argument (None where there is none)"
                )
            grads = [(i, res[i] if i < len(res) else None) for i in wanted]
        else:
            grads = [(i, _vjp_for(op, i)(g, ans, *vals, **kwargs)) for i in wanted]
    except TypeError as err:
        if create_graph and "__array_ufunc__" in str(err):
            raise TypeError(
                f"{op.name}: its VJP uses NumPy functions, so it cannot be differentiated "
                "again (needed for this higher-order derivative); write it with "
                f"microgradnp functions (mg.exp, mg.sum, ...) instead. ({err})"
            ) from err
        raise
    result = []
    for i, gi in grads:
        if gi is None:
            continue  # the op declares no gradient for this argument: zero
        p = args[i]
        gi = _as_grad(gi, create_graph, p)
        if gi.shape != p.shape:
            gi = unbroadcast(gi, p.shape, op, i)
        if gi.dtype != p.dtype:
            gi = ops.astype(gi, p.dtype)
        result.append((p, gi))
    return result


def _vjp_for(op: Primitive, argnum: int) -> Any:
    vjps = op.vjps
    if vjps is None or argnum >= len(vjps):
        detail = "defines no VJP" if op.vjp is None and vjps is None else "has no VJP for it"
        raise NotImplementedError(
            f"{op.name}: argument {argnum} requires grad, but {op.name} {detail}; "
            f"define one with {op.name}.defvjp(...)"
        )
    vjp = vjps[argnum]
    if vjp is None:
        return lambda *args, **kwargs: None  # declared not differentiable in this argument
    return vjp


def _as_grad(g: Any, create_graph: bool, like: Tensor) -> Any:
    """A VJP's result as an array (first order) or a Tensor (when recording)."""
    if create_graph:
        return g if is_tensor(g) else like._wrap(np.asarray(g))
    if is_tensor(g):
        return g.data  # a user VJP that built Tensors; only the values matter here
    return g if type(g) is np.ndarray else np.asarray(g)


def _accumulate(t: Tensor, g: np.ndarray) -> None:
    """Add g into t.grad (PyTorch semantics: gradients accumulate across backward calls)."""
    if t.grad is None:
        # A copy: g may be shared (the VJP of a + b hands the same array to both).
        t.grad = np.array(g, dtype=t.dtype)
    else:
        t.grad += g  # in place, into the array this function made (or the user assigned)
