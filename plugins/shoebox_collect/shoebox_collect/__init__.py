"""shoebox-collect: rear's job on shoebox's foundations.

Workers stage output files into their own rolling inbox archives; a collector merges the sealed
inboxes (and those dead workers left) into standard zip archives, exactly once, crash-safe and
alongside other collectors::

    from shoebox_collect import Inbox, collect

    with Inbox(base, rotate_seconds=300) as inbox:
        with inbox.open("results.zip/run7/out.txt", "wb") as f:
            f.write(b"...")
        inbox.pickup("/tmp/made-by-a-tool.bin", "results.zip/run7/tool.bin")
    report = collect(base)

``shoebox collect BASE`` runs a collection from the command line.
"""

from __future__ import annotations

from .collector import collect
from .destination import Destination, parse_destination
from .inbox import Inbox
from .report import CollectReport, Quarantined
from .staged import StagedFile, StagedTextFile

__all__ = [
    "CollectReport",
    "Destination",
    "Inbox",
    "Quarantined",
    "StagedFile",
    "StagedTextFile",
    "collect",
    "parse_destination",
]

__version__ = "0.1.0"
