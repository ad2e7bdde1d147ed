"""Graph pictures and the text view (microgradnp/graph.py), checked the way a user sees them:
DOT source, SVG rendered by the real `dot` (parsed as XML), and printed text.

Expected contents come from the expressions themselves (which ops, which shapes, which
gradients by the tutorial's hand-written formulas), never from the code under test. The
snapshot file is the one exception; it is reviewed by eye and regenerated with
MICROGRADNP_UPDATE_SNAPSHOTS=1 after an intended change.
"""

from __future__ import annotations

import html
import importlib.util
import math
import os
import re
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import numpy as np
import pytest
from conftest import require_dot
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import microgradnp as mg
from microgradnp import ops
from microgradnp.engine import topological_order
from microgradnp.graph import (
    GraphvizNotFoundError,
    draw_graph,
    format_graph,
    print_graph,
    render_graph,
)
from microgradnp.nn.functional import binary_cross_entropy_with_logits
from microgradnp.recording import recording_scope

SNAPSHOTS = Path(__file__).parent / "snapshots"
SVG = "{http://www.w3.org/2000/svg}"
PARAMETER_FILL, INPUT_FILL, INTERMEDIATE_FILL, ROOT_FILL = (
    "#cfe2ff",
    "#e9ecef",
    "#ffffff",
    "#c9ecc9",
)
OP_FILL, RED, MISMATCH_FILL, BROADCAST = "#fff3c4", "red", "#ffd6d6", "#d95f02"
INSTALL_HINTS = (
    "sudo apt-get install graphviz",
    "brew install graphviz",
    "conda install -c conda-forge graphviz",
    "https://graphviz.org/download/",
)


# ---------------------------------------------------------------- the tutorial's network


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def tutorial_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2, 400))
    Y = (X[0:1] * X[1:2] > 0).astype(float)
    params = [rng.normal(size=s) for s in [(3, 2), (3, 1), (1, 3), (1, 1)]]
    return X, Y, params


def layer(W, b, A, label: str, name: str, activation=None):
    """A minimal module call: what nn.Module.__call__ does, without mg.nn."""
    with recording_scope(label, name):
        Z = W @ A + b
        return activation(Z) if activation else Z


def tutorial_network(seed: int = 0, *, scoped: bool = True, fused: bool = True):
    """The tutorial's 2-3-1 network (column layout) after backward(retain_graph=True)."""
    X, Y, params = tutorial_data(seed)
    W1, b1, W2, b2 = [
        mg.tensor(p, requires_grad=True, name=n)
        for p, n in zip(params, ["W1", "b1", "W2", "b2"], strict=True)
    ]
    Xt = mg.tensor(X, name="X")
    if scoped:
        A1 = layer(W1, b1, Xt, "Layer(2→3)", "hidden", mg.sigmoid)
        Z2 = layer(W2, b2, A1, "Layer(3→1)", "output")
    else:
        A1 = mg.sigmoid(W1 @ Xt + b1)
        Z2 = W2 @ A1 + b2
    if fused:
        loss = binary_cross_entropy_with_logits(Z2, Y)
    else:
        A2 = mg.sigmoid(Z2)
        with warnings.catch_warnings():  # the naive loss earns a StabilityWarning: it is meant
            warnings.simplefilter("ignore")
            loss = -(Y * mg.log(A2) + (1 - Y) * mg.log(1 - A2)).mean()
    loss.backward(retain_graph=True)
    return loss, dict(W1=W1, b1=b1, W2=W2, b2=b2, X=Xt)


def tutorial_gradients(seed: int = 0):
    """dW1, db1, dW2, db2 by the tutorial's hand-written backprop."""
    X, Y, (W1, b1, W2, b2) = tutorial_data(seed)
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = sigmoid(Z1)
    A2 = sigmoid(W2 @ A1 + b2)
    dZ2 = A2 - Y
    dW2 = (1 / m) * dZ2 @ A1.T
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = W2.T @ dZ2 * sigmoid(Z1) * (1 - sigmoid(Z1))
    dW1 = (1 / m) * dZ1 @ X.T
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def tutorial_loss(seed: int = 0) -> float:
    """The mean binary cross-entropy, -(y log a2 + (1 - y) log(1 - a2)), in plain NumPy."""
    X, Y, (W1, b1, W2, b2) = tutorial_data(seed)
    A2 = sigmoid(W2 @ sigmoid(W1 @ X + b1) + b2)
    return float(np.mean(-(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))))


# ---------------------------------------------------------------- reading SVG and DOT


def parse_svg(data: bytes | str) -> ET.Element:
    return ET.fromstring(data.encode() if isinstance(data, str) else data)


def groups(svg: ET.Element, cls: str) -> dict[str, ET.Element]:
    """The <g class=cls> elements (node, edge, cluster) by their <title>."""
    return {g.find(SVG + "title").text: g for g in svg.iter(SVG + "g") if g.get("class") == cls}


def texts(element: ET.Element) -> list[str]:
    return [(t.text or "").replace("\xa0", " ") for t in element.iter(SVG + "text")]


def legend_of(svg: ET.Element) -> ET.Element:
    """The picture's own label (the legend): the top-level graph group without its nodes,
    edges and clusters."""
    (graph,) = [g for g in svg.iter(SVG + "g") if g.get("class") == "graph"]
    legend = ET.Element("legend")
    legend.extend(child for child in graph if child.tag != SVG + "g")
    return legend


def fills(element: ET.Element) -> set[str]:
    return {e.get("fill") for e in element if e.get("fill")}


def strokes(element: ET.Element) -> set[str]:
    return {e.get("stroke") for e in element if e.get("stroke")}


def node_with_text(svg: ET.Element, text: str) -> tuple[str, ET.Element]:
    found = [(t, g) for t, g in groups(svg, "node").items() if text in texts(g)]
    assert len(found) == 1, f"{len(found)} nodes show {text!r}"
    return found[0]


def dot_nodes(source: str) -> list[str]:
    """Node statements' names in DOT source (lines `\\tname [`)."""
    names = re.findall(r"^\s*(\w+) \[", source, flags=re.MULTILINE)
    return [n for n in names if n not in ("graph", "node", "edge")]


def four_sig(x: float) -> str:
    """x to 4 significant digits, in Python's general format (what pictures show)."""
    return f"{float(x):.4g}"


# ---------------------------------------------------------------- rendering with the real dot


