"""The Tensor: a NumPy array that remembers how it was computed.

A Tensor holds `.data` (an ndarray) and, after `backward()`, `.grad` (an ndarray of the same
shape and dtype). Its operators and methods are the functions of `ops.py`; a tensor computed
from ones that require grad carries the record (`Node`) that `backward()` follows.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import engine, ops
from .recording import (
    TRANSFORMED,
    Node,
    NumPyInRecordedVJPError,
    check_flags,
    current_mode,
    register_tensor_type,
    reworded,
    sequence_number,
    values_of,
)

Axis = int | tuple[int, ...] | None


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    """A fresh array for Tensor(data); Python numbers and lists become float64."""
    if isinstance(data, Tensor):  # (its values: not through NumPy, which a transform refuses)
        data = data._data
    # (objects with __array__, PyTorch's tensors say, keep their dtype as arrays do)
    from_python = not isinstance(data, np.ndarray | np.generic) and not hasattr(data, "__array__")
    try:
        arr = np.array(data, dtype=dtype)
    except (ValueError, TypeError) as err:
        if "inhomogeneous" in str(err) or "sequence" in str(err):
            raise TypeError(
                f"Tensor: cannot make a tensor from this ragged nested sequence ({err}); "
                "every row must have the same length"
            ) from None
        raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__}: {err}") from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        what = {
            "U": "strings",
            "S": "bytes",
            "O": "Python objects, or integers too large for int64",
            "c": "complex numbers",
        }
        raise TypeError(
            f"Tensor: data of dtype {arr.dtype} ({what.get(kind, 'not numbers')}) cannot be a "
            f"tensor; got {type(data).__name__}. A tensor holds real numbers (floating-point, "
            "integer or boolean)"
        )
    if from_python and dtype is None:
        arr = arr.astype(np.float64, copy=False)
    return arr


def _is_dtype(value: Any) -> bool:
    """Whether value names a dtype (np.float32, "float32", np.dtype(...), float)."""
    try:
        np.dtype(value)
    except TypeError:
        return False
    return value is not None


def _checked_grad(t: Tensor, value: Any) -> np.ndarray:
    """A value assigned to t.grad, as the array it will be, if it can be t's gradient."""
    array = value.data if isinstance(value, Tensor) else value
    if isinstance(array, np.generic):
        array = np.asarray(array)
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"grad: assign None or an array of shape {t.shape} and dtype {t.dtype}, not "
            f"{type(value).__name__}"
        )
    if array.shape != t.shape:
        raise ValueError(
            f"grad: an array of shape {array.shape} was assigned to the gradient of a tensor "
            f"of shape {t.shape}; a gradient has its tensor's shape"
        )
    if array.dtype != t.dtype:
        raise TypeError(
            f"grad: an array of dtype {array.dtype} was assigned to the gradient of a tensor "
            f"of dtype {t.dtype}; convert it first, e.g. g.astype(np.{t.dtype})"
        )
    # backward() adds into .grad in place: a copy, so that it adds into no array of the
    # caller's (another tensor's .grad, say: t.grad = a.grad)
    return array.copy()


# The leaves whose requires_grad was turned off, and when: frozen parameters. nn.Module
# counts one as a parameter if it was frozen after the attribute holding it was assigned
# (a list filled later, then frozen). By id, with weak references (a WeakSet would compare
# tensors with ==, which is elementwise).
_FROZEN: dict[int, tuple[weakref.ref[Tensor], int]] = {}


def _freeze(t: Tensor) -> None:
    key = id(t)
    _FROZEN[key] = (weakref.ref(t, lambda _: _FROZEN.pop(key, None)), sequence_number())


def frozen_at(t: Tensor) -> int:
    """When (a sequence number) the leaf t, requiring grad, was last frozen (its
    requires_grad set to False); -1 if never."""
    ref, when = _FROZEN.get(id(t), (None, -1))
    return when if ref is not None and ref() is t else -1


# PyTorch's names for what microgradnp (like NumPy) calls otherwise. Each is a property that
# raises AttributeError with the hint (so hasattr() is False), set on the class below: a
# __getattr__ would do it in one place, but it would slow every attribute read of a Tensor
# (CPython then no longer specializes them).
_INPLACE_HINT = "in-place updates are written `x += ...` (under mg.no_grad())"
_PYTORCH_NAMES = {
    "view": "use x.reshape(...)",
    "flatten": "use x.reshape(-1)",
    "unsqueeze": "use x.reshape(...) (or x[None] for a new first axis)",
    "squeeze": "use x.reshape(...)",
    "permute": "use x.transpose(...)",
    "dim": "use x.ndim",
    "numel": "use x.size (a number, as in NumPy)",
    "clone": "x.detach() shares the data, mg.tensor(x.data) copies it",
    "grad_fn": "x.op names the op that computed x (None for a leaf)",
    "float": "use x.astype(np.float32) or x.astype(np.float64)",
    "double": "use x.astype(np.float64)",
    "cpu": "microgradnp computes with NumPy, on the CPU, always",
    "cuda": "microgradnp computes with NumPy, on the CPU, always",
    "to": "microgradnp computes with NumPy, on the CPU; for a dtype use x.astype(...)",
    **dict.fromkeys(
        ["add_", "sub_", "mul_", "div_", "exp_", "zero_", "fill_", "copy_", "clamp_"],
        _INPLACE_HINT,
    ),
}


