"""Pictures of a recorded graph: `draw_graph`, `render_graph`, and the text view `format_graph`.

What a picture shows:
- tensors (boxes), coloured by kind: parameters (leaves that require grad), inputs and
  constants (arrays, tensors that do not require grad), intermediates, the root. Each shows
  its name, shape and dtype; with `show_data` its values (a handful) or min/mean/max; after
  backward its gradient the same way and the gradient's norm (summaries are computed in
  float64, rescaled: a float16/32 gradient's norm neither overflows nor underflows). A
  tensor changed since the graph ran (an optimizer step) shows the values the graph
  recorded, and says so. NaN/Inf are flagged in red.
- ops (ellipses), numbered in the order they ran (`#1` first: the numbering `check_graph`
  uses), with their settings: `sum(axis=1)`, `mul(b=2.0)`, `getitem[:, 0]`.
- edges from inputs to ops; an edge whose gradient is summed back over broadcast axes says
  so: `Σ axis 1: (3, 400) → (3, 1)` (built-in ops only: see `_BROADCASTING`).
- ops recorded inside an nn.Module call, grouped in a cluster per call (`collapse=True`:
  one node per outermost call).
- a legend under the picture; notes where backward() freed the graph, where a highlighted
  name is missing, or why a tensor has no graph at all. A tensor used by many ops gets
  small copies near its later uses (one box with a hundred long edges is unreadable, and
  slow for dot to lay out).

`format_graph` prints the same graph as an indented tree (lines deeper than
`_INDENT_LEVELS` levels start with their depth). Walks are iterative (graphs can be a
million ops deep) and every user-supplied string is escaped before it reaches DOT.
"""

from __future__ import annotations

import functools
import html
import inspect
import math
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import graphviz  # type: ignore[import-untyped]
import numpy as np

from . import ops
from .engine import recorded_order
from .recording import Node, Scope, check_flags, is_integer, is_tensor, values_of

if TYPE_CHECKING:
    from .tensors import Tensor

__all__ = ["GraphvizNotFoundError", "draw_graph", "format_graph", "print_graph", "render_graph"]

MAX_NODES = 1000  # default limit: beyond this a picture is unreadable and slow to lay out
_SHOWN = 6  # arrays with at most this many elements show their values, larger ones a summary
_SHARED = 3  # a tensor used by more ops is drawn in full once, with small copies at other uses
_INDENT_LEVELS = 24  # format_graph indents at most this deep (deeper lines say their depth)

_INSTALL_HINT = (
    "Graphviz's `dot` program is needed to render pictures (.svg, .png, .pdf) and was not "
    "found on PATH. Install Graphviz:\n"
    "    Debian/Ubuntu:  sudo apt-get install graphviz\n"
    "    macOS:          brew install graphviz\n"
    "    conda:          conda install -c conda-forge graphviz\n"
    "    others:         https://graphviz.org/download/\n"
    "Without it, render_graph(root, 'graph.dot') still writes the DOT source, and "
    "format_graph(root) / print_graph(root) show the graph as text."
)


class GraphvizNotFoundError(RuntimeError):
    """Rendering needs Graphviz's `dot` program, which is not installed (the message says how)."""


# ---------------------------------------------------------------- public API


def draw_graph(
    root: Tensor,
    *,
    show_data: bool = False,
    show_grad: bool = True,
    rankdir: str = "LR",
    collapse: bool = False,
    max_nodes: int | None = MAX_NODES,
    highlight: Any = None,
    legend: bool = True,
) -> graphviz.Digraph:
    """The graph that computed `root`, as a `graphviz.Digraph` (shown inline in Jupyter).

    `show_data`: show tensor values (a handful) or min/mean/max; for a tensor changed since
    the graph ran (an optimizer step), the values the graph recorded, then its current ones.
    `show_grad`: show `.grad` where there is one (leaves after backward; intermediates after
    `retain_grad()`), and its norm.
    `rankdir`: "LR", "TB", "RL" or "BT". `collapse`: draw each outermost nn.Module call as
    one node. `max_nodes`: refuse (ValueError) to draw more nodes than this (None: no limit).
    `highlight`: tensor names and op numbers, or a report (compare_grads' `failed_names()`,
    check_graph's `failed_nodes()`); those are drawn red, marked "mismatch". `legend`: add
    the small colour key. Drawing needs no `dot`; showing or rendering does (`render_graph`).
    """
    _check_root(root, "draw_graph")
    check_flags(
        "draw_graph", show_data=show_data, show_grad=show_grad, collapse=collapse, legend=legend
    )
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    _check_max_nodes(max_nodes, "draw_graph")
    if max_nodes is not None:
        _refuse_if_too_big(root, max_nodes, collapse)
    graph = _Graph(root, collapse=collapse)
    if max_nodes is not None and graph.node_count() > max_nodes:
        raise _too_big_error(f"{graph.node_count()} nodes", max_nodes, collapse)
    style = _Style(show_data, show_grad, *_highlighted(highlight))
    return _picture(graph, style, rankdir=rankdir, legend=legend)


