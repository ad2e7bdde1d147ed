"""The benchmarks run (a smoke run: no timing thresholds in CI, where timings are noisy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bench_step_quick_checks_gradients_and_prints_ratios() -> None:
    out = run("bench_step.py", "--quick", "--sizes", "tiny", "--rounds", "1")
    assert "tiny (2, 3, 1, 400)" in out
    for name in ("numpy (tutorial)", "microgradnp", "microgradnp fused"):
        assert name in out


def test_bench_step_memory_child_measures_a_step() -> None:
    out = run("bench_step.py", "--memory-child", "microgradnp", "tiny")
    assert float(out.strip().splitlines()[-1]) >= 0


def test_bench_graph_quick_reports_linearity() -> None:
    out = run("bench_graph.py", "--quick")
    assert out.count("the time of") == 4 and "wide 10,000" in out


def test_bench_overhead_quick_checks_every_contenders_gradients() -> None:
    # (check_agreement exits with an error if any contender's gradients differ from the
    # tutorial's, before anything is timed)
    out = run("bench_overhead.py", "--quick", "--sizes", "tiny")
    assert "tiny: NumPy step" in out
    names = ["numpy (tutorial)", "numpy calls only", "minimal tape", "microgradnp, lint off"]
    for name in names:
        assert f"  {name} " in out, out
