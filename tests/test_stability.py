"""StabilityWarning: log of a sigmoid or softmax warns once per source line, at the user's
line, suggesting the fused op; the fused ops and library-internal logs never warn."""

from __future__ import annotations

import contextvars
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import microgradnp as mg
from microgradnp.checking import StabilityWarning, stability_warnings
from microgradnp.nn.functional import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
)

ROOT = Path(__file__).resolve().parents[1]


def _caught(fn: Callable[[], object]) -> list[warnings.WarningMessage]:
    """The StabilityWarnings fn emits under Python's default filter ("default": once per
    location)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")
        fn()
    return [w for w in caught if issubclass(w.category, StabilityWarning)]


def _line_of(fn: Callable[..., object], text: str) -> int:
    """The line number in this file of the first line of fn's source containing text."""
    import inspect

    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_it_is_a_user_warning_exported_from_ops_and_gradcheck() -> None:
    assert issubclass(StabilityWarning, UserWarning)
    assert mg.ops.StabilityWarning is StabilityWarning


# ---------------------------------------------------------------- the tutorial's loss

rng = np.random.default_rng(0)
Z2 = mg.tensor(rng.normal(size=(1, 50)), requires_grad=True, name="Z2")
Y = (rng.random((1, 50)) < 0.5).astype(float)


def naive_loss():
    m = Y.shape[1]
    A2 = mg.sigmoid(Z2)
    return -(1 / m) * mg.sum(Y * mg.log(A2) + (1 - Y) * mg.log(1 - A2))


def fused_loss():
    return binary_cross_entropy_with_logits(Z2, Y)


def test_the_tutorials_naive_loss_warns_once_at_its_own_line() -> None:
    def three_times() -> None:
        for _ in range(3):
            naive_loss().backward()

    caught = _caught(three_times)
    assert len(caught) == 1  # log(A2) and log(1 - A2) share the line and the message
    w = caught[0]
    assert w.filename == __file__
    assert w.lineno == _line_of(naive_loss, "mg.log(A2)")
    message = str(w.message)
    assert "binary_cross_entropy_with_logits" in message and "sigmoid" in message


def test_the_fused_loss_and_library_losses_do_not_warn() -> None:
    def losses() -> None:
        fused_loss().backward()
        binary_cross_entropy(mg.sigmoid(Z2), Y).backward()
        logits = mg.tensor(rng.normal(size=(4, 3)), requires_grad=True)
        mg.log_softmax(logits, axis=-1).sum().backward()
        cross_entropy(logits, np.array([0, 2, 1, 1])).backward()
        mg.logsumexp(logits, axis=-1).sum().backward()
        mg.log(mg.exp(logits)).sum().backward()  # log of a positive tensor: fine
        mg.log(1 - mg.softmax(logits)).sum().backward()  # not a log_softmax in disguise

    assert _caught(losses) == []


def test_a_higher_order_backward_through_a_library_loss_does_not_warn() -> None:
    # binary_cross_entropy's VJP for y calls log(sigmoid) on Tensors when differentiated
    # again: library code, not the user's expression.
    def second_order() -> None:
        def f(y):
            return mg.sum(mg.grad(lambda t: binary_cross_entropy(mg.sigmoid(Z2), t))(y))

        mg.grad(f)(Y * 0.5 + 0.25)

    assert _caught(second_order) == []


def _patterns() -> dict[str, Callable[[mg.Tensor], mg.Tensor]]:
    return {
        "log(sigmoid)": lambda z: mg.log(mg.sigmoid(z)),
        "log(1 - sigmoid)": lambda z: mg.log(1 - mg.sigmoid(z)),
        "method": lambda z: mg.sigmoid(z).log(),
        "log(sigmoid + eps)": lambda z: mg.log(mg.sigmoid(z) + 1e-8),
        "log(1 - sigmoid + eps)": lambda z: mg.log(1.0 - mg.sigmoid(z) + 1e-8),
        "log(clip(sigmoid))": lambda z: mg.log(mg.clip(mg.sigmoid(z), 1e-7, 1 - 1e-7)),
        "log(maximum(sigmoid, eps))": lambda z: mg.log(mg.maximum(mg.sigmoid(z), 1e-12)),
        "hand-written sigmoid": lambda z: mg.log(1 / (1 + mg.exp(-z))),
        "log(softmax)": lambda z: mg.log(mg.softmax(z, axis=-1)),
        "log(softmax + eps)": lambda z: mg.log(1e-9 + mg.softmax(z)),
        "log(minimum(sigmoid, c))": lambda z: mg.log(mg.minimum(mg.sigmoid(z), 0.5)),
        "log(sigmoid + array eps)": lambda z: mg.log(mg.sigmoid(z) + np.full(4, 1e-8)),
    }


