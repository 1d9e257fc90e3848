"""The writer's intake: records checked, encoded and waiting to be moved into the archive.

``write()`` checks and encodes a record at once, outside any lock (``format.codec``: compiled,
with a pure-Python twin), appends it to the inbox and, once enough records wait, moves them into
the archive under the lock. Compiled, ``write()`` is one C call (``format._native.Intake``, the
base class here); pure, it is :class:`PythonIntake`'s few lines doing the same. ``write_many()``
checks and encodes a batch in one call; a record out of the ordinary (a subclass, a big record,
one that is refused) stops it and alone takes the record-by-record path, which raises at the
right record.

:class:`RecordIntake` holds these methods, and the move of the inbox into the archive
(``_take_inbox``: rolls where the policy says, and "not stored" kept true when it fails), for
:class:`~shoebox_core.write.manager.WritingRollManager`, which inherits them (a call per record
through a helper object would cost the hot path a tenth of its speed).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..errors import ArchiveError, RecordTooLarge, ShoeboxError

# The checks and the encoding live in format.codec: compiled, with a pure-Python twin.
from ..format.codec import (
    _NATIVE_MODULE,
    as_metadata,
    as_payload,
    encode_batch,
    metadata_error,
    new_pack,
)
from ..format.codec import _PACKERS as PACKERS
from ..format.codec import _unencodable as unencodable

if TYPE_CHECKING:
    from .archive import ActiveArchive
    from .handoff import Handoff
    from .policy import RollPolicy

__all__ = ["BIG_RECORD", "PACKERS", "PythonIntake", "RecordIntake", "as_metadata", "as_payload",
           "isascii", "metadata_error", "new_pack", "pack_batch"]

log = logging.getLogger("shoebox")

isascii = str.isascii
# A record this long or longer skips the writer's in-memory batch and is written under the lock
# at once (so a batch never holds more than a few MiB).
BIG_RECORD = 32 * 1024
_MANY = 512  # records write_many() checks and encodes together


def pack_batch(records: Sequence[Any], max_bytes: int) -> list[bytes]:
    """Check and encode ``(metadata, payload)`` pairs as write() does, without a call per record.

    Returns the encoded records up to the first that must go the record-by-record way (all of
    them when there is none): anything other than a pair of a plain dict of str and a str or
    bytes payload, a record msgpack refuses, or one of :data:`BIG_RECORD` bytes or more. That
    record is ``records[len(result)]``; the write() path then takes it, or raises for it.
    """
    big = min(max_bytes + 1, BIG_RECORD)
    whole = encode_batch(records if type(records) is list else list(records), big)
    if whole is not None:  # the usual case: the whole batch in one call
        return whole
    packed: list[bytes] = []
    put = packed.append
    try:
        pack = PACKERS.pop()
    except IndexError:
        pack = new_pack()
    try:
        for metadata, payload in records:
            if type(metadata) is not dict:
                break
            for key, value in metadata.items():
                isascii(key)
                isascii(value)
            kind = type(payload)
            if kind is not str and kind is not bytes:
                break
            data = pack((metadata, payload))
            if len(data) >= big:
                break
            put(data)
    except (TypeError, ValueError):  # not a pair, not a str, a lone surrogate...
        pass
    finally:
        PACKERS.append(pack)
    return packed


class PythonIntake:
    """``write()`` in Python: the pure path's (``SHOEBOX_PURE_PYTHON=1``, or no compiled
    extension). Compiled, ``shoebox_core.format._native.Intake`` does the same in one C call
    (no Python frame per record) and holds the three fields it reads."""

    _inbox: list[bytes]
    _batch: int
    _big: int

    def _write_now(self, records: list[bytes]) -> None:
        raise NotImplementedError  # RecordIntake's

    def _drain(self, mine: bytes) -> None:
        raise NotImplementedError  # RecordIntake's

    def write(self, metadata: dict[str, str], payload: str | bytes) -> None:
        """Append one record. ``metadata`` maps str to str; ``payload`` is str or bytes and is
        read back as the same type. Raises TypeError naming a bad key, RecordTooLarge.

        The record is checked and encoded at once (later changes to ``metadata`` do not reach
        the archive), then written with the records around it a block at a time.
        """
        # format.codec.pure_encode_record, inlined (a call per record costs the pure path a
        # sixth of its speed); raises, with nothing changed, TypeError naming a bad key, or
        # UnicodeEncodeError naming the key holding a lone surrogate.
        if type(metadata) is dict:
            try:
                for key, value in metadata.items():
                    isascii(key)  # the cheapest complete check of a str: TypeError otherwise
                    isascii(value)
            except TypeError:
                raise metadata_error(metadata) from None
        else:
            metadata = as_metadata(metadata)
        kind = type(payload)
        if kind is not str and kind is not bytes:
            payload = as_payload(payload)
        try:
            pack = PACKERS.pop()
        except IndexError:
            pack = new_pack()
        try:
            data = pack((metadata, payload))
        except UnicodeEncodeError as exc:
            raise unencodable(metadata, payload, exc) from None
        finally:
            PACKERS.append(pack)
        if len(data) >= self._big:
            self._write_now([data])
            return
        inbox = self._inbox
        inbox.append(data)
        if len(inbox) >= self._batch:
            self._drain(data)


if TYPE_CHECKING:
    _IntakeBase = PythonIntake
else:
    _IntakeBase = PythonIntake if _NATIVE_MODULE is None else _NATIVE_MODULE.Intake


class RecordIntake(_IntakeBase):
    """``write()``, ``write_many()`` and the inbox of records waiting for the archive.

    write() encodes each record and appends it to ``_inbox`` without taking the lock; once
    ``_batch`` records wait (or one of ``_big`` bytes comes), the writing thread moves them into
    the archive under the lock (``_take_inbox``). Both gates are 0 while no archive is open or
    after close(), which sends every write() the slow way. ``_batch`` is recomputed after each
    move (:meth:`_set_gates`) so that the records waiting can never reach a roll limit: rolls
    stay exact and happen in the write() of the record that reaches the limit.
    """

    # Set by the writer's __init__ (``_inbox``, ``_batch`` and ``_big``: see PythonIntake).
    _avg: int  # bytes per record lately, to size the batch to a block
    _lock: threading.RLock
    _closed: bool
    _archive: ActiveArchive | None
    _policy: RollPolicy
    _handoff: Handoff
    directory: str
    late_errors: list[Exception]
    max_record_bytes: int
    block_bytes: int
    block_records: int

    def _open_archive(self, *, closing: bool = False) -> ActiveArchive:
        raise NotImplementedError  # the writer's

    def _seal_active(self) -> str | None:
        raise NotImplementedError  # the writer's

    def _drop_broken(self, archive: ActiveArchive) -> None:
        raise NotImplementedError  # the writer's

    def write_many(self, records: Iterable[tuple[dict[str, str], str | bytes]]) -> None:
        """Write each ``(metadata, payload)`` of ``records``, in order, with the checks of
        :meth:`write`, made a batch at a time (well over twice as fast per record).

        A record refused (TypeError, RecordTooLarge, an encoding error) raises; the records before
        it are written, those after it are not.
        """
        iterator = iter(records)
        while batch := list(islice(iterator, _MANY)):
            while batch:
                packed = pack_batch(batch, self.max_record_bytes)
                if packed:
                    self._write_now(packed)
                done = len(packed)
                if done == len(batch):
                    break
                # The one record out of the ordinary goes the way of write(), which raises
                # for it if it must; the rest of the batch is encoded in one loop again.
                metadata, payload = batch[done]
                self.write(metadata, payload)
                batch = batch[done + 1 :]

    def _write_now(self, records: list[bytes]) -> None:
        """Write encoded records under the lock: the first record of a file, a large one, any
        after close(), or a batch of write_many()."""
        with self._lock:
            if self._closed:
                raise ShoeboxError("write() on a closed WritingRollManager")
            # Before a file exists: a record too large must not leave an empty archive.
            size = max(map(len, records))
            if size > self.max_record_bytes:
                raise RecordTooLarge(
                    f"record of {size} bytes (metadata and payload encoded) exceeds "
                    f"max_record_bytes={self.max_record_bytes}"
                )
            self._room_for_more()
            if self._archive is None:
                self._open_archive()
            self._inbox.extend(records)
            try:
                self._take_inbox(mine=records)
            finally:
                self._set_gates()

    def _drain(self, mine: bytes) -> None:
        """Move the waiting records into the archive; ``mine`` is the caller's record."""
        with self._lock:
            inbox = self._inbox
            if self._closed:
                # close() wrote what was waiting; a record that came after it is refused.
                self._withdraw(mine, ShoeboxError("write() on a closed WritingRollManager"))
                return
            try:
                self._room_for_more()
            except Exception as exc:
                self._withdraw(mine, exc)
                return  # another thread stored it before the backlog filled up
            if not any(record is mine for record in reversed(inbox)):
                return  # another thread moved it meanwhile
            try:
                self._take_inbox(mine=(mine,))
            finally:
                self._set_gates()

    def _withdraw(self, mine: bytes, exc: BaseException) -> None:
        """Take the caller's record back out of the inbox and raise ``exc`` (it was not
        stored); nothing if another thread already moved it (then it is stored)."""
        inbox = self._inbox
        for index in range(len(inbox) - 1, -1, -1):
            if inbox[index] is mine:
                del inbox[index]
                raise exc

    def _take_inbox(self, *, closing: bool = False, mine: Sequence[bytes] = ()) -> None:
        """Put the waiting records into blocks, sealing files exactly where the policy says a
        roll is due (lock held).

        ``mine`` are the caller's records (those of the write() or write_many() call being
        served). An exception from here means none of them was stored: the ones not placed are
        dropped from the inbox (the caller was told), and a failure after all of them were
        stored (a seal, a roll checker) is not raised to the caller, who would store them twice,
        but logged and raised by ``close()``.
        """
        inbox = self._inbox
        count = len(inbox)
        if not count:
            return
        batch = inbox[:count]
        del inbox[:count]  # records other threads append meanwhile stay, behind these
        done = 0
        archive = self._archive
        try:
            while done < count:
                archive = self._archive
                if archive is None:
                    archive = self._open_archive(closing=closing)
                done, due = self._policy.take(archive, batch, done, count)
                if due or self._policy.asks_to_roll(archive):
                    self._seal_active()
        except BaseException as exc:
            broken = archive is not None and archive.broken
            # Records not stored: those not placed, and a broken archive's unwritten block.
            lost = batch[max(0, done - archive.pending):] if broken and archive else batch[done:]
            if broken and archive is not None and archive.fd >= 0:
                self._drop_broken(archive)
            ours = {id(record) for record in mine}
            if not broken:  # not placed: kept, in order, for the next attempt (but the caller's)
                inbox[0:0] = [record for record in batch[done:] if id(record) not in ours]
            if ours and not any(id(record) in ours for record in lost):
                self._stored_anyway(exc)
                return
            if broken and isinstance(exc, ArchiveError):
                # Disk full, file too large, I/O error: the waiting records are dropped, not
                # retried (a caller told "not stored" must not find them stored later).
                raise ArchiveError(
                    f"{exc.reason}; up to {len(lost)} record(s) waiting to be written, this "
                    "write's included, were not stored",
                    path=exc.path,
                    offset=exc.offset,
                ) from exc
            raise

    def _room_for_more(self) -> None:
        """Raise BacklogFull, before a record is stored, while ``when_full="raise"`` and the
        backlog of sealed files is full."""
        self._handoff.check_room()

    def _stored_anyway(self, exc: BaseException) -> None:
        """A failure after the caller's records were stored: not raised by write() (a retry
        would store them twice); logged, and raised by ``close()``."""
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt and the like are never held back
        log.error("shoebox: after the records of a write() were stored in %s: %s",
                  self.directory, exc)
        self.late_errors.append(exc)

    def _set_gates(self) -> None:
        """How many records may wait before the next move, and from what size one goes at once
        (lock held)."""
        archive = self._archive
        if archive is None or self._closed:
            self._batch = self._big = 0
            return
        big = min(self.max_record_bytes + 1, BIG_RECORD)
        if archive.pending:
            self._avg = max(1, archive.buffered // archive.pending)
        # What fills the pending block, and some more (so one move writes one block rather than
        # leave a few records short of it), but never so many that the waiting records (each
        # under ``big`` bytes) could reach the file's size or count limit before the last of them.
        per_block = self.block_bytes // self._avg
        batch = min(
            self.block_records - archive.pending,
            (self.block_bytes - archive.buffered) // self._avg + per_block // 8 + 1,
        )
        room = self._policy.room(archive, big)
        if room != math.inf:
            batch = min(batch, int(room))
        self._batch = max(1, batch)
        self._big = big
