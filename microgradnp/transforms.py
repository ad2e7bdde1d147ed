"""Function transforms, JAX style: `grad(f)` and `value_and_grad(f)` return new functions.

    df = mg.grad(f)            # df(x) = d f / d x, same shape as x
    d2f = mg.grad(mg.grad(f))  # second derivative of a scalar function

Called with arrays or numbers they return NumPy arrays. They differentiate with respect to
the arguments named by `argnums` only, and leave `.grad` of every tensor alone (tensors that
`f` closes over are constants here). When the result is itself being differentiated (the
transforms are nested, or an argument is a Tensor that requires grad) it is returned as a
Tensor that records how it depends on its inputs.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import engine, ops
from .recording import (
    TRANSFORMED,
    is_grad_enabled,
    is_integer,
    restore_mode,
    sequence_number,
    switch_mode,
    values_of,
)
from .tensors import Tensor


def grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, *, has_aux: bool = False
) -> Callable[..., Any]:
    """The gradient of scalar-valued `f` with respect to its positional argument(s) `argnums`.

    Returns a function of the same arguments giving d f / d args[argnums] (one array of
    that argument's shape, or a tuple for tuple `argnums`; a Tensor recording its graph
    when the transforms are nested or an argument is a tensor that requires grad). With
    `has_aux`, `f` returns `(value, aux)` and the function returns `(gradient, aux)`, the
    tensors in aux as their arrays. Inside f, a NumPy function given a differentiated
    tensor raises TypeError (NumPy would cut it off the graph): use mg's functions.
    """
    value_and_grad_f = value_and_grad(f, argnums, has_aux=has_aux)

    @functools.wraps(f, updated=())  # (not f's __dict__: a primitive's fun and vjp)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, g = value_and_grad_f(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_f


def value_and_grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, *, has_aux: bool = False
) -> Callable[..., Any]:
    """Like `grad`, but the function returns `(f(*args), gradient)`.

    With `has_aux`, it returns `((value, aux), gradient)`, as JAX does.
    """
    single = isinstance(argnums, int | np.integer)
    try:
        given: tuple[Any, ...] = (argnums,) if single else tuple(argnums)  # type: ignore[arg-type]
    except TypeError:  # (not iterable)
        given = ()
    if not given or not all(is_integer(i) for i in given):
        raise TypeError(f"grad: argnums must be an int or a tuple of ints, got {argnums!r}")
    positions = tuple(int(i) for i in given)

    @functools.wraps(f, updated=())
    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        for i in positions:
            if not -len(args) <= i < len(args):
                raise ValueError(
                    f"grad: argnums={argnums} asks for argument {i}, but the function was "
                    f"called with {len(args)} positional argument(s)"
                )
        if len({i % len(args) for i in positions}) < len(positions):
            raise ValueError(
                f"grad: argnums={argnums} names the same argument more than once (with "
                f"{len(args)} arguments, a negative position names one from the end); "
                "list each argument once"
            )
        # Inside another transform, gradients are recorded, as the outer one may differentiate
        # them (through closures too); so they are when a tensor argument requires grad,
        # one of argnums or not (the result depends on it).
        began, outer_targets = TRANSFORMED.get()
        recording = is_grad_enabled() and (
            began > 0
            or any(isinstance(a, Tensor) and a.requires_grad for a in (*args, *kwargs.values()))
        )
        args = list(args)  # type: ignore[assignment]
        made_at = sequence_number()
        mode = switch_mode(grad_enabled=True)  # a transform, like JAX's: not off under no_grad
        transformed = None
        try:
            targets = [_as_target(args[i], i, recording) for i in positions]
            for i, t in zip(positions, targets, strict=True):
                args[i] = t  # type: ignore[index]
            transformed = TRANSFORMED.set((began or made_at, (*outer_targets, *targets)))
            out = f(*args, **kwargs)
            if has_aux and not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("grad: with has_aux=True, f must return a (value, aux) pair")
            value, aux = out if has_aux else (out, None)
            _check_scalar(value)
            if isinstance(value, Tensor) and value.requires_grad:
                grads = engine.gradients(value, targets, create_graph=recording, made_at=made_at)
            else:  # f does not depend on its arguments
                grads = [None] * len(targets)
        finally:
            restore_mode(mode)
            if transformed is not None:
                TRANSFORMED.reset(transformed)
        grads = [
            _result(g, recording) if g is not None else np.zeros_like(t.data)
            for g, t in zip(grads, targets, strict=True)
        ]
        # Each array its own and writeable: the engine may hand one array to two arguments
        # (the VJP of a + b), or a read-only broadcast view (the VJP of a sum)
        for k, g in enumerate(grads):
            if isinstance(g, np.ndarray) and (
                not (g.flags.writeable and g.flags.owndata) or any(g is h for h in grads[:k])
            ):
                grads[k] = g.copy()
        _GRADIENTS.update((id(g), g) for g in grads if isinstance(g, Tensor))
        value = _result(value, recording)
        if has_aux and not recording:
            aux = _arrays_in(aux)
        return ((value, aux) if has_aux else value), (grads[0] if single else tuple(grads))

    return value_and_grad_f


# The Tensors the transforms returned as gradients (when recording), by id: compare_grads
# takes them by their values, where another computed tensor stands for its `.grad`. (Not a
# WeakSet: it compares its members with ==, which is elementwise for tensors.)
_GRADIENTS: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def is_gradient(t: Tensor) -> bool:
    """Whether t is a gradient that `grad` or `value_and_grad` returned as a Tensor."""
    return _GRADIENTS.get(id(t)) is t


def _as_target(x: Any, position: int, recording: bool) -> Tensor:
    """The tensor to differentiate with respect to, for argument `x`: a new one, so that x
    used elsewhere (closed over by f, or passed twice) is not differentiated with it."""
    if recording and isinstance(x, Tensor) and x.requires_grad:
        # x is being differentiated (by an outer transform, or the caller's backward): a
        # new node standing for x keeps the result connected to it
        target = ops.identity(x)
        target.name = x.name
        return target
    try:
        data = values_of(x)
    except (TypeError, ValueError):  # (a ragged list)
        data = np.empty(0, dtype=object)
    if data.dtype.kind == "O":
        raise TypeError(
            f"grad: argument {position} is a {type(x).__name__}, not an array of numbers; "
            "gradients are taken with respect to arrays (or numbers): pass each array as an "
            "argument of its own, and name them with argnums=(0, 1, ...)"
        )
    shared = isinstance(x, np.ndarray | Tensor)  # (else a number or list: a new array)
    if data.dtype.kind in "biu" and not shared:
        data = data.astype(np.float64)
    if data.dtype.kind != "f":
        raise TypeError(
            f"grad: argument {position} has dtype {data.dtype}; gradients are defined for "
            "floating-point inputs only (convert it, e.g. x.astype(np.float64))"
        )
    # (the caller's array is copied: graphs lock the arrays of the leaves they save, and the
    # caller's own must stay writeable whatever f returns alongside)
    return Tensor._wrap(data.copy() if shared else data).requires_grad_()


def _check_scalar(value: Any) -> None:
    data = value.data if isinstance(value, Tensor) else value
    if not isinstance(data, int | float | np.ndarray | np.generic) or (
        np.asarray(data).dtype.kind not in "biuf"
    ):
        raise TypeError(
            f"grad: the function must return a scalar Tensor or number, got {type(value).__name__}"
        )
    if np.size(data) != 1:
        shape = np.shape(data)
        raise TypeError(
            f"grad: the function must return a scalar (one element), but it returned shape "
            f"{shape}; reduce it (e.g. .sum()), or differentiate one element at a time"
        )


def _arrays_in(aux: Any) -> Any:
    """aux with its Tensors (also in tuples, lists and dicts) replaced by their arrays, as
    JAX returns aux: values, not graphs (which would keep the leaves they saved locked)."""
    if isinstance(aux, Tensor):
        return aux.data
    if isinstance(aux, tuple | list):
        return type(aux)(_arrays_in(a) for a in aux) if type(aux) in (tuple, list) else aux
    if type(aux) is dict:
        return {k: _arrays_in(v) for k, v in aux.items()}
    return aux


def _result(x: Any, recording: bool) -> Any:
    """A result for the caller: an array, unless it is itself being differentiated."""
    if isinstance(x, Tensor):
        return x if recording and x.requires_grad else x.data
    return np.asarray(x)  # (NumPy gives 0-d results as scalars)
