"""The documentation site (mkdocs.yml, docs/) stays true to the code.

- Every ```python block in docs/**/*.md runs: the blocks of one page in order, in one
  namespace, in a fresh working directory, as a reader would paste them. A block preceded
  by `<!-- no-run -->` is skipped (used sparingly: code that is meant to fail or to be
  adapted). A ```text block preceded by `<!-- output -->` is what the python block before
  it prints; a line `...` in it stands for any lines, and `...` inside a line for any text.
  A warning the code emits must be named (by its class) in the page's text.
- `mkdocs build --strict` passes, and the API reference documents every public name. It is
  skipped when mkdocs is not installed, unless MICROGRADNP_REQUIRE_DOCS is set (CI), where
  a missing mkdocs fails it.
- The generated pictures are current (`python docs/make_pictures.py --check`), every
  picture a page shows exists, and they show what the pages' code makes: a graph a page
  renders has the DOT source of the script's picture, and the decision boundary is drawn
  from the parameters the tutorial's code trains.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import os
import re
import subprocess
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import require_dot

import microgradnp as mg
from microgradnp.graph import GraphvizNotFoundError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
NO_RUN = "<!-- no-run -->"
OUTPUT = "<!-- output -->"


# ---------------------------------------------------------------- reading the pages


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the first line of code
    marker: str | None  # the HTML comment on the line before the fence, if any


def blocks_of(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order (only unindented fences count)."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"```(\w*)", lines[i])
        if not match:
            i += 1
            continue
        previous = next((s.strip() for s in reversed(lines[:i]) if s.strip()), "")
        marker = previous if re.fullmatch(r"<!--.*-->", previous) else None
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"unclosed code fence at line {i + 1}")
        blocks.append(Block(match.group(1), "\n".join(lines[i + 1 : end]) + "\n", i + 2, marker))
        i = end + 1
    return blocks


def page_id(path: Path) -> str:
    return str(path.relative_to(DOCS))


def output_matches(expected: str, actual: str) -> bool:
    def norm(s: str) -> str:
        return "\n".join(line.rstrip() for line in s.strip("\n").splitlines())

    parts = []
    for line in norm(expected).split("\n"):
        if line.strip() == "...":
            parts.append("(?:.*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.split("...")) + "\n")
    return re.fullmatch("".join(parts), norm(actual) + "\n") is not None


def test_the_pages_are_found_and_fences_are_well_formed() -> None:
    names = {page_id(p) for p in PAGES}
    assert {"index.md", "tutorial.md", "design.md"} <= names
    for path in PAGES:
        text = path.read_text("utf-8")
        # An indented ```python fence (in a list or admonition) would not be run: forbidden.
        indented = re.findall(r"^[ \t]+```python", text, flags=re.MULTILINE)
        assert not indented, f"{page_id(path)}: indented ```python block (it would not be run)"
        blocks = blocks_of(text)
        for k, b in enumerate(blocks):
            if b.marker == OUTPUT:
                assert b.lang == "text", f"{page_id(path)}:{b.line}: {OUTPUT} marks a ```text block"
                before = blocks[k - 1] if k else None
                runs = before is not None and before.lang == "python" and before.marker != NO_RUN
                assert runs, f"{page_id(path)}:{b.line}: an output block must follow a python block"
            elif b.marker == NO_RUN:
                assert b.lang == "python", f"{page_id(path)}:{b.line}: {NO_RUN} marks python blocks"


def test_output_matching() -> None:
    assert output_matches("a\nb\n", "a  \nb")
    assert not output_matches("a\nb", "a\nc")
    assert output_matches("head\n...\ntail", "head\nx\ny\ntail")
    assert output_matches("head\n...\ntail", "head\ntail")
    assert output_matches("loss ... done", "loss 0.25 done")
    assert not output_matches("loss ... done", "loss 0.25")


# ---------------------------------------------------------------- running the pages


def _require(what: str, why: str) -> None:
    if os.environ.get("MICROGRADNP_REQUIRE_DOCS"):
        pytest.fail(f"MICROGRADNP_REQUIRE_DOCS is set but {what} is missing ({why})")
    pytest.skip(f"{what} is not installed ({why})")


def run_page(path: Path) -> dict:
    """Run the page's python blocks in order in one namespace; return the namespace."""
    namespace: dict = {"__name__": "__main__"}
    text = path.read_text("utf-8")
    blocks = blocks_of(text)
    last_output: str | None = None
    for b in blocks:
        where = f"{page_id(path)}:{b.line}"
        if b.lang == "text" and b.marker == OUTPUT:
            assert last_output is not None
            assert output_matches(b.code, last_output), (
                f"{where}: the page shows\n{b.code}\nbut the block before it printed\n{last_output}"
            )
            continue
        if b.lang != "python" or b.marker == NO_RUN:
            continue
        # Padded so that tracebacks (and detect_anomaly's messages) give the page's lines.
        code = compile("\n" * (b.line - 1) + b.code, str(path), "exec")
        stdout = io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                exec(code, namespace)
        except GraphvizNotFoundError:
            require_dot()  # skips without Graphviz's `dot` (fails in CI)
            raise
        except ModuleNotFoundError as err:
            if err.name in ("matplotlib",):
                _require(err.name, f"{where} draws a plot")
            raise
        for w in caught:  # a reader sees these: the page must say what they are
            kind = w.category.__name__
            assert kind in text, (
                f"{where}: the code warns ({kind}: {w.message}); the page never says"
            )
        last_output = stdout.getvalue()
    return namespace