def render_graph(root: Tensor, path: str | Path, **draw_kwargs: Any) -> Path:
    """Draw the graph of `root` (see `draw_graph` for the options) and write it to `path`:
    `render_graph(loss, "graph.svg")`.

    The format comes from the suffix: .svg, .png, .pdf (these need Graphviz's `dot`; without
    it GraphvizNotFoundError says how to install it, and a `dot` that fails raises
    RuntimeError with its exit status and last message) or .dot / .gv (DOT source, always
    works). Missing parent directories are created. Returns the path written.
    """
    if is_tensor(path) and not is_tensor(root):
        raise TypeError(
            "render_graph: the arguments are (root, path), the tensor first, as in "
            f"render_graph(loss, 'graph.svg'); got ({type(root).__name__}, "
            f"{type(path).__name__})"
        )
    _check_root(root, "render_graph")
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            "render_graph: path must be a file path (str or pathlib.Path) ending in .svg, "
            f".png, .pdf, .dot or .gv, as in render_graph(loss, 'graph.svg'); got "
            f"{type(path).__name__}"
        )
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png", ".pdf", ".dot", ".gv"):
        raise ValueError(
            f"render_graph: cannot tell the format from {str(path)!r}; use a path ending in "
            ".svg, .png, .pdf, .dot or .gv"
        )
    picture = draw_graph(root, **draw_kwargs)
    if suffix in (".dot", ".gv"):
        data = picture.source.encode("utf-8")
    else:
        missing = GraphvizNotFoundError(
            f"render_graph: cannot write {str(path)!r}. {_INSTALL_HINT}"
        )
        if shutil.which("dot") is None:
            raise missing
        try:
            # graphviz.pipe hands dot the whole source at once (subprocess.run), so a dot that
            # exits before reading it all fails with its status; Digraph.pipe writes it line
            # by line and raises BrokenPipeError instead.
            data = graphviz.pipe(
                picture.engine, suffix[1:], picture.source.encode("utf-8"), quiet=True
            )
        except graphviz.ExecutableNotFound as err:
            raise missing from err
        except subprocess.CalledProcessError as err:  # (dot is there, but broken)
            said = (err.stderr or b"").decode(errors="replace").strip().splitlines()
            raise RuntimeError(
                f"render_graph: Graphviz's dot failed to write {str(path)!r} (exit status "
                f"{err.returncode}{': ' + said[-1] if said else ''}); check the Graphviz "
                "installation (dot -V), or write the DOT source: render_graph(root, 'graph.dot')"
            ) from err
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def format_graph(
    root: Tensor,
    *,
    show_data: bool = False,
    show_grad: bool = True,
    collapse: bool = False,
    max_nodes: int | None = MAX_NODES,
    highlight: Any = None,
) -> str:
    """The graph of `root` as an indented text tree (root first), with `draw_graph`'s summaries.

    Each line is a tensor; a computed one starts with the op that made it (`#5 sigmoid →`)
    and its inputs follow, indented. A result used twice is expanded once ("shown above").
    The options are draw_graph's; colours become words (`parameter`, `input`, `!!` for
    NaN/Inf and mismatches). At most `max_nodes` lines are printed (None: all); a last line
    says when some were left out. Lines deeper than 24 levels start with their depth
    (`⋯[depth 31] `), followed by their last 24 levels of indentation.
    """
    _check_root(root, "format_graph")
    check_flags("format_graph", show_data=show_data, show_grad=show_grad, collapse=collapse)
    _check_max_nodes(max_nodes, "format_graph")
    graph = _Graph(root, collapse=collapse)
    style = _Style(show_data, show_grad, *_highlighted(highlight))
    return _text_tree(graph, style, max_lines=max_nodes)


def print_graph(root: Tensor, **format_kwargs: Any) -> None:
    """Print `format_graph(root, **format_kwargs)`."""
    print(format_graph(root, **format_kwargs))


def _check_root(root: Any, caller: str) -> None:
    if not is_tensor(root):
        raise TypeError(
            f"{caller}: expected the Tensor whose graph to draw (such as a loss), got "
            f"{type(root).__name__}"
        )


def _check_max_nodes(max_nodes: Any, caller: str) -> None:
    if max_nodes is not None and (not is_integer(max_nodes) or max_nodes < 1):
        raise ValueError(f"{caller}: max_nodes must be a positive int or None, got {max_nodes!r}")


# ---------------------------------------------------------------- the graph, as drawn


@dataclass(eq=False)
class _Value:
    """A box in the picture: a Tensor, or an array an op was given as a constant input."""

    node_id: str
    obj: Any  # the Tensor or np.ndarray
    kind: str  # "parameter", "input", "intermediate" or "root"
    # The values the graph recorded, when the tensor has different ones now (an optimizer
    # step, or any update that replaced its array after the ops ran); see _recorded.
    recorded: np.ndarray | None = None

    @property
    def name(self) -> str | None:
        name = self.obj.name if is_tensor(self.obj) else None
        return None if name is None else str(name)

    @property
    def array(self) -> np.ndarray:
        """The values as the graph saw them (what its ops computed with)."""
        return self.now if self.recorded is None else self.recorded

    @property
    def now(self) -> np.ndarray:
        """The values as they are now."""
        return values_of(self.obj)

    @property
    def grad(self) -> np.ndarray | None:
        return self.obj.grad if is_tensor(self.obj) else None


@dataclass(eq=False)
class _Op:
    """One recorded op: op #number, its graph inputs (with argument positions), its output."""

    number: int
    node: Node
    inputs: list[tuple[int, _Value]]
    output: _Value

    @property
    def freed(self) -> bool:
        return self.node.args is None


@dataclass(eq=False)
class _Module:
    """An outermost nn.Module call drawn as one node (collapse=True)."""

    node_id: str
    scope: Scope
    ops: list[_Op] = field(default_factory=list)
    inputs: list[_Value] = field(default_factory=list)
    outputs: list[_Value] = field(default_factory=list)

    @property
    def freed(self) -> bool:
        """Whether backward() freed some of its ops (so some of its inputs are not drawn)."""
        return any(op.freed for op in self.ops)


Step = _Op | _Module  # what a value is made by


def _inputs(step: Step) -> list[_Value]:
    return [v for _, v in step.inputs] if isinstance(step, _Op) else step.inputs


def _outputs(step: Step) -> list[_Value]:
    return [step.output] if isinstance(step, _Op) else step.outputs


def _ops_of(step: Step) -> list[_Op]:
    return [step] if isinstance(step, _Op) else step.ops


