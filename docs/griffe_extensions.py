"""Griffe extensions for the API reference (mkdocs.yml loads them).

- PrimitivesReturnTensors: an op made with `@primitive` is written as its NumPy forward, so
  its source signature says `-> np.ndarray`; but calling the op returns a Tensor. The
  reference shows `-> Tensor` for every function decorated with `primitive`.
- IndentedBlocksAreCode: the docstrings are plain text, where an indented block after a
  line of prose is an example or a formula. Markdown needs a blank line before it to make
  it a code block (otherwise it joins the paragraph and `**` turns into bold); this adds
  that blank line.
"""

from __future__ import annotations

from typing import Any

import griffe

PRIMITIVE = "microgradnp.recording.primitive"


class PrimitivesReturnTensors(griffe.Extension):
    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        if any(d.callable_path == PRIMITIVE for d in func.decorators):
            func.returns = "Tensor"


def code_blocks(text: str) -> str:
    """`text` with a blank line before each block indented under an unindented line."""
    out: list[str] = []
    for line in text.split("\n"):
        previous = out[-1] if out else ""
        if line.startswith("    ") and previous.strip() and not previous[0].isspace():
            out.append("")
        out.append(line)
    return "\n".join(out)


class IndentedBlocksAreCode(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = code_blocks(obj.docstring.value)
