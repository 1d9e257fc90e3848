"""Write the conformance vectors of docs/FORMAT.md into ``conformance/vectors/``.

Every file is built here byte by byte from the specification (msgpack values with the msgpack
library, everything else by hand: no shoebox code is used), with its expected reading: the
records, or the error kind and offset, strict and lenient. Deterministic: fixed sync marker and
timestamps, gzip and zstd streams built by hand from stored / raw blocks (so no compressor
version can change a byte). ``conformance/README.md`` describes the manifest.

Run: ``python conformance/generate.py [DIRECTORY]`` (default: ``vectors`` next to this script);
the byte builders are in ``build.py`` beside it.
"""

from __future__ import annotations

import os
import sys

from build import (
    EXT,
    GIB,
    MAGIC,
    SEALED,
    SYNC,
    Vectors,
    base_fields,
    block,
    end_block,
    file_header,
    gzip_member,
    pack,
    raw_map,
    raw_str,
    records_block,
    records_body,
    v1_record,
    zstd_frame,
)

# -- the vectors ---------------------------------------------------------------------------------
R1 = ({"event_type": "compute.instance.create.end", "host": "c1"}, '{"id": 1}')
R2 = ({"event_type": "compute.instance.delete.end"}, b"\x00\x01binary\xff")
R3 = ({}, "")
V1A = ({"event_type": "a.b", "request_id": "req-1"}, '{"x": 1}')
V1B = ({"event_type": "c.d"}, '{"y": 2}')


def good_file() -> tuple[bytes, list[int]]:
    """A valid archive of two RECORDS blocks, and the offsets of its blocks and END block."""
    parts = [file_header(), records_block([R1, R2]), records_block([R3])]
    parts.append(end_block(3, 2))
    offsets, at = [], 0
    for part in parts:
        offsets.append(at)
        at += len(part)
    return b"".join(parts), offsets[1:]


def valid(v: Vectors) -> None:
    data, _ = good_file()
    v.add("v2-basic.events", data, "two RECORDS blocks (str and bin payloads), then END",
          questions=["walk-through"], records=[R1, R2, R3])
    v.add("v2-no-records.events", file_header() + end_block(0, 0),
          "a sealed file without records: header then END", questions=["walk-through"],
          records=[])
    v.add("v2-empty-records-block.events",
          file_header() + records_block([]) + records_block([R1]) + end_block(1, 2),
          "a RECORDS block of 0 records is valid and counts as a block", questions=["10"],
          records=[R1])
    minimal = {"sync": SYNC, "created_ns": 0, "seq": 0}
    v.add("v2-minimal-header.events", file_header(minimal) + records_block([R1])
          + end_block(1, 1), "only the required header keys, created_ns 0", questions=["6"],
          records=[R1])
    wide = base_fields(created_ns=2**63 - 1, seq=2**53 + 1)
    v.add("v2-wide-integers.events", file_header(wide) + records_block([R1]) + end_block(1, 1),
          "created_ns 2**63-1 and seq 2**53+1: integers are exact 64-bit", questions=["5"],
          records=[R1])
    unknown = base_fields(zz_nil=None, zz_bool=True, zz_float=1.5, zz_bin=b"\x00",
                          zz_array=[1, "a"], zz_map={"k": [None]}, zz_neg=-5)
    v.add("v2-unknown-header-keys.events",
          file_header(unknown) + records_block([R1]) + end_block(1, 1),
          "unknown header keys with values of every non-extension msgpack type",
          questions=["7"], records=[R1])
    for form in ("array16", "fixarray"):
        v.add(f"v2-body-{form}.events",
              file_header() + records_block([R1, R3], form=form) + end_block(2, 1),
              f"a RECORDS body in the {form} form", questions=["walk-through"],
              records=[R1, R3])
    body = records_body([R1, R2])
    v.add("v2-zstd-block.events",
          file_header(base_fields(codec="zstd"))
          + block(1, 2, zstd_frame(body), codec=1, raw_len=len(body)) + end_block(2, 1),
          "a zstd block whose frame declares its content size", questions=["13"],
          records=[R1, R2])
    v.add("v2-zstd-no-content-size.events",
          file_header() + block(1, 2, zstd_frame(body, content_size=None), codec=1,
                                raw_len=len(body)) + end_block(2, 1),
          "a zstd frame without a content size: raw_len is the cap and must match",
          questions=["13"], records=[R1, R2])
    v.add("v2-unknown-kind.events",
          file_header() + records_block([R1]) + block(9, 77, b"\x00not zstd", codec=1,
                                                       raw_len=5000)
          + end_block(1, 1),
          "an unknown block kind (codec 1, body not a frame): checked, skipped, not counted",
          questions=["14"], records=[R1])
    ext_records = [[R1[0], R1[1], "extra", {"k": 1}], [R3[0], R3[1]]]
    v.add("v2-extension-elements.events",
          file_header() + block(1, 2, records_body(ext_records), flags=1) + end_block(2, 1),
          "flag bit 0: records carry extension elements, which readers ignore",
          questions=["15"], records=[R1, R3])
    bom = ({"\ufeffkey": "\ufeffvalue"}, "\ufeff{}")
    v.add("v2-leading-bom.events", file_header() + records_block([bom]) + end_block(1, 1),
          "a leading U+FEFF is text like any other: returned unchanged", questions=["16"],
          records=[bom])
    v.add("v2-end-unknown-keys.events",
          file_header() + records_block([R1])
          + end_block(1, 1, {"sealed_ns": SEALED, "blocks": 1, "recovered": True, "x": [1]}),
          "unknown END keys are ignored", questions=["10"], records=[R1])


