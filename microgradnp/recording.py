"""How an operation is defined and recorded: `primitive`, `defvjp`, `Node`, and grad modes.

A primitive is a function of NumPy arrays plus its vector-Jacobian products (VJPs). Called
with Tensors, it runs the function on their arrays and returns a Tensor; when an input
requires grad (and grad mode is on) it also records a `Node` on the output: which op, which
arguments. The backward engine (`engine.py`) walks those nodes. Every built-in op in
`ops.py` is made this way, and so can users' own ops:

    @mg.primitive
    def cube(x):
        return x**3

    @cube.defvjp
    def cube_vjp(g, ans, x):
        return 3 * x**2 * g

This module knows nothing about the Tensor class except what `tensors.py` registers here at
import time (tensors.py imports ops.py, which imports this module, so it cannot be the other
way round).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

import numpy as np

if TYPE_CHECKING:
    from .tensors import Tensor

F = TypeVar("F", bound=Callable[..., Any])
VJP = Callable[..., Any]


class Mode:
    """What op calls do in the current thread or context. Never mutated: see `switch_mode`."""

    __slots__ = (
        "grad_enabled",
        "raw_arrays",
        "scope",
        "anomaly",
        "stability_warnings",
        "recording_vjps",
    )

    def __init__(
        self,
        grad_enabled: bool = True,
        raw_arrays: bool = False,
        scope: Scope | None = None,
        anomaly: Any = None,
        stability_warnings: bool = True,
        recording_vjps: bool = False,
    ) -> None:
        self.grad_enabled = grad_enabled  # record graphs (off under no_grad)
        # True while a first-order backward runs VJPs: ops called on plain arrays then return
        # plain arrays, so a VJP written with microgradnp functions costs only NumPy.
        self.raw_arrays = raw_arrays
        # True while a backward records its VJPs (a gradient to be differentiated again): a
        # NumPy function of a Tensor there would cut the graph (see Tensor.__array__).
        self.recording_vjps = recording_vjps
        self.scope = scope  # the nn.Module call being recorded, if any (graph clusters)
        # Under detect_anomaly(): the detector, whose forward(op, out, vals) and
        # backward(node, out, input, grad) hooks check every op for NaN/Inf.
        self.anomaly = anomaly
        self.stability_warnings = stability_warnings  # ops' `lint` hooks may warn

    def replace(self, **changes: Any) -> Mode:
        get = changes.get
        return Mode(
            get("grad_enabled", self.grad_enabled),
            get("raw_arrays", self.raw_arrays),
            get("scope", self.scope),
            get("anomaly", self.anomaly),
            get("stability_warnings", self.stability_warnings),
            get("recording_vjps", self.recording_vjps),
        )


# A ContextVar, not a global: each thread (and each asyncio task) has its own mode.
_MODE: ContextVar[Mode] = ContextVar("microgradnp_mode", default=Mode())  # noqa: B039 (never mutated)


# The grad transforms (mg.grad, mg.value_and_grad) running in this context: when the
# outermost began (a sequence number; 0: none is running), and the tensors they
# differentiate. NumPy must not take those, nor tensors recorded since that require grad:
# it would cut them off the graph (see Tensor.__array__).
TRANSFORMED: ContextVar[tuple[int, tuple[Any, ...]]] = ContextVar(
    "microgradnp_transformed", default=(0, ())
)


class NumPyInRecordedVJPError(TypeError):
    """Tensor.__array__'s error while VJPs are recorded to be differentiated again: NumPy
    would drop the graph (the engine rewords it, naming the op)."""


def current_mode() -> Mode:
    return _MODE.get()


# The modes switch_mode made, by the mode it switched from and the changes: no_grad and
# backward() switch on every training step, and making a Mode each time was a measurable
# part of a small one. (Modes hash by identity; scopes come and go, so this stays small.)
_SWITCHED: dict[tuple[Any, ...], Mode] = {}


def switch_mode(**changes: Any) -> Token[Mode]:
    """Change the current mode; undo with `restore_mode(token)`."""
    mode = _MODE.get()
    key = (mode, *changes.items())
    new = _SWITCHED.get(key)
    if new is None:
        if len(_SWITCHED) > 64:
            _SWITCHED.clear()
        new = _SWITCHED[key] = mode.replace(**changes)
    return _MODE.set(new)


def restore_mode(token: Token[Mode]) -> None:
    _MODE.reset(token)


def is_grad_enabled() -> bool:
    """Whether ops on tensors that require grad record a graph (see `no_grad`)."""
    return _MODE.get().grad_enabled


# The mode switches active in this context, innermost first: (switch, the mode before it,
# the outer ones). Per context, not per switch object: one `no_grad()` object may be entered
# by several threads or tasks at once. Modes, not ContextVar tokens: a block may be left in
# a copy of the context it was entered in (a generator resumed in another task).
_Active = tuple[Any, Mode, Any]
_ACTIVE: ContextVar[_Active | None] = ContextVar("microgradnp_switches", default=None)


class _ModeSwitch:
    """A context manager and decorator that changes the mode while it is active."""

    _changes: ClassVar[dict[str, Any]] = {}

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        if func is not None:  # used as a bare decorator: @mg.no_grad
            if not callable(func):
                raise TypeError(
                    f"{cls.__name__}: takes no settings (got {func!r}); use `with "
                    f"mg.{cls.__name__}():`, or @mg.{cls.__name__} on a function"
                )
            return cls()(func)
        return super().__new__(cls)

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        """(`func`: see __new__, which has used it)"""

    def __enter__(self) -> None:
        before = _MODE.get()
        switch_mode(**self._changes)
        _ACTIVE.set((self, before, _ACTIVE.get()))

    def __exit__(self, *exc_info: object) -> None:
        active = _ACTIVE.get()
        if active is not None and active[0] is self:  # (always, unless exits interleave)
            _ACTIVE.set(active[2])
            _MODE.set(active[1])
            return
        # Exits out of order (a generator holding `with no_grad():` across a yield): this
        # switch's settings from before it come back, as in PyTorch; the switch directly
        # inside, still active, will restore them from before both when it exits.
        inner: list[tuple[Any, Mode]] = []
        while active is not None and active[0] is not self:
            inner.append((active[0], active[1]))
            active = active[2]
        if active is None:
            return  # (not entered in this context)
        # (only this switch's own settings: the others belong to the switches still active)
        own = {name: getattr(active[1], name) for name in self._changes}
        if inner:
            inner[-1] = (inner[-1][0], inner[-1][1].replace(**own))
        chain = active[2]
        for switch, before in reversed(inner):
            chain = (switch, before, chain)
        _ACTIVE.set(chain)
        _MODE.set(_MODE.get().replace(**own))

    def __call__(self, func: F) -> F:
        switch = type(self)
        if inspect.isgeneratorfunction(func):
            return _switch_in_generator(func, switch)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with switch():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _switch_in_generator(func: Callable[..., Any], switch: type[_ModeSwitch]) -> Any:
    """A generator function whose body runs in the switched mode each time it resumes (the
    mode is per context: the caller's own code between resumptions keeps its own)."""

    @functools.wraps(func)
    def generator(*args: Any, **kwargs: Any) -> Any:
        with switch():
            inner = func(*args, **kwargs)
            try:
                response = inner.send(None)
            except StopIteration as stop:
                return stop.value
        while True:
            try:
                request = yield response
            except GeneratorExit:
                with switch():
                    inner.close()
                raise
            except BaseException as err:
                resume = functools.partial(inner.throw, err)
            else:
                resume = functools.partial(inner.send, request)
            with switch():
                try:
                    response = resume()
                except StopIteration as stop:
                    return stop.value

    return generator


class no_grad(_ModeSwitch):
    """Context manager (and decorator): ops inside record no graph, as in PyTorch.

    Per thread and per context. Use it for parameter updates and for evaluation.
    """

    _changes: ClassVar[dict[str, Any]] = {"grad_enabled": False}


class enable_grad(_ModeSwitch):
    """Context manager (and decorator): turn recording back on inside a `no_grad` block."""

    _changes: ClassVar[dict[str, Any]] = {"grad_enabled": True}


class Scope:
    """One call of an nn.Module, during which ops are recorded: graphs draw it as a cluster.

    `label` describes the module (`Linear(2→3)`), `name` is its dotted attribute path in
    the enclosing model ("" for the model itself), `parent` the enclosing call's scope.
    """

    __slots__ = ("label", "name", "parent")

    def __init__(self, label: str, name: str = "", parent: Scope | None = None) -> None:
        self.label = label
        self.name = name
        self.parent = parent

    def __repr__(self) -> str:
        return f"Scope({self.label!r}, name={self.name!r})"


class recording_scope:
    """Context manager: ops recorded inside belong to a new `Scope` (nested in the current one)."""

    def __init__(self, label: str, name: str = "") -> None:
        self.label, self.name = label, name
        self._token: Token[Mode] | None = None

    def __enter__(self) -> Scope:
        scope = Scope(self.label, self.name, parent=_MODE.get().scope)
        self._token = switch_mode(scope=scope)
        return scope

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        restore_mode(self._token)


class Node:
    """The record an op leaves on its output tensor: what `backward` needs to call the VJP.

    `args` are the op's positional arguments as given (Tensors included: they are the
    graph's edges), `vals` the same with each Tensor replaced by its array (what a
    first-order VJP receives), `ans` the op's result (the VJP's `ans`, kept here: an
    in-place update replaces the output tensor's array, not this one); `parents` are the
    positions of the Tensor arguments that require grad. `backward` sets `args`, `vals` and
    `ans` to None once used, unless asked to retain the graph. `scope` is the nn.Module call
    the op was recorded in; `trace` (under detect_anomaly) where in the user's code it was
    created; `saved` the leaf tensors among the arguments, locked while the node needs them
    (see SavedLeaves); `seq` when it was recorded (see `sequence_number`).
    """

    __slots__ = (
        "op",
        "args",
        "vals",
        "ans",
        "kwargs",
        "parents",
        "scope",
        "trace",
        "saved",
        "seq",
    )

    def __init__(
        self,
        op: Primitive,
        args: tuple[Any, ...],
        vals: Sequence[Any],
        ans: np.ndarray,
        kwargs: dict[str, Any],
        parents: tuple[int, ...],
        scope: Scope | None = None,
    ) -> None:
        self.op = op
        self.args: tuple[Any, ...] | None = args
        self.vals: Sequence[Any] | None = vals
        self.ans: np.ndarray | None = ans
        self.kwargs = kwargs
        self.parents = parents
        self.scope = scope
        self.trace: Any = None
        self.saved: SavedLeaves | None = None
        self.seq = next(_SEQUENCE)


# Numbers nodes in the order they are recorded (next() on it is atomic under the GIL).
_SEQUENCE = itertools.count(1)  # (from 1: 0 means "none" to the engine)


def sequence_number() -> int:
    """A number greater than every recorded node's `seq`, and smaller than every later one's."""
    return next(_SEQUENCE)


# Graphs in several threads can save the same leaf (a model's weights): its count of saving
# nodes and its read-only flag change together, under this lock. (Reentrant: a collection
# inside the block may free another graph's node in the same thread.)
_LOCKS = threading.RLock()


# The arrays that saving nodes made read-only, by id: how many nodes save each.
_LOCKED_ARRAYS: dict[int, int] = {}


def _with_owner(data: np.ndarray) -> list[np.ndarray]:
    """data, after the arrays its memory comes from when data is a view (x.T of a constant
    x; a slice of a memory map): those are locked first, as a write through them would
    change the saved values too."""
    chain = [data]
    while isinstance(chain[-1].base, np.ndarray):
        chain.append(chain[-1].base)
    return chain[::-1]


def _make_writeable(data: np.ndarray) -> bool:
    """Make data writeable again; False where NumPy refuses: a view whose owner another
    graph still locks (in-place updates of a tensor copy it instead)."""
    try:
        data.setflags(write=True)
    except ValueError:
        return False
    return True


# The views whose last saving node went while an array they view was still locked (NumPy
# would refuse to make them writeable): by id of that array, unlocked with it.
_WAITING_VIEWS: dict[int, list[np.ndarray]] = {}


def _release_waiting(array: np.ndarray) -> None:
    """Unlock the views that waited for `array` (now writeable), and theirs in turn."""
    waiting = _WAITING_VIEWS.pop(id(array), None)
    while waiting:
        view = waiting.pop()
        if _make_writeable(view):
            waiting.extend(_WAITING_VIEWS.pop(id(view), ()))


class SavedLeaves:
    """The leaf tensors and the caller's arrays an op saved for its VJP, kept from changing
    until backward is done.

    A VJP computes with its inputs' values as they were when the op ran. For leaves (the
    tensors users create, update and write into) that is enforced two ways:
    - their arrays are read-only while some node saves them, so `W.data -= ...` or
      `W.data[0] = ...` fails at once with NumPy's "read-only" error; they become writeable
      again when backward() frees the nodes, or the graph is dropped;
    - microgradnp's own updates (in-place operators, item assignment, optimizers,
      load_state_dict) replace a locked array instead of writing into it, and count a
      version: backward() through a node that saved an older version raises.
    NumPy arrays passed to an op as they are (`W @ X`, a loss's targets) are copied into the
    node when small (see _keep_arrays); larger ones are read-only in the same way until
    backward, so that `X *= 10` before it raises instead of changing the gradients.

    Every op saves its inputs, except those made with `saves_inputs=False`, whose VJPs do
    not read their values. (NumPy views of an array taken before it was saved stay
    writeable: NumPy cannot find them. See docs/design.md.)
    """

    __slots__ = ("tensors", "versions", "arrays")

    def __init__(
        self, tensors: list[Tensor], versions: list[int], arrays: list[np.ndarray]
    ) -> None:
        # (`versions`: the tensors' versions read before the op read their arrays, so that an
        # update in another thread before they are locked here raises in backward(); an
        # update writes, then counts. `arrays`: the ones the op read, the leaves' and the
        # caller's large ones, not the leaves' arrays now: another thread may have replaced
        # one meanwhile)
        self.tensors = tensors
        self.versions = versions
        # The arrays this node keeps read-only: the leaves' and the caller's large ones, and
        # the arrays their memory comes from, counted per array (in _LOCKED_ARRAYS) however
        # they are reached: two tensors sharing an array (w.detach()), a leaf's array also
        # passed raw (w.data), a view of it.
        self.arrays: list[np.ndarray] = []
        with _LOCKS:
            for t in tensors:
                t._saved += 1
            for given in arrays:
                for array in _with_owner(given):
                    key = id(array)
                    if key in _LOCKED_ARRAYS:
                        _LOCKED_ARRAYS[key] += 1
                    elif array.flags.writeable:
                        array.setflags(write=False)
                        _LOCKED_ARRAYS[key] = 1
                    else:
                        continue  # (read-only already: not ours to unlock)
                    self.arrays.append(array)

    # (the module's globals as defaults: at interpreter exit they may be gone first)
    def __del__(
        self,
        _locks: Any = _LOCKS,
        _arrays: Any = _LOCKED_ARRAYS,
        _waiting: Any = _WAITING_VIEWS,
        _writeable: Any = _make_writeable,
        _release_waiting: Any = _release_waiting,
        _ndarray: Any = np.ndarray,
    ) -> None:
        # backward() freed the node, or the graph went
        with _locks:
            for t in self.tensors:
                t._saved -= 1
            for array in self.arrays:
                key = id(array)  # (alive: self.arrays holds it)
                left = _arrays[key] - 1
                if left:
                    _arrays[key] = left
                    continue
                del _arrays[key]
                while True:
                    owner = array.base
                    while isinstance(owner, _ndarray) and id(owner) not in _arrays:
                        owner = owner.base
                    if not isinstance(owner, _ndarray):
                        if _writeable(array):
                            _release_waiting(array)
                        break
                    # an array it views is still locked: wait for it
                    bucket = _waiting.get(id(owner))
                    if bucket is None:
                        # (making a list may start a garbage collection, whose releases run
                        # here, nested, and may unlock owner meanwhile: then look again)
                        bucket = []
                        if id(owner) not in _arrays:
                            continue
                        _waiting[id(owner)] = bucket
                    bucket.append(array)
                    break

    def check(self, op: Primitive) -> None:
        """Raise if a saved leaf was changed (by microgradnp) since the op saved it."""
        if [t._version for t in self.tensors] == self.versions:
            return
        for t, version in zip(self.tensors, self.versions, strict=True):
            if t._version != version:
                label = f"tensor {t.name!r}" if t.name else f"a tensor of shape {t.shape}"
                raise RuntimeError(
                    f"backward: {label}, which {op.name} used, was changed in place after "
                    f"{op.name} ran, so its gradients would be computed at the new values. "
                    "Run backward() before updating it, or compute the output again after "
                    "the update"
                )


_NONE: list[Any] = []  # (never appended to: Primitive.__call__ makes lists with the first leaf)

# tensors.py registers the Tensor class here (see the module docstring).
_Tensor: type[Tensor]


_new_tensor: Callable[[np.ndarray], Tensor]  # Tensor._wrap: a Tensor around an op's result


def register_tensor_type(cls: type[Tensor]) -> None:
    global _Tensor, _new_tensor
    _Tensor, _new_tensor = cls, cls._wrap


def is_tensor(value: object) -> bool:
    return isinstance(value, _Tensor)


def values_of(x: Any) -> np.ndarray:
    """The values of x (a Tensor, an array, a number or a list) as an array."""
    return np.asarray(x._data if isinstance(x, _Tensor) else x)


def is_integer(value: Any) -> bool:
    """An integer, Python's or NumPy's, and not a bool (a count, an axis, an index)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_flags(caller: str, **flags: Any) -> None:
    """Raise TypeError for a yes/no setting that is not a bool ("no" or "False" would be
    true), naming the caller and the setting."""
    for name, value in flags.items():
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"{caller}: {name} must be True or False, got {value!r}")


def random_generator(rng: Any, caller: str) -> np.random.Generator:
    """The `rng=` argument of library functions as a Generator: a NumPy Generator (used as
    is), a seed, or None (fresh entropy from the OS); anything else is a clear error."""
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{caller}: rng must be a NumPy Generator, a non-negative integer seed or None, "
            f"got {rng!r} ({err})"
        ) from None


_PACKAGE = __name__.partition(".")[0]


def is_library_code(module: str) -> bool:
    """Whether the module named `module` is part of microgradnp (for telling the user's
    frames from the library's: warnings and traces point at the user's line)."""
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


# The caller's NumPy arrays that an op saves are copied into its node up to this size: the
# caller may change them before backward (a batch buffer refilled), and a small copy costs
# less than locking. Larger ones (a whole data set) are locked instead, see SavedLeaves: a
# copy per step would cost time and memory.
_COPY_LIMIT = 1 << 20  # bytes
_KEPT = (np.ndarray, list, tuple)  # (a tuple: isinstance with a union is slower)
_SEQUENCES = (list, tuple)


def _keep_arrays(node: Node, *, arrays: bool = True) -> list[np.ndarray]:
    """Keep the caller's NumPy arrays (and lists) among node's arguments (and settings) as
    they are now, for its VJPs: small ones are copied into the node's vals (and kwargs),
    lists always; the large arrays, and any the op's result shares memory with (it is a
    view of them), are returned, to be locked (SavedLeaves decides, under its lock: arrays
    the caller made read-only stay so). With `arrays=False` (an op that saves no values,
    only shapes), only lists are copied: an array's shape cannot change."""
    large: list[np.ndarray] = []
    # (into vals, what VJPs and check_graph read; args keep the caller's array, which graph
    # pictures draw as one box however many ops use it)
    vals = None  # (built once, and only if an array is copied: this runs for most ops)
    for i, a in enumerate(node.args):  # type: ignore[arg-type]
        if isinstance(a, _KEPT):
            kept = _kept(a, node.ans, large, arrays)  # type: ignore[arg-type]
            if kept is not a:
                if vals is None:
                    vals = list(node.vals)  # type: ignore[arg-type]
                vals[i] = kept
    if vals is not None:
        node.vals = tuple(vals)
    if node.kwargs and any(isinstance(v, _KEPT) for v in node.kwargs.values()):
        node.kwargs = {k: _kept(x, node.ans, large, arrays) for k, x in node.kwargs.items()}  # type: ignore[arg-type]
    return large


