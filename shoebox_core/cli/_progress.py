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


def progress(*, show: bool, total: float | None = None, unit: str = "it",
             desc: str | None = None, unit_scale: bool = False) -> Any:
    """A tqdm bar on stderr when ``show``, else an object that ignores every call."""
    if not show:
        return _Quiet()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, unit_scale=unit_scale, file=sys.stderr,
                dynamic_ncols=True, leave=False, mininterval=0.2)
