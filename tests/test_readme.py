"""The README's Python blocks run, in order, as a new user would paste them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import require_dot

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys) -> None:
    require_dot()  # a block renders an SVG: skipped without Graphviz, failed in CI
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    namespace: dict = {}
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 5
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)

    report = namespace["report"]
    assert not report.ok and report.failed_names() == ["b1"]
    assert "1/400" in str(report)
    assert (tmp_path / "out" / "graph.svg").read_text().lstrip().startswith("<?xml")
    assert "b1" in (tmp_path / "out" / "mistake.dot").read_text()
    assert namespace["W2"].grad.shape == (1, 3)
    out = capsys.readouterr().out
    assert "12.0" in out
    model, Xm, y = namespace["model"], namespace["Xm"], namespace["y"]
    accuracy = np.mean((model(Xm).data[:, 0] > 0) == (y == 1))
    assert accuracy > 0.9


@pytest.mark.parametrize("path", ["docs/tutorial_graph.svg", "docs/tutorial-source.md"])
def test_readme_links_exist(path) -> None:
    assert path in README.read_text()
    assert (README.parent / path).exists()
