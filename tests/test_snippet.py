"""The stacktach-shoebox README snippet runs unchanged and reads the ten records back in order."""

from __future__ import annotations

import os


def test_readme_snippet_runs_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []

    # ---- the snippet, unchanged (plus one line to keep what it reads) ----
    from shoebox_core import roll_checker, roll_manager
    checker = roll_checker.SizeRollChecker(roll_size_mb=100)
    x = roll_manager.WritingRollManager("test_%c.events", checker)
    for index in range(10):
        x.write({"index": str(index)}, "payload_%d" % index)  # noqa: UP031
    x.close()
    manager = roll_manager.ReadingRollManager("test_*.events")
    while True:
        try:
            metadata, json_payload = manager.read()
            seen.append((metadata, json_payload))
        except roll_manager.NoMoreFiles:
            break
    # ----------------------------------------------------------------------

    assert seen == [({"index": str(i)}, f"payload_{i}") for i in range(10)]
    assert all(type(payload) is str for _, payload in seen)
    names = os.listdir(tmp_path)
    assert len(names) == 1 and names[0].startswith("test_") and names[0].endswith(".events")
    assert " " not in names[0] and ":" not in names[0]