def test_the_tutorial_network_renders_to_svg_with_nodes_labels_colours_clusters(
    tmp_path, dot
) -> None:
    loss, p = tutorial_network()
    path = render_graph(loss, tmp_path / "graph.svg", show_data=True)
    assert path == tmp_path / "graph.svg"
    svg = parse_svg(path.read_bytes())
    nodes = groups(svg, "node")
    # 12 tensors (W1, X, W1@X, b1, Z1, A1, W2, W2@A1, b2, Z2, Y, loss), 6 ops
    assert len(nodes) == 12 + 6

    # ops in the order they ran, with their numbers
    for k, op in enumerate(
        ["matmul", "add", "sigmoid", "matmul", "add", "bce_with_logits(reduction='mean')"], 1
    ):
        _, g = node_with_text(svg, f"#{k} {op}")
        assert fills(g) == {OP_FILL}

    # tensors: names, shapes, dtypes, kinds by colour, gradients by the tutorial's formulas
    grads = tutorial_gradients()
    for name, shape in [("W1", (3, 2)), ("b1", (3, 1)), ("W2", (1, 3)), ("b2", (1, 1))]:
        _, g = node_with_text(svg, name)
        shown = " ".join(texts(g))
        assert f"{shape} float64" in shown
        assert fills(g) == {PARAMETER_FILL}
        for value in grads[name].ravel():
            assert four_sig(value) in shown, (name, four_sig(value), shown)
        if grads[name].size > 1:
            assert f"‖grad‖ {four_sig(np.linalg.norm(grads[name]))}" in shown
    _, x_node = node_with_text(svg, "X")
    assert fills(x_node) == {INPUT_FILL}
    assert "(2, 400) float64" in texts(x_node)
    X = p["X"].data
    assert f"data min {four_sig(X.min())}  mean {four_sig(X.mean())}  max {four_sig(X.max())}" in (
        texts(x_node)
    )
    root = [g for g in nodes.values() if fills(g) == {ROOT_FILL}]
    assert len(root) == 1 and "() float64" in texts(root[0])
    assert f"data {four_sig(tutorial_loss())}" in texts(root[0])
    assert "(1, 400) float64" in [t for g in nodes.values() for t in texts(g)]

    # the broadcast edge: b1 (3, 1) is added to (3, 400), so its gradient is summed
    b1_id, _ = node_with_text(svg, "b1")
    add_id, _ = node_with_text(svg, "#2 add")
    edge = groups(svg, "edge")[f"{b1_id}->{add_id}"]
    assert texts(edge) == ["Σ axis 1: (3, 400) → (3, 1)"]
    assert BROADCAST in strokes(edge)
    b2_id, _ = node_with_text(svg, "b2")
    assert texts(groups(svg, "edge")[f"{b2_id}->{node_with_text(svg, '#5 add')[0]}"]) == [
        "Σ axis 1: (1, 400) → (1, 1)"
    ]

    # the module clusters, drawn around their ops
    clusters = {"".join(texts(g)): g for g in groups(svg, "cluster").values()}
    assert set(clusters) == {"Layer(2→3) 'hidden'", "Layer(3→1) 'output'"}
    box = bounding_box(clusters["Layer(2→3) 'hidden'"])
    for op in ["#1 matmul", "#2 add", "#3 sigmoid"]:
        assert inside(centre(node_with_text(svg, op)[1]), box), op
    assert not inside(centre(node_with_text(svg, "#4 matmul")[1]), box)

    # the legend (under the picture) names every colour
    legend = legend_of(svg)
    for kind in ["parameter", "input / constant", "intermediate", "root (output)"]:
        assert kind in texts(legend)
    assert {PARAMETER_FILL, INPUT_FILL, ROOT_FILL, OP_FILL} <= fills(legend)


def bounding_box(cluster: ET.Element) -> tuple[float, float, float, float]:
    shape = cluster.find(SVG + "path")
    if shape is None:
        shape = cluster.find(SVG + "polygon")
    numbers = [
        float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", shape.get("d") or shape.get("points"))
    ]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def centre(node: ET.Element) -> tuple[float, float]:
    ellipse = node.find(SVG + "ellipse")
    return float(ellipse.get("cx")), float(ellipse.get("cy"))


def inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    return box[0] < point[0] < box[2] and box[1] < point[1] < box[3]


def test_the_naive_loss_graph_renders_and_numbers_ops_like_topological_order(dot) -> None:
    loss, _ = tutorial_network(scoped=False, fused=False)
    order = list(reversed(topological_order(loss, allow_freed=True)))
    svg = parse_svg(draw_graph(loss).pipe(format="svg"))
    op_labels = [t for g in groups(svg, "node").values() for t in texts(g) if t.startswith("#")]
    assert len(op_labels) == len(order) == 14  # 5 for the layers, 9 for the naive loss
    for k, t in enumerate(order, 1):
        assert sum(label.startswith(f"#{k} {t.op}") for label in op_labels) == 1


def _op_numbers(text: str) -> list[str]:
    """The ops of a text tree by their numbers: [name of #1, name of #2, ...]."""
    found = dict(re.findall(r"#(\d+) (\w+)", text))
    return [found[str(k)] for k in range(1, len(found) + 1)]


def test_ops_are_numbered_in_the_order_they_ran() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    a, b, c = mg.tanh(x), mg.exp(x), mg.sigmoid(x)
    d = (a + b) * c  # (a walk from d could reach sigmoid before add)
    assert _op_numbers(format_graph(d)) == ["tanh", "exp", "sigmoid", "add", "mul"]
    assert [n.op for n in mg.check_graph(d).nodes] == ["tanh", "exp", "sigmoid", "add", "mul"]


def test_op_numbers_keep_the_order_the_ops_ran_after_a_partial_backward() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    a = mg.exp(w)
    b = (a * 3).sum()
    c = b * a.sum()
    assert _op_numbers(format_graph(c)) == ["exp", "mul", "sum", "sum", "mul"]
    b.backward()  # frees b's ops: the mul by 3 can no longer be found from c
    assert _op_numbers(format_graph(c)) == ["exp", "sum", "sum", "mul"]


def test_png_and_pdf_are_written_with_dot(tmp_path, dot) -> None:
    loss, _ = tutorial_network()
    assert render_graph(loss, tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render_graph(loss, tmp_path / "sub" / "g.pdf").read_bytes()[:5] == b"%PDF-"


def test_jupyter_display_is_svg(dot) -> None:
    loss, _ = tutorial_network()
    bundle = draw_graph(loss)._repr_mimebundle_()
    assert parse_svg(bundle["image/svg+xml"]).tag == SVG + "svg"


# ---------------------------------------------------------------- without dot


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH on which Graphviz's `dot` cannot be found."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


def test_without_dot_drawing_dot_files_and_text_work_and_rendering_says_how_to_install(
    no_dot, tmp_path
) -> None:
    loss, _ = tutorial_network()
    picture = draw_graph(loss)
    assert isinstance(picture, graphviz.Digraph)
    assert "#6 bce_with_logits" in picture.source

    with pytest.raises(GraphvizNotFoundError) as err:
        render_graph(loss, tmp_path / "graph.svg")
    assert isinstance(err.value, RuntimeError)
    message = str(err.value)
    for hint in INSTALL_HINTS:
        assert hint in message
    assert ".dot" in message and "format_graph" in message
    assert not (tmp_path / "graph.svg").exists()

    path = render_graph(loss, tmp_path / "graph.dot")
    assert path.read_text(encoding="utf-8") == picture.source
    assert "#6 bce_with_logits" in format_graph(loss)

    bundle = picture._repr_mimebundle_()  # Jupyter: the hint, not a traceback
    assert "sudo apt-get install graphviz" in bundle["text/plain"]


def test_when_graphviz_cannot_run_dot_rendering_raises_the_install_hint(
    monkeypatch, tmp_path
) -> None:
    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz, "pipe", missing)
    loss, _ = tutorial_network()
    with pytest.raises(GraphvizNotFoundError, match="brew install graphviz"):
        render_graph(loss, tmp_path / "graph.png")


def test_a_dot_that_exits_before_reading_the_source_is_named_not_a_broken_pipe(
    monkeypatch, tmp_path
) -> None:
    # A source far bigger than a pipe's buffer: writing it to a dot that has already exited
    # is sure to hit the closed pipe.
    (tmp_path / "bin").mkdir()
    dot = tmp_path / "bin" / "dot"
    dot.write_text("#!/bin/sh\necho 'Error: no plugin' >&2\nexit 4\n")
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    y = mg.tensor(np.ones(3), requires_grad=True)
    for _ in range(450):
        y = y * 1.0001
    assert len(draw_graph(y.sum()).source) > 3 * 65536
    with pytest.raises(RuntimeError, match="exit status 4: Error: no plugin"):
        render_graph(y.sum(), tmp_path / "graph.png")
    assert not (tmp_path / "graph.png").exists()
    for root in (y.sum(), (y[:1] * 2).sum()):  # Jupyter: a note, not a traceback
        bundle = draw_graph(root, max_nodes=None)._repr_mimebundle_()
        assert "dot failed to draw this graph" in bundle["text/plain"]


