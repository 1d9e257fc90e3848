"""Progress bars for long commands: on stderr when it is a terminal, silent in pipes and logs."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class _Quiet:
    """What a progress bar does when nobody is watching: nothing."""

    def update(self, n: float = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, flush=True)

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def wanted(choice: bool | None, stream: TextIO | None = None) -> bool:
    """Whether to show progress: ``choice`` when given (``--progress`` / ``--no-progress``),
    else only when ``stream`` (stderr) is attached to a terminal."""
    if choice is not None:
        return choice
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Bar:
    """A tqdm bar on stderr whose :meth:`write` prints a line to stdout without garbling the
    bar: tqdm clears the bar, prints the line, then draws the bar again below it."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def write(self, text: str) -> None:
        self.bar.write(text, file=sys.stdout)
        sys.stdout.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bar, name)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def progress(*, show: bool, total: float | None = None, unit: str = "it",
             desc: str | None = None, unit_scale: bool = False) -> Any:
    """A tqdm bar on stderr when ``show`` (``leave=False``: it is gone when done), else an object
    that ignores every call; either way ``write(line)`` prints a line of output to stdout."""
    if not show:
        return _Quiet()
    from tqdm import tqdm

    return _Bar(tqdm(total=total, unit=unit, desc=desc, unit_scale=unit_scale, file=sys.stderr,
                     dynamic_ncols=True, leave=False, mininterval=0.2))