def v2_header_damage(v: Vectors) -> None:
    def bad(name: str, data: bytes, about: str, questions: list[str],
            kind: str = "corrupt") -> None:
        v.add(name, data, about, questions=questions, error=(kind, 0),
              lenient=([], [(0, len(data))]), in_progress=(kind, 0) if kind == "corrupt"
              else [])

    tail = records_block([R1]) + end_block(1, 1)
    bad("empty.events", b"", "a 0-byte file (v1 and v2 alike): truncated at 0",
        ["3", "18"], "truncated")
    bad("v2-cut-in-magic.events", MAGIC[:5], "cut inside the magic", ["3", "18"], "truncated")
    bad("v2-cut-in-header.events", file_header()[:30], "cut inside the header fields",
        ["18"], "truncated")
    bad("v2-bad-version.events", file_header(version=3) + tail, "version 3", ["1"])
    bad("v2-header-flags.events", file_header(flags=1) + tail, "file header flags not 0", ["1"])
    bad("v2-header-too-long.events", file_header(length=(1 << 20) + 1)[:40],
        "fields_len over 1 MiB (refused before reading them)", ["1"])
    good = bytearray(file_header() + tail)
    good[20] ^= 1
    bad("v2-header-crc.events", bytes(good), "a flipped bit in the header fields", ["1"])
    bad("v2-header-not-map.events", file_header(raw=pack([1, 2])) + tail,
        "header fields are an array", ["6"])
    bad("v2-header-trailing.events", file_header(raw=pack(base_fields()) + b"\xc0") + tail,
        "a byte after the header fields' map", ["11"])
    for key in ("sync", "created_ns", "seq"):
        bad(f"v2-header-no-{key.replace('_', '-')}.events",
            file_header(base_fields(**{key: None})) + tail, f"required key {key} missing",
            ["6"])
    bad("v2-header-str-created.events", file_header(base_fields(created_ns="1")) + tail,
        "created_ns is a str", ["6"])
    bad("v2-header-negative-seq.events", file_header(base_fields(seq=-1)) + tail,
        "seq is negative", ["6"])
    bad("v2-header-u64-created.events", file_header(base_fields(created_ns=2**64 - 1)) + tail,
        "created_ns beyond 2**63-1", ["5"])
    bad("v2-header-short-sync.events", file_header(base_fields(sync=SYNC[:15])) + tail,
        "a 15-byte sync", ["6"])
    bad("v2-header-name-int.events", file_header(base_fields(name=5)) + tail,
        "name is an int", ["6"])
    fields = pack(base_fields())
    bad("v2-header-int-key.events",
        file_header(raw=bytes([fields[0] + 1]) + fields[1:] + pack(1) + pack("x")) + tail,
        "a non-string key in the header fields", ["7"])
    bad("v2-header-checksum.events", file_header(base_fields(checksum="xxh64")) + tail,
        "an unknown checksum", ["7"])
    bad("v2-header-codec.events", file_header(base_fields(codec="lz4")) + tail,
        "an unknown codec name", ["7"])
    bad("v2-header-ext.events",
        file_header(raw=bytes([fields[0] + 1]) + fields[1:] + pack("zz") + EXT) + tail,
        "an extension type as an unknown key's value", ["8"])
    bad("v2-header-duplicate-key.events",
        file_header(raw=bytes([fields[0] + 1]) + fields[1:] + pack("seq") + pack(1)) + tail,
        "a duplicate key in the header fields", ["16"])
    bad("v2-header-bad-utf8.events",
        file_header(raw=bytes([fields[0] + 1]) + fields[1:] + raw_str(b"k\xff") + pack(1))
        + tail, "invalid UTF-8 in a header key", ["16"])
    bad("not-an-archive.txt", b"hello, world\n", "neither magic: not an archive", ["3"])