# ---------------------------------------------------------------- determinism, snapshot


def test_the_same_expression_gives_byte_identical_dot_source() -> None:
    first, _ = tutorial_network(seed=3)
    second, _ = tutorial_network(seed=3)
    assert draw_graph(first, show_data=True).source == draw_graph(second, show_data=True).source
    assert format_graph(first, show_data=True) == format_graph(second, show_data=True)
    assert not re.search(r"0x[0-9a-f]{6,}|\d{9,}", draw_graph(first).source)  # no id()s


def test_dot_source_of_the_tutorial_network_matches_the_snapshot() -> None:
    loss, _ = tutorial_network()
    source = draw_graph(loss, show_data=True).source
    path = SNAPSHOTS / "tutorial_network.dot"
    if os.environ.get("MICROGRADNP_UPDATE_SNAPSHOTS") == "1":
        path.write_text(source, encoding="utf-8")
    assert source == path.read_text(encoding="utf-8"), (
        "the tutorial network's DOT source changed; if intended, review the picture and "
        "rerun with MICROGRADNP_UPDATE_SNAPSHOTS=1"
    )


# ---------------------------------------------------------------- escaping


NASTY = ']a"b\\" ]; evil [label="pwned"]; <b>&amp;</b> {x|y} \\N\nsecond line \x01'


def test_names_full_of_dot_and_html_syntax_are_drawn_literally(dot) -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True, name=NASTY)
    with recording_scope(NASTY, NASTY):
        y = (w * 3.0).sum()
    y.name = "<loss>"
    source = draw_graph(y).source
    assert "pwned" not in dot_nodes(source) and "evil" not in dot_nodes(source)
    svg = parse_svg(graphviz.Source(source).pipe(format="svg"))
    assert set(groups(svg, "node")) == {"t1", "t2", "t3", "op1", "op2"}
    first_line = ']a"b\\" ]; evil [label="pwned"]; <b>&amp;</b> {x|y} \\N'
    assert first_line == NASTY.split("\n")[0]
    _, w_node = node_with_text(svg, first_line)  # literally: no markup, no \N substitution
    assert "second line \\x01" in texts(w_node)
    node_with_text(svg, "<loss>")
    (cluster,) = groups(svg, "cluster").values()
    assert texts(cluster)[:2] == [first_line, "second line \\x01"]


# Any characters, with DOT's and HTML's special ones (and dot's escapes \N, \G...) often.
NAMES = st.text(
    st.one_of(st.sampled_from(list('"<>&{}|[]\\;=: \nNGELT#')), st.characters()), max_size=40
)


@given(name=NAMES, label=NAMES, op_name=NAMES)
def test_any_names_give_dot_that_renders_without_injected_nodes(name, label, op_name) -> None:
    require_dot()
    x = mg.tensor([1.0, -2.0], requires_grad=True, name=name)
    scaled = mg.primitive(lambda a: a * 2.0)
    scaled.defvjp(lambda g, ans, a: 2.0 * g)
    scaled.name = op_name
    with recording_scope(label, name):
        y = scaled(x)
    y.name = name
    z = y.sum()
    z.backward(retain_graph=True)
    source = draw_graph(z, show_data=True, highlight=[name]).source
    svg = parse_svg(graphviz.Source(source).pipe(format="svg"))  # dot accepts it
    assert set(groups(svg, "node")) == {"t1", "t2", "t3", "op1", "op2"}
    assert len(groups(svg, "cluster")) == 1
    assert len(groups(svg, "edge")) == 4
    readable = name.strip() and name.isprintable() and len(name) < 60
    if readable:
        assert any(name.strip() == t.strip() for t in texts(svg))
    assert format_graph(z, show_data=True).count("\n") == 2  # one line per tensor


def test_names_with_characters_xml_forbids_render_as_escapes(dot) -> None:
    x = mg.tensor([1.0], requires_grad=True, name="bad\ud800\uffff\x00\x1b\t")
    y = x * 2.0
    svg = parse_svg(draw_graph(y).pipe(format="svg"))
    assert "bad\\ud800\\uffff\\x00\\x1b\\t" in texts(svg)
    text = format_graph(y)
    text.encode("utf-8")  # no lone surrogates: printable anywhere
    assert "bad\\ud800\\uffff\\x00\\x1b\\t  (1,) float64" in text


# ---------------------------------------------------------------- op labels and settings


def label_of(t) -> str:
    """The op label draw_graph gives the op that computed t (t is the root)."""
    text = format_graph(t, max_nodes=1)
    return text.split(" → ")[0].split(" ", 1)[1]


@pytest.mark.parametrize(
    ("make", "label"),
    [
        (lambda x: x.sum(axis=1), "sum(axis=1)"),
        (lambda x: mg.sum(x, axis=(0, 1), keepdims=True), "sum(axis=(0, 1), keepdims=True)"),
        (lambda x: x.mean(), "mean"),
        (lambda x: x * 2.0, "mul(b=2.0)"),
        (lambda x: 1 - x, "sub(a=1)"),
        (lambda x: x**3, "pow(p=3)"),
        (lambda x: x[:, 0], "getitem[:, 0]"),
        (lambda x: x[0:1], "getitem[0:1]"),
        (lambda x: x[..., None], "getitem[..., None]"),
        (lambda x: x.reshape(3, 2), "reshape(shape=(3, 2))"),
        (lambda x: x.T, "transpose"),
        (lambda x: x.clip(0.0), "clip(min=0.0)"),
        (lambda x: x.clip(max=0.5), "clip(max=0.5)"),
        (lambda x: mg.softmax(x, axis=0), "softmax(axis=0)"),
        (lambda x: x.softmax(), "softmax"),
        (lambda x: x.astype(np.float32), "astype(dtype=float32)"),
        (lambda x: mg.concatenate([x, x], axis=1), "concatenate(axis=1)"),
        (lambda x: mg.sigmoid(x), "sigmoid"),
        (lambda x: x @ np.ones((3, 1)), "matmul"),
        (lambda x: x * 0.1, "mul(b=0.1)"),
        (lambda x: x / 3.0, "div(b=3.0)"),
    ],
)
def test_op_nodes_show_the_op_and_its_settings(make, label) -> None:
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert label_of(make(x)) == label
    assert f"#1 {label}" in html.unescape(draw_graph(make(x)).source)


def test_index_arrays_are_settings_and_constant_arrays_are_input_boxes() -> None:
    x = mg.tensor(np.arange(5.0), requires_grad=True)
    y = x[np.array([0, 2, 2])]
    assert label_of(y) == "getitem[[0, 2, 2]]"
    assert len(dot_nodes(draw_graph(y, legend=False).source)) == 3  # x, op, y
    c = np.ones(5)
    z = x * c + c  # the same array twice: one box
    assert len(dot_nodes(draw_graph(z, legend=False).source)) == 6  # x, c, x*c, +, z, *
    assert format_graph(z).count("(5,) float64  input") == 2  # listed under each use


def test_user_primitives_show_their_settings_by_name() -> None:
    @mg.primitive
    def scale(x, factor, *, shift=0.0):
        return x * factor + shift

    scale.defvjp(lambda g, ans, x, factor, *, shift=0.0: g * factor, None)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert label_of(scale(x, 2.5, shift=1.0)) == "scale(factor=2.5, shift=1.0)"
    assert label_of(scale(x, 2.5)) == "scale(factor=2.5)"


# ---------------------------------------------------------------- broadcast edges


def broadcast_labels(t) -> list[str]:
    return re.findall(r"Σ ax(?:is|es) [^<]*", html.unescape(draw_graph(t).source))


