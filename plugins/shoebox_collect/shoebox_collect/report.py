"""What a collection did: :class:`CollectReport`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CollectReport", "Quarantined"]


@dataclass(frozen=True)
class Quarantined:
    """Something set aside instead of collected: a bad entry or a damaged inbox archive.

    ``inbox`` is the inbox archive it came from, ``what`` the entry's destination (or
    ``"inbox"``), ``reason`` what is wrong and ``saved_as`` where it is kept (None when
    there was nothing to keep).
    """

    inbox: str
    what: str
    reason: str
    saved_as: str | None


@dataclass
class CollectReport:
    """What :func:`~shoebox_collect.collect` did.

    ``added`` / ``present`` list destinations (``archive/entry``) stored now / found already there
    (same name and content); ``renamed`` pairs the staged destination with the name it was stored
    under (its name was taken by a different content); ``quarantined`` the bad entries and damaged
    inboxes set aside; ``abandoned`` counts files whose staging never finished (their block raised,
    or their worker died first); ``recovered`` the dead workers' inboxes sealed;
    ``inboxes_collected`` the inbox archives merged and removed; ``parts_created`` new archive
    files (a first part, or a roll at the cap); ``restored`` destinations put back after a
    collector was killed mid-append; ``deferred`` inboxes left for a later run (a destination
    stayed busy); ``errors`` problems that kept entries in their inbox (a destination that is
    not a readable zip file...).
    """

    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    abandoned: int = 0
    recovered: int = 0
    inboxes_collected: int = 0
    parts_created: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing went wrong (quarantined entries count as wrong)."""
        return not self.errors and not self.quarantined

    def merge(self, other: CollectReport) -> None:
        """Add ``other``'s findings to this report."""
        for name in ("added", "present", "renamed", "quarantined", "parts_created", "restored",
                     "deferred", "errors"):
            getattr(self, name).extend(getattr(other, name))
        self.abandoned += other.abandoned
        self.recovered += other.recovered
        self.inboxes_collected += other.inboxes_collected

    def summary(self) -> str:
        """A few lines for people (what ``shoebox collect`` prints)."""
        lines = [
            f"added {len(self.added)}, already present {len(self.present)}, "
            f"renamed {len(self.renamed)}, quarantined {len(self.quarantined)}, "
            f"abandoned {self.abandoned}; {self.inboxes_collected} inbox archive(s) collected, "
            f"{self.recovered} recovered"
        ]
        lines += [f"renamed: {staged} -> {stored}" for staged, stored in self.renamed]
        lines += [f"quarantined: {q.what} from {q.inbox}: {q.reason}"
                  + (f" (kept as {q.saved_as})" if q.saved_as else "") for q in self.quarantined]
        lines += [f"new archive: {name}" for name in self.parts_created]
        lines += [f"restored after an interrupted collection: {name}" for name in self.restored]
        if self.deferred:
            lines.append(f"deferred: {len(self.deferred)} inbox archive(s) whose destination "
                         "stayed busy; the next run collects them")
        lines += [f"error: {error}" for error in self.errors]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (for ``--json``)."""
        return asdict(self)