def _has_list(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    for a in args:  # (a loop, not any(...): this runs for most ops that save no values)
        if isinstance(a, _SEQUENCES):
            return True
    return bool(kwargs) and any(isinstance(v, _SEQUENCES) for v in kwargs.values())


def _kept(value: Any, ans: np.ndarray, large: list[np.ndarray], arrays: bool = True) -> Any:
    """value as a node keeps it (see _keep_arrays): a copy, or value itself when it is to
    be locked (then also put into `large`). A list is copied, nested lists of numbers as one
    array; the arrays in a list or tuple are kept as arrays are."""
    if isinstance(value, list | tuple):
        if isinstance(value, list) and value and isinstance(value[0], list):
            # (nested numbers: one array, at C speed; NumPy reads such a list as one too)
            array = np.array(value)
            if array.dtype.kind in "biuf":
                return array
        items = [_kept(v, ans, large, arrays) if isinstance(v, _KEPT) else v for v in value]
        if isinstance(value, list) or any(a is not b for a, b in zip(items, value, strict=True)):
            return items if isinstance(value, list) else tuple(items)
        return value  # (a tuple of numbers: it cannot change)
    if not isinstance(value, np.ndarray) or not arrays:
        return value
    if (
        value.nbytes > _COPY_LIMIT
        or value is ans  # (the result is the array, or a view of it: a copy would not do)
        or (ans.base is not None and np.may_share_memory(ans, value))
    ):
        large.append(value)
        return value
    return value.copy()


class Primitive:
    """A function of arrays that Tensors can flow through: NumPy forward + VJPs.

    Make one with `primitive`; give it gradients with `defvjp`. Call it with Tensors, arrays
    or Python numbers (Tensors positional; settings such as `axis` by keyword or after the
    arrays). It returns a Tensor, recording the call when an input requires grad.
    """

    def __init__(
        self, fun: Callable[..., Any], *, differentiable: bool = True, saves_inputs: bool = True
    ) -> None:
        if not callable(fun):
            raise TypeError(f"primitive: expected a function of arrays, got {type(fun).__name__}")
        check_flags("primitive", differentiable=differentiable, saves_inputs=saves_inputs)
        functools.update_wrapper(self, fun)
        # (help() and inspect show what a call returns: a Tensor, not fun's array; a function
        # with no signature to read, a NumPy ufunc, shows none)
        with contextlib.suppress(TypeError, ValueError):
            self.__signature__ = inspect.signature(fun).replace(return_annotation="Tensor")
        self.fun = fun
        inner = getattr(fun, "func", None)  # (a functools.partial has no name: its function's)
        name = getattr(fun, "__name__", None) or getattr(inner, "__name__", None)
        self.name: str = str(name or type(fun).__name__).lstrip("_")
        self.differentiable = differentiable
        self.saves_inputs = saves_inputs  # the VJPs read the inputs' values (see SavedLeaves)
        self.vjp: VJP | None = None  # one function giving every argument's gradient
        self.vjps: tuple[VJP | None, ...] | None = None  # or one per positional argument
        # Called as lint(*args) before the forward when stability warnings are on: a place
        # to warn about numerically fragile uses (see ops.log).
        self.lint: Callable[..., None] | None = None

    def defvjp(self, *vjps: VJP | None) -> VJP | None:
        """Define the op's vector-Jacobian products; returns the first (so it can decorate).

        - One function, `vjp(g, ans, *args, **kwargs)`: returns a tuple with one gradient
          per positional argument (None where there is none), or a single gradient for an
          op whose only differentiable argument is the first.
        - Several, one per positional argument (None for an argument that is not
          differentiable, such as an index): each returns that argument's gradient. Only
          the ones whose argument requires grad are called.

        `g` is the gradient of the output (shape of `ans`), `ans` the forward result, `args`
        the forward arguments. Return a gradient of the argument's shape or of the shape
        it was broadcast to (the engine sums broadcast axes away). Write the VJP with
        operators and microgradnp functions (`mg.exp`, `mg.sum`...) and it can be
        differentiated again (`mg.grad(mg.grad(f))`); NumPy functions work for first
        derivatives.
        """
        if not vjps or not all(v is None or callable(v) for v in vjps):
            raise TypeError(f"{self.name}.defvjp: pass one or more functions (or None)")
        for vjp in vjps:
            if vjp is not None:
                self._check_vjp_signature(vjp)
        if len(vjps) == 1:
            self.vjp, self.vjps = vjps[0], None
        else:
            self.vjp, self.vjps = None, vjps
        return vjps[0]

    def _check_vjp_signature(self, vjp: VJP) -> None:
        """Raise TypeError now if vjp cannot be called as vjp(g, ans, *args) with the
        forward's required arguments (HIPS autograd's VJP makers take (ans, *args))."""
        try:  # (the forward's arguments, through its decorators; the VJP as it is called,
            # a wrapper adapting the call by its own signature)
            params = inspect.signature(self.fun).parameters.values()
            signature = inspect.signature(vjp, follow_wrapped=False)
        except (TypeError, ValueError):  # (a builtin: nothing to compare)
            return
        if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
            return  # (a forward of *arrays: how many, only its calls say)
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        positional = [p for p in params if p.kind in kinds]
        required = [p.name for p in positional if p.default is p.empty]
        settings = {
            p.name: None
            for p in params
            if p.kind == inspect.Parameter.KEYWORD_ONLY and p.default is p.empty
        }
        for names in (required, [p.name for p in positional]):  # (optional ones given, too)
            try:
                signature.bind(None, None, *names, **settings)
                return
            except TypeError:
                continue
        name = getattr(vjp, "__name__", type(vjp).__name__)
        raise TypeError(
            f"{self.name}.defvjp: a VJP is called as vjp(g, ans, {', '.join(required)}"
            f"{', ' if required else ''}**settings), but {name}{signature} cannot take those "
            "arguments (g is the output's gradient, ans the forward's result)"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        # The hot path of every op: kept to what each call needs (see docs/performance.md).
        mode = _MODE.get()
        vals: Any = args  # the arguments with Tensors replaced by their arrays
        parents: list[int] = []  # positions of the Tensors that require grad
        leaves: list[Tensor] | None = None  # the Tensor arguments that are leaves
        versions: list[int] = _NONE  # theirs, read before their arrays (see SavedLeaves)
        used: list[np.ndarray] = _NONE  # their arrays, as this call reads them
        for i, a in enumerate(args):
            if isinstance(a, _Tensor):
                if vals is args:
                    vals = list(args)
                if a._node is None:
                    version = a._version
                    vals[i] = data = a._data
                    if leaves is None:
                        leaves, versions, used = [a], [version], [data]
                    else:
                        leaves.append(a)
                        versions.append(version)
                        used.append(data)
                else:
                    vals[i] = a._data
                if a._requires_grad:
                    parents.append(i)
        # Inside a first-order backward (a VJP calling ops on plain arrays): arrays in,
        # arrays out, and nothing else to do.
        raw = vals is args and mode.raw_arrays
        if not raw:
            if kwargs:
                moved = _check_settings(self, args, kwargs)
                if moved is not None:  # (clip(x, max=t): t is an input, given by keyword)
                    return self(*moved[0], **moved[1])
            if self.lint is not None and vals is not args and mode.stability_warnings:
                self.lint(*args)
        try:
            ans = self.fun(*vals, **kwargs)
        except (ValueError, TypeError, IndexError, OverflowError) as err:
            raise _forward_error(self, vals, err) from err
        if raw:
            return ans
        result = ans
        if type(ans) is not np.ndarray:
            ans = np.asarray(ans)
        kind = ans.dtype.kind
        if kind != "f" and kind not in "biu":
            raise TypeError(_not_numbers(self, result, ans, vals))
        out = _new_tensor(ans)
        if parents and mode.grad_enabled and self.differentiable and kind == "f":
            out._requires_grad = True
            # (vals as a tuple: holding only arrays and numbers, the cycle collector stops
            # tracking it, which keeps collections cheap in big graphs)
            out._node = node = Node(
                self, args, tuple(vals), ans, kwargs, tuple(parents), mode.scope
            )
            large: list[np.ndarray] = []
            if len(parents) < len(args) or kwargs:  # (else every argument is a tensor)
                # the caller's arrays and lists, as the VJPs will read them (an op that
                # saves no values reads only shapes: only its lists are copied)
                if self.saves_inputs:
                    large = _keep_arrays(node)
                elif _has_list(args, kwargs):
                    _keep_arrays(node, arrays=False)
            if self.saves_inputs and (leaves is not None or large):
                node.saved = SavedLeaves(leaves or [], versions, used + large)
            # A computed value may be read by its own VJP (as `ans`) or by those of the ops
            # that use it: read-only for good, so that nothing changes it under the graph
            # (microgradnp's in-place operators give the tensor a new array instead; see
            # tensors.py). Not when the op returned an input's array as is: a leaf's.
            for v in vals:  # (a loop, not any(...): this runs for every recorded op)
                if v is ans:
                    break
            else:
                ans.setflags(write=False)
        if mode.anomaly is not None:
            mode.anomaly.forward(self, out, vals)
        return out

    def __repr__(self) -> str:
        return f"<microgradnp primitive {self.name}>"


@overload
def primitive(
    fun: Callable[..., Any], *, differentiable: bool = True, saves_inputs: bool = True
) -> Primitive: ...


@overload
def primitive(
    fun: None = None, *, differentiable: bool = True, saves_inputs: bool = True
) -> Callable[[Callable[..., Any]], Primitive]: ...


def primitive(
    fun: Callable[..., Any] | None = None,
    *,
    differentiable: bool = True,
    saves_inputs: bool = True,
) -> Primitive | Callable[[Callable[..., Any]], Primitive]:
    """Make a function of NumPy arrays into an op on Tensors; give it gradients with `defvjp`.

    `differentiable=False` makes an op whose output never records history (comparisons,
    `sign`): its derivative is zero wherever it exists. `saves_inputs=False` declares that
    the VJPs use only `g`, `ans` and the inputs' shapes and dtypes, never their values, and
    that the result is a new array, not a view of an input (as for add or exp): the op's
    leaf inputs are then not protected from in-place changes until backward (see
    SavedLeaves), as there is nothing to protect.
    """
    if fun is None:
        return functools.partial(
            primitive, differentiable=differentiable, saves_inputs=saves_inputs
        )
    return Primitive(fun, differentiable=differentiable, saves_inputs=saves_inputs)


def _check_settings(
    op: Primitive, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """Refuse a Tensor given as a setting (keyword arguments are settings), unless it names
    an input of op (see _input_position). Then the call's arguments with that input in its
    place (the positions before it filled, with their defaults if not given), to call op
    with."""
    for key, value in kwargs.items():
        if not isinstance(value, _Tensor):
            continue
        try:
            params = list(inspect.signature(op.fun).parameters.values())
        except (TypeError, ValueError):  # (no signature to read: no input can be named)
            params = []
        position = _input_position(op, params, key, value._requires_grad)
        if position is None:
            raise TypeError(
                f"{op.name}: got a Tensor for the setting {key}=; keyword arguments are "
                "settings, not inputs. Pass tensors positionally"
            )
        if position < len(args):
            raise TypeError(f"{op.name}: got multiple values for argument {key!r}")
        rest = dict(kwargs)
        moved = list(args)
        for p in params[len(args) : position + 1]:
            if p.name in rest:
                moved.append(rest.pop(p.name))
            elif p.default is not p.empty:
                moved.append(p.default)
            else:
                raise TypeError(f"{op.name}: missing argument {p.name!r}")
        return tuple(moved), rest
    return None


def _input_position(
    op: Primitive, params: list[inspect.Parameter], name: str, requires_grad: bool
) -> int | None:
    """The position of op's parameter `name` (among `params`, its function's) if it is an
    input: one that may be given by keyword or position, with a VJP of its own (defvjp
    with one VJP per argument). With one VJP for all arguments, which says nothing of which
    are inputs, only a Tensor that requires grad makes it one (a constant Tensor stays a
    setting: sum(x, axis=t))."""
    for i, p in enumerate(params):
        if p.name == name and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            if op.vjps is not None:
                return i if i < len(op.vjps) and op.vjps[i] is not None else None
            return i if op.vjp is not None and requires_grad else None
    return None


def type_and_dtype(value: Any, array: np.ndarray | None = None) -> str:
    """How an error message names a value that should have been numbers: its type, and for
    an array, a NumPy number or a list, the dtype NumPy gives it ("str", "ndarray of dtype
    <U1"). `array`: that value as an array, if already made."""
    name = type(value).__name__
    if not isinstance(value, np.ndarray | np.generic | list | tuple):
        return name
    return f"{name} of dtype {(np.asarray(value) if array is None else array).dtype}"


def _not_numbers(op: Primitive, result: Any, ans: np.ndarray, vals: Any) -> str:
    """Why an op's forward result cannot be a Tensor."""
    if is_library_code(getattr(op.fun, "__module__", None) or ""):  # (a built-in op)
        given = ", ".join(map(type_and_dtype, vals))
        return (
            f"{op.name}: its inputs must be real numbers (tensors, arrays or Python numbers), "
            f"got {given}"
        )
    if result is None:
        got = "None (does the function forget to `return` its result?)"
    else:
        got = f"{type(result).__name__} of dtype {ans.dtype}"
    return (
        f"{op.name}: its function returned {got}; a primitive's function must return an "
        "array (or number) of real numbers: floating-point, integer or boolean"
    )


def describe(value: Any) -> str:
    """A short description of an op argument for error messages: its shape, or its type."""
    if isinstance(value, np.ndarray | np.generic):
        return str(value.shape)
    return type(value).__name__


def _forward_error(op: Primitive, vals: Any, err: Exception) -> Exception:
    """The error an op's forward raised, reworded to name the op and its operands' shapes."""
    shapes = [s for s in map(_shape_of, vals) if s is not None]
    message = f"{op.name}: {err}"
    if str(err).startswith(f"{op.name}: "):
        message = str(err)  # the op's own check already says it all
    elif "broadcast" in str(err) and len(shapes) >= 2:
        message = f"{op.name}: {_explain_broadcast(shapes)}"
    elif vals:
        operands = " and ".join(describe(v) for v in vals)
        message = f"{op.name} on {operands}: {err}"
    if isinstance(err, OverflowError):  # (a Python int beyond int64: 2**70)
        return TypeError(f"{message}; integers beyond int64 cannot be an op's input: pass floats")
    return reworded(err, message)


def reworded(err: Exception, message: str) -> Exception:
    """err's kind with a new message: its own class, or the nearest of ValueError,
    IndexError and TypeError (NumPy's own subclasses take other constructor arguments)."""
    for kind in (type(err), ValueError, IndexError, TypeError):
        if isinstance(err, kind):
            try:
                return kind(message)
            except TypeError:  # an exception class that takes other arguments
                continue
    return err


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """The shape of an array operand, or of a list (NumPy broadcasts lists as arrays)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.shape
    if isinstance(value, list):
        try:
            return np.shape(value)
        except ValueError:  # a ragged list
            return None
    return None


def _explain_broadcast(shapes: list[tuple[int, ...]]) -> str:
    listed = " and ".join(str(s) for s in shapes)
    ndim = max(len(s) for s in shapes)
    for axis in range(-1, -ndim - 1, -1):
        sizes = sorted({s[axis] for s in shapes if len(s) >= -axis} - {1})
        if len(sizes) > 1:
            return (
                f"shapes {listed} cannot be broadcast together: axis {axis} has sizes "
                f"{' and '.join(map(str, sizes))} (each must be equal or 1). Reshape an operand "
                "so that its axes line up, e.g. x.reshape(-1, 1) for a column"
            )
    return f"shapes {listed} cannot be broadcast together"
