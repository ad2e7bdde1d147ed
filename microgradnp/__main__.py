"""The command line: `python -m microgradnp demo [options]` (see microgradnp/demo.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import demo


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the command line) and run the command; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m microgradnp",
        description="microgradnp: reverse-mode automatic differentiation on NumPy arrays.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo_parser = commands.add_parser(
        "demo",
        help="train the tutorial's network on a toy dataset; draw its graph and decision boundary",
        description=demo.DESCRIPTION,
    )
    demo.add_arguments(demo_parser)
    args = parser.parse_args(argv)
    return demo.run(args)


if __name__ == "__main__":
    sys.exit(main())
