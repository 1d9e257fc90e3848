"""The Prometheus endpoint of a writer, scraped over real HTTP: an application's writer
(``metrics_port=``) and ``shoebox write --metrics-port``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shoebox_core.errors import CallbackError, VerificationError
from shoebox_core.ship.transfer import Transfer
from shoebox_core.testing.servers.moto import free_port
from shoebox_core.write.checkers import CountRollChecker
from shoebox_core.write.manager import WritingRollManager


def scrape(port: int) -> dict[str, float]:
    """Every sample of ``http://127.0.0.1:port/metrics``: name -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {sample.name: sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


class CorruptingTransfer(Transfer):
    """A memory:// transfer whose store keeps a damaged copy of one archive (``m_000001``)."""

    def upload(self, local: str, remote: str, digest: Any) -> None:
        if "m_000001" in remote:
            self.fs.pipe_file(remote, b"not the archive")
        else:
            super().upload(local, remote, digest)


def test_an_applications_writer_serves_true_counters(tmp_path: Path) -> None:
    url = f"memory://metrics/{uuid.uuid4().hex}"
    transfer = CorruptingTransfer(url=url)
    writer = WritingRollManager("m_{seq}.events", CountRollChecker(roll_records=10),
                                str(tmp_path), [transfer], metrics_port=0,
                                retry={"max_attempts": 1, "requeue_after": None})
    port = writer.metrics_server.server_port
    before = scrape(port)
    assert before["shoebox_records_written_total"] == 0
    assert before["shoebox_files_shipped_total"] == 0
    for i in range(40):
        writer.write({"i": str(i)}, f"record {i}")
    writer.write({"i": "40"}, "the active file")
    assert writer.closer is not None and writer.closer.drain(60)
    now = scrape(port)
    assert now["shoebox_records_written_total"] == 41
    assert now["shoebox_files_sealed_total"] == 4
    # One copy is damaged on the remote: it never counts as shipped.
    assert now["shoebox_files_shipped_total"] == 3
    assert now["shoebox_files_failed_total"] == 1
    sizes = sum(os.path.getsize(tmp_path / n) for n in os.listdir(tmp_path)
                if n.endswith(".events"))
    assert now["shoebox_bytes_written_total"] >= sizes
    assert now["shoebox_bytes_shipped_total"] > 0
    assert now["shoebox_shipping_backlog_files"] == 1, "the damaged one waits to be tried again"
    assert now["shoebox_remote_down"] == 0
    with pytest.raises(CallbackError) as caught:
        writer.close()
    assert isinstance(caught.value.__cause__, VerificationError)
    with pytest.raises(OSError):
        scrape(port)  # closed with the writer


def test_shoebox_write_serves_metrics_while_it_runs(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'remote'}"
    os.makedirs(tmp_path / "remote")
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'directory = "{tmp_path / "spool"}"\ntemplate = "w_{{seq}}.events"\n\n'
        '[[roll]]\nplugin = "count"\nroll_records = 5\n\n'
        f'[[on_close]]\nplugin = "fsspec"\nurl = "{url}"\n')
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shoebox_core", "write", "-c", str(config), "--metrics-port",
         str(port)], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdin is not None
    process.stdin.write("".join(json.dumps({"n": i}) + "\n" for i in range(12)))
    process.stdin.flush()
    deadline = time.monotonic() + 60
    seen: dict[str, float] = {}
    while seen.get("shoebox_files_shipped_total", 0) < 2:
        assert time.monotonic() < deadline and process.poll() is None, seen
        try:
            seen = scrape(port)
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    assert seen["shoebox_files_sealed_total"] == 2
    assert seen["shoebox_records_written_total"] >= 10
    _, stderr = process.communicate(timeout=60)  # closes stdin: the input ends
    assert process.returncode == 0, stderr
    assert sorted(os.listdir(tmp_path / "remote")) == [f"w_{i:06d}.events" for i in range(3)]


class DownTransfer(Transfer):
    """A memory:// transfer whose store refuses every connection."""

    def remote_info(self, remote: str) -> Any:
        raise ConnectionRefusedError("connection refused")


def test_while_the_remote_is_down_the_metrics_say_so(tmp_path: Path) -> None:
    transfer = DownTransfer(url=f"memory://metrics/{uuid.uuid4().hex}")
    writer = WritingRollManager("d_{seq}.events", CountRollChecker(roll_records=1),
                                str(tmp_path), [transfer], metrics_port=0,
                                retry={"max_attempts": 2, "initial_delay": 0.05,
                                       "max_delay": 30, "multiplier": 100, "jitter": 0})
    for i in range(3):
        writer.write({}, f"record {i}")
    closer = writer.closer
    assert closer is not None
    deadline = time.monotonic() + 60
    while closer.stats().parked < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    now = scrape(writer.metrics_server.server_port)
    assert now["shoebox_remote_down"] == 1
    assert now["shoebox_shipping_backlog_files"] == 3
    assert now["shoebox_shipping_oldest_waiting_seconds"] > 0
    assert now["shoebox_shipping_retries_total"] >= 1
    assert now["shoebox_files_shipped_total"] == 0
    writer.close_timeout = 1
    with pytest.raises(CallbackError, match="connection refused"):
        writer.close()


def test_a_partitioned_writer_serves_one_endpoint_summed_over_its_partitions(
        tmp_path: Path) -> None:
    writer = WritingRollManager("p_{seq}.events", CountRollChecker(roll_records=5),
                                str(tmp_path), metrics_port=0, partition_by=["kind"],
                                max_partitions=3)
    port = writer.metrics_server.server_port
    writer.start()  # what `shoebox write` calls first: must exist on a partitioned writer too
    for i in range(12):
        writer.write({"kind": "abc"[i % 3]}, f"record {i}")
    now = scrape(port)
    assert now["shoebox_records_written_total"] == 12
    writer.close()
    assert len(writer.sealed) == 3  # one archive per partition, none reached 5 records
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
