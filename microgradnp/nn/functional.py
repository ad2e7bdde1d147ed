"""Loss functions (PyTorch's names and conventions; mean reduction by default).

Each takes the prediction first and the target second, both of the same shape (a different
shape is an error, not a silent broadcast), and `reduction="mean" | "sum" | "none"`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..recording import primitive, values_of
from ..tensors import Tensor

_LOG_FLOOR = -100.0  # PyTorch's clamp on log in binary_cross_entropy: finite at p = 0 or 1


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Tensor | np.ndarray) else np.shape(values_of(x))


def _check_same_shape(name: str, prediction: Any, target: Any) -> None:
    ps, ts = _shape(prediction), _shape(target)
    if ps != ts:
        raise ValueError(
            f"{name}: prediction shape {ps} and target shape {ts} differ; broadcasting them "
            f"would silently compare every prediction with every target. Reshape the target "
            f"to {ps}"
        )


def _check_reduction(reduction: str, name: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    _check_reduction(reduction, name)
    if reduction == "mean":
        return ops.mean(loss)
    return ops.sum(loss) if reduction == "sum" else loss


@primitive
def _bce(p: np.ndarray, y: Any) -> np.ndarray:
    with np.errstate(divide="ignore"):  # log(0) = -inf is clamped just below
        log_p = np.maximum(np.log(p), _LOG_FLOOR)
        log_q = np.maximum(np.log1p(-p), _LOG_FLOOR)
    return -(y * log_p + (1 - y) * log_q)


def _clamped_log(x: Any) -> Any:
    with np.errstate(divide="ignore"):  # log(0) = -inf is clamped, as in the forward
        return ops.maximum(ops.log(x), _LOG_FLOOR)


def _operands(prediction: Any, target: Any) -> tuple[Any, Any]:
    """A loss's prediction and target with lists (and numbers) made arrays, as the ops do:
    the prediction float64, the target in the prediction's float dtype."""
    if not isinstance(prediction, Tensor | np.ndarray):
        prediction = np.asarray(prediction, dtype=np.float64)
    if not isinstance(target, Tensor | np.ndarray):
        dtype = values_of(prediction).dtype
        target = np.asarray(target, dtype=dtype if dtype.kind == "f" else np.float64)
    return prediction, target


_bce.defvjp(
    # d/dp: (p - y) / (p (1 - p)), with the denominator kept away from 0 as PyTorch does
    lambda g, ans, p, y: g * (p - y) / ops.maximum(p * (1 - p), 1e-12),
    lambda g, ans, p, y: g * (_clamped_log(1 - p) - _clamped_log(p)),
)


def binary_cross_entropy(p: Any, y: Any, *, reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)), for probabilities p in [0, 1] (logs clamped at -100).

    Prefer `binary_cross_entropy_with_logits` on the pre-sigmoid values: it is exact where
    the sigmoid saturates.
    """
    _check_same_shape("binary_cross_entropy", p, y)
    p, y = _operands(p, y)
    values = values_of(p)
    outside = ~((values >= 0) & (values <= 1))  # (NaN is outside too, as in PyTorch)
    if outside.any():
        bad = values[outside].flat[0]
        raise ValueError(
            f"binary_cross_entropy: probabilities must lie in [0, 1], got {bad}; for raw "
            "scores (logits) use binary_cross_entropy_with_logits"
        )
    return _reduce(_bce(p, y), reduction, "binary_cross_entropy")


@primitive
def _bce_with_logits(z: np.ndarray, y: Any, *, reduction: str = "none") -> np.ndarray:
    # log(1 + e^z) - z y, the naive formula's value, as max(z, 0) - z y + log(1 + e^-|z|):
    # no overflow, and no cancellation where the prediction is confidently right (z y
    # taken from log(1 + e^z) would leave nothing of the small loss at z = 40, y = 1).
    # The reduction is part of the op: one node instead of two, for the loss of most small
    # networks, where each node's cost shows.
    # (the exact part first: its sum with the small log term keeps that term's digits)
    loss = (np.maximum(z, 0) - z * y) + np.logaddexp(0, -np.abs(z))
    if reduction == "none":
        return loss
    total = loss.sum()
    return total / loss.size if reduction == "mean" else total


def _per_element(g: Any, z: Any, reduction: str) -> Any:
    """The output's gradient as each element's loss sees it: g / m for the mean of m."""
    return g / np.size(z) if reduction == "mean" else g


_bce_with_logits.defvjp(
    # the tutorial's dZ2 = A2 - Y, times the output's gradient
    lambda g, ans, z, y, *, reduction="none": _per_element(g, z, reduction) * (ops.sigmoid(z) - y),
    lambda g, ans, z, y, *, reduction="none": -_per_element(g, z, reduction) * z,
)


def binary_cross_entropy_with_logits(z: Any, y: Any, *, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(z) against targets y, computed stably from the logits z.

    Its gradient with respect to z is (sigmoid(z) - y) / m for the mean over m elements (the
    tutorial's dZ2 = A2 - Y, over m), finite however large |z| is. It is computed as
    (g / m) * (sigmoid(z) - y), which agrees with that formula to within about an ulp.
    """
    name = "binary_cross_entropy_with_logits"
    _check_same_shape(name, z, y)
    _check_reduction(reduction, name)
    z, y = _operands(z, y)
    return _bce_with_logits(z, y, reduction=reduction)


def mse_loss(a: Any, b: Any, *, reduction: str = "mean") -> Tensor:
    """(a - b) ** 2, reduced."""
    _check_same_shape("mse_loss", a, b)
    a, b = _operands(a, b)
    d = ops.sub(a, b)
    return _reduce(d * d, reduction, "mse_loss")


def cross_entropy(logits: Any, labels: Any, *, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of `logits` (N, C) against integer class `labels` (N,).

    `labels` may instead be class probabilities of the same shape as `logits`. A single
    example, logits (C,) with a scalar label, works too.
    """
    name = "cross_entropy"
    scores = values_of(logits)
    targets = values_of(labels)
    if scores.ndim not in (1, 2):
        raise ValueError(f"{name}: logits must have shape (N, C) or (C,), got {scores.shape}")
    log_p = ops.log_softmax(logits, axis=-1)
    if targets.dtype.kind == "f" and targets.shape == scores.shape:
        _, labels = _operands(logits, labels)  # (a list of probabilities: the logits' dtype)
        return _reduce(-ops.sum(log_p * labels, axis=-1), reduction, name)
    if targets.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: labels must be integer class indices (or class probabilities shaped like "
            f"the logits {scores.shape}), got dtype {targets.dtype} and shape {targets.shape}"
        )
    if targets.shape != scores.shape[:-1]:
        raise ValueError(
            f"{name}: logits {scores.shape} need labels of shape {scores.shape[:-1]}, got "
            f"{targets.shape}"
        )
    classes = scores.shape[-1]
    bad = (targets < 0) | (targets >= classes)
    if np.any(bad):
        raise ValueError(
            f"{name}: label {targets[bad].flat[0]} is out of range for {classes} classes "
            f"(valid labels are 0..{classes - 1})"
        )
    index = int(targets) if scores.ndim == 1 else (np.arange(len(targets)), targets)
    picked = log_p[index]
    return _reduce(-picked, reduction, name)