def v2_block_damage(v: Vectors) -> None:
    data, (b1, b2, end) = good_file()
    size = len(data)
    # truncation
    v.add("v2-cut-between-blocks.events", data[:end], "cut exactly before the END block",
          questions=["walk-through", "19"], error=("truncated", end),
          lenient=([R1, R2, R3], [(end, 0)]), in_progress=[R1, R2, R3])
    v.add("v2-cut-in-block-header.events", data[: b2 + 20], "cut inside a block header",
          questions=["19"], error=("truncated", b2), lenient=([R1, R2], [(b2, 20)]),
          in_progress=[R1, R2])
    v.add("v2-cut-in-body.events", data[: end - 3], "cut inside a block body",
          questions=["19"], error=("truncated", b2), lenient=([R1, R2], [(b2, end - 3 - b2)]),
          in_progress=[R1, R2])
    v.add("v2-header-only.events", data[:b1], "a file header and nothing else",
          questions=["19"], error=("truncated", b1), lenient=([], [(b1, 0)]), in_progress=[])
    huge = file_header() + block(1, 1, b"", stored=GIB, raw_len=GIB)[:40] + b"\x00" * 10
    v.add("v2-length-beyond-file.events", huge, "stored_len 1 GiB, file far shorter",
          questions=["13"], error=("truncated", b1), lenient=([], [(b1, 50)]), in_progress=[])

    def corrupt_block(name: str, blk: bytes, about: str, questions: list[str],
                      records_after: bool = True) -> None:
        """``blk`` in place of the second block of the good file."""
        whole = data[:b2] + blk + data[end:]
        v.add(name, whole, about, questions=questions, error=("corrupt", b2),
              lenient=([R1, R2], [(b2, len(blk))]), in_progress=("corrupt", b2))

    second = bytearray(data[b2:end])
    for name, at, about in (("sync", 3, "the sync marker"), ("header-crc", 25, "stored_len"),
                            ("body-crc", 45, "the body")):
        bad = bytearray(second)
        bad[at] ^= 0x40
        corrupt_block(f"v2-block-{name}.events", bytes(bad), f"a flipped bit in {about}",
                      ["walk-through"])
    body = records_body([R3])
    corrupt_block("v2-block-over-limit.events", block(1, 1, body, raw_len=GIB + 1,
                                                      stored=GIB + 1)[:40] + body,
                  "stored_len and raw_len over 1 GiB", ["13"])
    corrupt_block("v2-block-unknown-codec.events", block(1, 1, body, codec=2),
                  "codec 2", ["14"])
    corrupt_block("v2-block-none-raw-len.events", block(1, 1, body, raw_len=len(body) + 1),
                  "codec 0 with raw_len != stored_len", ["12"])
    corrupt_block("v2-block-unknown-flag.events", block(1, 1, body, flags=2),
                  "an unknown block flag bit", ["15"])
    corrupt_block("v2-block-extension-no-flag.events",
                  block(1, 1, records_body([[R3[0], R3[1], 1]])),
                  "a record of 3 elements without flag bit 0", ["15"])
    corrupt_block("v2-block-count-mismatch.events", records_block([R3], count=2),
                  "the body holds 1 record, the header says 2", ["walk-through"])
    corrupt_block("v2-block-trailing.events", block(1, 1, body + b"\xc0"),
                  "a byte after the records array", ["11"])
    for name, record, about in (
        ("int-value", [{"k": 1}, "p"], "an int metadata value"),
        ("bin-value", [{"k": b"v"}, "p"], "a bin metadata value"),
        ("bin-key", [{b"k": "v"}, "p"], "a bin metadata key"),
        ("meta-array", [["k", "v"], "p"], "metadata that is an array"),
        ("nil-payload", [{}, None], "a nil payload"),
        ("int-payload", [{}, 7], "an int payload"),
        ("record-map", {"k": "v"}, "a record that is a map"),
        ("record-short", [{}], "a record of one element"),
    ):
        corrupt_block(f"v2-record-{name}.events", records_block([pack(record)]), about, ["9"])
    corrupt_block("v2-record-ext-payload.events",
                  records_block([b"\x92\x80" + EXT]), "an extension type as payload", ["8"])
    corrupt_block("v2-record-ext-value.events",
                  records_block([b"\x92\x81" + pack("k") + EXT + pack("p")]),
                  "an extension type as a metadata value", ["8"])
    corrupt_block("v2-record-ext-element.events",
                  block(1, 1, records_body([b"\x93\x80" + pack("p") + EXT]), flags=1),
                  "an extension type as an extension element", ["8"])
    corrupt_block("v2-record-duplicate-key.events",
                  records_block([b"\x92" + raw_map((pack("k"), pack("a")), (pack("k"),
                                                                             pack("b")))
                                 + pack("p")]), "a duplicate metadata key", ["16"])
    corrupt_block("v2-record-bad-utf8.events",
                  records_block([b"\x92\x80" + raw_str(b"\xed\xa0\x80")]),
                  "invalid UTF-8 (an encoded surrogate) in a str payload", ["16"])
    # zstd (issue 10 item 13)
    zb = records_body([R3])
    for name, frame, raw_len, about in (
        ("raw-len-minus-1", zstd_frame(zb), len(zb) - 1, "raw_len one less than the frame's"),
        ("raw-len-plus-1", zstd_frame(zb), len(zb) + 1, "raw_len one more than the frame's"),
        ("raw-len-plus-100", zstd_frame(zb), len(zb) + 100, "raw_len 100 more"),
        ("bomb-declared", zstd_frame(zb, content_size=3 * GIB), len(zb),
         "a frame declaring 3 GiB of content"),
        ("bomb-undeclared", zstd_frame(zb, content_size=None, rle=1 << 20), len(zb),
         "a frame without content size inflating to 1 MiB past raw_len"),
        ("short-undeclared", zstd_frame(zb[:-1], content_size=None), len(zb),
         "a frame without content size holding fewer than raw_len bytes"),
        ("junk-after", zstd_frame(zb) + b"junk", len(zb), "bytes after the frame"),
        ("two-frames", zstd_frame(zb[:2]) + zstd_frame(zb[2:]), len(zb), "two frames"),
        ("skippable", b"\x50\x2a\x4d\x18\x00\x00\x00\x00" + zstd_frame(zb), len(zb),
         "a skippable frame before the frame"),
        ("not-zstd", zb, len(zb), "codec 1 over a body that is no frame"),
    ):
        corrupt_block(f"v2-zstd-{name}.events", block(1, 1, frame, codec=1, raw_len=raw_len),
                      about, ["13"])
    # the END block
    head_and_blocks = data[:end]

    def bad_end(name: str, blk: bytes, about: str, questions: list[str]) -> None:
        v.add(name, head_and_blocks + blk, about, questions=questions,
              error=("corrupt", end), lenient=([R1, R2, R3], [(end, len(blk))]),
              in_progress=("corrupt", end))

    bad_end("v2-end-wrong-count.events", end_block(4, 2), "END counts 4 records, blocks held 3",
            ["10", "20"])
    bad_end("v2-end-wrong-blocks.events", end_block(3, 3), "END says 3 blocks, file held 2",
            ["10"])
    bad_end("v2-end-no-sealed.events", end_block(3, 2, {"blocks": 2}), "END without sealed_ns",
            ["10"])
    bad_end("v2-end-empty-map.events", end_block(3, 2, {}), "END body {}", ["10"])
    bad_end("v2-end-array.events", end_block(3, 2, body=pack([SEALED, 2])), "END body an array",
            ["10"])
    bad_end("v2-end-trailing.events",
            end_block(3, 2, body=pack({"sealed_ns": SEALED, "blocks": 2}) + b"\x00"),
            "a byte after the END map", ["10", "11"])
    bad_end("v2-end-str-sealed.events", end_block(3, 2, {"sealed_ns": "x", "blocks": 2}),
            "sealed_ns is a str", ["10"])
    bad_end("v2-end-flags.events", end_block(3, 2, flags=1), "END with a flag bit", ["15"])
    end_body = pack({"sealed_ns": SEALED, "blocks": 2})
    bad_end("v2-end-zstd.events", block(2, 3, zstd_frame(end_body), codec=1,
                                        raw_len=len(end_body)), "a compressed END", ["14"])
    # damage skipped: END counts are not checked
    flipped = bytearray(data)
    flipped[b2 + 45] ^= 0x40
    v.add("v2-damage-then-end.events", bytes(flipped),
          "a bad block: strict fails there; lenient skips it and does not check END's counts",
          questions=["20"], error=("corrupt", b2), lenient=([R1, R2], [(b2, end - b2)]))
    # after END (issue 10 item 8)
    v.add("v2-doubled.events", data + data, "an archive appended to itself (cat a >> a)",
          questions=["2"], error=("corrupt", size), lenient=([R1, R2, R3], [(size, size)]))
    v.add("v2-after-end.events", data + b"\n", "one byte after the END block", questions=["2"],
          error=("corrupt", size), lenient=([R1, R2, R3], [(size, 1)]))