def _safe_uses() -> dict[str, Callable[[mg.Tensor], mg.Tensor]]:
    """Logs of a sigmoid kept away from 0 (and 1 - p away from 0): nothing to warn about."""
    return {
        "log(1 + sigmoid)": lambda z: mg.log(1 + mg.sigmoid(z)),
        "log(2 - sigmoid)": lambda z: mg.log(2 - mg.sigmoid(z)),
        "log(maximum(sigmoid, 0.5))": lambda z: mg.log(mg.maximum(mg.sigmoid(z), 0.5)),
        "log(clip(sigmoid, 0.5, 1))": lambda z: mg.log(mg.clip(mg.sigmoid(z), 0.5, 1.0)),
        "log(sigmoid + tensor of ones)": lambda z: mg.log(mg.sigmoid(z) + mg.tensor(np.ones(4))),
        "log(1 + softmax)": lambda z: mg.log(1.0 + mg.softmax(z)),
    }


@pytest.mark.parametrize("name", list(_safe_uses()))
def test_a_log_kept_away_from_zero_does_not_warn(name: str) -> None:
    z = mg.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    assert _caught(lambda: _safe_uses()[name](z)) == []


@pytest.mark.parametrize("name", list(_patterns()))
def test_each_fragile_pattern_warns_with_the_right_advice(name: str) -> None:
    z = mg.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    caught = _caught(lambda: _patterns()[name](z))
    assert len(caught) == 1
    advice = "log_softmax" if "softmax" in name else "binary_cross_entropy_with_logits"
    assert advice in str(caught[0].message)
    assert caught[0].filename == __file__


def test_warnings_point_at_distinct_lines_separately() -> None:
    z = mg.tensor(rng.normal(size=(3,)), requires_grad=True)

    def two_lines() -> None:
        for _ in range(2):
            mg.log(mg.sigmoid(z))
            mg.log(mg.sigmoid(z))

    caught = _caught(two_lines)
    assert len(caught) == 2 and caught[0].lineno + 1 == caught[1].lineno


def test_no_warning_without_a_graph() -> None:
    # Under no_grad (or with inputs that do not require grad) nothing is recorded, so the
    # lint cannot see that the argument came from a sigmoid.
    z = mg.tensor(rng.normal(size=(3,)), requires_grad=True)
    with mg.no_grad():
        assert _caught(lambda: mg.log(mg.sigmoid(z))) == []


def test_the_switch_as_a_context_manager() -> None:
    z = mg.tensor(rng.normal(size=(3,)), requires_grad=True)

    def off_then_on() -> None:
        with stability_warnings(False):
            mg.log(mg.sigmoid(z))  # off
        mg.log(mg.sigmoid(z))  # on again

    caught = _caught(off_then_on)
    assert len(caught) == 1 and caught[0].lineno == _line_of(off_then_on, "# on again")


def test_the_switch_as_a_setting_lasts_and_is_per_context() -> None:
    z = mg.tensor(rng.normal(size=(3,)), requires_grad=True)

    def in_a_fresh_context() -> tuple[int, int, int]:
        stability_warnings(False)  # a setting: from here on, in this context
        off = len(_caught(lambda: mg.log(mg.sigmoid(z))))
        other: list[int] = []
        thread = threading.Thread(
            target=lambda: other.append(len(_caught(lambda: mg.log(mg.sigmoid(z)))))
        )
        thread.start()
        thread.join()
        stability_warnings(True)
        on = len(_caught(lambda: mg.log(mg.sigmoid(z))))
        return off, other[0], on

    assert contextvars.copy_context().run(in_a_fresh_context) == (0, 1, 1)
    assert len(_caught(lambda: mg.log(mg.sigmoid(z)))) == 1  # this context was not changed


def test_pythons_filters_apply() -> None:
    z = mg.tensor(rng.normal(size=(3,)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StabilityWarning)
        with pytest.raises(StabilityWarning):
            mg.log(mg.sigmoid(z))
        warnings.simplefilter("ignore", StabilityWarning)
        mg.log(mg.sigmoid(z))


def test_a_script_under_pythons_default_filter_shows_one_warning_per_line(tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import numpy as np
            import microgradnp as mg
            from microgradnp.nn.functional import binary_cross_entropy_with_logits

            rng = np.random.default_rng(0)
            X = rng.normal(size=(2, 100))
            Y = (X[0:1] * X[1:2] > 0).astype(float)
            W = mg.tensor(rng.normal(size=(1, 2)), requires_grad=True)
            for epoch in range(5):
                Z = W @ X
                A = mg.sigmoid(Z)
                loss = -mg.mean(Y * mg.log(A) + (1 - Y) * mg.log(1 - A))
                fused = binary_cross_entropy_with_logits(Z, Y)
                loss.backward()
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    lines = [line for line in result.stderr.splitlines() if "StabilityWarning" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"{script}:13: StabilityWarning")