def expected_label(grad_shape, shape) -> str | None:
    """The label for a gradient of grad_shape summed to shape, found by brute force: the axes
    over which summing np.ones(grad_shape) (keepdims) gives shape once leading 1s go."""
    grad_shape, shape = tuple(grad_shape), tuple(shape)
    if grad_shape == shape:
        return None
    lead = len(grad_shape) - len(shape)
    axes = [
        a
        for a in range(len(grad_shape))
        if a < lead or (shape[a - lead] == 1 and grad_shape[a] != 1)
    ]
    summed = np.ones(grad_shape).sum(axis=tuple(axes), keepdims=True)
    assert summed.reshape(shape).shape == shape and np.all(
        summed == np.prod(grad_shape) / np.prod(shape)
    )
    word = "axis" if len(axes) == 1 else "axes"
    return f"Σ {word} {', '.join(map(str, axes))}: {grad_shape} → {shape}"


ELEMENTWISE = {
    "add": mg.add,
    "sub": mg.sub,
    "mul": mg.mul,
    "div": lambda a, b: a / (b * b + 1.0),
    "pow": lambda a, b: mg.pow(a * a + 1.0, b),
    "maximum": mg.maximum,
    "minimum": mg.minimum,
    "where": lambda a, b: mg.where(a > 0, a, b),
}


@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    name=st.sampled_from(sorted(ELEMENTWISE)),
)
def test_broadcast_edges_are_labelled_exactly_where_the_engine_sums(shapes, name) -> None:
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a = mg.tensor(np.ones(sa), requires_grad=True)
    b = mg.tensor(np.ones(sb), requires_grad=True)
    result = ELEMENTWISE[name](a, b)
    expected = {expected_label(out_shape, s) for s in (sa, sb)} - {None}
    assert set(broadcast_labels(result)) == expected


def test_clip_with_tensor_bounds_labels_the_broadcast_bound() -> None:
    x = mg.tensor(np.zeros((2, 3)), requires_grad=True)
    low = mg.tensor(np.zeros((1, 3)), requires_grad=True)
    assert broadcast_labels(mg.clip(x, low, None)) == ["Σ axis 0: (2, 3) → (1, 3)"]


def test_no_broadcast_label_on_shape_ops_reductions_or_constants() -> None:
    x = mg.tensor(np.ones((3,)), requires_grad=True)
    for y in [x[None], x.reshape(1, 3), x.sum(), mg.stack([x, x]), x.max(), x.softmax()]:
        assert broadcast_labels(y) == []
    x2 = mg.tensor(np.ones((4, 3)), requires_grad=True)
    assert broadcast_labels(x2 * np.ones(3)) == []  # the constant is broadcast: no gradient
    assert broadcast_labels(x * np.ones((4, 3))) == ["Σ axis 0: (4, 3) → (3,)"]


def test_broadcast_to_is_labelled() -> None:
    x = mg.tensor(np.ones((3, 1)), requires_grad=True)
    assert broadcast_labels(mg.broadcast_to(x, (2, 3, 4))) == ["Σ axes 0, 2: (2, 3, 4) → (3, 1)"]


def text_notes(t) -> list[str]:
    return re.findall(r"\(grad (Σ .*)\)$", format_graph(t), flags=re.MULTILINE)


def test_built_in_broadcasts_are_labelled_in_the_picture_and_the_text() -> None:
    W = mg.tensor(np.ones((3, 2)), requires_grad=True, name="W")
    X = mg.tensor(np.ones((2, 5)), name="X")
    b = mg.tensor(np.ones((3, 1)), requires_grad=True, name="b")
    y = W @ X + b
    assert broadcast_labels(y) == ["Σ axis 1: (3, 5) → (3, 1)"]
    assert text_notes(y) == ["Σ axis 1: (3, 5) → (3, 1)"]

    a = mg.tensor(np.ones((3, 1)), requires_grad=True, name="a")
    c = mg.tensor(np.ones((1, 4)), requires_grad=True, name="c")
    labels = ["Σ axis 1: (3, 4) → (3, 1)", "Σ axis 0: (3, 4) → (1, 4)"]
    assert sorted(broadcast_labels(a * c)) == sorted(labels)
    assert sorted(text_notes(a * c)) == sorted(labels)


def outer_op() -> mg.Primitive:
    """A user's outer product: its (3,) and (4,) inputs look as if broadcast to the (3, 4)
    output, but its VJPs return (3,) and (4,) themselves, so nothing is summed."""

    @mg.primitive
    def outer(a, b):
        return np.multiply.outer(a, b)

    outer.defvjp(lambda g, ans, a, b: g @ b, lambda g, ans, a, b: a @ g)
    return outer


def test_user_ops_get_no_broadcast_label_whatever_their_shapes() -> None:
    a = mg.tensor(np.ones(3), requires_grad=True, name="a")
    b = mg.tensor(np.ones(4), requires_grad=True, name="b")
    y = outer_op()(a, b).sum()
    assert "Σ" not in format_graph(y)
    assert broadcast_labels(y) == []
    edges = [line for line in draw_graph(y).source.splitlines() if " -> " in line]
    assert len(edges) == 5 and not any(BROADCAST in edge for edge in edges)  # none orange
    y.backward()
    np.testing.assert_array_equal(b.grad, np.full(4, 3.0))

    # even one named like a built-in broadcasting op, or one whose VJP does leave the sum to
    # the engine: only the VJP knows what shape it returns, so no claim is made
    @mg.primitive
    def mul(a, b):
        return np.multiply.outer(a, b)

    mul.defvjp(lambda g, ans, a, b: g @ b, lambda g, ans, a, b: a @ g)
    assert broadcast_labels(mul(a, b)) == []

    @mg.primitive
    def tile4(x):
        return np.broadcast_to(x, (4, *np.shape(x))).copy()

    tile4.defvjp(lambda g, ans, x: g)  # output-shaped: the engine sums it back
    assert broadcast_labels(tile4(a)) == []


def test_the_graphs_guide_names_exactly_the_ops_that_get_broadcast_labels() -> None:
    guide = (Path(__file__).parents[1] / "docs" / "guides" / "graphs.md").read_text("utf-8")
    sentence = re.search(r"Only\s+microgradnp's\s+own\s+ops\s+are\s+marked:(.*?)\.", guide, re.S)
    assert sentence is not None
    named = set(re.findall(r"`(\w+)`", sentence.group(1)))
    labelled = set()
    for name in dir(ops):
        op = getattr(ops, name)
        if not isinstance(op, mg.Primitive) or not op.differentiable:
            continue
        a = mg.tensor(np.ones((2, 1, 3)), requires_grad=True)  # (2, 1, 3) against (4, 1):
        b = mg.tensor(np.ones((4, 1)), requires_grad=True)  # broadcasts to (2, 4, 3)
        c = mg.tensor(np.ones((3, 5)), requires_grad=True)  # a @ c: c's gradient is summed
        for args in [(a, b), (a, b, b), (a, (2, 4, 3)), (a, c)]:
            try:
                if broadcast_labels(op(*args)):
                    labelled.add(op.name)
            except (TypeError, ValueError, IndexError):
                pass
    assert labelled == named


@given(
    batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
    n=st.integers(1, 3),
    k=st.integers(1, 3),
    m=st.integers(1, 3),
    vector=st.sampled_from(["none", "a", "b"]),
)
def test_matmul_batch_broadcast_labels_match_what_its_vjps_return(batch, n, k, m, vector) -> None:
    ba, bb = batch.input_shapes
    sa = (k,) if vector == "a" else (*ba, n, k)
    sb = (k,) if vector == "b" else (*bb, k, m)
    a = mg.tensor(np.ones(sa), requires_grad=True)
    b = mg.tensor(np.ones(sb), requires_grad=True)
    out = a @ b
    g = np.ones(out.shape)
    raw = [np.shape(raw_vjp(ops.matmul, i, g, out.data, a.data, b.data)) for i in (0, 1)]
    expected = {expected_label(raw[i], s) for i, s in enumerate((sa, sb))} - {None}
    assert set(broadcast_labels(out)) == expected


