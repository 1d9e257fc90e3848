"""FORMAT.md's in-progress files: a live writer's ``.inprogress`` file read with
``in_progress=True`` gives every complete block's records and ends quietly at its unfinished tail;
a bad checksum on a complete block is still damage."""

from __future__ import annotations

import io

import pytest

from shoebox_core.errors import CorruptArchive, TruncatedArchive
from shoebox_core.format import read_records
from shoebox_core.write import CountRollChecker, WritingRollManager


def records(n: int) -> list[tuple[dict[str, str], str]]:
    return [({"i": str(i)}, f"payload {i}") for i in range(n)]


@pytest.fixture
def live(tmp_path):
    """A writer with 6 records in 3 flushed blocks, its file still in progress."""
    writer = WritingRollManager("live_{seq}.events", CountRollChecker(roll_records=1000),
                                str(tmp_path), block_records=2, flush_interval=None)
    for metadata, payload in records(6):
        writer.write(metadata, payload)
    writer.flush()
    (path,) = tmp_path.glob("*.inprogress")
    yield path
    writer.close()


def read(data: bytes, **options):
    return list(read_records(io.BytesIO(data), "live.events.inprogress", **options))


def test_a_live_file_reads_quietly_up_to_its_last_complete_block(live):
    data = live.read_bytes()
    assert read(data, in_progress=True) == records(6)
    with pytest.raises(TruncatedArchive) as info:  # strictly, it has no END block yet
        read(data)
    assert info.value.offset == len(data)  # where a follower resumes


def test_every_cut_of_a_live_file_reads_quietly(live):
    data = live.read_bytes()
    seen = []
    for cut in range(len(data) + 1):
        got = read(data[:cut], in_progress=True)
        assert got == records(len(got)), cut  # a prefix of the records, never damage
        seen.append(len(got))
    assert seen == sorted(seen) and seen[-1] == 6 and seen[0] == 0


def test_a_bad_checksum_on_a_complete_block_of_a_live_file_is_damage(live):
    data = bytearray(live.read_bytes())
    data[-3] ^= 0x01  # inside the last complete block's body
    with pytest.raises(CorruptArchive) as info:
        read(bytes(data), in_progress=True)
    assert not isinstance(info.value, TruncatedArchive)
