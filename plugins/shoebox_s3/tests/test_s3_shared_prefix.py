"""Two writers, one template, one S3 prefix: a resumed upload never overwrites the other's object
(a noted name is a reservation only while the object there is absent, partial or ours)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import s3fs
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.journal import load_journal
from shoebox_core.testing.servers.moto import MotoServer
from shoebox_core.write.manager import WritingRollManager

from shoebox_s3 import S3Transfer

# Writer A: its upload stops once the journal has noted the object name (the point where a kill
# leaves "uploading" noted and nothing, or a part, on the remote); the test SIGKILLs it there.
WRITER_A = textwrap.dedent("""
    import os, sys, time
    from shoebox_core.write.manager import WritingRollManager
    from shoebox_s3 import S3Transfer

    spool, marker, endpoint, secret, url = sys.argv[1:6]

    class StoppedMidUpload(S3Transfer):
        def upload(self, local, remote, digest):
            open(marker, "w").close()
            time.sleep(3600)

    transfer = StoppedMidUpload(url=url, endpoint_url=endpoint, key="testing", secret=secret,
                                remove_local=True)
    writer = WritingRollManager("ev_{seq}.events", None, spool, [transfer])
    for i in range(3):
        writer.write({"writer": "A"}, f"A {i}")
    writer.close()
""")


def test_a_resumed_upload_never_overwrites_another_writers_object(
    moto: MotoServer, tmp_path: Path
) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"shoebox-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **moto.storage_options())
    fs.mkdir(bucket)
    url = f"s3://{bucket}/shared"
    spool_a, spool_b = tmp_path / "host-a", tmp_path / "host-b"
    script, marker = tmp_path / "writer_a.py", tmp_path / "uploading"
    script.write_text(WRITER_A)
    a = subprocess.Popen([sys.executable, str(script), str(spool_a), str(marker),
                          moto.endpoint_url, moto.secret, url])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert a.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    a.send_signal(signal.SIGKILL)
    a.wait(30)
    journal = load_journal(str(spool_a / "ev_000000.events.state"))
    assert journal.notes["0"]["phase"] == "uploading"
    assert journal.notes["0"]["path"] == f"{bucket}/shared/ev_000000.events"

    # Host B ships its own ev_000000.events to the same name, verifies it, removes its copy.
    transfer_b = S3Transfer(url=url, endpoint_url=moto.endpoint_url, key="testing",
                            secret=moto.secret, remove_local=True)
    with WritingRollManager("ev_{seq}.events", None, str(spool_b), [transfer_b]) as writer:
        for i in range(2):
            writer.write({"writer": "B"}, f"B {i}")
    assert os.listdir(spool_b) == []
    b_object = fs.cat_file(f"{bucket}/shared/ev_000000.events")

    # Host A restarts with nothing new to write: it resumes its noted upload.
    config = tmp_path / "a.toml"
    config.write_text(
        f'directory = "{spool_a}"\ntemplate = "ev_{{seq}}.events"\n\n[[on_close]]\n'
        f'plugin = "s3"\nurl = "{url}"\nendpoint_url = "{moto.endpoint_url}"\n'
        f'key = "testing"\nsecret = "{moto.secret}"\nremove_local = true\n')
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    restart = subprocess.run([sys.executable, "-m", "shoebox_core", "write", "-c", str(config)],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                             timeout=120)
    assert restart.returncode == 0, restart.stderr
    assert os.listdir(spool_a) == []

    assert fs.cat_file(f"{bucket}/shared/ev_000000.events") == b_object, "B's object intact"
    assert sorted(fs.find(bucket)) == [f"{bucket}/shared/ev_000000.events",
                                       f"{bucket}/shared/ev_000000~001.events"]
    records = list(ReadingRollManager(f"{url}/ev_*.events",
                                      storage_options=moto.storage_options()))
    assert sorted(payload for _, payload in records) == ["A 0", "A 1", "A 2", "B 0", "B 1"]
    assert sorted(m["writer"] for m, _ in records) == ["A", "A", "A", "B", "B"]
