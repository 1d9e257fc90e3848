"""The transaction context of :class:`~shoebox_store.base.BaseStore`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .events import StoreTransactionEndEvent, StoreTransactionStartEvent

if TYPE_CHECKING:
    from .base import BaseStore

__all__ = ["Transaction"]


class Transaction:
    """The store's one transaction context; nested ``with`` blocks join the outermost one."""

    def __init__(self, store: BaseStore, notes: str) -> None:
        self.store = store
        self.notes = notes

    def __enter__(self) -> Transaction:
        store = self.store
        if store._depth == 0:
            store._queued = []
            store._begin(self.notes)
            store._emit(StoreTransactionStartEvent(store, notes=self.notes))
        store._depth += 1
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        store = self.store
        store._depth -= 1
        if exc_type is not None:
            store._failed = True
        if store._depth:
            return
        failed, store._failed = store._failed, False
        queued, store._queued = store._queued, None
        if failed:
            store._rollback()
        else:
            store._commit()
        store._emit(StoreTransactionEndEvent(store, notes=self.notes, committed=not failed))
        if not failed and queued:
            for event in queued:
                store._emit(event)