def legacy(v: Vectors) -> None:
    a, b = v1_record(*V1A), v1_record(*V1B)
    v.add("v1-le.events", a + b, "stacktach-shoebox v1, little-endian", questions=["4"],
          records=[V1A, V1B])
    v.add("v1-be.events", v1_record(*V1A, ">") + v1_record(*V1B, ">"),
          "v1 written on a big-endian machine", questions=["4"], records=[V1A, V1B])
    cut = len(a) + len(b) - 3
    v.add("v1-cut.events", (a + b)[:cut], "v1 cut inside its second record",
          questions=["21"], error=("truncated", len(a)), lenient=([V1A], [(len(a), cut - len(a))]))
    v.add("v1-cut-preamble.events", a[:3], "v1 cut inside the first preamble",
          questions=["3", "21"], error=("truncated", 0), lenient=([], [(0, 3)]))
    bad = v1_record(*V1B, end=7)
    v.add("v1-end-marker.events", a + bad + a, "a non-zero end-of-record marker",
          questions=["21"], error=("corrupt", len(a)),
          lenient=([V1A, V1A], [(len(a), len(bad))]))
    utf = v1_record({"k": "v"}, "", raw_payload=b"\xff")
    v.add("v1-bad-utf8.events", a + utf, "invalid UTF-8 in a v1 payload", questions=["21"],
          error=("corrupt", len(a)), lenient=([V1A], [(len(a), len(utf))]))
    mixed = v1_record(*V1B, ">")
    v.add("v1-mixed-order.events", a + mixed, "a big-endian record after a little-endian one",
          questions=["4"], error=("corrupt", len(a)), lenient=([V1A], [(len(a), len(mixed))]))


