"""The ``shoebox`` plugin of shoebox-collect: it adds the ``shoebox collect`` subcommand."""

from __future__ import annotations

from collections.abc import Iterator

from shoebox_core.plugin import Subcommand, hookimpl

__all__ = ["shoebox_subcommands"]


def _run(args: object) -> int:
    # Imported on use: listing the plugins must not import the collector.
    from .cli import run

    return run(args)  # type: ignore[arg-type]


def _configure(parser: object) -> None:
    from .cli import configure_parser

    configure_parser(parser)  # type: ignore[arg-type]


@hookimpl
def shoebox_subcommands() -> Iterator[Subcommand]:
    """Offer ``shoebox collect``."""
    yield Subcommand(
        "collect",
        "Merge workers' inbox archives into zip archives (once, or --every SECONDS).",
        _run,
        _configure,
    )
