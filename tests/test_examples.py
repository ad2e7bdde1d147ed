"""Every examples/*.py runs as a user would run it: `python examples/<name>.py --out DIR`
in a fresh directory, exiting 0 within the time limit, writing only inside DIR.

An example that fails while a tool it uses (Graphviz's `dot`, matplotlib) is missing is
skipped, unless MICROGRADNP_REQUIRE_DOT is set (as in CI, where both must be installed).
Some examples' results are checked too: moons reaches >= 97 % accuracy.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
REQUIRE_TOOLS = bool(os.environ.get("MICROGRADNP_REQUIRE_DOT"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tools_used(source: str) -> dict[str, bool]:
    """The optional tools an example's source refers to, and whether each is installed."""
    used = {}
    if "render_graph" in source or "graphviz" in source.lower():
        used["Graphviz (dot)"] = shutil.which("dot") is not None
    if "matplotlib" in source or "plot_decision_boundary" in source:
        used["matplotlib"] = importlib.util.find_spec("matplotlib") is not None
    return used


def run_example(
    path: Path, cwd: Path, *args: str, prelude: str = ""
) -> subprocess.CompletedProcess:
    """Run an example as a script in `cwd` (optionally after some Python `prelude`)."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if prelude:
        command = [
            sys.executable,
            "-c",
            f"{prelude}\nimport runpy, sys\nsys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')",
            str(path),
            *args,
        ]
    else:
        command = [sys.executable, str(path), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def run_or_skip(path: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "out"
    result = run_example(path, cwd, "--out", str(out))
    if result.returncode != 0 and not REQUIRE_TOOLS:
        missing = [tool for tool, ok in tools_used(path.read_text()).items() if not ok]
        if missing:
            pytest.skip(f"{path.name} needs {' and '.join(missing)}, which is not installed")
    assert result.returncode == 0, (
        f"{path.name} exited with {result.returncode}\n--- stdout\n{result.stdout}\n"
        f"--- stderr\n{result.stderr}"
    )
    assert list(cwd.iterdir()) == [], f"{path.name} wrote outside --out: {list(cwd.iterdir())}"
    return result, out


def test_the_examples_are_there() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"tutorial_network.py", "mlp_moons.py", "transforms.py"} <= names


def percent(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in:\n{text}"
    return float(found.group(1)) / 100


def check_tutorial_network(result: subprocess.CompletedProcess, out: Path) -> None:
    """Learns moons, and autodiff ends at the hand-written parameters."""
    assert percent(r"accuracy: ([\d.]+)%", result.stdout) >= 0.97
    differences = [float(x) for x in re.findall(r"[Wb][12] ([\d.e+-]+)", result.stdout)]
    assert len(differences) == 8 and max(differences) < 1e-10


def check_mlp_moons(result: subprocess.CompletedProcess, out: Path) -> None:
    """Moons reaches >= 97 %, the pictures are PNGs, the checkpoint reloads identically."""
    assert percent(r"moons: .*train accuracy ([\d.]+)%", result.stdout) >= 0.97
    assert percent(r"moons: .*test accuracy ([\d.]+)%", result.stdout) >= 0.97
    assert percent(r"spirals: .*test accuracy ([\d.]+)%", result.stdout) >= 0.9
    assert "reloaded model predicts identically" in result.stdout
    assert (out / "moons_mlp.npz").exists()
    if importlib.util.find_spec("matplotlib") is not None or REQUIRE_TOOLS:
        for name in ("moons", "spirals"):
            assert (out / f"{name}_boundary.png").read_bytes().startswith(PNG_SIGNATURE)


CHECKS = {"tutorial_network.py": check_tutorial_network, "mlp_moons.py": check_mlp_moons}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path, tmp_path: Path) -> None:
    source = path.read_text()
    assert source.startswith('"""'), f"{path.name} must start with a docstring saying what it shows"
    result, out = run_or_skip(path, tmp_path)
    if path.name in CHECKS:
        CHECKS[path.name](result, out)


def test_mlp_example_without_matplotlib_still_runs(tmp_path: Path) -> None:
    block = "import sys\nsys.modules['matplotlib'] = None\nsys.modules['matplotlib.figure'] = None"
    result = run_example(
        ROOT / "examples" / "mlp_moons.py", tmp_path, "--out", str(tmp_path / "out"), prelude=block
    )
    assert result.returncode == 0, result.stderr
    assert "note: no picture" in result.stdout and "needs matplotlib" in result.stdout
    assert not list((tmp_path / "out").glob("*.png"))


@pytest.mark.parametrize(
    ("example", "args"),
    [
        ("mlp_moons.py", ["--epochs", "0"]),
        ("mlp_moons.py", ["--hidden", "-1"]),
        ("tutorial_network.py", ["--epochs", "-5"]),
    ],
)
def test_examples_refuse_bad_options_as_argparse_does(example, args) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr
