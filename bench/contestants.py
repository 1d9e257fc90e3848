"""The contestants: shoebox and what users would otherwise archive records with.

Each contestant writes a list of ``(metadata, payload)`` records into a directory and reads them
back, materialising every record as a metadata dict and a payload str: ``read`` is the timed
loop, written the way a user of that format would write it; ``records`` yields the same records
for the untimed check that each format gives back exactly what it was given.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import fastavro
import msgpack
import orjson

from shoebox_core.read import ReadingRollManager
from shoebox_core.write import SizeRollChecker, WritingRollManager

__all__ = ["CONTESTANTS", "Contestant", "ShoeboxV2", "ShoeboxWriteMany"]

Record = tuple[dict[str, str], str]
ROLL_MB = 64
_BUFFER = 1 << 20  # the same file buffer for every contestant that writes through one


class Contestant:
    """One way of archiving records; subclasses set ``name`` and implement the three methods."""

    name = ""
    note = ""

    def write(self, records: Sequence[Record], directory: str) -> None:
        """Write every record into ``directory`` (empty), and close what was opened."""
        raise NotImplementedError

    def read(self, directory: str) -> int:
        """Read every record back (each as a metadata dict and a payload str); return the count."""
        raise NotImplementedError

    def records(self, directory: str) -> Iterator[Record]:
        """The records read back, for checking them (not timed)."""
        raise NotImplementedError


class ShoeboxV2(Contestant):
    """Format v2 through the roll managers: checksums, metadata type checks, size rolls."""

    name = "shoebox v2"
    note = (f"WritingRollManager.write() per record + SizeRollChecker({ROLL_MB} MiB), "
            "then ReadingRollManager")

    def __init__(self, **options: Any) -> None:
        self.options = options

    def write(self, records: Sequence[Record], directory: str) -> None:
        writer = WritingRollManager(
            "bench_{seq}.sbx", SizeRollChecker(roll_size_mb=ROLL_MB), directory, **self.options
        )
        write = writer.write
        for metadata, payload in records:
            write(metadata, payload)
        writer.close()

    def read(self, directory: str) -> int:
        count = 0
        for _metadata, _payload in ReadingRollManager("bench_*.sbx", directory):
            count += 1
        return count

    def records(self, directory: str) -> Iterator[Record]:
        return iter(ReadingRollManager("bench_*.sbx", directory))


class ShoeboxWriteMany(ShoeboxV2):
    """The same archives, written by the batch API ``write_many`` (one call for all records)."""

    name = "shoebox many"
    note = "the same, written with WritingRollManager.write_many(records)"

    def write(self, records: Sequence[Record], directory: str) -> None:
        writer = WritingRollManager(
            "bench_{seq}.sbx", SizeRollChecker(roll_size_mb=ROLL_MB), directory, **self.options
        )
        writer.write_many(records)
        writer.close()


class OrjsonLines(Contestant):
    """JSON lines, one ``[metadata, payload]`` array per line, with orjson."""

    name = "orjson lines"
    note = "orjson.dumps(OPT_APPEND_NEWLINE) / orjson.loads per line; no checksum, no roll"

    def write(self, records: Sequence[Record], directory: str) -> None:
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        with open(os.path.join(directory, "out.jsonl"), "wb", buffering=_BUFFER) as out:
            put = out.write
            for record in records:
                put(dumps(record, option=newline))

    def read(self, directory: str) -> int:
        loads = orjson.loads
        count = 0
        with open(os.path.join(directory, "out.jsonl"), "rb", buffering=_BUFFER) as lines:
            for line in lines:
                metadata, payload = loads(line)
                count += 1
        return count

    def records(self, directory: str) -> Iterator[Record]:
        with open(os.path.join(directory, "out.jsonl"), "rb") as lines:
            for line in lines:
                metadata, payload = orjson.loads(line)
                yield metadata, payload


class JsonLines(Contestant):
    """JSON lines with the standard library's ``json``."""

    name = "json lines"
    note = "json.dumps / json.loads per line (stdlib); no checksum, no roll"

    def write(self, records: Sequence[Record], directory: str) -> None:
        dumps = json.dumps
        with open(os.path.join(directory, "out.jsonl"), "w", encoding="utf-8",
                  buffering=_BUFFER) as out:
            put = out.write
            for record in records:
                put(dumps(record))
                put("\n")

    def read(self, directory: str) -> int:
        loads = json.loads
        count = 0
        with open(os.path.join(directory, "out.jsonl"), encoding="utf-8",
                  buffering=_BUFFER) as lines:
            for line in lines:
                metadata, payload = loads(line)
                count += 1
        return count

    def records(self, directory: str) -> Iterator[Record]:
        with open(os.path.join(directory, "out.jsonl"), encoding="utf-8") as lines:
            for line in lines:
                metadata, payload = json.loads(line)
                yield metadata, payload


class MsgpackStream(Contestant):
    """A bare stream of msgpack ``[metadata, payload]`` arrays."""

    name = "msgpack stream"
    note = "Packer.pack per record / Unpacker over the file; no checksum, no roll"

    def write(self, records: Sequence[Record], directory: str) -> None:
        pack = msgpack.Packer(use_bin_type=True).pack
        with open(os.path.join(directory, "out.msgpack"), "wb", buffering=_BUFFER) as out:
            put = out.write
            for record in records:
                put(pack(record))

    def read(self, directory: str) -> int:
        count = 0
        with open(os.path.join(directory, "out.msgpack"), "rb", buffering=_BUFFER) as stream:
            for _metadata, _payload in msgpack.Unpacker(stream, raw=False, use_list=False):
                count += 1
        return count

    def records(self, directory: str) -> Iterator[Record]:
        with open(os.path.join(directory, "out.msgpack"), "rb") as stream:
            yield from msgpack.Unpacker(stream, raw=False, use_list=False)


_AVRO_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "Record",
        "fields": [
            {"name": "metadata", "type": {"type": "map", "values": "string"}},
            {"name": "payload", "type": "string"},
        ],
    }
)


class FastavroContainer(Contestant):
    """An Avro object container file written and read by fastavro, no codec."""

    name = "fastavro null"
    note = "fastavro.writer(codec='null') / fastavro.reader; Avro sync markers, no checksum"

    def write(self, records: Sequence[Record], directory: str) -> None:
        with open(os.path.join(directory, "out.avro"), "wb", buffering=_BUFFER) as out:
            fastavro.writer(
                out,
                _AVRO_SCHEMA,
                ({"metadata": metadata, "payload": payload} for metadata, payload in records),
                codec="null",
            )

    def read(self, directory: str) -> int:
        count = 0
        with open(os.path.join(directory, "out.avro"), "rb", buffering=_BUFFER) as stream:
            records: Any = fastavro.reader(stream)  # of dicts, for a record schema
            for record in records:
                _metadata, _payload = record["metadata"], record["payload"]
                count += 1
        return count

    def records(self, directory: str) -> Iterator[Record]:
        with open(os.path.join(directory, "out.avro"), "rb") as stream:
            records: Any = fastavro.reader(stream)
            for record in records:
                yield record["metadata"], record["payload"]


_FRAME = struct.Struct("<II")  # metadata block length, payload length


class StructFraming(Contestant):
    """Pure-Python framing as stacktach-shoebox did it: lengths packed with ``struct``."""

    name = "struct framing"
    note = "pure Python: <II lengths + counted key/value lengths + UTF-8 bytes; no checksum"

    def write(self, records: Sequence[Record], directory: str) -> None:
        frame = _FRAME.pack
        pack = struct.pack
        with open(os.path.join(directory, "out.bin"), "wb", buffering=_BUFFER) as out:
            put = out.write
            for metadata, payload in records:
                strings = [text.encode() for pair in metadata.items() for text in pair]
                lengths = [len(data) for data in strings]
                block = pack(f"<I{len(lengths)}I", len(lengths), *lengths) + b"".join(strings)
                body = payload.encode()
                put(frame(len(block), len(body)))
                put(block)
                put(body)

    def read(self, directory: str) -> int:
        count = 0
        for _metadata, _payload in self.records(directory):
            count += 1
        return count

    def records(self, directory: str) -> Iterator[Record]:
        unpack_frame = _FRAME.unpack
        unpack_from = struct.unpack_from
        with open(os.path.join(directory, "out.bin"), "rb", buffering=_BUFFER) as stream:
            read = stream.read
            while True:
                head = read(8)
                if not head:
                    return
                block_len, body_len = unpack_frame(head)
                block = read(block_len)
                (n,) = unpack_from("<I", block)
                lengths = unpack_from(f"<{n}I", block, 4)
                position = 4 + 4 * n
                strings = []
                for length in lengths:
                    strings.append(block[position:position + length].decode())
                    position += length
                metadata = dict(zip(strings[::2], strings[1::2]))
                yield metadata, read(body_len).decode()


CONTESTANTS: tuple[type[Contestant], ...] = (
    ShoeboxV2,
    ShoeboxWriteMany,
    OrjsonLines,
    JsonLines,
    MsgpackStream,
    FastavroContainer,
    StructFraming,
)