def _written(data: np.ndarray, write: Callable[[np.ndarray], Any]) -> np.ndarray:
    """`write(target)` into data, or into a copy of it where a graph saved data (it is
    read-only, also when another thread's op locked it just after the check); returns the
    array written: the tensor's data from now on."""
    target = data if _writeable(data) else data.copy()
    try:
        write(target)
    except ValueError:
        if target is not data or _writeable(data):
            raise
        target = data.copy()
        write(target)
    return target


def _writeable(data: np.ndarray) -> bool:
    """Whether data can be written into: writeable itself, and not a view of an array that
    is read-only (one a graph saved, locked after the view was taken), along the whole
    chain of arrays it views (subclass views, as memmap slices, are not collapsed)."""
    if not data.flags.writeable:
        return False
    base = data.base
    while isinstance(base, np.ndarray):
        if not base.flags.writeable:
            return False
        base = base.base
    return True


class Tensor:
    """An n-dimensional array that records the ops applied to it, for reverse-mode autodiff.

    Tensor(data, requires_grad=False, name=None, *, dtype=None): `data` is copied. Python
    numbers and (nested) lists become float64; NumPy arrays (and objects NumPy converts, such
    as PyTorch tensors) keep their dtype. Only
    floating-point tensors can require grad. `name` labels the tensor in graphs and errors.
    """

    __slots__ = (
        "_data",
        "_grad",
        "_name",
        "_requires_grad",
        "_node",
        "_retain_grad",
        "_version",  # counts microgradnp's in-place changes (see recording.SavedLeaves)
        "_saved",  # how many live nodes saved this leaf (recording.SavedLeaves)
        "__weakref__",
    )

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy's ufuncs given a Tensor: `np.exp(x)`, `np.maximum(x, 0)` and the operators
        with an array on the left (`ndarray * x`, `ndarray @ x`, `ndarray < x`) run the
        microgradnp op of the same name, recorded like `mg.exp(x)`. Other ufuncs give NumPy's
        result on the values where no gradient is lost: the result is boolean (`np.isnan(x)`,
        the reduce that `np.all` makes), or no input requires grad. Otherwise they raise
        TypeError saying what to write instead, as the result would silently have no
        gradient."""
        settings = _not_default(kwargs) if kwargs else []
        op = _UFUNC_OPS.get(ufunc) if method == "__call__" else None
        if op is not None and not settings:
            return op(*inputs)
        grads = any(isinstance(x, Tensor) and x._requires_grad for x in inputs)
        into_tensor = any(isinstance(o, Tensor) for o in kwargs.get("out", ()))
        if not into_tensor and (not grads or _boolean(ufunc)):  # (no gradient lost)
            values = [x._data if isinstance(x, Tensor) else x for x in inputs]
            if isinstance(kwargs.get("where"), Tensor):
                kwargs = {**kwargs, "where": kwargs["where"]._data}
            return getattr(ufunc, method)(*values, **kwargs)
        if current_mode().recording_vjps:  # (the engine names the op whose VJP this is)
            raise NumPyInRecordedVJPError(f"np.{ufunc.__name__} got a Tensor")
        if op is not None and "out" not in kwargs:
            _refuse_settings(f"np.{ufunc.__name__}", op.__name__, settings)
        raise TypeError(_ufunc_refusal(ufunc, method, kwargs))

    def __array_function__(
        self, func: Any, types: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """NumPy's functions given a Tensor: those that are microgradnp ops (`np.where`,
        `np.clip`, `np.concatenate`, `np.stack`, `np.vstack`, `np.hstack`, `np.transpose`,
        `np.swapaxes`, `np.reshape`, `np.ravel`, `np.squeeze`, `np.expand_dims`,
        `np.broadcast_to`, and `np.dot` of scalars, vectors and matrices) run the op,
        recorded; a NumPy setting the op lacks (`out=`, `dtype=`, `order="F"`) raises
        TypeError. Any other function runs as NumPy's own: `np.sum` calls `x.sum()`, and
        the rest see the tensor's values (inside mg.grad they refuse a tensor it
        differentiates), with a GraphCutWarning where a tensor that requires grad goes in
        and numbers with no gradient come out (`np.linalg.norm(w)` in a loss)."""
        if not all(issubclass(t, Tensor | np.ndarray) for t in types):
            return NotImplemented  # (another library's arrays too: theirs to handle)
        as_op = _FUNCTION_OPS.get(func)
        result = NotImplemented if as_op is None else as_op(*args, **kwargs)
        if result is NotImplemented:
            numpys = getattr(func, "_implementation", None)  # (None: np.zeros(like=x) & co)
            if numpys is None:
                return NotImplemented
            result = numpys(*args, **kwargs)
            if _lost_gradient(func, result, args, kwargs):
                _warn_graph_cut(func)
        return result

    _data: np.ndarray
    _grad: np.ndarray | None
    _name: str | None
    _node: Node | None

    def __init__(
        self, data: Any, requires_grad: bool = False, name: str | None = None, *, dtype: Any = None
    ) -> None:
        try:
            check_flags("Tensor", requires_grad=requires_grad)
        except TypeError as err:
            if _is_dtype(requires_grad):  # (NumPy's np.array(x, np.float32) habit)
                raise TypeError(f"{err} (dtype is a keyword setting: dtype=...)") from None
            raise
        self._data = _to_array(data, dtype)
        self._grad = None
        self.name = name
        self._node = None
        self._retain_grad = False
        self._requires_grad = False
        self._version = self._saved = 0
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Tensor:
        """A Tensor around `data` as is: no copy, no checks (for ops' results)."""
        t = object.__new__(cls)
        t._data = data
        t._grad = None
        t._name = None
        t._requires_grad = False
        t._node = None
        t._retain_grad = False
        t._version = t._saved = 0
        return t

    # ------------------------------------------------------------ attributes

    @property
    def data(self) -> np.ndarray:
        """The values, an ndarray (not a copy). Assignable with an array of real numbers
        (floating-point if the tensor requires grad): the escape hatch for changes that
        autodiff must not see, as in PyTorch. Assigning values of another shape or dtype
        forgets `.grad` (the gradient of the old ones)."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        array = value if type(value) is np.ndarray else values_of(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"data: assign an array of real numbers, not {type(value).__name__} of dtype "
                f"{array.dtype}"
            )
        if self._requires_grad and array.dtype.kind != "f":
            raise TypeError(
                f"data: this tensor requires grad, so its data must be floating-point, not "
                f"{array.dtype}; convert it first, e.g. x.astype(np.{self.dtype})"
            )
        with engine.GRADS_LOCK:  # (backward() in another thread may be adding into .grad)
            grad = self._grad
            if grad is not None and (array.shape != grad.shape or array.dtype != grad.dtype):
                self._grad = None  # (a gradient of another shape or dtype: of other values)
            self._data = array

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._data.dtype

    @property
    def T(self) -> Tensor:
        """The transpose (axes reversed)."""
        return ops.transpose(self)

    def __getstate__(self) -> dict[str, Any]:
        """For copy.deepcopy and pickle: the copy is a leaf (a computed tensor's history is
        not copied, as when PyTorch pickles one), saved by no graph, so without locks."""
        state = {slot: getattr(self, slot) for slot in _STATE}
        state["_node"], state["_retain_grad"] = None, False
        state["_saved"] = 0
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for slot, value in state.items():
            if slot == "_locked":  # (a slot of older versions, always None in a pickle)
                continue
            # ("data": the slot's name in pickles made before it became a checked property)
            object.__setattr__(self, "_data" if slot == "data" else slot, value)

    @property
    def name(self) -> str | None:
        """The tensor's label in graphs and error messages (None: none)."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"Tensor: name must be a string, got {type(value).__name__}")
        self._name = value

    @property
    def grad(self) -> np.ndarray | None:
        """The gradient accumulated by backward(): an array of this tensor's shape and dtype,
        or None. Assignable (None, or an array or Tensor of the same shape and dtype; a copy
        is stored). A leaf whose requires_grad is turned off before backward gets none."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is not None:
            value = _checked_grad(self, value)
        with engine.GRADS_LOCK:  # (backward() in another thread may be adding into it)
            self._grad = value

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor. Settable on leaves (tensors you created)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        check_flags("Tensor", requires_grad=value)
        if self._node is not None and bool(value) == self._requires_grad:
            return  # (setting a computed tensor to what it is: nothing to change, as PyTorch)
        if self._node is not None:
            raise RuntimeError(
                f"requires_grad can only be changed on leaf tensors; this one was computed by "
                f"{self._node.op.name}. Use .detach() for a leaf copy"
            )
        if not value and self._requires_grad and self._node is None:
            _freeze(self)  # a leaf that required grad: a parameter, frozen (see nn.Module)
        if value and self._data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad=True needs floating-point data, but this tensor's dtype is "
                f"{self._data.dtype}; convert it first, e.g. mg.tensor(x, dtype=np.float64)"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad in place and return self (PyTorch style)."""
        self.requires_grad = requires_grad
        return self

    def __dir__(self) -> list[str]:  # (not the PyTorch names that only raise with a hint)
        return [name for name in super().__dir__() if name not in _PYTORCH_NAMES]

    @property
    def is_leaf(self) -> bool:
        """True for tensors created directly rather than computed by a recorded op."""
        return self._node is None

    @property
    def op(self) -> str | None:
        """The name of the op that computed this tensor, or None for a leaf."""
        return None if self._node is None else self._node.op.name

    # ------------------------------------------------------------ autodiff

    def backward(
        self, grad: Any = None, retain_graph: bool = False, *, gradient: Any = None
    ) -> None:
        """Accumulate the gradient of this tensor into `.grad` of every leaf requiring grad.

        `grad` is needed when this tensor has more than one element (same shape);
        `gradient=` is accepted for it too, PyTorch's name. The graph is freed afterwards
        unless `retain_graph=True`.
        """
        check_flags("backward", retain_graph=retain_graph)
        if isinstance(grad, bool):  # (as PyTorch: a bool is no gradient)
            raise TypeError("backward: grad must be an array of real numbers, got bool")
        if gradient is not None:
            if grad is not None:
                raise TypeError("backward: pass the output's gradient once, as grad (or gradient=)")
            grad = gradient
        engine.backward(self, grad, retain_graph=retain_graph)

    def detach(self) -> Tensor:
        """A leaf tensor sharing this one's data, with no history and no grad."""
        return Tensor._wrap(self._data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets `.grad` to None, as PyTorch does)."""
        self.grad = None

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` during backward (leaves always do)."""
        if not self._requires_grad:
            raise RuntimeError(
                "retain_grad: this tensor does not require grad, so backward() gives it no "
                "gradient to keep (as in PyTorch)"
            )
        if self._node is not None:
            self._retain_grad = True

    # ------------------------------------------------------------ conversions

    def numpy(self) -> np.ndarray:
        """The data (not a copy)."""
        return self._data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(
                f"item: only a one-element tensor converts to a Python number; this one has "
                f"shape {self.shape}"
            )
        if self._requires_grad:
            self._refuse_conversion(".item()")
        return self._data.item()

    def tolist(self) -> Any:
        if self._requires_grad:
            self._refuse_conversion(".tolist()")
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # (NumPy 2's protocol: copy=True always copies, False never does, None when needed)
        if self._requires_grad:
            self._refuse_conversion(
                "a NumPy function (np.asarray, np.linalg.norm, ...)", by_numpy=True
            )
        return np.array(self._data, dtype=dtype, copy=copy)

    def _refuse_conversion(self, what: str, *, by_numpy: bool = False) -> None:
        """Raise where converting this tensor (which requires grad) to NumPy or Python values
        would cut it off a graph whose gradient is taken, making that gradient silently
        wrong: while a VJP is recorded for a higher derivative (the engine names the op),
        or, for NumPy functions, inside mg.grad's function, for the tensors it differentiates
        and those computed since (as JAX refuses)."""
        mode = current_mode()
        if mode.recording_vjps:
            raise NumPyInRecordedVJPError(f"{what} got a Tensor")
        began, targets = TRANSFORMED.get()
        if (
            began
            and by_numpy
            and mode.grad_enabled
            and (
                any(self is t for t in targets)
                or (self._node is not None and self._node.seq >= began)
            )
        ):
            raise TypeError(
                f"grad: {what} got a Tensor that mg.grad differentiates (or one computed from "
                "it); NumPy would cut it off the graph, and its gradient would silently be 0. "
                "Use microgradnp's functions and operators instead (x @ w, mg.where, x.sum(), "
                "...), or x.data where you want its values as a constant"
            )

    def __float__(self) -> float:
        if self._requires_grad:
            self._refuse_conversion("float()")
        return float(self.item())

    def __int__(self) -> int:
        if self._requires_grad:
            self._refuse_conversion("int()")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; reduce it "
                "first, e.g. bool((x > 0).data.all())"
            )
        return bool(self._data)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        prefix = "Tensor("
        body = np.array2string(self._data, separator=", ", prefix=prefix)
        extras = []
        if self.dtype != np.float64:
            extras.append(f"dtype={self.dtype}")
        if self._node is not None:
            extras.append(f"op={self._node.op.name}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.name is not None:
            extras.append(f"name={self.name!r}")
        return prefix + body + "".join(", " + e for e in extras) + ")"

    def __format__(self, spec: str) -> str:
        if spec and self._data.size == 1:
            return format(self.item(), spec)
        if spec and spec[-1:] in ("e", "E", "f", "F", "g", "G", "%", "n", "d"):
            raise TypeError(
                f"format: a number format ({spec!r}) needs a one-element tensor, and this one "
                f"has shape {self.shape}; format its elements (e.g. np.array2string(t.data))"
            )
        return format(str(self), spec)

    __hash__ = object.__hash__  # by identity (== is elementwise, as in NumPy and PyTorch)

    # ------------------------------------------------------------ operators

    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        # (the index as the op runs with it: a recorded getitem keeps its arrays and lists,
        # as every op keeps the caller's arrays, see recording._keep_arrays)
        return ops.getitem(self, ops._as_index(index))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.equal(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.not_equal(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return ops.less(self, other)

    def __le__(self, other: Any) -> Tensor:
        return ops.less_equal(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return ops.greater(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return ops.greater_equal(self, other)

    # In-place operators change .data where no gradient can be affected (under no_grad, or
    # on tensors outside any graph): `with mg.no_grad(): w -= lr * w.grad`. Where the
    # result needs a gradient they record the op out of place and rebind the name. An array
    # that a graph still saves is read-only: it is replaced, not written into, and the
    # version count tells that graph's backward() (recording.SavedLeaves).

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace(ops.add, np.add, other, "+=")

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace(ops.sub, np.subtract, other, "-=")

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace(ops.mul, np.multiply, other, "*=")

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace(ops.div, np.true_divide, other, "/=")

    def __ipow__(self, other: Any) -> Tensor:
        return self._inplace(ops.pow, np.power, other, "**=")

    def _inplace(self, op: Any, ufunc: np.ufunc, other: Any, symbol: str) -> Tensor:
        other_grad = isinstance(other, Tensor) and other._requires_grad
        if current_mode().grad_enabled and (self._requires_grad or other_grad):
            if self._node is None and self._requires_grad:
                label = f" {self.name!r}" if self.name else ""
                raise RuntimeError(
                    f"in-place {symbol} on the leaf tensor{label}, which requires grad, would "
                    "bypass autodiff; do parameter updates inside `with mg.no_grad():`, or "
                    f"write `x = x {symbol[:-1]} y` to compute a new tensor"
                )
            return self._recorded_inplace(op(self, other), symbol)
        value = other.data if isinstance(other, Tensor) else other
        data = self._data
        try:  # (casting="same_kind", NumPy's default for out=)
            out = _written(data, lambda target: ufunc(data, value, out=target))
        except (ValueError, TypeError) as err:
            raise reworded(
                err,
                f"in-place {symbol} on a tensor of shape {self.shape} and dtype {self.dtype}: "
                f"{err}",
            ) from None
        self._data = out
        self._version += 1
        return self

    def _recorded_inplace(self, result: Tensor, symbol: str) -> Tensor:
        """The recorded result of `self {symbol} other`, held to what NumPy's in-place
        operator does: self's shape, and self's dtype (cast within its kind)."""
        if result.shape != self.shape:
            raise ValueError(
                f"in-place {symbol} on a tensor of shape {self.shape}: the result has shape "
                f"{result.shape} (the other operand broadcasts it); an in-place operator keeps "
                f"the shape. Write x = x {symbol[:-1]} y for the broadcast result"
            )
        if result.dtype != self.dtype:
            if not np.can_cast(result.dtype, self.dtype, casting="same_kind"):
                raise TypeError(
                    f"in-place {symbol} on a tensor of dtype {self.dtype}: the result has "
                    f"dtype {result.dtype}, which NumPy does not cast back in place. Write "
                    f"x = x {symbol[:-1]} y for a {result.dtype} result"
                )
            result = ops.astype(result, self.dtype)  # (float32 += float64 stays float32)
        return result

    def __setitem__(self, index: Any, value: Any) -> None:
        recording = current_mode().grad_enabled
        if recording and self._requires_grad:
            raise RuntimeError(
                "item assignment on a tensor that requires grad is not differentiable; build "
                "a new tensor instead (mg.where, mg.concatenate), or assign under mg.no_grad()"
            )
        if recording and isinstance(value, Tensor) and value._requires_grad:
            raise RuntimeError(
                "item assignment of a tensor that requires grad into one that does not would "
                "lose its gradient; build the result with mg.where, mg.concatenate or "
                "mg.stack, or assign value.detach() to copy the values only"
            )
        value = value.data if isinstance(value, Tensor) else value

        def assign(target: np.ndarray) -> None:
            target[ops._as_index(index)] = value

        try:
            self._data = _written(self._data, assign)
        except (ValueError, TypeError, IndexError) as err:
            raise reworded(
                err,
                f"item assignment into a tensor of shape {self.shape} and dtype {self.dtype}: "
                f"{err}",
            ) from None
        self._version += 1

    # ------------------------------------------------------------ methods (= functions in ops)

    def add(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def sub(self, other: Any) -> Tensor:
        return ops.sub(self, other)

    def mul(self, other: Any) -> Tensor:
        return ops.mul(self, other)

    def div(self, other: Any) -> Tensor:
        return ops.div(self, other)

    def neg(self) -> Tensor:
        return ops.neg(self)

    def pow(self, exponent: Any) -> Tensor:
        return ops.pow(self, exponent)

    def matmul(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def abs(self) -> Tensor:
        return ops.abs(self)

    # (dtype and out as in NumPy's methods: np.sum(x), np.mean(x), np.max(x) call these
    # with them, and then give the Tensor, graph and all)
    def sum(
        self, axis: Axis = None, dtype: Any = None, out: None = None, *, keepdims: bool = False
    ) -> Tensor:
        x = self if dtype is None and out is None else self._reduced("sum", dtype, out)
        return ops.sum(x, axis, keepdims=keepdims)

    def mean(
        self, axis: Axis = None, dtype: Any = None, out: None = None, *, keepdims: bool = False
    ) -> Tensor:
        x = self if dtype is None and out is None else self._reduced("mean", dtype, out)
        return ops.mean(x, axis, keepdims=keepdims)

    def max(self, axis: Axis = None, out: None = None, *, keepdims: bool = False) -> Tensor:
        x = self if out is None else self._reduced("max", None, out)
        return ops.max(x, axis, keepdims=keepdims)

    def min(self, axis: Axis = None, out: None = None, *, keepdims: bool = False) -> Tensor:
        x = self if out is None else self._reduced("min", None, out)
        return ops.min(x, axis, keepdims=keepdims)

    def var(
        self,
        axis: Axis = None,
        dtype: Any = None,
        out: None = None,
        ddof: int = 0,
        *,
        keepdims: bool = False,
    ) -> Tensor:
        """Variance over `axis`: the sum of squared deviations from the mean, divided by
        N - ddof (NumPy's; PyTorch's x.var() divides by N - 1: pass ddof=1). np.var(x)
        calls it."""
        return self._variance("var", axis, dtype, out, ddof, keepdims)

    def std(
        self,
        axis: Axis = None,
        dtype: Any = None,
        out: None = None,
        ddof: int = 0,
        *,
        keepdims: bool = False,
    ) -> Tensor:
        """Standard deviation over `axis`: the square root of x.var(axis, ddof=ddof)
        (NumPy's ddof=0; PyTorch's default is 1), with gradient 0 where it is 0, as in
        PyTorch. np.std(x) calls it."""
        var = self._variance("std", axis, dtype, out, ddof, keepdims)
        zero = var.data == 0  # (sqrt's gradient there is inf: kept out of the graph)
        return ops.where(zero, 0.0, ops.sqrt(ops.where(zero, 1.0, var)))

    def _variance(
        self, name: str, axis: Axis, dtype: Any, out: Any, ddof: int, keepdims: bool
    ) -> Tensor:
        x = self if dtype is None and out is None else self._reduced(name, dtype, out)
        mean = x.mean(axis, keepdims=True)
        deviation = x - mean
        count = x.size // max(mean.size, 1)  # (the elements each variance is over)
        # (as NumPy: N - ddof at least 0, so ddof >= N gives inf or nan, never negative)
        return (deviation * deviation).sum(axis, keepdims=keepdims) / max(count - ddof, 0)

    def _reduced(self, name: str, dtype: Any, out: Any) -> Tensor:
        """self in `dtype` for a reduction (NumPy's dtype=); out= is refused."""
        if isinstance(dtype, bool | np.bool_) or isinstance(
            out, bool | np.bool_
        ):  # (x.sum(0, True))
            raise TypeError(f"{name}: keepdims is a keyword: x.{name}(axis, keepdims=True)")
        if out is not None:
            raise TypeError(
                f"{name}: out= is not supported (an op makes a new tensor); use the result, "
                f"y = x.{name}(...)"
            )
        if not _is_dtype(dtype):
            raise TypeError(f"{name}: dtype must name a dtype (np.float32, ...), got {dtype!r}")
        return ops.astype(self, dtype)

    def maximum(self, other: Any) -> Tensor:
        return ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return ops.minimum(self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        """self where condition is true, else other (PyTorch's Tensor.where)."""
        return ops.where(condition, self, other)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:
        return ops.clip(self, min, max)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """x.reshape(2, 3) or x.reshape((2, 3))."""
        return ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        """x.transpose() reverses the axes; x.transpose(1, 0) or x.transpose((1, 0)) permutes."""
        if not axes:
            return ops.transpose(self)
        return ops.transpose(self, axes[0] if len(axes) == 1 else axes)

    def broadcast_to(self, shape: int | Sequence[int]) -> Tensor:
        return ops.broadcast_to(self, shape)

    def astype(self, dtype: Any) -> Tensor:
        return ops.astype(self, dtype)

    def softmax(self, axis: int = -1) -> Tensor:
        return ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return ops.log_softmax(self, axis)

    def logsumexp(self, axis: Axis = None, *, keepdims: bool = False) -> Tensor:
        return ops.logsumexp(self, axis, keepdims=keepdims)


# ---------------------------------------------------------------- NumPy's functions on tensors
# Tensor.__array_ufunc__ and Tensor.__array_function__ look NumPy's ufuncs and functions up
# in these tables of the ones that are microgradnp ops (see docs/design.md).

_UFUNC_OPS: dict[np.ufunc, Any] = {
    np.add: ops.add,
    np.subtract: ops.sub,
    np.multiply: ops.mul,
    np.divide: ops.div,
    np.power: ops.pow,
    np.negative: ops.neg,
    np.matmul: ops.matmul,
    np.maximum: ops.maximum,
    np.minimum: ops.minimum,
    np.exp: ops.exp,
    np.log: ops.log,
    np.sqrt: ops.sqrt,
    np.absolute: ops.abs,
    np.tanh: ops.tanh,
    np.sign: ops.sign,
    np.equal: ops.equal,
    np.not_equal: ops.not_equal,
    np.less: ops.less,
    np.less_equal: ops.less_equal,
    np.greater: ops.greater,
    np.greater_equal: ops.greater_equal,
}

# NumPy's settings at their defaults change nothing (np.add(x, 1, dtype=None)).
_DEFAULTS = {"where": True, "casting": "same_kind", "order": "K", "subok": True}


def _not_default(settings: dict[str, Any], defaults: dict[str, Any] = _DEFAULTS) -> list[str]:
    """The names of the settings given other values than NumPy's defaults (else None)."""
    return [
        k
        for k, v in settings.items()
        if not (v is defaults.get(k) or (isinstance(v, str) and v == defaults.get(k)))
    ]


def _refuse_settings(name: str, op: str, given: list[str]) -> None:
    """Raise TypeError for NumPy settings that microgradnp's op of that name lacks."""
    if given:
        raise TypeError(
            f"{name} with {', '.join(f'{k}=' for k in given)} got a Tensor; microgradnp's "
            f"{op} has no such setting. Call {name} without "
            f"{'them' if len(given) > 1 else 'it'}"
            + (" (and x.astype(...) for another dtype)" if "dtype" in given else "")
            + ", or compute on the values as a constant: x.data"
        )


def _ufunc_refusal(ufunc: np.ufunc, method: str, kwargs: dict[str, Any]) -> str:
    """Why a NumPy ufunc cannot take a Tensor that requires grad, and what to write."""
    name = f"np.{ufunc.__name__}"
    if any(isinstance(o, Tensor) for o in kwargs.get("out", ())):
        return (
            f"{name} with out= a Tensor: NumPy cannot write into a Tensor. Use the result, "
            f"y = {name}(...)"
        )
    if "out" in kwargs:
        return (
            f"{name} into out= (also `array += tensor`): NumPy cannot write a Tensor's result "
            "into an array. Write `array = array + tensor` (a Tensor, recorded), or use the "
            "values, `array += tensor.data`"
        )
    if method != "__call__":
        return (
            f"{name}.{method} got a Tensor that requires grad (NumPy's reductions call such "
            "methods: np.prod, np.ptp, ...), and microgradnp records no ufunc "
            "methods. Use its ops (x.sum(), x.max() - x.min(), x[:, None] * y for an outer "
            "product, ...), or pass x.data where you want only the values"
        )
    instead = _UFUNC_INSTEAD.get(ufunc)
    return (
        f"{name} got a Tensor that requires grad, and microgradnp has no {ufunc.__name__} op "
        "for the gradient to flow through. "
        + (f"Write {instead}, or define" if instead else "Define")
        + " it with mg.primitive and defvjp (see the custom-ops guide), or pass x.data where "
        "you want only the values"
    )


# What to write instead of NumPy ufuncs that are not ops (see _ufunc_refusal).
_UFUNC_INSTEAD = {
    np.square: "x ** 2",
    np.reciprocal: "1 / x",
    np.log1p: "mg.log(1 + x)",
    np.expm1: "mg.exp(x) - 1",
    np.exp2: "2.0 ** x",
    np.log2: "mg.log(x) / np.log(2)",
    np.log10: "mg.log(x) / np.log(10)",
    np.float_power: "x ** p",
    np.cbrt: "mg.sign(x) * mg.abs(x) ** (1 / 3)",
    np.fmax: "np.maximum(a, b)",
    np.fmin: "np.minimum(a, b)",
    np.logaddexp: "mg.logsumexp(mg.stack([a, b]), axis=0)",
}


def _boolean(ufunc: np.ufunc) -> bool:
    """Whether the ufunc gives booleans for every numeric input (np.isnan, np.logical_and)."""
    return all(sig.endswith("?") for sig in ufunc.types if "O" not in sig)


class GraphCutWarning(UserWarning):
    """A NumPy function that is not a microgradnp op got a tensor that requires grad, and
    computed on its values: the result has no gradient, so backward() does not reach the
    tensor through it. Write the expression with microgradnp's ops, or pass `x.data` (or
    compute under `mg.no_grad()`) where only the values are wanted."""


# What to write instead of NumPy functions that cut the graph (see GraphCutWarning).
_INSTEAD = {
    np.linalg.norm: "mg.sqrt((x * x).sum())",
    np.einsum: "a @ b, np.swapaxes(k, -1, -2) or (a * b).sum(axis)",
    np.outer: "a[:, None] * b[None, :]",
    np.inner: "a @ b",
    np.vdot: "(a * b).sum()",
    np.average: "x.mean(), or (x * w).sum() / w.sum()",
    np.append: "np.concatenate([a, b], axis)",
    np.column_stack: "np.hstack([a, b]), or np.stack([a, b], axis=1) for vectors",
    np.tile: "broadcasting, or np.broadcast_to(x, shape)",
}


# (their results never depend on the values: np.ones_like(y) as backward's seed)
_SHAPE_ONLY = frozenset({np.zeros_like, np.ones_like, np.empty_like, np.full_like})


def _lost_gradient(func: Any, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether NumPy computed numbers without a gradient from a tensor that requires grad,
    while gradients are recorded."""
    if func in _SHAPE_ONLY:
        return False
    parts = result if isinstance(result, tuple | list) else (result,)
    if not any(
        isinstance(r, np.ndarray | np.floating | float) and np.asarray(r).dtype.kind in "fc"
        for r in parts
    ):
        return False  # (indices, booleans, shapes, or a Tensor: nothing lost)
    inputs = [*args, *kwargs.values()]
    inputs += [x for a in inputs if isinstance(a, list | tuple) for x in a]
    return current_mode().grad_enabled and any(
        isinstance(x, Tensor) and x._requires_grad for x in inputs
    )


def _warn_graph_cut(func: Any) -> None:
    # (at the user's line; not for our calls, nor NumPy's own, warned at the outer call)
    module = getattr(func, "__module__", None) or "numpy"
    name = f"np{module.removeprefix('numpy')}.{func.__name__}"
    instead = _INSTEAD.get(func)
    ops._warn_in_user_code(
        f"{name} got a Tensor that requires grad and computed on its values: the result has "
        "no gradient, so backward() will not reach the tensor through it. Write it with "
        f"microgradnp's ops{f' ({instead})' if instead else ''}, or pass x.data (or compute "
        "under mg.no_grad()) where you want only the values",
        GraphCutWarning,
    )


# NumPy's functions that are microgradnp ops, each with NumPy's signature; NotImplemented:
# NumPy's own function applies.

_NOT_GIVEN: Any = object()


def _np_where(condition: Any, x: Any = _NOT_GIVEN, y: Any = _NOT_GIVEN) -> Any:
    if x is _NOT_GIVEN or y is _NOT_GIVEN:
        return NotImplemented  # np.where(condition) is np.nonzero: indices, from the values
    return ops.where(condition, x, y)


def _np_clip(
    a: Any,
    a_min: Any = None,
    a_max: Any = None,
    out: Any = None,
    *,
    min: Any = None,
    max: Any = None,
    **kwargs: Any,
) -> Any:
    _refuse_settings("np.clip", "clip", _not_default({"out": out, **kwargs}))
    if (a_min is not None and min is not None) or (a_max is not None and max is not None):
        raise ValueError("np.clip: a bound given twice (a_min and min, or a_max and max)")
    return ops.clip(a, a_min if a_min is not None else min, a_max if a_max is not None else max)


def _np_concatenate(
    arrays: Any,
    axis: int | None = 0,
    out: Any = None,
    *,
    dtype: Any = None,
    casting: str = "same_kind",
) -> Any:
    settings = {"out": out, "dtype": dtype, "casting": casting}
    _refuse_settings("np.concatenate", "concatenate", _not_default(settings))
    return ops.concatenate(arrays, axis)


def _np_stack(
    arrays: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"
) -> Any:
    _refuse_settings(
        "np.stack", "stack", _not_default({"out": out, "dtype": dtype, "casting": casting})
    )
    return ops.stack(arrays, axis)


def _np_vstack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    _refuse_settings("np.vstack", "concatenate", _not_default({"dtype": dtype, "casting": casting}))
    return ops.concatenate([ops.reshape(t, np.atleast_2d(values_of(t)).shape) for t in tup], 0)


def _np_hstack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    _refuse_settings("np.hstack", "concatenate", _not_default({"dtype": dtype, "casting": casting}))
    parts = [ops.reshape(t, np.atleast_1d(values_of(t)).shape) for t in tup]
    return ops.concatenate(parts, 0 if parts and parts[0].ndim == 1 else 1)


def _np_transpose(a: Any, axes: Any = None) -> Any:
    return ops.transpose(a, axes)


def _np_swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    np.swapaxes(values_of(a), axis1, axis2)  # (NumPy checks the axes)
    axes = list(range(np.ndim(a)))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return ops.transpose(a, axes)


def _np_reshape(
    a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: Any = None
) -> Any:
    given = _not_default({"order": order, "copy": copy}, {"order": "C"})
    _refuse_settings("np.reshape", "reshape", given)
    return ops.reshape(a, shape if shape is not None else newshape)  # (newshape: NumPy < 2.1)


def _np_ravel(a: Any, order: str = "C") -> Any:
    _refuse_settings("np.ravel", "reshape", _not_default({"order": order}, {"order": "C"}))
    return ops.reshape(a, (-1,))


def _np_squeeze(a: Any, axis: Any = None) -> Any:
    return ops.reshape(a, np.squeeze(values_of(a), axis).shape)  # (NumPy checks the axis)


def _np_expand_dims(a: Any, axis: Any) -> Any:
    return ops.reshape(a, np.expand_dims(values_of(a), axis).shape)


def _np_broadcast_to(array: Any, shape: Any, subok: bool = False) -> Any:
    return ops.broadcast_to(array, shape)


def _np_dot(a: Any, b: Any, out: Any = None) -> Any:
    _refuse_settings("np.dot", "matmul", _not_default({"out": out}))
    if np.ndim(a) == 0 or np.ndim(b) == 0:  # (np.dot's rules: multiply, or matmul)
        # (np.dot makes a Python number an array first: float64, not float32's weak scalar)
        return ops.mul(*(x if isinstance(x, Tensor) else np.asarray(x) for x in (a, b)))
    if {np.ndim(a), np.ndim(b)} <= {1, 2}:
        return ops.matmul(a, b)
    raise TypeError(
        f"np.dot of a {np.ndim(a)}-d and a {np.ndim(b)}-d array got a Tensor; microgradnp "
        "records np.dot of vectors and matrices only. Use a * b for a scalar, and a @ b "
        "(matmul's rule, batched over leading axes) for more dimensions"
    )


_FUNCTION_OPS: dict[Any, Any] = {
    np.where: _np_where,
    np.clip: _np_clip,
    np.concatenate: _np_concatenate,
    np.stack: _np_stack,
    np.vstack: _np_vstack,
    np.hstack: _np_hstack,
    np.transpose: _np_transpose,
    np.swapaxes: _np_swapaxes,
    np.reshape: _np_reshape,
    np.ravel: _np_ravel,
    np.squeeze: _np_squeeze,
    np.expand_dims: _np_expand_dims,
    np.broadcast_to: _np_broadcast_to,
    np.dot: _np_dot,
}


def _not_here(name: str, hint: str) -> property:
    def missing(self: Tensor) -> Any:
        raise AttributeError(f"'Tensor' object has no attribute {name!r}; {hint}")

    return property(missing)


for _name, _hint in _PYTORCH_NAMES.items():
    setattr(Tensor, _name, _not_here(_name, _hint))
del _name, _hint

register_tensor_type(Tensor)


def tensor(
    data: Any, requires_grad: bool = False, name: str | None = None, *, dtype: Any = None
) -> Tensor:
    """Make a Tensor (same as `Tensor(...)`): a copy of `data`; Python numbers and lists
    become float64."""
    return Tensor(data, requires_grad=requires_grad, name=name, dtype=dtype)


_STATE = tuple(slot for slot in Tensor.__slots__ if slot != "__weakref__")
