"""``python -m masks``: one sub-command per job, each defined in ``masks/commands/``.

Bad input ends with a one-line message on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from masks.errors import MaskError

# Each module has ``register(subparsers)``, adding sub-commands whose ``func(args) -> int``
# does the work. A module that is not there yet is skipped so the rest keeps working.
COMMAND_MODULES = (
    "masks.commands.core",   # synth, render, bench
    "masks.commands.io",     # segment, trace, export, clippath, tiles, color
    "masks.commands.qa",     # qa, qa-bench
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m masks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