# The pictures a page shows, by the file its code renders: the docs script must draw the
# same graph (the same DOT source) as the page's own `mg.render_graph` call.
RENDERED_AS = {
    "tutorial.md": {"network.svg": "tutorial_backward.svg"},
    "guides/graphs.md": {
        "broadcast.svg": "graphs_broadcast.svg",
        "modules.svg": "graphs_modules.svg",
        "collapsed.svg": "graphs_collapsed.svg",
    },
    "guides/checking.md": {"mistake.svg": "checking_mistake.svg"},
}


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_page_code_runs(path: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    drawn: dict[str, str] = {}  # file name -> DOT source, for each mg.render_graph call
    render = mg.render_graph

    def recording_render(root, target, **options):
        drawn[Path(target).name] = mg.draw_graph(root, **options).source
        return render(root, target, **options)

    monkeypatch.setattr(mg, "render_graph", recording_render)
    namespace = run_page(path)
    check = PAGE_CHECKS.get(page_id(path))
    if check is not None:
        check(namespace, tmp_path)
    expected = RENDERED_AS.get(page_id(path), {})
    if expected:
        pictures = make_pictures().PICTURES
        for file, picture in expected.items():
            assert file in drawn, f"{page_id(path)} no longer renders {file}"
            assert drawn[file] == pictures[picture]().source, (
                f"docs/{picture} does not show what {page_id(path)}'s code draws in {file}: "
                "make the two agree (docs/make_pictures.py), then run it"
            )


def _check_tutorial(ns: dict, cwd: Path) -> None:
    """The tutorial trains what its pictures show, and its code does what its text says."""
    pictures = make_pictures()
    expected = pictures.tutorial_trained()
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(ns[name].data, expected[name], rtol=0, atol=1e-12)
    assert (cwd / "decision_boundary.svg").exists()
    assert (cwd / "network.svg").exists()


def _check_nn_optim(ns: dict, cwd: Path) -> None:
    """The page says the modules, trained like the tutorial, end at the tutorial's parameters."""
    expected = make_pictures().tutorial_trained()
    state = ns["model"].state_dict()
    pairs = [("0.weight", "W1"), ("0.bias", "b1"), ("2.weight", "W2"), ("2.bias", "b2")]
    for key, name in pairs:
        np.testing.assert_allclose(state[key], expected[name].reshape(state[key].shape), atol=1e-9)


def _check_design(ns: dict, cwd: Path) -> None:
    """The page quotes ops.py's tanh: it must be there as quoted."""
    source = (ROOT / "microgradnp" / "ops.py").read_text("utf-8")
    quoted = next(
        b.code for b in blocks_of((DOCS / "design.md").read_text()) if "def tanh" in b.code
    )
    start = quoted.index("@primitive")
    assert quoted[start:] in source


PAGE_CHECKS = {
    "tutorial.md": _check_tutorial,
    "guides/nn-optim.md": _check_nn_optim,
    "design.md": _check_design,
}


# ---------------------------------------------------------------- pictures


def make_pictures() -> types.ModuleType:
    path = DOCS / "make_pictures.py"
    spec = importlib.util.spec_from_file_location("make_pictures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pictures_are_current() -> None:
    """The same check as `python docs/make_pictures.py --check`, through the command."""
    proc = subprocess.run(
        [sys.executable, str(DOCS / "make_pictures.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr


def test_every_picture_shown_exists_and_every_picture_is_shown() -> None:
    shown = set()
    for path in [*PAGES, ROOT / "README.md"]:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", path.read_text("utf-8")):
            file = (path.parent / target).resolve()
            assert file.exists(), f"{path.name} shows {target}, which does not exist"
            shown.add(file)
    for name in make_pictures().PICTURES:
        assert (DOCS / name).resolve() in shown, f"docs/{name} is made but no page shows it"


# ---------------------------------------------------------------- the API reference


def public_names() -> list[str]:
    """Every public name, by the path the reference gives it."""
    names = [f"microgradnp.{n}" for n in mg.__all__]
    names += [f"microgradnp.nn.{n}" for n in mg.nn.__all__]
    names += [f"microgradnp.datasets.{n}" for n in mg.datasets.__all__]
    for module in (mg.nn.functional, mg.optim):
        names += [
            f"{module.__name__}.{n}"
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module.__name__
        ]
    return names


def _reference_identifiers() -> set[str]:
    found = set()
    for path in (DOCS / "reference").glob("*.md"):
        found.update(re.findall(r"^::: ([\w.]+)", path.read_text("utf-8"), flags=re.MULTILINE))
    return found


def test_every_public_name_is_in_the_reference() -> None:
    names = public_names()
    assert {"microgradnp.optim.SGD", "microgradnp.nn.functional.mse_loss"} <= set(names)
    missing = sorted(set(names) - _reference_identifiers())
    assert missing == [], "add a `::: name` line for each to a page in docs/reference/"


def test_every_public_name_has_a_docstring() -> None:
    def resolve(path: str) -> object:
        module, _, attr = path.rpartition(".")
        return getattr(importlib.import_module(module), attr)

    undocumented = [n for n in public_names() if not (inspect.getdoc(resolve(n)) or "").strip()]
    assert undocumented == []


def _mkdocs_missing() -> str | None:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ModuleNotFoundError:
            return module
    return None


def test_site_builds_strictly_and_documents_every_public_name(tmp_path) -> None:
    missing = _mkdocs_missing()
    if missing is not None:
        _require(missing, "pip install -e '.[docs]'")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert not re.search(r"^(WARNING|ERROR)\b", log, flags=re.MULTILINE), log
    html = "".join(p.read_text("utf-8") for p in (site / "reference").rglob("*.html"))
    missing_anchors = [n for n in public_names() if f'id="{n}"' not in html]
    assert missing_anchors == []
