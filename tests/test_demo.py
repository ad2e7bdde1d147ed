"""The demo (`python -m microgradnp demo`), end to end: accuracy, output files that parse,
the fallbacks without Graphviz or matplotlib, progress display, and argparse errors."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import demo
from microgradnp.__main__ import main as cli_main
from microgradnp.engine import topological_order
from microgradnp.nn import Module

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HAVE_DOT = shutil.which("dot") is not None
REQUIRE_DOT = bool(os.environ.get("MICROGRADNP_REQUIRE_DOT"))
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
needs_dot = pytest.mark.skipif(
    not HAVE_DOT and not REQUIRE_DOT, reason="Graphviz's dot is not installed"
)
needs_matplotlib = pytest.mark.skipif(
    not HAVE_MATPLOTLIB and not REQUIRE_DOT, reason="matplotlib is not installed"
)


def accuracies(text: str) -> tuple[float, float]:
    found = re.search(r"accuracy ([\d.]+)% on the training set, ([\d.]+)% on 400 new", text)
    assert found, text
    return float(found.group(1)) / 100, float(found.group(2)) / 100


@needs_dot
@needs_matplotlib
def test_demo_with_defaults_learns_moons_and_writes_its_files(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert cli_main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    train_acc, test_acc = accuracies(text)
    assert train_acc >= 0.97 and test_acc >= 0.97
    svg = ET.parse(out / "graph.svg").getroot()
    assert svg.tag.endswith("svg")
    labels = " ".join(t.text or "" for t in svg.iter() if t.tag.endswith("text"))
    # The module clusters and the parameter names are in the picture.
    for label in ("Sequential", "Linear(2→16)", "Linear(16→1)", "0.weight", "2.bias"):
        assert label in labels, label
    assert (out / "decision_boundary.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "\r" not in text  # not a terminal: no progress bar


def test_train_is_deterministic_and_keeps_the_graph() -> None:
    a = demo.train("xor", epochs=30, hidden=4, seed=1)
    b = demo.train("xor", epochs=30, hidden=4, seed=1)
    for (na, pa), (nb, pb) in zip(
        a.model.named_parameters(), b.model.named_parameters(), strict=True
    ):
        assert na == nb and np.array_equal(pa.data, pb.data)
    assert a.test_accuracy == b.test_accuracy
    assert len(topological_order(a.loss)) > 5  # still walkable: retained for drawing
    assert all(p.grad is not None for p in a.model.parameters())
    with pytest.raises(ValueError, match="unknown dataset 'blobs'"):
        demo.train("blobs")


def test_accuracy_counts_logit_signs() -> None:
    class FirstColumn(Module):  # the logit is the first coordinate
        def forward(self, x):
            return mg.tensor(x[:, :1])

    x = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-3.0, 0.0]])
    assert demo.accuracy(FirstColumn(), x, np.array([1, 0, 0, 0])) == 0.75


@pytest.mark.parametrize("dataset", ["moons", "circles", "xor", "spirals"])
def test_every_dataset_runs(dataset, tmp_path, capsys) -> None:
    args = ["--dataset", dataset, "--epochs", "30", "--hidden", "4", "--seed", "3"]
    assert demo.main([*args, "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert f"network on {dataset}" in text
    accuracies(text)
    assert (tmp_path / "graph.svg").exists() or (tmp_path / "graph.dot").exists()


def test_without_dot_writes_graph_dot_and_a_note(tmp_path, capsys, monkeypatch) -> None:
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no `dot` to be found
    out = tmp_path / "out"
    assert demo.main(["--epochs", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert not (out / "graph.svg").exists()
    source = (out / "graph.dot").read_text()
    assert source.lstrip().startswith(("digraph", "strict digraph"))
    assert "Linear(2→16)" in source
    assert "note:" in text and "Graphviz" in text and "graph.dot" in text


def test_a_broken_dot_writes_graph_dot_and_the_picture_still(tmp_path, capsys, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dot = bin_dir / "dot"  # installed, but failing (a missing plugin, say)
    dot.write_text("#!/bin/sh\necho 'Error: no plugin' >&2\nexit 1\n")
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    assert demo.main(["--epochs", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert (out / "graph.dot").exists() and not (out / "graph.svg").exists()
    assert "dot failed to write" in text and "Error: no plugin" in text
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "decision_boundary.png").exists()


def test_without_matplotlib_skips_the_picture_with_a_note(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert demo.main(["--epochs", "5", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert not (tmp_path / "decision_boundary.png").exists()
    assert "matplotlib is not installed" in text and "pip install matplotlib" in text
    with pytest.raises(ImportError, match="needs matplotlib"):
        demo.plot_decision_boundary(demo.train(epochs=1).model, np.zeros((2, 2)), [0, 1], "x.png")


def test_output_directory_that_is_a_file(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert demo.main(["--epochs", "1", "--out", str(blocker / "sub")]) == 1
    assert "cannot create the output directory" in capsys.readouterr().err


@needs_dot
@needs_matplotlib
@pytest.mark.parametrize("blocked", ["graph.svg", "decision_boundary.png"])
def test_an_output_file_that_cannot_be_written_is_a_clear_error(tmp_path, capsys, blocked) -> None:
    (tmp_path / blocked).mkdir()  # a directory where the demo writes a file
    assert demo.main(["--epochs", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"demo: cannot write into {str(tmp_path)!r}" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
        (["--epochs", "ten"], "argument --epochs: expected a positive integer, got 'ten'"),
        (["--hidden", "-3"], "argument --hidden: expected a positive integer"),
        (["--dataset", "blobs"], "argument --dataset: invalid choice: 'blobs'"),
        (["--seed", "-1"], "argument --seed: expected an integer >= 0"),
        (["--lr", "0"], "argument --lr: expected a positive number"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_get_argparse_errors(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["demo", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage: python -m microgradnp" in err


def test_a_command_is_required(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main([])
    assert exit_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_python_dash_m_runs_quietly_when_not_a_terminal(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "microgradnp", "demo", "--epochs", "20", "--out", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    accuracies(result.stdout)
    assert "\r" not in result.stdout + result.stderr
    assert (tmp_path / "out").is_dir()


# ---------------------------------------------------------------- progress display


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_progress(total: int, stream) -> None:
    progress = demo.Progress(total, stream=stream)
    for i in range(1, total + 1):
        progress.update(i, loss=1.0 / i, accuracy=i / total)
    progress.close()


def test_progress_uses_tqdm_on_a_terminal() -> None:
    pytest.importorskip("tqdm")
    stream = FakeTerminal()
    run_progress(200, stream)
    text = stream.getvalue()
    assert "200/200" in text and "loss=0.0050, acc=100.0%" in text


def test_progress_plain_fallback_without_tqdm(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    stream = FakeTerminal()
    run_progress(50, stream)
    text = stream.getvalue()
    assert text.startswith("\rtraining [")
    assert "50/50  loss 0.0200  accuracy 100.0%" in text
    assert text.endswith("\n")


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    run_progress(50, stream)
    assert stream.getvalue() == ""