def raw_vjp(op, i, g, ans, *args):
    """What op's VJP returns for argument i, before the engine sums broadcast axes away."""
    if op.vjps is not None:
        return op.vjps[i](g, ans, *args)
    return op.vjp(g, ans, *args)[i]


# ---------------------------------------------------------------- value and gradient summaries


def test_small_tensors_show_values_and_large_ones_min_mean_max() -> None:
    w = mg.tensor([[0.5, -1.25], [3.0, 1e-5]], requires_grad=True, name="w")
    big = np.linspace(-1.0, 2.0, 100).reshape(2, 50)
    y = (w @ np.ones((2, 50)) * big).sum()
    y.backward(retain_graph=True)
    text = format_graph(y, show_data=True)
    w_line = next(line for line in text.splitlines() if "w  (2, 2)" in line)
    assert "data [[0.5, -1.25], [3, 1e-05]]" in w_line
    row0, row1 = big.sum(axis=1)  # d y / d w[i, j] = sum_k big[i, k]
    expected = [[four_sig(row0)] * 2, [four_sig(row1)] * 2]
    assert f"grad [[{', '.join(expected[0])}], [{', '.join(expected[1])}]]" in w_line
    assert f"‖grad‖ {four_sig(np.sqrt(2 * row0**2 + 2 * row1**2))}" in w_line
    assert f"data min -1  mean {four_sig(big.mean())}  max 2" in text
    assert "data" not in format_graph(y)  # show_data=False: shapes only
    assert "grad" not in format_graph(y, show_grad=False)


def test_the_picture_shows_gradients_unless_show_grad_is_false() -> None:
    w = mg.tensor([[0.5, -1.25], [3.0, 2.0]], requires_grad=True, name="w")
    y = (w * 2.0).sum()
    y.backward(retain_graph=True)
    # d y / d w = 2 everywhere: one grad row, [[2, 2], [2, 2]], and its norm, 4
    shown = draw_graph(y).source
    assert shown.count("grad [[2, 2&#93;,<BR/>      [2, 2&#93;&#93;") == 1
    assert shown.count("‖grad‖ 4<") == 1
    hidden = draw_graph(y, show_grad=False).source
    assert "grad [" not in hidden and "‖grad‖" not in hidden
    assert "<B>w</B>" in hidden and "(2, 2) float64" in hidden  # the box itself stays


def test_nan_and_inf_in_values_and_gradients_are_flagged_red(dot) -> None:
    x = mg.tensor([0.0, 4.0, 1.0], requires_grad=True, name="x")
    y = mg.sqrt(x)  # d/dx sqrt at 0 is +inf
    z = (y * np.array([1.0, 1.0, np.nan])).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        z.backward(retain_graph=True)
    text = format_graph(z)
    # dz/dx = c / (2 sqrt(x)) = [1 / 0, 1 / 4, nan / 2]
    x_line = next(line for line in text.splitlines() if "x  (3,)" in line)
    assert "!! grad has 1 NaN, 1 +Inf" in x_line
    assert text.count("!! data has 1 NaN") == 3  # the constant, y * c and z
    svg = parse_svg(draw_graph(z).pipe(format="svg"))
    _, x_node = node_with_text(svg, "x")
    assert RED in strokes(x_node)
    assert "grad has 1 NaN, 1 +Inf" in texts(x_node)
    flagged = [g for g in groups(svg, "node").values() if "data has 1 NaN" in texts(g)]
    assert len(flagged) == 3 and all(RED in strokes(g) for g in flagged)
    (_, sqrt_out), *_ = [
        (t, g) for t, g in groups(svg, "node").items() if texts(g) == ["(3,) float64"]
    ]
    assert RED not in strokes(sqrt_out)


def test_intermediate_gradients_show_after_retain_grad() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    h.name = "h"
    h.retain_grad()
    (h * h).sum().backward(retain_graph=True)
    line = next(line for line in format_graph((h * h).sum()).splitlines() if "h  (2,)" in line)
    assert "grad [6, 12]" in line  # d/dh sum(h^2) = 2h


# ---------------------------------------------------------------- highlight (compare_grads)


class FakeReport:
    """What compare_grads' report offers draw_graph."""

    def failed_names(self):
        return iter(["b1", "not_in_graph"])


@pytest.mark.parametrize("highlight", [["b1", "not_in_graph"], FakeReport()])
def test_highlighted_names_are_drawn_as_mismatches(highlight, dot) -> None:
    loss, _ = tutorial_network()
    source = draw_graph(loss, highlight=highlight).source
    svg = parse_svg(graphviz.Source(source).pipe(format="svg"))
    _, b1 = node_with_text(svg, "b1")
    assert "✗ mismatch" in texts(b1)
    assert MISMATCH_FILL in fills(b1) and RED in strokes(b1)
    _, w1 = node_with_text(svg, "W1")
    assert "✗ mismatch" not in texts(w1) and fills(w1) == {PARAMETER_FILL}
    note = groups(svg, "node")["note_mismatch"]
    assert "not_in_graph" in texts(note)
    assert "mismatch" in texts(legend_of(svg))
    text = format_graph(loss, highlight=highlight)
    assert "!! ✗ mismatch" in next(line for line in text.splitlines() if "b1" in line)
    assert text.splitlines()[-1] == "!! mismatches not listed above: not_in_graph"


def test_op_numbers_and_check_graph_reports_highlight_ops(dot) -> None:
    @mg.primitive
    def wrong_sin(a):
        return np.sin(a)

    wrong_sin.defvjp(lambda g, ans, a: g * np.sin(a))  # should be cos: a wrong VJP
    x = mg.tensor([0.5, -1.0], requires_grad=True, name="x")
    y = (wrong_sin(mg.tanh(x)) * 2.0).sum()  # ops: #1 tanh, #2 wrong_sin, #3 mul, #4 sum

    class GraphReport:  # what check_graph's report offers draw_graph
        def failed_nodes(self):
            return [2]

    reports = [[2], GraphReport()]
    if hasattr(mg, "check_graph"):
        reports.append(mg.check_graph(y))
    for report in reports:
        svg = parse_svg(draw_graph(y, highlight=report).pipe(format="svg"))
        _, bad = node_with_text(svg, "#2 wrong_sin")
        assert "✗ mismatch" in texts(bad) and RED in strokes(bad)
        _, good = node_with_text(svg, "#1 tanh")
        assert "✗ mismatch" not in texts(good) and RED not in strokes(good)
        text = format_graph(y, highlight=report)
        assert "#2 wrong_sin → (2,) float64  !! ✗ mismatch (op)" in text
    assert "#9" in draw_graph(y, highlight=[9]).source  # named in the note: not in this graph


def test_highlighted_names_and_op_numbers_cut_off_by_max_nodes_are_named_at_the_end() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (mg.exp(x) * 2.0).sum()  # #1 exp, #2 mul, #3 sum
    lines = format_graph(y, max_nodes=1, highlight=["x", 1, 2, 3]).splitlines()
    assert lines == [
        "#3 sum → () float64  !! ✗ mismatch (op)",
        "… (stopped at max_nodes=1; pass max_nodes=None for all)",
        "!! mismatches not listed above: x, #1, #2",
    ]
    everything = format_graph(y, highlight=["x", 1, 2, 3])
    assert "not listed" not in everything and everything.count("✗ mismatch") == 4


