"""On-open and on-close callbacks, and the chain that runs them in order.

The contract is the one stacktach-shoebox users wrote against: a callback object has
``on_open(filename)``, called when a new archive is opened, and ``on_close(filename)``, called once
the archive is sealed (final name, fsynced, closed). ``on_close`` may return a new name for the file
(after compressing it to ``x.events.gz``, say); the next callback then receives that name.
Returning ``None`` means the name is unchanged. Callbacks are built from keyword arguments only, so
a config file can name them and their options.

A :class:`CallbackChain` runs several callbacks as one. If a step of ``on_close`` fails, the chain
stops for that file: a later step (a delete, an upload) must never run on a file whose earlier step
failed. The file stays where it is and a :class:`~shoebox_core.errors.CallbackError` says which
callback failed, on which file, and which callbacks did not run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Union

from ..errors import CallbackError

__all__ = ["ArchiveCallback", "CallbackChain", "callback_name"]

logger = logging.getLogger("shoebox")


class ArchiveCallback:
    """Base class of callbacks: both hooks do nothing. Subclasses take keyword arguments only.

    Unknown keyword arguments are accepted and ignored, as in stacktach-shoebox, where one config
    dictionary was handed to every callback; the built-in callbacks declare their options
    explicitly.
    """

    def __init__(self, **kwargs: Any) -> None:
        pass

    def on_open(self, filename: str) -> None:
        """Called when the new archive ``filename`` has been created, before records are written."""

    def on_close(self, filename: str) -> str | None:
        """Called with the final name of a sealed archive; return its new name or ``None``."""
        return None


def callback_name(callback: object) -> str:
    """The name logs and errors use for ``callback``: its ``name``, else its class name."""
    name = getattr(callback, "name", None)
    if isinstance(name, str) and name:
        return name
    return type(callback).__qualname__


CallbackSpec = Union[None, object, Iterable[object]]


def _is_callback(obj: object) -> bool:
    return not isinstance(obj, type) and (hasattr(obj, "on_open") or hasattr(obj, "on_close"))


class CallbackChain(ArchiveCallback):
    """Several callbacks run as one, in the order given.

    ``callbacks`` is ``None`` (an empty chain), one callback, or a sequence of callbacks. A callback
    needs only the hooks it uses: an object with ``on_close`` but no ``on_open`` is fine.
    """

    def __init__(self, callbacks: CallbackSpec = None) -> None:
        super().__init__()
        if callbacks is None:
            items: tuple[object, ...] = ()
        elif _is_callback(callbacks):
            items = (callbacks,)
        elif isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
            raise TypeError(_not_a_callback(callbacks))
        else:
            items = tuple(callbacks)
        for item in items:
            if not _is_callback(item):
                raise TypeError(_not_a_callback(item))
        self.callbacks: tuple[object, ...] = items

    def __iter__(self) -> Iterator[object]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def __repr__(self) -> str:
        return f"CallbackChain([{', '.join(self.names)}])"

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the callbacks, in order of execution."""
        return tuple(callback_name(cb) for cb in self.callbacks)

    def on_open(self, filename: str) -> None:
        """Call every callback's ``on_open``; failures are logged and raised together at the end.

        One callback failing does not stop the others: they only watch a file being opened. When
        any failed, one :class:`CallbackError` names them all and chains the first failure.
        """
        filename = os.fspath(filename)
        failures: list[tuple[str, Exception]] = []
        for cb in self.callbacks:
            hook: Callable[[str], object] | None = getattr(cb, "on_open", None)
            if hook is None:
                continue
            try:
                hook(filename)
            except Exception as exc:
                name = callback_name(cb)
                logger.error(
                    "on_open callback %s failed for %s: %r",
                    name,
                    filename,
                    exc,
                    exc_info=exc,
                    extra={"callback": name, "archive": filename, "skipped": ()},
                )
                failures.append((name, exc))
        if not failures:
            return
        details = "; ".join(f"{name}: {exc!r}" for name, exc in failures)
        noun = "callback" if len(failures) == 1 else "callbacks"
        raise CallbackError(
            f"on_open {noun} failed for {filename}: {details}",
            callback=", ".join(name for name, _ in failures),
            path=filename,
        ) from failures[0][1]

    @property
    def close_steps(self) -> tuple[object, ...]:
        """The callbacks that have an ``on_close``, in order: the steps of :meth:`on_close`, as
        :meth:`on_close_from` numbers them."""
        return tuple(cb for cb in self.callbacks if getattr(cb, "on_close", None) is not None)

    def on_close(self, filename: str) -> str:
        """Run every callback's ``on_close`` in order, passing each the name the previous returned.

        Returns the file's name after the last step. If a step raises, or returns a name that does
        not exist, the chain stops for this file: the failure is logged and raised as a
        :class:`CallbackError` whose ``path`` is the name the failing step was given and whose
        ``skipped`` lists the callbacks that did not run.
        """
        return self.on_close_from(0, filename)

    def on_close_from(
        self,
        step: int,
        filename: str,
        *,
        before: Callable[[int, str], None] | None = None,
        after: Callable[[int, str], None] | None = None,
    ) -> str:
        """Run the ``on_close`` steps from number ``step`` on (0 is the first of
        :attr:`close_steps`), starting with ``filename``: how a chain resumes after a crash.

        ``before(index, name)`` is called before step ``index`` runs and ``after(index, name)``
        once it has completed, with the name it produced (a journal records them). Failures are
        raised as :meth:`on_close` raises them; an exception from ``before`` or ``after`` stops
        the chain the same way.
        """
        current = os.fspath(filename)
        steps = [
            (cb, hook)
            for cb in self.callbacks
            if (hook := getattr(cb, "on_close", None)) is not None
        ]
        if not 0 <= step <= len(steps):
            raise ValueError(f"step {step} out of range: the chain has {len(steps)} steps")
        for index in range(step, len(steps)):
            cb, hook = steps[index]
            later = [c for c, _ in steps[index + 1 :]]
            try:
                if before is not None:
                    before(index, current)
                result = hook(current)
            except Exception as exc:
                raise self._failure(cb, current, later, _cause(exc), exc_info=True) from exc
            if result is not None:
                try:
                    new_name = os.fspath(result)
                except TypeError:
                    new_name = None
                if not isinstance(new_name, str):
                    raise self._failure(
                        cb,
                        current,
                        later,
                        f"returned {result!r}, which is not a file name (return a str or None)",
                    )
                if not os.path.exists(new_name):
                    raise self._failure(
                        cb, current, later, f"returned {new_name!r}, which does not exist"
                    )
                current = new_name
            if after is not None:
                try:
                    after(index, current)
                except Exception as exc:
                    raise self._failure(
                        cb, current, later, f"completed, but recording it failed: {exc!r}"
                    ) from exc
        return current

    #: How a failed step is logged; a chain that retries (shipping) logs attempts lower.
    failure_log_level = logging.ERROR

    def _failure(self, cb: object, path: str, later: list[object], what: str, *,
                 exc_info: bool = False) -> CallbackError:
        # One line with what an operator acts on: the step, the file, the cause, what did not
        # run. The traceback goes with the log record (shown by ``shoebox -v``).
        name = callback_name(cb)
        skipped = tuple(callback_name(c) for c in later)
        message = f"on_close step {name} failed for {path}: {what}; the file is kept"
        if skipped:
            message += f" (not run: {', '.join(skipped)})"
        logger.log(
            self.failure_log_level,
            "%s",
            message,
            exc_info=exc_info,
            extra={"callback": name, "archive": path, "skipped": skipped},
        )
        return CallbackError(message, callback=name, path=path, skipped=skipped)


def _cause(exc: BaseException) -> str:
    """``OSError: the store is down``: the exception's type and first line, never a repr."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _not_a_callback(obj: object) -> str:
    if isinstance(obj, type):
        return f"{obj.__qualname__} is a class; pass an instance, e.g. {obj.__qualname__}(...)"
    return f"{obj!r} is not a callback: it has neither on_open nor on_close"
