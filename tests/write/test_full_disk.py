"""A full disk, for real (issue 10, item 16): a 1 MiB tmpfs (see ``small_disk.py``) filled while a
new file is opened, while recovery seals a killed writer's file, and while zstd or gzip compress a
sealed file. Each error names the file and says "No space left on device"; nothing is lost."""

from __future__ import annotations

from tests.write.small_disk import run_on_small_disk

# Runs inside the child process that mounted the tmpfs at DISK.
PRELUDE = """
import json, os, signal, subprocess, sys
from shoebox_core.errors import ShoeboxError
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.write.manager import WritingRollManager

SPOOL = os.path.join(DISK, "spool")
os.makedirs(SPOOL)

def fill():
    # Take every free block of the tmpfs.
    fd = os.open(os.path.join(DISK, "filler"), os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)

def free():
    os.unlink(os.path.join(DISK, "filler"))

def error_of(call):
    try:
        call()
    except ShoeboxError as exc:  # the error the user sees, never a raw OSError
        return str(exc)
    return None

def payloads(pattern="*.events*"):
    return [p for _, p in ReadingRollManager(pattern, SPOOL)]
"""


def test_opening_a_new_file_on_a_full_disk() -> None:
    result = run_on_small_disk(PRELUDE + """
w = WritingRollManager("n_{seq}.events", None, SPOOL)
fill()
error = error_of(lambda: w.write({"i": "0"}, "first"))
left = sorted(os.listdir(SPOOL))
free()
w.write({"i": "0"}, "first")  # written again by the caller: stored once
w.close()
print(json.dumps({"error": error, "left": left, "payloads": payloads(), "disk": DISK}))
""")
    assert result["error"] is not None
    assert "No space left on device" in result["error"]
    assert f"{result['disk']}/spool/n_000000.events" in result["error"]
    assert result["left"] == [], "no empty or half-made file left"
    assert result["payloads"] == ["first"]


def test_recovery_on_a_full_disk_names_the_file_and_keeps_it() -> None:
    result = run_on_small_disk(PRELUDE + """
child = '''
import os, signal, sys
from shoebox_core.write.manager import WritingRollManager
w = WritingRollManager("r_{seq}.events", None, sys.argv[1], block_records=10)
for i in range(300):
    w.write({"i": str(i)}, "p%d" % i + "y" * 300)
w.flush()
os.kill(os.getpid(), signal.SIGKILL)
'''
killed = subprocess.run([sys.executable, "-c", child, SPOOL])
assert killed.returncode == -signal.SIGKILL, killed
(inprogress,) = os.listdir(SPOOL)
before = open(os.path.join(SPOOL, inprogress), "rb").read()
fill()
w = WritingRollManager("r_{seq}.events", None, SPOOL)
error = error_of(lambda: w.write({"i": "new"}, "new"))
kept = open(os.path.join(SPOOL, inprogress), "rb").read() == before
left = sorted(os.listdir(SPOOL))
free()
w.write({"i": "new"}, "new")
w.close()
print(json.dumps({"error": error, "inprogress": os.path.join(SPOOL, inprogress), "kept": kept,
                  "left": left, "payloads": payloads()}))
""", size=2 * 1024 * 1024)
    assert result["error"] is not None
    assert "No space left on device" in result["error"]
    assert result["inprogress"] in result["error"]
    assert result["kept"] and result["left"] == [result["inprogress"].rsplit("/", 1)[1]]
    assert result["payloads"] == [f"p{i}" + "y" * 300 for i in range(300)] + ["new"]


def test_compression_on_a_full_disk_says_no_space_and_keeps_the_original() -> None:
    result = run_on_small_disk(PRELUDE + """
from shoebox_core.ship.compress import GzipCallback, ZstdCallback
w = WritingRollManager("c_{seq}.events", None, SPOOL)
for i in range(1500):
    w.write({"i": str(i)}, os.urandom(150).hex())
w.close()
(sealed,) = os.listdir(SPOOL)
path = os.path.join(SPOOL, sealed)
before = open(path, "rb").read()
fill()
errors = {}
for step in (ZstdCallback(level=1), GzipCallback(level=1)):
    errors[step.name] = error_of(lambda: step.on_close(path))
left = sorted(os.listdir(SPOOL))
free()
print(json.dumps({"errors": errors, "path": path, "left": left,
                  "kept": open(path, "rb").read() == before}))
""")
    for codec in ("zstd", "gzip"):
        error = result["errors"][codec]
        assert error is not None, codec
        assert "No space left on device" in error and result["path"] in error, error
        assert "Src size is incorrect" not in error
    assert result["kept"], "the original is untouched"
    assert result["left"] == [result["path"].rsplit("/", 1)[1]], "no partial file left"
