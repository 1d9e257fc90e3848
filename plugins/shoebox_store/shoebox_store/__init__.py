"""shoebox-store: encore.storage's key-value API, fixed, on two backends.

* :class:`FileSystemStore` and :func:`init_shared_store`: encore's own file layout
  (``<key>.data`` + ``<key>.metadata`` under a directory with a magic file), in a local
  directory or at any fsspec URL; stores made by encore open unchanged.
* :class:`ArchiveStore`: a log-structured store on shoebox archives in a local directory;
  fast, crash-safe sets, one-seek gets, compaction.

Both offer the same API (``get``, ``set``, ``query``, ``glob``, ``multiget``, ``to_file``,
events...); :func:`open_store` opens either by what is at a location.
"""

from __future__ import annotations

from .archive import ArchiveStore
from .base import BaseStore
from .errors import InvalidKey, NotAStore, StoreError, StoreLocked
from .events import (
    EventManager,
    StoreDeleteEvent,
    StoreEvent,
    StoreKeyEvent,
    StoreModificationEvent,
    StoreProgressEndEvent,
    StoreProgressEvent,
    StoreProgressStartEvent,
    StoreProgressStepEvent,
    StoreSetEvent,
    StoreTransactionEndEvent,
    StoreTransactionEvent,
    StoreTransactionStartEvent,
    StoreUpdateEvent,
)
from .filesystem import FileSystemStore, init_shared_store
from .opening import create_store, open_store
from .value import Value

__version__ = "0.1.0"

__all__ = [
    "ArchiveStore",
    "BaseStore",
    "EventManager",
    "FileSystemStore",
    "InvalidKey",
    "NotAStore",
    "StoreDeleteEvent",
    "StoreError",
    "StoreEvent",
    "StoreKeyEvent",
    "StoreLocked",
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
    "Value",
    "create_store",
    "init_shared_store",
    "open_store",
]
