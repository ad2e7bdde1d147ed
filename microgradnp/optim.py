"""Optimizers: update parameters from their `.grad`, with PyTorch's formulas exactly.

    opt = mg.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(X), y).backward()
        opt.step()

`step()` changes each parameter's `.data` in place, recording nothing (parameters stay
leaves), and skips parameters whose `.grad` is None. Hyperparameters are plain attributes
(`opt.lr = 0.001` changes the learning rate for the next steps).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .recording import check_flags, no_grad
from .tensors import Tensor


def _check(
    name: str, value: float, *, where: str, low: float = 0.0, high: float | None = None
) -> float:
    """value as a float in [low, high) (or [low, inf)), else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{where}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low or (high is not None and value >= high):
        interval = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{where}: invalid {name}={value!r}; it must be finite and {interval}")
    return value


class Optimizer:
    """Holds the parameters and their per-parameter state; subclasses define `step()`."""

    _state_names: tuple[str, ...] = ()  # what `self.state[i]` holds once p_i has had a step

    def __init__(self, params: Iterable[Tensor]) -> None:
        where = type(self).__name__
        if (
            isinstance(params, Tensor)
            or not isinstance(params, Iterable)
            or hasattr(params, "named_parameters")
        ):
            hint = " (pass model.parameters())" if hasattr(params, "parameters") else ""
            raise TypeError(
                f"{where}: params must be an iterable of Tensors{hint}, got {type(params).__name__}"
            )
        self.params: list[Tensor] = list(params)
        if not self.params:
            raise ValueError(f"{where}: got an empty list of parameters; nothing to optimize")
        seen: set[int] = set()
        for i, p in enumerate(self.params):
            label = f"parameter {i}" + (
                f" ({p.name!r})" if isinstance(p, Tensor) and p.name else ""
            )
            if not isinstance(p, Tensor):
                hint = ""
                if isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Tensor):
                    hint = (
                        " (a (name, tensor) pair: pass model.parameters(), not named_parameters())"
                    )
                raise TypeError(f"{where}: {label} is a {type(p).__name__}, not a Tensor{hint}")
            if not p.is_leaf:
                raise ValueError(
                    f"{where}: {label} was computed by {p.op}; only leaf tensors (created with "
                    "requires_grad=True) can be optimized"
                )
            if p.dtype.kind != "f":
                raise TypeError(f"{where}: {label} has dtype {p.dtype}; it must be floating-point")
            if id(p) in seen:
                raise ValueError(f"{where}: {label} appears more than once in params")
            seen.add(id(p))
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to None (PyTorch's default, set_to_none=True)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        raise NotImplementedError

    def _gradients(self, weight_decay: float) -> Iterator[tuple[Tensor, dict[str, Any], Any]]:
        """(parameter, its state, its gradient + weight_decay * parameter), for each parameter
        that has a gradient (the others are skipped, as in PyTorch)."""
        for p, state in zip(self.params, self.state, strict=True):
            g = p.grad  # (read once: zero_grad() in another thread may reset it)
            if g is None:
                continue
            if weight_decay != 0:
                g = g + weight_decay * p.data
            yield p, state, g

    def state_dict(self) -> dict[str, np.ndarray]:
        """The settings and per-parameter state as {name: copy of an array}, flat like a
        model's state dict so that `mg.save(opt.state_dict(), path)` stores it.

        Keys: each setting (`"lr"`, `"betas"`, ...), `"params"` (the parameters' indices,
        0 to n - 1, as in PyTorch's `param_groups`), and `"state.<i>.<name>"` for the state
        of the i-th parameter (PyTorch's `state[i][name]`, e.g. `"state.0.exp_avg"`); a
        parameter that has had no step yet has no state keys.
        """
        out = {k: np.array(v) for k, v in self._settings().items()}
        out["params"] = np.arange(len(self.params))
        for i, state in enumerate(self.state):
            out.update({f"state.{i}.{k}": np.array(v, copy=True) for k, v in state.items()})
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the settings and state of `state_dict` (from `state_dict()` or
        `mg.load(path)`) for the same parameters in the same order, so that training resumes
        where it stopped. Every key must be one `state_dict()` could have written, with the
        shape of its parameter; otherwise KeyError/ValueError naming it, and nothing changes.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{where}: expected a mapping of names to arrays (such as mg.load(path) or "
                f"opt.state_dict()), got {type(state_dict).__name__}"
            )
        settings = self._settings()
        missing = [k for k in [*settings, "params"] if k not in state_dict]
        states: list[dict[str, Any]] = [{} for _ in self.params]
        unexpected = []
        for key, value in state_dict.items():
            if key in settings or key == "params":
                continue
            found = re.fullmatch(r"state\.(0|[1-9][0-9]*)\.(\w+)", str(key), flags=re.ASCII)
            if (
                found is None
                or int(found[1]) >= len(self.params)
                or found[2] not in self._state_names
            ):
                unexpected.append(str(key))
                continue
            states[int(found[1])][found[2]] = value
        for i, state in enumerate(states):
            if state and len(state) != len(self._state_names):
                missing += [f"state.{i}.{k}" for k in self._state_names if k not in state]
        if missing or unexpected:
            problems = [f"missing key(s) {', '.join(map(repr, missing))}"] if missing else []
            if unexpected:
                problems.append(f"unexpected key(s) {', '.join(map(repr, unexpected))}")
            names = ", ".join(map(repr, self._state_names)) or "(none: it keeps no state)"
            raise KeyError(
                f"{where}: {'; '.join(problems)}. A {type(self).__name__} state dict has the "
                f"keys {', '.join(map(repr, [*settings, 'params']))} and 'state.<i>.<name>' "
                f"for parameter i < {len(self.params)} and name in {names}; load the state "
                "dict of an optimizer built the same way over the same parameters"
            )
        given = np.asarray(state_dict["params"])
        if given.shape != (len(self.params),) or np.any(given != np.arange(len(self.params))):
            raise ValueError(
                f"{where}: this state dict is of an optimizer over {given.size} parameter(s) "
                f"('params' is {given.tolist()!r}); this one has {len(self.params)}. Load the "
                "state dict of an optimizer over the same parameters, in the same order"
            )
        # The settings go through the constructor's checks, then are copied over.
        values = {
            k: _setting(state_dict[k], like=v, key=k, where=where) for k, v in settings.items()
        }
        checked = type(self)(self.params, **values) if values else self
        for i, (p, state) in enumerate(zip(self.params, states, strict=True)):
            for k, v in state.items():
                state[k] = _state_value(v, p, i, k, where=where)
        self.__dict__.update({k: v for k, v in vars(checked).items() if k in settings})
        self.state = states

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self._settings().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"

    def _settings(self) -> dict[str, Any]:
        return {}


def _state_value(value: Any, p: Tensor, i: int, key: str, *, where: str) -> Any:
    """The i-th parameter's state `key` read back from a state dict: `step` as an int
    (PyTorch keeps it as a float), the others as a copy in p's shape and dtype; else a
    ValueError naming it."""
    array = np.asarray(value)
    name = f"state.{i}.{key}"
    if key == "step":
        whole = array.dtype.kind in "iuf" and array.shape == ()
        if not (whole and np.isfinite(array) and array >= 0 and array == np.floor(array)):
            raise ValueError(
                f"{where}: {name!r} is {array!r}; it must be a whole number >= 0 (the steps taken)"
            )
        return int(array)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{where}: {name!r} has dtype {array.dtype}; it must hold numbers")
    if array.shape != p.shape:
        raise ValueError(
            f"{where}: {name!r} has shape {array.shape}; parameter {i} has "
            f"shape {p.shape}: this state dict is of other parameters (or a model of other "
            "sizes)"
        )
    return array.astype(p.dtype, copy=True)


def _setting(value: Any, *, like: Any, key: str, where: str) -> Any:
    """A setting read back from a state dict (a 0-d array, or (2,) for betas) as the Python
    value the constructor takes, checked there; a wrong shape is a ValueError naming it."""
    array = np.asarray(value)
    shape = np.shape(like)
    kinds = "b" if isinstance(like, bool) else "iuf"
    if array.shape != shape or array.dtype.kind not in kinds:
        raise ValueError(
            f"{where}: the setting {key!r} is {value!r}; it must be "
            + ("True or False" if kinds == "b" else "a number")
            + (f" (an array of shape {shape})" if shape else "")
        )
    if isinstance(like, tuple | list):
        return tuple(float(x) for x in array)
    return bool(array) if isinstance(like, bool) else float(array)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay, as torch.optim.SGD
    (its settings in the same order).

    For each parameter p with gradient g:
        g = g + weight_decay * p
        buf = g on the first step, then momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf      (when momentum != 0)
        p = p - lr * g
    """

    _state_names = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        where = "SGD"
        check_flags(where, nesterov=nesterov)
        self.lr = _check("lr", lr, where=where)
        self.momentum = _check("momentum", momentum, where=where)
        self.weight_decay = _check("weight_decay", weight_decay, where=where)
        self.dampening = _check("dampening", dampening, where=where)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        super().__init__(params)

    def step(self) -> None:
        # Updates go through the Tensor (p -= ...), which respects graphs that still save p.
        with no_grad():
            for p, state, g in self._gradients(self.weight_decay):
                if self.momentum != 0:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.array(g, copy=True)
                    else:
                        buf *= self.momentum
                        buf += (1 - self.dampening) * g
                    g = g + self.momentum * buf if self.nesterov else buf
                p -= self.lr * g

    def _settings(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "dampening": self.dampening,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }


class Adam(Optimizer):
    """Adam with bias correction, as torch.optim.Adam (weight decay is L2: added to g).

    For each parameter p with gradient g, at its step t = 1, 2, ...:
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g          (m, v start at 0)
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    _state_names = ("step", "exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        where = "Adam"
        self.lr = _check("lr", lr, where=where)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (
            _check("betas[0]", betas[0], where=where, high=1.0),
            _check("betas[1]", betas[1], where=where, high=1.0),
        )
        self.eps = _check("eps", eps, where=where)
        self.weight_decay = _check("weight_decay", weight_decay, where=where)
        super().__init__(params)

    def step(self) -> None:
        beta1, beta2 = self.betas
        with no_grad():
            for p, state, g in self._gradients(self.weight_decay):
                if not state:  # (filled in one update: never seen half made)
                    zeros = np.zeros_like(p.data)
                    state.update(step=0, exp_avg=zeros, exp_avg_sq=zeros.copy())
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m += (1 - beta1) * (g - m)  # = beta1 m + (1 - beta1) g, as torch's lerp does
                v *= beta2
                v += (1 - beta2) * g * g
                step_size = self.lr / (1 - beta1**t)
                denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + self.eps
                p -= step_size * (m / denom)

    def _settings(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }
