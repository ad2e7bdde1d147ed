"""Modules: networks as objects that hold their parameters, PyTorch style.

    model = nn.Sequential(nn.Linear(2, 16, rng=0), nn.Sigmoid(), nn.Linear(16, 1, rng=1))
    loss = nn.functional.binary_cross_entropy_with_logits(model(X), y)
    loss.backward()  # every parameter's .grad

A Module finds its parameters and submodules in its attributes: a leaf Tensor that requires
grad is a parameter, a Module is a submodule, and lists, tuples and dicts (with string keys)
of them count too.
Their dotted attribute paths ("0.weight", "encoder.layers.1.bias") name them in
`named_parameters()`, `state_dict()`, in error messages and in graph pictures: each
parameter's `.name` is its full path in the outermost model it was assigned into.

Calling a module records the ops of its `forward` in a `Scope` (label `Linear(2→3)`, name
"0"), so graph pictures draw each module call as a cluster.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, TypeGuard

import numpy as np

from .. import ops
from ..recording import (
    check_flags,
    is_integer,
    no_grad,
    random_generator,
    recording_scope,
    sequence_number,
    values_of,
)
from ..tensors import Tensor, frozen_at

# Module's own bookkeeping attributes: never parameters or submodules.
_INTERNAL = frozenset({"_name", "_params", "_assigned", "training", "_is_slice"})


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _is_parameter(value: object) -> TypeGuard[Tensor]:
    return isinstance(value, Tensor) and value.is_leaf and value.requires_grad


def _parts(key: str, value: object, owner: str | None = None) -> list[tuple[str, Module | Tensor]]:
    """The Modules and Tensors an attribute holds, with their local names: the value itself,
    or the items of the lists, tuples and dicts it holds, nested to any depth ("layers.0",
    "stages.0.1"), each container once. Items under non-string dict keys have no name and
    are left out (a config keyed by int); with `owner` (the module's class name, for the
    message), a Module or parameter among them raises TypeError."""
    found: list[tuple[str, Module | Tensor]] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any, object]] = [("", key, value)]  # (container's name, key, item)
    while stack:
        parent, k, item = stack.pop()
        is_part = isinstance(item, Module | Tensor)
        if not is_part and not isinstance(item, list | tuple | dict):
            continue  # (no name made for the numbers of a long list)
        name = f"{parent}.{k}" if parent else str(k)
        if is_part:
            found.append((name, item))  # type: ignore[arg-type]
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            for k2, v in item.items():
                if owner is not None and not (isinstance(k2, str) and k2 and "." not in k2):
                    _refuse_unnamed(owner, name, k2, v)
            pairs = [(k2, v) for k2, v in item.items() if isinstance(k2, str)]
        else:
            pairs = list(enumerate(item))  # type: ignore[arg-type]
        # (filtered here, in one pass: a long list of numbers costs a type check each)
        stack.extend((name, k2, v) for k2, v in reversed(pairs) if isinstance(v, _HOLDERS))
    return found


def _refuse_unnamed(owner: str, where: str, key: object, value: object) -> None:
    """Raise TypeError if `value`, held under the key `key` of the dict `where` (not a
    string, empty, or with a "."), is or holds a parameter or submodule: the key would have
    to name it in `named_parameters()` and `state_dict()`, whose names "." separates."""
    for _, item in _parts("", value):
        if isinstance(item, Module) or _is_parameter(item):
            what = "a parameter" if isinstance(item, Tensor) else f"a {type(item).__name__}"
            if isinstance(key, str):
                fix = "use non-empty keys without '.', which separates the parts of a name"
            else:
                fix = f"use string keys, such as {str(key)!r}"
            raise TypeError(
                f"{owner}: the dict attribute {where!r} has the key {key!r} "
                f"({type(key).__name__}) holding {what}; {fix}, as they name its "
                "parameters in named_parameters() and state_dict()"
            )


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(..., strict=False)` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


# The fields' types as types: `from __future__ import annotations` leaves them strings, which
# NamedTuple keeps as ForwardRef('list[str]') (shown so by help() and inspect.signature).
IncompatibleKeys.__annotations__ = typing.get_type_hints(IncompatibleKeys)
IncompatibleKeys.__new__.__annotations__.update(IncompatibleKeys.__annotations__)


class Module:
    """Base class of every layer and model: subclass it, assign parts in `__init__`, write
    `forward`, and call the module like a function.

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.hidden = nn.Linear(2, 3)
                self.out = nn.Linear(3, 1)

            def forward(self, x):
                return self.out(mg.sigmoid(self.hidden(x)))

    Parameters: leaf Tensors with requires_grad=True when assigned, as attributes or in
    list, tuple or dict attributes (nested to any depth). Each such tensor stays a
    parameter if frozen later with `requires_grad = False`, for as long as the module holds
    it; other tensors (constants) are not parameters, even beside parameters in the same
    container. Submodules: Module attributes, and Modules in lists, tuples or dicts, nested
    too (named "layers.0", "heads.left", "stages.0.1"; dict keys must be non-empty strings
    without a ".", else TypeError). Each is counted once, however often it appears.
    A module in two models carries the names given by the last one to name it.
    """

    # Class-level defaults, so a module whose __init__ forgot super().__init__() can still
    # be called; assigning parameters or submodules to it raises a clear error instead.
    _name: str = ""  # dotted path in the outermost model ("" for that model)
    # The tensors this module has held as parameters (requires_grad=True leaves), tracked
    # per tensor so that one frozen later stays a parameter while a constant beside it in
    # the same list or dict never becomes one. Hashed by identity.
    _params: frozenset[Tensor] | set[Tensor] = frozenset()
    # When each attribute was assigned (a sequence number): a tensor frozen after that, in a
    # list filled later, was a parameter while the module held it; one frozen before was a
    # constant when it came.
    _assigned: Mapping[str, int] = {}
    training: bool = True

    def __init__(self) -> None:
        object.__setattr__(self, "_name", "")
        object.__setattr__(self, "_params", set())
        object.__setattr__(self, "_assigned", {})
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ calling

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """What the module computes; subclasses define it. Call the module, not forward."""
        raise NotImplementedError(
            f"{type(self).__name__}: define forward(self, ...) to say what the module computes"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with recording_scope(self.scope_label(), self._name):
            return self.forward(*args, **kwargs)

    def scope_label(self) -> str:
        """The short description graph pictures give a call of this module: `Linear(2→3)`."""
        return type(self).__name__

    # ------------------------------------------------------------ attributes

    def __setattr__(self, name: str, value: Any) -> None:
        parts = [] if name in _INTERNAL else _parts(name, value, type(self).__name__)
        holds_parts = any(isinstance(v, Module) or _is_parameter(v) for _, v in parts)
        if holds_parts and (not name or "." in name):
            raise TypeError(
                f"{type(self).__name__}: cannot name a part {name!r}; use a non-empty name "
                "without '.', which separates the parts of a name"
            )
        if name not in _INTERNAL:
            self._remember_frozen(name)  # (before a newer assignment time hides them)
        if holds_parts and "_params" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: cannot assign {name!r} before Module.__init__() runs; "
                "call super().__init__() first in your __init__"
            )
        old = self.__dict__.get(name)
        object.__setattr__(self, name, value)
        if name in _INTERNAL:
            return
        params = self.__dict__.get("_params")
        if isinstance(params, set):
            params.update(v for _, v in parts if _is_parameter(v))
            self._assigned[name] = sequence_number()  # type: ignore[index]
        self._forget_unheld(old)
        if holds_parts:
            self._assign_names()

    def _remember_frozen(self, name: str) -> None:
        """Count as parameters, for good, the tensors in attribute `name` frozen since it was
        assigned (found by walks so far through frozen_at alone)."""
        params = self.__dict__.get("_params")
        if not isinstance(params, set) or name not in self.__dict__:
            return
        assigned = self._assigned.get(name, -1)
        for _, item in _parts(name, self.__dict__[name]):
            if isinstance(item, Tensor) and frozen_at(item) > assigned:
                params.add(item)

    def __getstate__(self) -> dict[str, Any]:
        """For copy.deepcopy and pickle: frozen parameters are remembered first (copies of
        tensors are new objects, whose freezing frozen_at does not know)."""
        for name in list(self.__dict__):
            if name not in _INTERNAL:
                self._remember_frozen(name)
        return self.__dict__

    def __delattr__(self, name: str) -> None:
        old = self.__dict__.get(name)
        object.__delattr__(self, name)
        self._forget_unheld(old)

    def _forget_unheld(self, old: object) -> None:
        """After `old` was replaced or deleted: forget the parameters it held that no
        attribute holds any more, so they are not kept alive, and are constants if frozen
        and assigned again."""
        params = self.__dict__.get("_params")
        if not params:
            return
        gone = [v for _, v in _parts("", old) if isinstance(v, Tensor) and v in params]
        if not gone:
            return
        held = {
            id(item)
            for key, value in self.__dict__.items()
            if key not in _INTERNAL
            for _, item in _parts(key, value)
        }
        params.difference_update([p for p in gone if id(p) not in held])

    def _members(self) -> Iterator[tuple[str, Tensor | Module]]:
        """This module's own parameters and submodules, with their local names."""
        params = self.__dict__.get("_params")  # None if Module.__init__ never ran
        for key, value in self.__dict__.items():
            if key in _INTERNAL:
                continue
            assigned = self._assigned.get(key, -1)
            # (owner given: a dict that grew since it was assigned is checked again)
            for name, item in _parts(key, value, type(self).__name__):
                if isinstance(item, Module):
                    yield name, item
                elif _is_parameter(item):
                    # Remembered, so it stays a parameter when frozen (this also covers a
                    # list filled after it was assigned).
                    if params is not None:
                        params.add(item)
                    yield name, item
                elif isinstance(item, Tensor) and (
                    (params and item in params) or frozen_at(item) > assigned
                ):
                    # a parameter frozen later (requires_grad = False); remembered (copies
                    # of the module keep it a parameter)
                    if params is not None:
                        params.add(item)
                    yield name, item

    def _assign_names(self) -> None:
        """Give every submodule and parameter below this module its full dotted path.

        One walk, each module's members listed once: wrapping a model in another renames
        everything below, so this runs over the whole model at each assignment."""
        walk = self._walk()
        for prefix, module, _ in walk[1:]:
            object.__setattr__(module, "_name", _join(self._name, prefix))
        for name, p in self._parameter_list(walk):
            p.name = _join(self._name, name)

    def _parameter_list(
        self, walk: list[_Visit] | None = None, *, aliases: bool = False
    ) -> list[tuple[str, Tensor]]:
        """(path relative to self, parameter): each module's own, pre-order, once each; with
        `aliases`, once under every name that reaches it (a tied weight: a state dict's keys,
        as in PyTorch). `walk`: self._walk(every_path=aliases), if already made."""
        found: list[tuple[str, Tensor]] = []
        seen: set[int] = set()
        for prefix, _, members in self._walk(every_path=aliases) if walk is None else walk:
            for key, member in members:
                if isinstance(member, Tensor) and (aliases or id(member) not in seen):
                    seen.add(id(member))
                    found.append((_join(prefix, key), member))
        return found

    def _walk_modules(self, *, every_path: bool = False) -> list[tuple[str, Module]]:
        """(path relative to self, module) for self and every submodule, pre-order, once each
        (with `every_path`, once per path that reaches it: a shared module under each of its
        names)."""
        return [(prefix, module) for prefix, module, _ in self._walk(every_path=every_path)]

    def _walk(self, *, every_path: bool = False) -> list[_Visit]:
        """_walk_modules, with each module's members (`_members()`, listed once here)."""
        found: list[_Visit] = []
        seen: set[int] = set()
        stack: list[tuple[str, Module, frozenset[int]]] = [("", self, frozenset())]
        while stack:
            prefix, module, above = stack.pop()  # (above: the modules on the path, cycles)
            if id(module) in (above if every_path else seen):
                continue
            seen.add(id(module))
            members = list(module._members())
            found.append((prefix, module, members))
            children = [(k, m) for k, m in members if isinstance(m, Module)]
            inner = above | {id(module)} if every_path else above
            stack.extend((_join(prefix, k), m, inner) for k, m in reversed(children))
        return found

    # ------------------------------------------------------------ parameters

    def named_modules(self) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module ("") and every submodule, each once."""
        self._assign_names()
        return iter(self._walk_modules())

    def children(self) -> Iterator[Module]:
        """The direct submodules, each once (a module held twice is one child)."""
        found: dict[int, Module] = {}
        for _, m in self._members():
            if isinstance(m, Module):
                found.setdefault(id(m), m)
        return iter(found.values())

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, parameter) pairs: each module's own parameters, then its submodules'
        (in attribute order), each parameter once. Names are relative to this module."""
        self._assign_names()
        return iter(self._parameter_list())

    def parameters(self) -> Iterator[Tensor]:
        """Every parameter, in the order of `named_parameters()`: pass them to an optimizer."""
        return iter([p for _, p in self.named_parameters()])

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets `.grad` to None, as PyTorch does)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set the `training` flag of this module and every submodule; returns self."""
        check_flags(f"{type(self).__name__}.train", mode=mode)
        for _, module in self._walk_modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Same as `train(False)`."""
        return self.train(False)

    # ------------------------------------------------------------ state dicts

    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: copy of the parameter's array}, in `named_parameters()` order.

        Copies, so later training does not change a state dict already taken. Save it with
        `mg.save(model.state_dict(), path)`. A parameter reached under several names (a
        tied weight, a module used twice) has a key for each, as in PyTorch.
        """
        self._assign_names()
        return {name: p.data.copy() for name, p in self._parameter_list(aliases=True)}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy the arrays of `state_dict` into the parameters with the same names, in place.

        With `strict` (the default) the keys must be exactly those of `self.state_dict()`:
        a missing or unexpected key raises KeyError naming it. A shape that differs from the
        parameter's raises ValueError. Nothing is changed unless everything can be loaded.
        Returns the missing and unexpected keys (both empty under `strict`). As in PyTorch,
        `strict` may be given by position: `load_state_dict(sd, False)`.
        """
        where = f"{type(self).__name__}.load_state_dict"
        check_flags(where, strict=strict)
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{where}: expected a mapping of names to arrays (such as mg.load(path) or "
                f"model.state_dict()), got {type(state_dict).__name__}"
            )
        self._assign_names()
        own = dict(self._parameter_list(aliases=True))
        # A tied weight is loaded if any of its names is given (a checkpoint written before
        # state dicts listed every name has one of them).
        given = {id(p) for k, p in own.items() if k in state_dict}
        missing = [k for k, p in own.items() if k not in state_dict and id(p) not in given]
        unexpected = [str(k) for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            problems = []
            if missing:
                problems.append("missing key(s) " + ", ".join(map(repr, missing)))
            if unexpected:
                problems.append("unexpected key(s) " + ", ".join(map(repr, unexpected)))
            raise KeyError(
                f"{where}: {'; '.join(problems)}. The model's keys are: "
                f"{', '.join(map(repr, own)) or '(none)'}. Pass strict=False to load the keys "
                "that match"
            )
        updates = []
        mismatched = []
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            try:
                array = values_of(value)
            except ValueError as err:  # (a ragged nested list)
                raise TypeError(f"{where}: {name!r} is not an array: {err}") from None
            if array.dtype.kind not in "biuf":
                raise TypeError(
                    f"{where}: {name!r} has dtype {array.dtype}; parameters take real numbers"
                )
            if array.shape != p.shape:
                mismatched.append(f"{name!r}: checkpoint {array.shape}, model {p.shape}")
            updates.append((p, array))
        if mismatched:
            raise ValueError(
                f"{where}: shape mismatch for {'; '.join(mismatched)}. Was the checkpoint saved "
                "from a model with different layer sizes?"
            )
        with no_grad():  # item assignment respects graphs that still save the parameters
            for p, array in updates:
                p[...] = array
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ printing

    def extra_repr(self) -> str:
        """The settings shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        """PyTorch's layout: the class and extra_repr(), then each submodule, indented.

        Built without recursion, so nests of any depth print. A module inside itself (a
        cycle) is shown as a back-reference: `(child): <cycle: back to the Sequential at
        'a.b'>`. A submodule with a __repr__ of its own is printed by it."""
        lines: list[str] = []
        on_path: dict[int, str] = {}  # the modules being printed, enclosing this one
        # (label, module, depth, path); None closes the module last opened
        stack: list[tuple[str, Module, int, str] | None] = [("", self, 0, "")]
        while stack:
            item = stack.pop()
            if item is None:
                on_path.popitem()  # (the innermost: a dict keeps its insertion order)
                lines.append("  " * len(on_path) + ")")
                continue
            label, module, depth, path = item
            indent = "  " * depth
            kind = type(module).__name__
            if id(module) in on_path:
                where = on_path[id(module)]
                back = f"the {kind} at {where!r}" if where else f"the outermost {kind}"
                lines.append(f"{indent}{label}<cycle: back to {back}>")
                continue
            if depth and type(module).__repr__ is not Module.__repr__:
                lines.append(indent + (label + repr(module)).replace("\n", "\n" + indent))
                continue
            head = indent + (label + f"{kind}({module.extra_repr()}").replace("\n", "\n" + indent)
            children = [(k, m) for k, m in module._members() if isinstance(m, Module)]
            if not children:
                lines.append(head + ")")
                continue
            lines.append(head)
            on_path[id(module)] = path
            stack.append(None)
            stack.extend((f"({k}): ", m, depth + 1, _join(path, k)) for k, m in reversed(children))
        return "\n".join(lines)


# What _parts looks into or collects (a module global: Module is defined just above).
_HOLDERS = (list, tuple, dict, Tensor, Module)

# One module of a walk: (path relative to the walk's start, module, its _members()).
_Visit = tuple[str, Module, list[tuple[str, Module | Tensor]]]


class Linear(Module):
    """y = x @ weight.T + bias, for x of shape (..., in_features): one row per example.

    weight has shape (out_features, in_features), bias (out_features,). Both start uniform
    in [-1/sqrt(in_features), 1/sqrt(in_features)], as in PyTorch. `rng` is a NumPy
    Generator or a seed; None draws from fresh OS entropy.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: np.random.Generator | int | None = None,
        *,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not is_integer(n) or n < 1:
                raise ValueError(f"Linear: {what} must be a positive integer, got {n!r}")
        check_flags("Linear", bias=bias)
        if np.dtype(dtype).kind != "f":
            raise TypeError(
                f"Linear: dtype must be a floating-point type (parameters need gradients), "
                f"got {np.dtype(dtype)}"
            )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        generator = random_generator(rng, "Linear")
        bound = 1 / math.sqrt(self.in_features)
        weight = generator.uniform(-bound, bound, (self.out_features, self.in_features))
        self.weight = Tensor(weight, requires_grad=True, dtype=dtype)
        self.bias: Tensor | None = None
        if bias:
            b = generator.uniform(-bound, bound, self.out_features)
            self.bias = Tensor(b, requires_grad=True, dtype=dtype)

    def forward(self, x: Any) -> Tensor:
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if not shape or shape[-1] != self.in_features:
            where = self.scope_label() + (f" {self._name!r}" if self._name else "")
            hint = ""
            if len(shape) == 2 and shape[0] == self.in_features:
                hint = "; this looks like one column per example: pass x.T"
            raise ValueError(
                f"{where}: expects input of shape (..., {self.in_features}), one row per "
                f"example, but got shape {shape}{hint}"
            )
        y = ops.matmul(x, self.weight.T)
        return y if self.bias is None else y + self.bias

    def scope_label(self) -> str:
        return f"Linear({self.in_features}→{self.out_features})"

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Sequential(Module):
    """Modules applied one after another: Sequential(a, b, c)(x) is c(b(a(x))).

    The modules are named "0", "1", ... (parameters "0.weight"); index and iterate it like
    a list. A slice, `model[2:]`, shares the layers and keeps their names and keys ("2",
    "2.weight"), as in PyTorch: it never renames the model's parameters.
    """

    # A slice of another Sequential: its layers keep the names that model gave them.
    _is_slice: bool = False

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> Sequential:
        """Add a module at the end (named by the next number); returns self."""
        keys = self._keys()
        if not isinstance(module, Module):
            raise TypeError(
                f"Sequential: item {len(keys)} is a {type(module).__name__}, not a Module; "
                "use the module classes (nn.Sigmoid(), not mg.sigmoid)"
            )
        # (len(self), but for a slice, whose keys may start later: model[2:] has 2, 3, 4)
        setattr(self, str(max(map(int, keys), default=-1) + 1), module)
        return self

    def _assign_names(self) -> None:
        if not self._is_slice:  # (a slice names nothing: its layers are the model's)
            super()._assign_names()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if self._is_slice:  # (a copy owns its layers: it names them, as any model does)
            state = {k: v for k, v in state.items() if k != "_is_slice"}
        return state

    def _keys(self) -> list[str]:
        return [k for k, v in self.__dict__.items() if k.isdigit() and isinstance(v, Module)]

    def _layers(self) -> list[Module]:
        return [v for k, v in self.__dict__.items() if k.isdigit() and isinstance(v, Module)]

    def __len__(self) -> int:
        return len(self._layers())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers())

    def __getitem__(self, index: int | slice) -> Any:
        layers = self._layers()
        if isinstance(index, slice):
            # A view of the model, not a new owner: its layers keep their keys (its state
            # dict has this model's keys, as PyTorch's does) and their names.
            part = Sequential()
            object.__setattr__(part, "_is_slice", True)
            for key in self._keys()[index]:
                setattr(part, key, getattr(self, key))
            return part
        if not is_integer(index):
            raise TypeError(
                f"Sequential: index with an integer or a slice, not {index!r} (a layer by "
                "its name: getattr(model, name), or dict(model.named_modules()))"
            )
        try:
            return layers[index]
        except IndexError:
            raise IndexError(
                f"Sequential: index {index} is out of range for {len(layers)} modules"
            ) from None

    def forward(self, x: Any) -> Any:
        for layer in self._layers():
            x = layer(x)
        return x


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return ops.tanh(x)


class ReLU(Module):
    """max(x, 0), elementwise (gradient 0 at 0)."""

    def forward(self, x: Any) -> Tensor:
        return ops.relu(x)