class _Graph:
    """Root's graph as drawn: values (boxes) and steps (ops, or collapsed module calls).

    Built as it is looked at, so that the text view of a huge graph makes only the ops it
    prints. Op #k is the k-th entry of `order` (the order the ops ran in).
    """

    def __init__(self, root: Tensor, *, collapse: bool) -> None:
        order = recorded_order(root) if root._node is not None else []  # op #1 ran first
        self.order = order
        self.number = {id(t): k for k, t in enumerate(order, 1)}
        self.root_tensor = root
        self._values: dict[int, _Value] = {}  # by id() of the tensor or array (never drawn)
        self._ops: dict[int, _Op] = {}  # by id() of the op's output tensor
        self.module_of: dict[_Value, _Module] = {}  # collapse=True: the call making a value
        self.hidden: set[_Value] = set()  # values inside collapsed module calls
        if collapse:
            self._collapse()
        self.root = self.value(root)

    def value(self, obj: Any) -> _Value:
        value = self._values.get(id(obj))
        if value is None:
            value = _Value(f"t{len(self._values) + 1}", obj, _kind(obj, self.root_tensor))
            if is_tensor(obj) and obj._node is not None:  # (freed: ans is None, nothing kept)
                value.recorded = _recorded(obj._node.ans, obj._data)
            self._values[id(obj)] = value
        return value

    def op(self, t: Tensor) -> _Op:
        """The op that computed the recorded tensor t."""
        op = self._ops.get(id(t))
        if op is None:
            node: Node = t._node  # type: ignore[assignment]
            # (read once, vals first: a backward() in another thread may free the node, args
            # first, meanwhile; see engine._walk)
            vals, args = node.vals, node.args
            if args is None:  # freed by backward(): no inputs left to draw
                vals, args = None, ()
            inputs = [(i, self.value(a)) for i, a in enumerate(args) if _is_graph_input(node, i, a)]
            if vals is not None:
                for i, v in inputs:  # leaves and the caller's arrays: the values this op
                    if v.recorded is not None:  # used (computed tensors': above)
                        continue
                    if is_tensor(v.obj) and v.obj._node is None:
                        v.recorded = _recorded(vals[i], v.obj._data)
                    elif isinstance(v.obj, np.ndarray):
                        v.recorded = _recorded(vals[i], v.obj)
            op = self._ops[id(t)] = _Op(self.number[id(t)], node, inputs, self.value(t))
        return op

    def made_by(self, value: _Value) -> Step | None:
        module = self.module_of.get(value)
        if module is not None:
            return module
        if is_tensor(value.obj) and id(value.obj) in self.number:
            return self.op(value.obj)
        return None

    @functools.cached_property
    def steps(self) -> list[Step]:
        """Every op (or collapsed module call) in the order they ran (a call at its first op)."""
        steps: list[Step] = []
        for t in self.order:
            op = self.op(t)
            module = self.module_of.get(op.output)
            if module is None:
                steps.append(op)
            elif module.ops[0] is op:
                steps.append(module)
        return steps

    def drawn_values(self) -> list[_Value]:
        """The boxes: the steps' inputs and outputs, and the root, in the order met."""
        values: dict[_Value, None] = {}  # an ordered set
        for step in self.steps:
            values.update(dict.fromkeys(_inputs(step) + _outputs(step)))
        values[self.root] = None
        return list(values)

    def node_count(self) -> int:
        """Boxes and ops drawn, with the small copies of a shared tensor's box (see _copy)."""
        uses = Counter(v for step in self.steps for v in _inputs(step))
        copies = sum(n - 1 for n in uses.values() if n > _SHARED)
        return len(self.drawn_values()) + len(self.steps) + copies

    def step_inputs(self, step: Step) -> list[tuple[_Value, str | None]]:
        """(input, label of the gradient's broadcast sum or None) for each input edge."""
        if isinstance(step, _Op):
            return [(v, _broadcast_note(step, i)) for i, v in step.inputs]
        notes: dict[_Value, list[str]] = {v: [] for v in step.inputs}
        for op in step.ops:
            for i, v in op.inputs:
                note = _broadcast_note(op, i)
                if v in notes and note is not None and note not in notes[v]:
                    notes[v].append(note)
        return [(v, "\n".join(n) or None) for v, n in notes.items()]

    def _collapse(self) -> None:
        """Group the ops of each outermost module call into one _Module."""
        modules: dict[int, _Module] = {}  # by id() of the outermost Scope
        for t in self.order:
            op = self.op(t)
            outer = _outermost(op.node.scope)
            if outer is not None:
                module = modules.get(id(outer))
                if module is None:
                    module = modules[id(outer)] = _Module(f"m{len(modules) + 1}", outer)
                module.ops.append(op)
                self.module_of[op.output] = module
        used_outside = {self.value(self.root_tensor)}
        for t in self.order:
            op = self.op(t)
            user = self.module_of.get(op.output)
            for _, v in op.inputs:
                if self.module_of.get(v) is not user:
                    used_outside.add(v)
                    if user is not None and v not in user.inputs:
                        user.inputs.append(v)
        for module in modules.values():
            module.outputs = [op.output for op in module.ops if op.output in used_outside]
            self.hidden.update(op.output for op in module.ops if op.output not in used_outside)


def _refuse_if_too_big(root: Tensor, max_nodes: int, collapse: bool) -> None:
    """Raise early (before the full walk) if root's graph surely has more than max_nodes
    nodes: each op is drawn with its result, unless collapse=True folds it into a module."""
    limit = max_nodes // 2
    count = 0
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()._node
        if node is None:
            continue
        if not (collapse and node.scope is not None):
            count += 1
            if count > limit:
                ops = "1 op" if count == 1 else f"{count} ops"
                found = f"at least {ops}, each drawn with its result: {2 * count} nodes or more"
                raise _too_big_error(found, max_nodes, collapse)
        args = node.args or ()  # freed by backward(): nothing more to walk
        for i in node.parents if args else ():
            p = args[i]
            if p._node is not None and id(p) not in seen:
                seen.add(id(p))
                stack.append(p)


def _too_big_error(found: str, max_nodes: int, collapse: bool) -> ValueError:
    advice = (
        "Draw a smaller part of it (an intermediate tensor instead of the loss), or pass "
        "max_nodes=None to draw it anyway"
        if collapse
        else "Pass collapse=True to draw each nn.Module call as one node, draw a smaller "
        "part of it (an intermediate tensor instead of the loss), or pass max_nodes=None "
        "to draw it anyway"
    )
    return ValueError(
        f"draw_graph: the graph has more nodes than max_nodes={max_nodes} ({found}); a "
        f"picture that big is unreadable and slow to lay out. {advice}"
    )


def _recorded(saved: Any, now: np.ndarray) -> np.ndarray | None:
    """The array the graph saved for a value that holds `now`, if now differs, else None.

    A leaf's array that the graph saves is never written into while saved (it is locked;
    computed ones are read-only), so the same array means the same values; a small array
    of the caller's is copied into the node, and compared. Only an op that saves no input
    values (`saves_inputs=False`, such as add) leaves a leaf's array writeable: an in-place
    change of it cannot be seen here, as the graph kept no copy.
    """
    if saved is None or saved is now:
        return None
    saved = np.asarray(saved)
    same = saved.shape == now.shape and saved.dtype == now.dtype
    return None if same and np.array_equal(saved, now, equal_nan=True) else saved


def _kind(obj: Any, root: Tensor) -> str:
    if obj is root:
        return "root"
    if not is_tensor(obj):
        return "input"
    if obj._node is not None:
        return "intermediate"
    return "parameter" if obj.requires_grad else "input"