def test_highlight_rejects_what_is_not_names() -> None:
    loss, _ = tutorial_network()
    with pytest.raises(TypeError, match="failed_names"):
        draw_graph(loss, highlight=[1.5, None])
    assert "✗ mismatch" in format_graph(loss, highlight="W1")  # one name, not its letters


def test_numpy_integers_count_as_op_numbers_and_limits_but_bools_do_not() -> None:
    loss, _ = tutorial_network()
    by_numpy = format_graph(loss, highlight=[np.int64(2)], max_nodes=np.int64(200))
    assert by_numpy == format_graph(loss, highlight=[2], max_nodes=200)
    assert "✗" in by_numpy
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        format_graph(loss, max_nodes=True)
    with pytest.raises(TypeError, match="bool"):
        format_graph(loss, highlight=[True])


# ---------------------------------------------------------------- freed graphs


def test_after_backward_without_retain_graph_the_freed_part_is_explained(dot) -> None:
    loss, _ = tutorial_network()
    loss.backward()  # frees the graph
    picture = draw_graph(loss)
    assert "retain_graph=True" in picture.source
    svg = parse_svg(picture.pipe(format="svg"))
    assert "note_freed" in groups(svg, "node")
    text = format_graph(loss)
    assert "retain_graph=True" in text
    assert text.splitlines()[0] == "#1 bce_with_logits → () float64"  # (settings: see below)


def test_a_partly_freed_graph_draws_what_is_left() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    a = mg.exp(x)
    a.sum().backward()  # frees exp's record
    y = (a * 2.0).sum()
    source = draw_graph(y).source
    assert re.search(r"#\d exp.*dashed", source)
    assert re.search(r"#\d mul\(b=2.0\).*style=filled", source)
    assert source.count("note_freed ->") == 1


def test_a_freed_op_is_labelled_without_any_of_its_settings() -> None:
    # Freeing drops the positional settings (axis=1 here) with the arguments; the keyword
    # ones alone, `sum(keepdims=True)`, would read as the whole call.
    b = mg.tensor(np.ones((2, 3)), requires_grad=True, name="b")
    s = b.sum(1, keepdims=True)
    assert format_graph(s).splitlines()[0] == "#1 sum(axis=1, keepdims=True) → (2, 1) float64"
    s.backward(np.ones((2, 1)))
    assert format_graph(s).splitlines()[0] == "#1 sum → (2, 1) float64"
    assert "#1 sum<" in draw_graph(s).source and "keepdims" not in draw_graph(s).source


def freed_sequential():
    """A Sequential's output after backward() without retain_graph: only its last op is left."""
    model = mg.nn.Sequential(mg.nn.Linear(2, 3, rng=0), mg.nn.Tanh())
    out = model(np.ones((2, 2)))
    out.backward(np.ones((2, 3)))
    return out


def test_a_collapsed_module_call_that_backward_freed_says_so() -> None:
    out = freed_sequential()
    lines = format_graph(out, collapse=True).splitlines()
    assert lines[0] == "Sequential (1 op) → (2, 3) float64"
    assert lines[1].startswith("└─ backward() freed the graph below here")
    assert "retain_graph=True" in lines[1] and len(lines) == 2
    source = draw_graph(out, collapse=True).source
    assert "note_freed -> m1 [arrowhead=none style=dashed]" in source
    assert re.search(r"^\s*m1 \[.*style=\"dashed,filled\"", source, flags=re.M)


def test_a_partly_freed_module_call_collapsed_says_why_inputs_are_missing() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    with recording_scope("Block", "b"):
        h = mg.exp(x)
        y = h * 2.0
    h.sum().backward()  # frees exp's record: the call's input x can no longer be found
    z = y.sum()
    lines = format_graph(z, collapse=True).splitlines()
    assert lines[1] == "└─ Block 'b' (2 ops) → (2,) float64"
    assert lines[2].startswith("   └─ backward() freed the graph below here")
    assert len(lines) == 3  # (x is not listed: nothing left leads to it)
    source = draw_graph(z, collapse=True).source
    assert source.count("note_freed ->") == 1 and "note_freed -> m1 " in source
    # the same graph uncollapsed: the note is at the freed op, which the module holds
    assert re.search(r"note_freed -> op\d ", draw_graph(z).source)


# ---------------------------------------------------------------- modules: clusters, collapse


def test_nested_module_calls_nest_clusters_and_collapse_to_one_node_each() -> None:
    x = mg.tensor(np.ones((2, 5)))
    W1, W2 = (mg.tensor(np.ones(s), requires_grad=True) for s in [(3, 2), (1, 3)])
    with recording_scope("Net", ""):
        h = layer(W1, mg.tensor(np.zeros((3, 1))), x, "Dense(2→3)", "fc1", mg.tanh)
        out = layer(W2, mg.tensor(np.zeros((1, 1))), h, "Dense(3→1)", "fc2")
    loss = (out * out).mean()
    source = draw_graph(loss).source
    net = source.index("subgraph cluster_1 {")
    assert source.index("<B>Dense(2→3)</B> &#x27;fc1&#x27;") > net
    assert source.index("<B>Dense(3→1)</B> &#x27;fc2&#x27;") > net
    assert source.count("subgraph cluster_") == 3

    collapsed = draw_graph(loss, collapse=True, legend=False).source
    # x, W1, the two biases, W2; Net; its output; mul, mul's output; mean; loss
    assert len(dot_nodes(collapsed)) == 11
    assert "Net (5 ops)" in collapsed and "subgraph" not in collapsed
    text = format_graph(loss, collapse=True)
    assert text.count("Net (5 ops) →") == 2  # out is used twice: expanded once
    assert "(shown above)" in text


def test_collapse_keeps_a_module_output_that_is_used_inside_and_outside() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    with recording_scope("Block", "b"):
        h = mg.exp(x)
        h.name = "h"
        y = h * 2.0
    z = (y + h).sum()  # h leaves the module too
    source = draw_graph(z, collapse=True).source
    assert ">h<" in source and "Block &#x27;b&#x27; (2 ops)" in source
    assert "Block 'b' (2 ops) → " in format_graph(z, collapse=True)


def test_a_collapsed_call_with_two_outputs_lists_the_second_as_a_tensor_of_its_own() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    with recording_scope("Two", ""):
        p = mg.exp(x)
        q = mg.tanh(x) * 2.0
    q.name = "q"
    z = (p + q).sum()
    lines = format_graph(z, collapse=True).splitlines()
    assert lines[2:] == [
        "   ├─ Two (3 ops) → (2,) float64",
        "   │  └─ x  (2,) float64  parameter",
        "   └─ Two (3 ops) → q  (2,) float64  (another output of the call listed above)",
    ]
    w = (p * p).sum()  # the same output twice: listed once, then "shown above"
    assert format_graph(w, collapse=True).splitlines()[-1] == (
        "   └─ Two (1 op) → (2,) (shown above)"  # (w's graph holds only the exp)
    )


def test_real_nn_modules_are_drawn_as_clusters() -> None:
    model = mg.nn.Sequential(mg.nn.Linear(2, 3, rng=0), mg.nn.Sigmoid(), mg.nn.Linear(3, 1, rng=0))
    loss = model(mg.tensor(np.ones((5, 2)))).sum()
    source = draw_graph(loss).source
    # one cluster per module call, labelled with the module and its name in the Sequential,
    # the three layers nested in the Sequential's cluster (one tab deeper)
    labels = re.findall(r"^(\t+)graph \[.*label=<<B>(.*?)</B>(.*?)> ", source, flags=re.M)
    assert [(len(tabs), name, html.unescape(key)) for tabs, name, key in labels] == [
        (2, "Sequential", ""),
        (3, "Linear(2→3)", " '0'"),
        (3, "Sigmoid", " '1'"),
        (3, "Linear(3→1)", " '2'"),
    ]
    assert source.count("subgraph cluster_") == 4
    collapsed = draw_graph(loss, collapse=True).source
    assert "subgraph" not in collapsed and "Sequential (7 ops)" in collapsed


