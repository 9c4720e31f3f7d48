"""``python -m switchboard_common.cli GROUP COMMAND …``: operate Switchboard from a terminal.

Each command group is a module here with ``add_parser(subparsers)``, which registers its
``argparse`` parser and sets ``handler`` (``Namespace -> int``, the exit status) on every leaf
command. To add a group, write the module and list it in :data:`GROUPS`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
from collections.abc import Sequence

#: Command groups, in help order (modules of this package).
GROUPS = ("businesses", "events")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m switchboard_common.cli",
        description="Operate Switchboard over NATS (NATS_URL, NATS_USER, NATS_PASSWORD).",
    )
    groups = parser.add_subparsers(dest="command", metavar="GROUP", required=True)
    for name in GROUPS:
        qualified = f"{__name__}.{name}"
        if importlib.util.find_spec(qualified) is None:  # a group still being written
            continue
        importlib.import_module(qualified).add_parser(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with contextlib.suppress(BrokenPipeError):
        code: int = args.handler(args)
        return code
    return 0