def whole_file(v: Vectors) -> None:
    data, (_b1, b2, end) = good_file()
    size = len(data)
    v.add("v2-basic.events.gz", gzip_member(data), "a v2 archive gzipped whole",
          questions=["17"], records=[R1, R2, R3])
    v.add("v2-basic.events.zst", zstd_frame(data), "a v2 archive in one zstd frame",
          questions=["17"], records=[R1, R2, R3])
    v.add("v2-members.events.gz", gzip_member(data[:100]) + gzip_member(data[100:]),
          "two gzip members read as one stream", questions=["17"], records=[R1, R2, R3])
    v.add("v2-frames.events.zst", zstd_frame(data[:100]) + zstd_frame(data[100:]),
          "two zstd frames read as one stream", questions=["17"], records=[R1, R2, R3])
    v.add("v1-le.events.gz", gzip_member(v1_record(*V1A)), "a v1 file gzipped",
          questions=["17"], records=[V1A])
    member = gzip_member(data)
    v.add("v2-cut.events.gz", member[:-20], "a gzip stream cut short (deflate and trailer)",
          questions=["17"], error=("truncated", None), lenient=(None, [(None, 0)]))
    v.add("v2-bad-crc.events.gz", gzip_member(data, bad_crc=True),
          "a gzip member failing its CRC-32", questions=["17"], error=("corrupt", None),
          lenient=(None, [(None, None)]))
    v.add("v2-garbage.events.gz", member + b"garbage",
          "bytes after the last gzip member", questions=["17"], error=("corrupt", size),
          lenient=([R1, R2, R3], [(size, 0)]))
    v.add("v2-garbage.events.zst", zstd_frame(data) + b"garbage!",
          "bytes after the last zstd frame", questions=["17"], error=("corrupt", size),
          lenient=([R1, R2, R3], [(size, 0)]))
    frame = zstd_frame(data)
    v.add("v2-cut.events.zst", frame[:-30], "a zstd frame cut short", questions=["17"],
          error=("truncated", None), lenient=(None, [(None, 0)]))
    v.add("v2-inner-cut.events.gz", gzip_member(data[:end]),
          "a whole gzip stream of a v2 file cut before END: offsets are decompressed ones",
          questions=["17"], error=("truncated", end), lenient=([R1, R2, R3], [(end, 0)]))
    flipped = bytearray(data)
    flipped[b2 + 45] ^= 0x40
    v.add("v2-inner-damage.events.zst", zstd_frame(bytes(flipped)),
          "a damaged block inside a zstd stream: lenient skips it as uncompressed",
          questions=["17"], error=("corrupt", b2), lenient=([R1, R2], [(b2, end - b2)]))
    v.add("empty.events.gz", gzip_member(b""), "a gzip stream of nothing", questions=["3", "17"],
          error=("truncated", 0), lenient=([], [(0, None)]))
    v.add("v2-nested.events.gz.gz", gzip_member(gzip_member(data)),
          "compression inside compression: not an archive", questions=["17"],
          error=("corrupt", 0), lenient=([], [(0, None)]))


def build() -> Vectors:
    """Every vector, in manifest order."""
    v = Vectors()
    for section in (valid, v2_header_damage, v2_block_damage, legacy, whole_file):
        section(v)
    return v


def main(argv: list[str]) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    directory = argv[1] if len(argv) > 1 else os.path.join(here, "vectors")
    vectors = build()
    vectors.write(directory)
    print(f"{len(vectors.files)} vectors, {sum(map(len, vectors.files.values()))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