# ---------------------------------------------------------------- big and deep graphs


@pytest.fixture(scope="module")
def deep_chain():
    x = mg.tensor(1.0, requires_grad=True, name="x")
    y = x
    for _ in range(200_000):
        y = y * 1.0000001
    return y


def test_a_deep_graph_is_refused_quickly_with_advice(deep_chain) -> None:
    assert sys.getrecursionlimit() < 200_000
    with pytest.raises(ValueError, match="collapse=True") as err:
        draw_graph(deep_chain)
    assert "max_nodes=1000" in str(err.value)
    with pytest.raises(ValueError, match="max_nodes=50"):
        draw_graph(deep_chain, max_nodes=50, collapse=True)


def test_max_nodes_counts_the_copies_of_a_shared_tensors_box() -> None:
    x = mg.tensor(np.ones(2), requires_grad=True, name="x")
    total = sum(((x * float(k)).sum() for k in range(20)), start=mg.tensor(0.0))
    picture = draw_graph(total, max_nodes=None)
    drawn = len(re.findall(r"^\s*\w+ \[label=", picture.source, flags=re.M))
    assert drawn > 0 and "(shared: full box once)" in picture.source
    draw_graph(total, max_nodes=drawn)  # exactly as many as drawn: accepted
    with pytest.raises(ValueError, match=f"{drawn} nodes"):
        draw_graph(total, max_nodes=drawn - 1)


def test_a_deep_graph_prints_as_text_without_recursion(deep_chain) -> None:
    text = format_graph(deep_chain)
    lines = text.splitlines()
    assert lines[0].startswith("#200000 mul(b=1.0000001) → () float64")
    assert len(lines) == 1001 and "max_nodes=None" in lines[-1]
    assert max(len(line) for line in lines) < 150  # indentation is capped
    assert tree_line(lines[999]) == (999, "#199001 mul(b=1.0000001) → () float64")


def test_the_whole_of_a_deep_graph_prints_with_max_nodes_none() -> None:
    x = mg.tensor(2.0, requires_grad=True, name="x")
    y = x
    for _ in range(20_000):
        y = y + 1.0
    lines = format_graph(y, max_nodes=None).splitlines()
    assert len(lines) == 20_001
    assert tree_line(lines[-1]) == (20_000, "x  () float64  parameter")
    assert [int(line.split("#")[1].split()[0]) for line in lines[:-1]] == list(range(20_000, 0, -1))


def tree_line(line: str) -> tuple[int, str]:
    """(depth, text) of a line of the text tree: its depth read from the `⋯[depth N] `
    marker, or else from the indentation (3 characters a level)."""
    found = re.fullmatch(r"(?:⋯\[depth (\d+)\] )?([ │├└─]*)(.*)", line)
    assert found is not None
    marked, prefix, text = found.groups()
    return (int(marked) if marked else len(prefix) // 3), text


def test_lines_deeper_than_the_indentation_cap_say_their_depth() -> None:
    t = mg.tensor(0.5, requires_grad=True, name="b")
    for k in range(40):  # each c_k is added one add (and one tanh) further up
        t = mg.tanh(t) + mg.tensor(float(k), requires_grad=True, name=f"c{k}")
    text = format_graph(t)
    lines = [tree_line(line) for line in text.splitlines()]
    assert len(lines) == 1 + 80 + 40
    # the root is op #80; op #n is 80 - n levels down; c_k is an input of add #(2k + 2)
    ops = {int(text[1:].split()[0]): d for d, text in lines if text.startswith("#")}
    assert ops == {n: 80 - n for n in range(1, 81)}
    leaves = {text.split()[0]: d for d, text in lines if not text.startswith("#")}
    assert leaves == {"b": 80, **{f"c{k}": 80 - (2 * k + 2) + 1 for k in range(40)}}
    marked = [line.startswith("⋯[depth ") for line in text.splitlines()]
    assert marked == [d > 24 for d, _ in lines]  # exactly the lines beyond the cap


def test_max_nodes_counts_drawn_nodes_and_collapse_brings_a_big_module_under_it() -> None:
    x = mg.tensor(np.ones(3), requires_grad=True)
    with recording_scope("Big", ""):
        y = x
        for _ in range(100):
            y = mg.tanh(y)
    loss = y.sum()
    with pytest.raises(ValueError, match="collapse=True"):
        draw_graph(loss, max_nodes=50)
    assert "Big (100 ops)" in draw_graph(loss, max_nodes=50, collapse=True).source
    assert len(dot_nodes(draw_graph(loss, max_nodes=None, legend=False).source)) == 203


def test_a_tensor_used_by_many_ops_is_drawn_once_plus_small_copies(dot) -> None:
    w = mg.tensor(np.ones(3), requires_grad=True, name="w")
    h = mg.tensor(np.ones(3), requires_grad=True, name="h0")
    for _ in range(100):  # an unrolled recurrence: the same w at every step
        h = mg.tanh(h * w)
    loss = h.sum()
    source = draw_graph(loss).source
    w_nodes = [line for line in source.splitlines() if "<B>w</B>" in line]
    assert len(w_nodes) == 100  # the full box, and a copy at each later use
    assert sum("(3,) float64" in line for line in w_nodes) == 1
    assert sum("shared" in line for line in w_nodes) == 99
    # (The copies are there because 100 edges from one box across 200 ranks take dot minutes
    # to lay out; how fast it is belongs in benchmarks/. The timeout is only a guard against a
    # hang, generous enough for a slow machine: here the layout takes a tenth of a second.)
    done = subprocess.run([dot, "-Tsvg"], input=source.encode(), capture_output=True, timeout=600)
    svg = parse_svg(done.stdout)
    assert len(groups(svg, "node")) == (2 + 200 + 1) + 201 + 99  # tensors, ops, copies


# ---------------------------------------------------------------- text view, API, errors


def test_the_text_tree_of_the_tutorial_network(capsys) -> None:
    loss, _ = tutorial_network(scoped=False)
    text = format_graph(loss)
    lines = text.splitlines()
    assert lines[0] == "#6 bce_with_logits(reduction='mean') → () float64"
    assert lines[1] == "├─ #5 add → (1, 400) float64"
    b1 = next(line for line in lines if " b1 " in line)
    assert b1.endswith("(grad Σ axis 1: (3, 400) → (3, 1))")
    assert "parameter" in b1 and "grad [[" in b1
    assert sum("X  (2, 400) float64  input" in line for line in lines) == 1
    for k in range(1, 7):
        assert sum(f"#{k} " in line for line in lines) == 1
    print_graph(loss)
    assert capsys.readouterr().out == text + "\n"


def test_a_shared_result_is_expanded_once() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    a = x * x
    y = (a + a).sum()
    lines = format_graph(y).splitlines()
    assert sum("#1 mul → " in line for line in lines) == 2
    assert sum("(shown above)" in line for line in lines) == 1
    assert sum(" x  " in line for line in lines) == 2  # both inputs of x * x


def test_a_leaf_root_is_one_node() -> None:
    w = mg.tensor([1.0], requires_grad=True, name="w")
    assert format_graph(w) == "w  (1,) float64"
    assert len(dot_nodes(draw_graph(w, legend=False).source)) == 1


def test_bad_arguments_get_clear_errors(tmp_path) -> None:
    loss, _ = tutorial_network()
    with pytest.raises(TypeError, match="draw_graph: expected the Tensor"):
        draw_graph(np.ones(3))
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(loss, rankdir="up")
    with pytest.raises(ValueError, match="max_nodes"):
        format_graph(loss, max_nodes=0)
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf, \.dot or \.gv"):
        render_graph(loss, tmp_path / "graph.jpg")
    for option in ("show_data", "show_grad", "collapse", "legend"):  # ("no" would be on)
        with pytest.raises(TypeError, match=f"draw_graph: {option} must be True or False"):
            draw_graph(loss, **{option: "no"})
    with pytest.raises(TypeError, match="format_graph: collapse must be True or False"):
        format_graph(loss, collapse="False")
    assert format_graph(loss, show_data=np.bool_(True)) == format_graph(loss, show_data=True)


def test_render_graph_with_swapped_or_wrong_arguments_says_how_to_call_it(tmp_path) -> None:
    loss, _ = tutorial_network()
    example = "render_graph(loss, 'graph.svg')"
    for root, path in [(str(tmp_path / "g.svg"), loss), (tmp_path / "g.svg", loss)]:
        with pytest.raises(TypeError) as err:
            render_graph(root, path)
        message = str(err.value)
        assert message.startswith("render_graph: the arguments are (root, path)")
        assert example in message and f"got ({type(root).__name__}, Tensor)" in message
    with pytest.raises(TypeError) as err:
        render_graph(loss, 3)
    assert str(err.value).startswith("render_graph: path must be a file path")
    assert str(err.value).endswith(f"{example}; got int")
    with pytest.raises(TypeError, match="render_graph: expected the Tensor"):
        render_graph(np.ones(2), tmp_path / "g.dot")
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_tensor_with_no_graph_says_why() -> None:
    c = mg.tensor([1.0, 2.0]) * 3  # nothing requires grad: no op recorded
    lines = format_graph(c).splitlines()
    assert lines[0] == "(2,) float64"
    assert lines[1].startswith("No graph was recorded for this tensor")
    assert "requires_grad=True" in lines[1] and "mg.no_grad()" in lines[1]
    source = draw_graph(c).source
    assert "note_no_graph -> t1" in source and "No graph was recorded" in source
    w = mg.tensor([1.0], requires_grad=True, name="w")
    with mg.no_grad():
        assert "No graph was recorded" in format_graph(w * 2)
    # a parameter is its own graph: nothing is missing
    assert "No graph" not in format_graph(w) and "note_no_graph" not in draw_graph(w).source


def test_the_readme_picture_in_docs_is_current() -> None:
    path = Path(__file__).parents[1] / "docs" / "make_pictures.py"
    spec = importlib.util.spec_from_file_location("make_pictures", path)
    make_pictures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_pictures)
    assert make_pictures.stale() == [], "run: python docs/make_pictures.py"
    svg = parse_svg((path.parent / "tutorial_graph.svg").read_bytes())
    for name in ["W1", "b1", "W2", "b2", "X", "Y", "Z1", "A1", "Z2", "loss"]:
        node_with_text(svg, name)