def _is_graph_input(node: Node, i: int, arg: Any) -> bool:
    """Tensors and arrays are drawn as input boxes; numbers, axes and indices are settings."""
    if is_tensor(arg):
        return True
    return isinstance(arg, np.ndarray) and not (
        i == 1 and node.op in (ops.getitem, ops.scatter_add)
    )


def _outermost(scope: Scope | None) -> Scope | None:
    while scope is not None and scope.parent is not None:
        scope = scope.parent
    return scope


# ---------------------------------------------------------------- op labels, broadcast edges


def _step_title(step: Step) -> str:
    if isinstance(step, _Module):
        count = len(step.ops)
        return f"{_scope_title(step.scope)} ({count} op{'s' if count != 1 else ''})"
    return f"#{step.number} {_op_label(step.node)}"


def _scope_title(scope: Scope) -> str:
    """`Linear(2→3) 'fc1'`: the module, and its name in the model (as nn's messages say it)."""
    return f"{scope.label} {scope.name!r}" if scope.name else str(scope.label)


def _op_label(node: Node) -> str:
    """The op's name with its settings (arguments that are not graph inputs): `sum(axis=1)`.

    A node freed by backward() gives its name only: its positional settings went with its
    arguments, and the keyword ones alone would read as the whole call (`sum(keepdims=True)`
    for `sum(x, 1, keepdims=True)`).
    """
    name = node.op.name
    vals, args = node.vals, node.args  # (in this order: see _Graph.op)
    if args is None:
        return name
    # (settings as the op ran with them: a list or array of the caller's was copied into
    # vals; args keep the caller's object, which may have changed since)
    vals = vals if vals is not None else args
    if node.op is ops.getitem and len(args) == 2:
        return f"{name}[{_format_index(vals[1])}]"
    positional, defaults = _parameters(node.op.fun)
    settings = []
    for i, (arg, value) in enumerate(zip(args, vals, strict=True)):
        if _is_graph_input(node, i, arg):
            continue
        arg = value
        if i < len(positional):  # a named parameter (not one of *args)
            if not _equals_default(arg, defaults.get(positional[i], _NO_DEFAULT)):
                settings.append(f"{positional[i]}={_format_setting(arg)}")
        else:
            settings.append(_format_setting(arg))
    for key, arg in node.kwargs.items():
        if not _equals_default(arg, defaults.get(key, _NO_DEFAULT)):
            settings.append(f"{key}={_format_setting(arg)}")
    return f"{name}({', '.join(settings)})" if settings else name


_NO_DEFAULT = object()


def _parameters(fun: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The names of fun's positional parameters (up to any *args), and every default."""
    try:
        parameters = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):  # no signature to be had: settings are shown unnamed
        return (), {}
    positional = []
    for p in parameters:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        positional.append(p.name)
    defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
    return tuple(positional), defaults


def _equals_default(value: Any, default: Any) -> bool:
    if default is _NO_DEFAULT or isinstance(value, np.ndarray):
        return False
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):
        return False


