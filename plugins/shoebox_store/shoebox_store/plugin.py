"""The shoebox plugin of shoebox-store: the ``shoebox store`` subcommand."""

from __future__ import annotations

import argparse

from shoebox_core.plugin import Subcommand, hookimpl

__all__ = ["shoebox_subcommands"]


def _configure(parser: argparse.ArgumentParser) -> None:
    from .cli import configure_parser  # the CLI's modules load only when the command is built

    configure_parser(parser)


def _run(args: argparse.Namespace) -> int:
    from .cli import run

    return run(args)


@hookimpl
def shoebox_subcommands() -> list[Subcommand]:
    """Offer ``shoebox store``."""
    return [Subcommand("store", "A key-value store (encore.storage's API) on archives or files: "
                       "init, put, get, cat, ls, query, rm, compact, verify.", _run, _configure)]