def test_rankdir_is_passed_to_dot() -> None:
    loss, _ = tutorial_network()
    assert "rankdir=TB" in draw_graph(loss, rankdir="TB").source


@pytest.mark.parametrize(
    ("dtype", "grad"),
    [
        (np.float32, [1e20, 2e20]),  # squares overflow float32
        (np.float32, [1e-25, 2e-25]),  # squares underflow float32
        (np.float16, [600.0, 800.0]),  # squares overflow float16
        (np.float64, [1e200, 2e200]),  # squares overflow even float64
        (np.float64, [1e-200, 2e-200]),
    ],
)
def test_gradient_norms_neither_overflow_nor_underflow_and_warn_of_nothing(dtype, grad) -> None:
    a = mg.tensor(np.ones(2, dtype), requires_grad=True, name="a")
    (a * np.array(grad, dtype)).sum().backward()
    np.testing.assert_array_equal(a.grad, np.array(grad, dtype))
    expected = four_sig(math.hypot(*np.array(grad, dtype).astype(np.float64)))
    assert 0 < float(expected) < np.inf
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        assert f"‖grad‖ {expected}" in format_graph(a * 1.0)
        assert f"‖grad‖ {expected}<" in draw_graph(a * 1.0).source


def test_the_mean_of_huge_values_does_not_overflow() -> None:
    x = mg.tensor(np.full(10, 1e308), name="x")
    w = mg.tensor(np.full(10, 0.5), requires_grad=True, name="w")
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        text = format_graph(w * x, show_data=True)
    assert "data min 1e+308  mean 1e+308  max 1e+308" in text  # x
    assert "data min 5e+307  mean 5e+307  max 5e+307" in text  # w * x


def test_values_changed_since_the_graph_ran_show_the_recorded_ones_and_say_so(dot) -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    y = (w * np.array([3.0, 4.0])).sum()
    y.backward(retain_graph=True)
    before = format_graph(y, show_data=True)
    mg.optim.SGD([w], lr=0.5).step()  # w becomes [1, 2] - 0.5 * [3, 4]
    np.testing.assert_array_equal(w.data, [-0.5, 0.0])
    text = format_graph(y, show_data=True)
    w_line = next(line for line in text.splitlines() if " w  " in line)
    assert w_line.endswith(
        "w  (2,) float64  parameter  data [1, 2]  (changed since the graph ran: now [-0.5, 0])"
        "  grad [3, 4]  ‖grad‖ 5"
    )
    assert text.replace("  (changed since the graph ran: now [-0.5, 0])", "") == before
    assert format_graph(y) == format_graph(y, show_data=False)  # no values: nothing to say
    assert "changed since" not in format_graph(y)
    svg = parse_svg(draw_graph(y, show_data=True).pipe(format="svg"))
    _, w_node = node_with_text(svg, "w")
    assert texts(w_node)[2:5] == ["data [1, 2]", "changed since the graph ran:", "now [-0.5, 0]"]

    # an intermediate given new values under no_grad (its array is replaced: see tensors.py)
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="x")
    h = x * 3.0
    h.name = "h"
    z = h.sum()
    with mg.no_grad():
        h += 1.0
    h_line = next(line for line in format_graph(z, show_data=True).splitlines() if " h  " in line)
    assert "data [3, 6]  (changed since the graph ran: now [4, 7])" in h_line

    # a step that leaves the values as they were changes nothing
    v = mg.tensor([1.0, 2.0], requires_grad=True, name="v")
    u = (v * np.array([3.0, 4.0])).sum()
    u.backward(retain_graph=True)
    mg.optim.SGD([v], lr=0.0).step()
    assert "changed since" not in format_graph(u, show_data=True)


def test_every_gradient_is_shown_with_its_norm_also_a_one_element_one() -> None:
    b = mg.tensor([[0.5]], requires_grad=True, name="b")
    (b * -3.0).sum().backward()
    assert "‖grad‖ 3" in format_graph(b * 1.0)  # |-3|: the norm of a one-element gradient
    assert "‖grad‖ 3" in draw_graph(b * 1.0).source


def test_a_name_with_any_kind_of_line_break_stays_on_its_line_of_the_text_tree() -> None:
    w = mg.tensor([1.0], requires_grad=True, name="a\x85b\u2028c\nd")
    text = format_graph(w.sum())
    assert len(text.splitlines()) == 2 and "a\\x85b\\u2028c\\nd" in text


def test_an_array_changed_after_the_graph_ran_shows_the_values_the_op_used() -> None:
    w = mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    X = np.array([3.0, 4.0])
    y = (w * X).sum()
    X[:] = 7.0  # (the graph kept a copy)
    line = next(s for s in format_graph(y, show_data=True).splitlines() if " input " in s)
    assert "data [3, 4]  (changed since the graph ran: now [7, 7])" in line