def _format_setting(value: Any) -> str:
    """A setting as a learner would write it: 2.0, (3, 1), 0:2, float32, [0, 2]."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        text = repr(value)
        return text if len(text) <= 10 else f"{value:.6g}"
    if isinstance(value, bool | int | None):
        return str(value)
    if isinstance(value, slice):
        return _format_slice(value)
    if value is Ellipsis:
        return "..."
    if isinstance(value, tuple | list):
        inner = ", ".join(_format_setting(v) for v in value)
        if isinstance(value, tuple):
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return f"[{inner}]"
    if isinstance(value, np.ndarray):
        if value.size <= _SHOWN and value.ndim <= 1:
            return "[" + ", ".join(_format_setting(v) for v in value.tolist()) + "]"
        return f"{value.dtype} array {value.shape}"
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, type):
        return value.__name__
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _format_slice(s: slice) -> str:
    parts = ["" if s.start is None else str(s.start), "" if s.stop is None else str(s.stop)]
    if s.step is not None:
        parts.append(str(s.step))
    return ":".join(parts)


def _format_index(index: Any) -> str:
    """x[index] as written: `0:1`, `:, 0`, `..., None`."""
    parts = index if isinstance(index, tuple) else (index,)
    return ", ".join(_format_setting(p) for p in parts)


# The ops whose gradients are summed over broadcast axes, known by identity (a user's op may
# share a name). The elementwise ones broadcast their inputs and their VJPs return gradients
# of the output's shape, which the engine's `unbroadcast` sums back; broadcast_to's VJP does
# that same sum itself. (Comparisons broadcast too, but record no graph.) Any other op's
# VJP may return the argument's shape outright, whatever the shapes suggest: an outer
# product's (3,) and (4,) inputs "broadcast" to its (3, 4) output, yet nothing is summed.
# So users' ops get no marker, even elementwise ones whose sums the engine does: a
# primitive does not declare that it is elementwise, and only its VJP knows the shape it
# returns. (The graphs guide says so.)
_BROADCASTING = frozenset(
    [
        ops.add,
        ops.sub,
        ops.mul,
        ops.div,
        ops.pow,
        ops.maximum,
        ops.minimum,
        ops.where,
        ops.clip,
        ops.broadcast_to,
    ]
)


def _broadcast_note(op: _Op, i: int) -> str | None:
    """`Σ axis 1: (3, 400) → (3, 1)` when argument i's gradient is summed over broadcast axes.

    The shape of the gradient the op's VJP hands back is worked out from the shapes (for the
    broadcasting ops: the output's; for matmul: its batch axes broadcast), then summed
    exactly as the engine's `unbroadcast` / `ops.sum_to` would. Ops not known to broadcast
    (users' own among them) get no note: only their VJPs know what shape they return.
    """
    vals = op.node.vals  # (the arrays the op ran with)
    if vals is None or i not in op.node.parents:
        return None
    shape = tuple(np.shape(vals[i]))
    if op.node.op is ops.matmul:
        grad_shape = _matmul_grad_shape(np.shape(vals[0]), np.shape(vals[1]), i)
    elif op.node.op in _BROADCASTING:
        grad_shape = tuple(op.output.array.shape)
    else:
        return None
    axes = _summed_axes(grad_shape, shape)
    if not axes:
        return None
    word = "axis" if len(axes) == 1 else "axes"
    return f"Σ {word} {', '.join(map(str, axes))}: {grad_shape} → {shape}"


def _matmul_grad_shape(a: tuple[int, ...], b: tuple[int, ...], i: int) -> tuple[int, ...]:
    """The shape of matmul's VJP result for argument i (batch axes broadcast, as in NumPy)."""
    if len(a) >= 2 and len(b) >= 2:
        batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
        return batch + (a if i == 0 else b)[-2:]
    if i == 0 and len(a) == 1 and len(b) > 2:  # (k,) @ (..., k, m): a's gradient is (..., k)
        return b[:-2] + a
    if i == 1 and len(b) == 1 and len(a) > 2:  # (..., n, k) @ (k,): b's gradient is (..., k)
        return a[:-2] + b
    return a if i == 0 else b


def _summed_axes(grad_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of grad_shape that `ops.sum_to(g, shape)` sums over (() if none or if the
    shapes are not related by broadcasting)."""
    lead = len(grad_shape) - len(shape)
    if grad_shape == shape or lead < 0:
        return ()
    if any(n != 1 and n != m for n, m in zip(shape, grad_shape[lead:], strict=True)):
        return ()
    return tuple(range(lead)) + tuple(
        lead + k for k, n in enumerate(shape) if n == 1 and grad_shape[lead + k] != 1
    )


# ---------------------------------------------------------------- summaries of values


@dataclass
class _Style:
    show_data: bool
    show_grad: bool
    names: set[str]  # tensors to draw as mismatches
    ops: set[int]  # op numbers to draw as mismatches

    def marks(self, item: _Value | Step) -> bool:
        """Whether `item` is drawn as a mismatch."""
        if isinstance(item, _Value):
            return item.name is not None and item.name in self.names
        return any(op.number in self.ops for op in _ops_of(item))


@dataclass
class _Line:
    """One line of a tensor's description; `alarm` lines are red (NaN/Inf, mismatch)."""

    text: str
    alarm: bool = False
    mono: bool = False  # values: drawn in a fixed-width font so matrix columns line up
    bold: bool = False


def _describe(value: _Value, style: _Style, *, one_line: bool = False) -> list[_Line]:
    """What a tensor's box says about it (`one_line`: for the text view, matrices on one line)."""
    array = value.array
    lines = []
    if value.name:
        lines.append(_Line(value.name, bold=True))
    lines.append(_Line(_shape_dtype(array)))
    if style.show_data:
        lines.append(_Line(_values("data", array, one_line), mono=True))
        if value.recorded is not None:  # (the values above are the ones the ops used)
            now = _values("now", value.now, one_line)
            if one_line:
                lines.append(_Line(f"(changed since the graph ran: {now})"))
            else:
                lines += [_Line("changed since the graph ran:"), _Line(now, mono=True)]
    problem = _non_finite(array)
    if problem:
        lines.append(_Line(f"data has {problem}", alarm=True))
    grad = value.grad
    if style.show_grad and grad is not None:
        grad = np.asarray(grad)
        lines.append(_Line(_values("grad", grad, one_line), mono=True))
        lines.append(_Line(f"‖grad‖ {_number(_norm(grad))}"))
        problem = _non_finite(grad)
        if problem:
            lines.append(_Line(f"grad has {problem}", alarm=True))
    if style.marks(value):
        lines.append(_Line("✗ mismatch", alarm=True, bold=True))
    return lines


def _shape_dtype(a: np.ndarray) -> str:
    return f"{_format_setting(tuple(a.shape))} {a.dtype}"


def _values(label: str, a: np.ndarray, one_line: bool) -> str:
    """`data 0.5`, `data [[1, 2], [3, 4]]` (a handful of values, 2-d rows on separate lines),
    or `data min … mean … max …`."""
    if a.size == 0:
        return f"{label} (empty)"
    if a.size <= _SHOWN:
        return f"{label} {_small_array(a, None if one_line else len(label) + 1)}"
    if a.dtype == bool:
        return f"{label} {int(np.count_nonzero(a))} of {a.size} True"
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    if finite.size == 0:
        return f"{label} no finite values"
    mean = _mean(finite)
    return (
        f"{label} min {_number(finite.min().item())}  mean {_number(mean)}  "
        f"max {_number(finite.max().item())}"
    )


def _norm(a: np.ndarray) -> float:
    """The 2-norm of a, in float64 and scaled by its largest magnitude, so that it neither
    overflows nor underflows where the result does not (a float32 gradient of 1e20s, a
    float16 one of 600s), and warns of nothing."""
    a = np.abs(a.astype(np.float64, copy=False)).ravel()
    if a.size == 0:
        return 0.0
    if np.isnan(a).any():
        return math.nan
    scale = float(a.max())
    if scale == 0.0 or math.isinf(scale):
        return scale
    with np.errstate(under="ignore"):  # (an element tiny next to the largest adds nothing)
        return scale * math.sqrt(float(np.sum(np.square(a / scale))))


def _mean(a: np.ndarray) -> float:
    """The mean of finite values, in float64; scaled (as in _norm) if their sum overflows."""
    with np.errstate(over="ignore"):
        mean = float(np.mean(a, dtype=np.float64))
    if math.isfinite(mean):
        return mean
    a = a.astype(np.float64, copy=False)
    scale = float(np.abs(a).max())
    with np.errstate(under="ignore"):
        return float(np.mean(a / scale)) * scale


def _small_array(a: np.ndarray, indent: int | None) -> str:
    """A few values; a 2-d array's rows on lines of their own, columns aligned, unless
    `indent` is None (then all on one line)."""
    if a.ndim == 0:
        return _number(a.item())
    texts = [_number(v) for v in a.ravel().tolist()]
    if a.ndim == 1:
        return "[" + ", ".join(texts) + "]"
    if a.ndim > 2:
        return "flat [" + ", ".join(texts) + "]"
    if indent is not None:
        width = max(len(t) for t in texts)
        texts = [t.rjust(width) for t in texts]
    cols = a.shape[1]
    rows = [", ".join(texts[r * cols : (r + 1) * cols]) for r in range(a.shape[0])]
    separator = "], [" if indent is None else "],\n" + " " * (indent + 1) + "["
    return "[[" + separator.join(rows) + "]]"


def _number(x: Any) -> str:
    if isinstance(x, bool | int):
        return str(x)
    text = f"{x:.4g}"
    return "0" if text == "-0" else text


def _non_finite(a: np.ndarray) -> str | None:
    """'2 NaN, 1 +Inf' for an array holding such values, else None."""
    if a.dtype.kind != "f" or bool(np.isfinite(a).all()):
        return None
    counts = [
        (int(np.count_nonzero(np.isnan(a))), "NaN"),
        (int(np.count_nonzero(np.isposinf(a))), "+Inf"),
        (int(np.count_nonzero(np.isneginf(a))), "-Inf"),
    ]
    return ", ".join(f"{n} {what}" for n, what in counts if n)


def _highlighted(highlight: Any) -> tuple[set[str], set[int]]:
    """The tensor names and op numbers to draw as mismatches. `highlight` is None, names
    and op numbers (an iterable, or one name), or a report: an object with failed_names()
    (compare_grads) and/or failed_nodes() (check_graph's op numbers)."""
    if highlight is None:
        return set(), set()
    if hasattr(highlight, "failed_names") or hasattr(highlight, "failed_nodes"):
        names = highlight.failed_names() if hasattr(highlight, "failed_names") else []
        numbers = highlight.failed_nodes() if hasattr(highlight, "failed_nodes") else []
        items = [*names, *numbers]
    elif isinstance(highlight, str):
        items = [highlight]
    elif isinstance(highlight, Iterable):
        items = list(highlight)
    else:
        items = [highlight]
    wrong = {type(i).__name__ for i in items if not (isinstance(i, str) or is_integer(i))}
    if wrong:
        raise TypeError(
            "highlight: pass tensor names (str), op numbers (int, as in the picture), or a report "
            "with failed_names() / failed_nodes() such as compare_grads' or check_graph's; got "
            f"{type(highlight).__name__} holding {', '.join(sorted(wrong))}"
        )
    return {i for i in items if isinstance(i, str)}, {int(i) for i in items if is_integer(i)}


# ---------------------------------------------------------------- the picture (DOT)

_COLOURS = {  # (fill, border) by kind; the legend explains them
    "parameter": ("#cfe2ff", "#2f5d9e"),
    "input": ("#e9ecef", "#6c757d"),
    "intermediate": ("#ffffff", "#555555"),
    "root": ("#c9ecc9", "#2e7d32"),
}
_OP_COLOURS = ("#fff3c4", "#b08900")
_MODULE_COLOURS = ("#e4d7f5", "#6f4fa0")
_CLUSTER_FILLS = ("#f6f1fc", "#ece2f8")  # alternating with nesting depth
_RED = "red"  # NaN/Inf and mismatches
_MISMATCH_FILL = "#ffd6d6"
_BROADCAST = "#d95f02"  # edges whose gradient is summed over broadcast axes
_FREED_NOTE = (
    "backward() freed the graph below here,\n"
    "so its inputs can no longer be drawn\n"
    "(the ops left are numbered anew, and\n"
    "shown without their settings).\n"
    "To draw the graph after backward, call\n"
    "backward(retain_graph=True)."
)
_NO_GRAPH_NOTE = (
    "No graph was recorded for this tensor:\n"
    "it was not computed from tensors that\n"
    "require grad (or it was computed under\n"
    "mg.no_grad()). Create the tensors to\n"
    "differentiate with requires_grad=True."
)


class _Picture(graphviz.Digraph):  # type: ignore[misc]
    """A Digraph that, in Jupyter without `dot`, shows how to install it instead of failing."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> Any:
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except graphviz.ExecutableNotFound:
            return {"text/plain": _INSTALL_HINT}
        except (subprocess.CalledProcessError, BrokenPipeError) as err:  # (dot is broken)
            return {
                "text/plain": f"Graphviz's dot failed to draw this graph ({err}); check the "
                "Graphviz installation (dot -V). The DOT source is this picture's .source, "
                "and render_graph(root, 'graph.dot') writes it to a file"
            }


def _picture(graph: _Graph, style: _Style, *, rankdir: str, legend: bool) -> _Picture:
    """The DOT picture: boxes and ops (in their clusters), then edges, notes and legend."""
    font = {"fontname": "Helvetica", "fontsize": "11"}
    picture = _Picture(
        name="computation",
        graph_attr={"rankdir": rankdir, "nodesep": "0.25", "ranksep": "0.4", **font},
        node_attr=font,
        edge_attr={**font, "fontsize": "10", "color": "#555555", "arrowsize": "0.7"},
    )
    clusters = _Clusters(graph)
    for value in graph.drawn_values():
        lines = _describe(value, style)
        target = clusters.of(graph.made_by(value)) or picture
        target.node(value.node_id, _html_label(lines), **_value_style(value, lines, style))
    for step in graph.steps:
        (clusters.of(step) or picture).node(_step_id(step), **_step_style(step, style))
    clusters.add_to(picture)  # (before any edge names a node in a cluster)
    _add_edges(picture, graph, style)
    _add_notes(picture, graph, style)
    if legend:
        _add_legend(picture, highlight=bool(style.names or style.ops))
    return picture


def _add_edges(picture: graphviz.Digraph, graph: _Graph, style: _Style) -> None:
    """Inputs to ops (orange, labelled, where the gradient is summed over broadcast axes),
    ops to their results."""
    uses = Counter(v for step in graph.steps for v in _inputs(step))
    met: Counter[_Value] = Counter()
    for step in graph.steps:
        head = _step_id(step)
        for value, note in graph.step_inputs(step):
            met[value] += 1
            tail = value.node_id
            if met[value] > 1 and uses[value] > _SHARED:
                tail = _copy(picture, value, met[value], style)
            if note is None:
                picture.edge(tail, head)
            else:
                label = _html_label([_Line(line) for line in note.split("\n")])
                picture.edge(
                    tail, head, label=label, color=_BROADCAST, fontcolor=_BROADCAST, penwidth="1.6"
                )
        for value in _outputs(step):
            picture.edge(head, value.node_id)


def _copy(picture: graphviz.Digraph, value: _Value, use: int, style: _Style) -> str:
    """A small copy of a tensor's box for its `use`-th use: edges from one box to many
    far-apart ops would make the picture a tangle, and dot's layout very slow."""
    node_id = f"{value.node_id}_{use}"
    title = _Line(value.name, bold=True) if value.name else _Line(_shape_dtype(value.array))
    attrs = {**_value_style(value, [], style), "style": "rounded,filled,dashed", "fontsize": "9"}
    picture.node(node_id, _html_label([title, _Line("(shared: full box once)")]), **attrs)
    return node_id


def _step_id(step: Step) -> str:
    return f"op{step.number}" if isinstance(step, _Op) else step.node_id


def _value_style(value: _Value, lines: list[_Line], style: _Style) -> dict[str, str]:
    fill, border = _COLOURS[value.kind]
    attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": fill, "color": border}
    if style.marks(value):
        attrs.update(fillcolor=_MISMATCH_FILL, color=_RED, penwidth="3")
    elif any(line.alarm for line in lines):
        attrs.update(color=_RED, penwidth="2.5")
    return attrs


def _step_style(step: Step, style: _Style) -> dict[str, str]:
    if isinstance(step, _Module):
        fill, border = _MODULE_COLOURS
        attrs = {"shape": "box3d", "style": "dashed,filled" if step.freed else "filled"}
    else:
        fill, border = _OP_COLOURS
        attrs = {"shape": "ellipse", "style": "dashed,filled" if step.freed else "filled"}
    lines = [_Line(_step_title(step))]
    if style.marks(step):
        lines.append(_Line("✗ mismatch", alarm=True, bold=True))
        fill, border = _MISMATCH_FILL, _RED
        attrs["penwidth"] = "3"
    return {"label": _html_label(lines), "fillcolor": fill, "color": border, **attrs}


class _Clusters:
    """One DOT cluster per Scope (nn.Module call) that recorded ops, nested like the calls."""

    def __init__(self, graph: _Graph) -> None:
        self.scopes: list[Scope] = []  # each scope after the scopes enclosing it
        self.index: dict[int, int] = {}  # id(scope) -> its position in self.scopes
        for step in graph.steps:
            chain = []
            scope = step.node.scope if isinstance(step, _Op) else None
            while scope is not None and id(scope) not in self.index:
                chain.append(scope)
                scope = scope.parent
            for scope in reversed(chain):
                self.index[id(scope)] = len(self.scopes)
                self.scopes.append(scope)
        self.depths = [_depth(scope) for scope in self.scopes]
        self.subgraphs = [_cluster(k, s, self.depths[k]) for k, s in enumerate(self.scopes)]

    def of(self, step: Step | None) -> graphviz.Digraph | None:
        """The cluster for the node of (or made by) `step`; None for the top level."""
        if isinstance(step, _Op) and step.node.scope is not None:
            return self.subgraphs[self.index[id(step.node.scope)]]
        return None

    def add_to(self, picture: graphviz.Digraph) -> None:
        # A subgraph's text is copied into its parent when added, so the deepest go first.
        for k in sorted(range(len(self.scopes)), key=lambda k: (-self.depths[k], k)):
            parent = self.scopes[k].parent
            target = picture if parent is None else self.subgraphs[self.index[id(parent)]]
            target.subgraph(self.subgraphs[k])


def _depth(scope: Scope) -> int:
    depth, parent = 0, scope.parent
    while parent is not None:
        depth, parent = depth + 1, parent.parent
    return depth


def _cluster(k: int, scope: Scope, depth: int) -> graphviz.Digraph:
    label = f"<B>{_html_text(str(scope.label))}</B>" if scope.label else ""
    if scope.name:
        label += " " + _html_text(repr(scope.name))
    return graphviz.Digraph(
        name=f"cluster_{k + 1}",
        graph_attr={
            "label": f"<{label or ' '}>",
            "labeljust": "l",
            "style": "rounded,filled",
            "fillcolor": _CLUSTER_FILLS[depth % 2],
            "color": _MODULE_COLOURS[1],
            "fontcolor": _MODULE_COLOURS[1],
        },
    )


def _add_notes(picture: graphviz.Digraph, graph: _Graph, style: _Style) -> None:
    note = {"shape": "note", "style": "filled", "fillcolor": "#fff8e1", "color": "#b08900"}
    freed = [step for step in graph.steps if step.freed]
    if freed:
        picture.node("note_freed", _note_label(_FREED_NOTE), **note)
        for step in freed:
            picture.edge("note_freed", _step_id(step), style="dashed", arrowhead="none")
    if _no_graph(graph.root_tensor):
        picture.node("note_no_graph", _note_label(_NO_GRAPH_NOTE), **note)
        picture.edge("note_no_graph", graph.root.node_id, style="dashed", arrowhead="none")
    drawn = set(range(1, len(graph.order) + 1))  # (every op: in its own node or a module's)
    missing = _not_shown(style, {v.name for v in graph.drawn_values()}, drawn)
    if missing:
        lines = [_Line("mismatches not drawn here:", alarm=True)]
        lines += [_Line(name, alarm=True) for name in missing]
        picture.node("note_mismatch", _html_label(lines), shape="note", color=_RED)


def _note_label(text: str) -> str:
    return _html_label([_Line(line) for line in text.split("\n")])


def _no_graph(root: Tensor) -> bool:
    """Whether root is a constant: nothing was recorded, and nothing could have been."""
    return root._node is None and not root.requires_grad


def _not_shown(style: _Style, names: set[str | None], ops: set[int]) -> list[str]:
    """The highlighted names and op numbers not among the `names` and `ops` shown."""
    return sorted(style.names - names) + [f"#{k}" for k in sorted(style.ops - ops)]


def _add_legend(picture: graphviz.Digraph, *, highlight: bool) -> None:
    """The colour key, in one row under the picture (a graph label: no node to lay out)."""
    cell = '<TD BGCOLOR="{}" COLOR="{}" STYLE="rounded">{}</TD>'
    cells = [cell.format(*_COLOURS[kind], text) for kind, text in _LEGEND]
    cells.append(cell.format(*_OP_COLOURS, "op (#1 ran first)"))
    if highlight:
        cells.append(cell.format(_MISMATCH_FILL, _RED, "mismatch"))
    text = '<TD BORDER="0"><FONT COLOR="{}">{}</FONT></TD>'
    cells.append(text.format(_BROADCAST, "Σ: gradient summed over broadcast axes"))
    cells.append(text.format(_RED, "red: NaN / Inf"))
    table = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="4" CELLPADDING="3">'
    label = f"<{table}<TR>{''.join(cells)}</TR></TABLE>>"
    # Added last, so that no cluster inherits it.
    picture.attr("graph", label=label, labelloc="b", labeljust="l", fontsize="9")


_LEGEND = [
    ("parameter", "parameter"),
    ("input", "input / constant"),
    ("intermediate", "intermediate"),
    ("root", "root (output)"),
]


def _html_label(lines: list[_Line]) -> str:
    """A DOT HTML-like label: one table row per line, every piece of text escaped."""
    rows = []
    for line in lines:
        text = _html_text(line.text)
        if not text:  # (dot rejects empty <B></B>)
            rows.append("<TR><TD> </TD></TR>")
            continue
        if line.bold:
            text = f"<B>{text}</B>"
        if line.mono:
            text = f'<FONT FACE="Courier">{text}</FONT>'
        if line.alarm:
            text = f'<FONT COLOR="{_RED}">{text}</FONT>'
        rows.append(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{text}</TD></TR>')
    table = '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
    return f"<{table}{''.join(rows)}</TABLE>>"


def _html_text(text: str, limit: int = 80) -> str:
    """Any text, safe in an HTML-like label: XML-escaped, with XML-forbidden characters shown
    as escapes, newlines as <BR/>, and each line at most `limit` characters."""
    lines = [line if len(line) <= limit else line[: limit - 1] + "…" for line in text.split("\n")]
    escaped = (html.escape(_printable(line), quote=True).translate(_DOT_QUIRKS) for line in lines)
    return "<BR/>".join(escaped)


# dot reads backslash escapes (`\\N`: the node's name) even in HTML-like labels, and rejects
# text that starts with "]".
_DOT_QUIRKS = str.maketrans({"\\": "\\\\", "]": "&#93;"})


def _printable(text: str) -> str:
    """text with control characters, surrogates and XML-forbidden code points as escapes."""
    return "".join(ch if ch == "\n" or _xml_char(ord(ch)) else ascii(ch)[1:-1] for ch in text)


def _xml_char(c: int) -> bool:
    return c >= 0x20 and not 0xD800 <= c <= 0xDFFF and c not in (0xFFFE, 0xFFFF) and c != 0x7F


# ---------------------------------------------------------------- the text tree


def _text_tree(graph: _Graph, style: _Style, *, max_lines: int | None) -> str:
    """Root first; each made value followed by its maker's inputs, indented (iteratively)."""
    lines: list[str] = []
    named: set[str | None] = set()  # names of the tensors listed
    listed: set[_Value] = set()
    listed_ops: set[int] = set()  # numbers of the ops listed (alone or in a module call)
    expanded: set[int] = set()  # id() of steps whose inputs are listed already
    # (value or a note, its edge note, its depth, prefix of its line, prefix of its inputs'
    # lines); prefixes keep only their last _INDENT_LEVELS levels (see _indented), so that
    # a million levels cost no more than 24
    keep = 3 * _INDENT_LEVELS
    stack: list[tuple[_Value | str, str | None, int, str, str]] = [(graph.root, None, 0, "", "")]
    while stack:
        if max_lines is not None and len(lines) >= max_lines:
            lines.append(f"… (stopped at max_nodes={max_lines}; pass max_nodes=None for all)")
            break
        item, note, depth, prefix, inner = stack.pop()
        if isinstance(item, str):  # the note under a freed op
            lines.append(_indented(prefix, depth) + item)
            continue
        named.add(item.name)
        step = graph.made_by(item)
        children: list[tuple[_Value | str, str | None]] = []
        if step is None:
            text = _value_text(item, style)
        elif id(step) not in expanded:
            expanded.add(id(step))
            listed_ops.update(op.number for op in _ops_of(step))
            text = f"{_step_title(step)} → {_value_text(item, style)}"
            children = list(graph.step_inputs(step))
            if step.freed:
                children.append((" ".join(_FREED_NOTE.split("\n")), None))
            if isinstance(step, _Op) and step.node.scope is not None:
                text += f"  [in {_scope_path(step.node.scope)}]"
            if style.marks(step):
                text += "  !! ✗ mismatch (op)"
        elif item in listed:
            short = item.name or _format_setting(item.array.shape)
            text = f"{_step_title(step)} → {short} (shown above)"
        else:  # a module call's other output: a tensor of its own, made by the call above
            text = f"{_step_title(step)} → {_value_text(item, style)}"
            text += "  (another output of the call listed above)"
        listed.add(item)
        if note is not None:
            text += f"  (grad {note.replace(chr(10), '; ')})"
        lines.append(_indented(prefix, depth) + _one_line(text))
        for k in reversed(range(len(children))):
            last = k == len(children) - 1
            child, child_note = children[k]
            child_prefix = inner + ("└─ " if last else "├─ ")
            child_inner = inner + ("   " if last else "│  ")
            stack.append((child, child_note, depth + 1, child_prefix[-keep:], child_inner[-keep:]))
    if _no_graph(graph.root_tensor):
        lines.append(" ".join(_NO_GRAPH_NOTE.split("\n")))
    missing = _not_shown(style, named, listed_ops)
    if missing:
        lines.append(_one_line(f"!! mismatches not listed above: {', '.join(missing)}"))
    return "\n".join(lines)


def _indented(prefix: str, depth: int) -> str:
    """A line's tree prefix: beyond _INDENT_LEVELS levels only the last ones are drawn, after
    the line's depth, so that lines at different depths never look like siblings."""
    return prefix if depth <= _INDENT_LEVELS else f"⋯[depth {depth}] {prefix}"


def _scope_path(scope: Scope) -> str:
    titles = []
    s: Scope | None = scope
    while s is not None:
        titles.append(_scope_title(s))
        s = s.parent
    return " / ".join(reversed(titles))


def _value_text(value: _Value, style: _Style) -> str:
    """A tensor's description on one line: the picture's lines, alarms marked `!!`."""
    parts = []
    shape_line = 1 if value.name else 0
    for k, line in enumerate(_describe(value, style, one_line=True)):
        parts.append(f"!! {line.text}" if line.alarm else line.text)
        if k == shape_line and value.kind in ("parameter", "input"):
            parts.append(value.kind)  # what the picture says with colour
    return "  ".join(parts)


def _one_line(text: str) -> str:
    """User strings in a text line: control characters and line breaks of any kind (\n,
    U+0085, U+2028...) as escapes, so that the tree keeps one line per tensor."""
    return "".join(
        ascii(ch)[1:-1] if (ch + "x").splitlines()[0] != ch + "x" else ch for ch in _printable(text)
    )
