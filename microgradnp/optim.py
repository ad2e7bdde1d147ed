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
from collections.abc import Iterable, Iterator
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
            if p.grad is None:
                continue
            g = p.grad
            if weight_decay != 0:
                g = g + weight_decay * p.data
            yield p, state, g

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self._settings().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"

    def _settings(self) -> dict[str, Any]:
        return {}


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay, as torch.optim.SGD
    (its settings in the same order).

    For each parameter p with gradient g:
        g = g + weight_decay * p
        buf = g on the first step, then momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf      (when momentum != 0)
        p = p - lr * g
    """

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
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(p.data)
                    state["exp_avg_sq"] = np.zeros_like(p.data)
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
