"""Checked-in generated documents (AsyncAPI, OpenAPI): write them, or check they are current.

Each generator is a small CLI, ``python -m <module> [--check] [--out PATH]``: without
``--check`` it writes the file; with it, it writes nothing and exits 1 with a diff when the
checked-in file differs from what the code generates now (CI runs the same check in tests).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

#: How to bring every generated document up to date.
REGENERATE = "make docs"


def stale_diff(path: Path, text: str) -> str:
    """A unified diff from the file to ``text``; empty when the file is current."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{path} (checked in)",
            tofile=f"{path} (generated)",
        )
    )


def run_cli(
    argv: Sequence[str] | None, render: Callable[[], str], default_out: str, what: str
) -> int:
    """Parse ``[--check] [--out PATH]``, then write or check ``render()`` at the path."""
    parser = argparse.ArgumentParser(description=f"Generate {what}.")
    parser.add_argument("--out", type=Path, default=Path(default_out), help="default: %(default)s")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff when the file is not what would be generated",
    )
    args = parser.parse_args(argv)
    text = render()
    path: Path = args.out
    if args.check:
        diff = stale_diff(path, text)
        if diff:
            sys.stdout.write(diff)
            print(f"{path} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0
