"""Store events, as encore.storage had them, delivered to callbacks connected to one store.

Connect a callback to an event class (and its subclasses), optionally with a filter: a dict of
attribute values the event must have, or a callable taking the event::

    store.event_manager.connect(StoreSetEvent, print, filter={"key": "report.pdf"})
    store.event_manager.connect(StoreProgressStepEvent, bar.update_to)

Events are objects with the attributes encore gave them: ``source`` (the store) on all of them;
``key`` and ``metadata`` on key events; ``operation_id``, ``message``, ``steps`` / ``step`` /
``exit_state`` on progress events; ``notes`` on transaction events. Inside a transaction, the
set, update and delete events are delivered when it ends, and only if it succeeded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

__all__ = [
    "EventManager",
    "ProgressReporter",
    "StoreDeleteEvent",
    "StoreEvent",
    "StoreKeyEvent",
    "StoreModificationEvent",
    "StoreProgressEndEvent",
    "StoreProgressEvent",
    "StoreProgressStartEvent",
    "StoreProgressStepEvent",
    "StoreSetEvent",
    "StoreTransactionEndEvent",
    "StoreTransactionEvent",
    "StoreTransactionStartEvent",
    "StoreUpdateEvent",
]


class StoreEvent:
    """Base class of every store event; ``source`` is the store, other keywords become
    attributes."""

    def __init__(self, source: Any, **attributes: Any) -> None:
        self.source = source
        self.__dict__.update(attributes)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "source")
        return f"{type(self).__name__}({shown})"


class StoreTransactionEvent(StoreEvent):
    """Base class of the transaction events (attribute ``notes``)."""

    notes: str


class StoreTransactionStartEvent(StoreTransactionEvent):
    """A transaction began."""


class StoreTransactionEndEvent(StoreTransactionEvent):
    """A transaction ended; ``committed`` says whether its changes were kept."""


class StoreKeyEvent(StoreEvent):
    """Base class of events about one key (attributes ``key`` and ``metadata``)."""

    key: str
    metadata: Any


class StoreModificationEvent(StoreKeyEvent):
    """A key was changed; ``action`` is ``"set"``, ``"update"`` or ``"delete"``."""

    action = ""


class StoreSetEvent(StoreModificationEvent):
    """A new key was set."""

    action = "set"


class StoreUpdateEvent(StoreModificationEvent):
    """An existing key was set again, or its metadata was changed."""

    action = "update"


class StoreDeleteEvent(StoreModificationEvent):
    """A key was deleted (``metadata`` is what it had)."""

    action = "delete"


class StoreProgressEvent(StoreKeyEvent):
    """Base class of progress events (``operation_id``, ``message``)."""

    operation_id: int
    message: str


class StoreProgressStartEvent(StoreProgressEvent):
    """A long transfer starts; ``steps`` is its size in bytes, or -1 when unknown."""

    steps: int


class StoreProgressStepEvent(StoreProgressEvent):
    """A long transfer moved on; ``step`` is the number of bytes done so far."""

    step: int


class StoreProgressEndEvent(StoreProgressEvent):
    """A long transfer ended; ``exit_state`` is ``"normal"`` or ``"exception"``."""

    exit_state: str


class EventManager:
    """The callbacks connected to one store, and the delivery of its events."""

    def __init__(self) -> None:
        self._listeners: list[tuple[type, Callable[[Any], Any], Any]] = []

    @property
    def active(self) -> bool:
        """Whether any callback is connected (stores skip building events otherwise)."""
        return bool(self._listeners)

    def connect(self, event_class: type, callback: Callable[[Any], Any],
                filter: dict[str, Any] | Callable[[Any], bool] | None = None) -> None:
        """Call ``callback(event)`` for each event of ``event_class`` (or a subclass) that passes
        ``filter``: a dict of attribute values, or a predicate."""
        if not (isinstance(event_class, type) and issubclass(event_class, StoreEvent)):
            raise TypeError(f"connect: {event_class!r} is not a StoreEvent class")
        if not callable(callback):
            raise TypeError(f"connect: callback {callback!r} is not callable")
        if filter is not None and not (isinstance(filter, dict) or callable(filter)):
            raise TypeError(f"connect: filter must be a dict or a callable, not {filter!r}")
        self._listeners.append((event_class, callback, filter))

    def disconnect(self, callback: Callable[[Any], Any]) -> None:
        """Stop calling ``callback`` (for every event class it was connected to)."""
        self._listeners = [item for item in self._listeners if item[1] != callback]

    def emit(self, event: StoreEvent) -> None:
        """Deliver ``event`` to the matching callbacks, in the order they were connected."""
        for event_class, callback, wanted in list(self._listeners):
            if not isinstance(event, event_class):
                continue
            if isinstance(wanted, dict):
                if any(getattr(event, k, _MISSING) != v for k, v in wanted.items()):
                    continue
            elif wanted is not None and not wanted(event):
                continue
            callback(event)


_MISSING = object()
_operation_ids = itertools.count(1)


class ProgressReporter:
    """Progress events of one transfer: start on entry, ``step`` calls, end on exit.

    Silent (no events built) when nobody listens.
    """

    def __init__(self, source: Any, manager: EventManager, *, key: str, metadata: Any,
                 steps: int, message: str) -> None:
        self.source = source
        self.manager = manager if manager.active else None
        self.key = key
        self.metadata = metadata
        self.steps = steps
        self.message = message
        self.operation_id = next(_operation_ids)

    def _emit(self, cls: type[StoreProgressEvent], **extra: Any) -> None:
        assert self.manager is not None
        self.manager.emit(cls(self.source, key=self.key, metadata=self.metadata,
                              operation_id=self.operation_id, message=self.message, **extra))

    def __enter__(self) -> ProgressReporter:
        if self.manager is not None:
            self._emit(StoreProgressStartEvent, steps=self.steps)
        return self

    def __call__(self, step: int) -> None:
        """Report ``step`` bytes done."""
        if self.manager is not None:
            self._emit(StoreProgressStepEvent, step=step)

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if self.manager is not None:
            self._emit(StoreProgressEndEvent,
                       exit_state="normal" if exc_type is None else "exception")
