"""Deterministic remote object names for sealed archives.

A transfer names the object it uploads from a template mixing three things:

* ``strftime`` codes (``%Y/%m/%d``), expanded in UTC from the archive's creation time as stored
  in its file header (``created_ns``), never from "now": the same file always gets the same name,
  so a retry after a crash overwrites its own earlier attempt instead of adding a second object;
* ``{name}``, the file's name as it is shipped (``x.events.zst``), ``{host}`` and ``{seq}`` from
  the file header;
* any other ``{field}``: a value the user declared (``fields={"env": "prod"}``) or, failing that,
  the value of that metadata key in the archive's first record (``{event_type}``).

Every substituted value is checked so that it cannot leave the prefix: no ``/`` or ``\\``, not
``.`` or ``..``, no control character, not empty. The rendered name is checked again segment by
segment (a strftime code such as ``%D`` may produce a ``/``, which is fine, but never an empty,
``.`` or ``..`` segment, nor a leading ``/``).
"""

from __future__ import annotations

import datetime
import os
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, ObjectNameError

__all__ = [
    "ArchiveFacts",
    "ObjectNameError",
    "ObjectNamer",
    "archive_facts",
    "check_key",
    "check_value",
]

#: Fields every archive provides (from its name and file header).
BUILTIN_FIELDS = ("name", "host", "seq")
MAX_KEY_BYTES = 1024  # S3's limit on a key, a sane one for any store


@dataclass(frozen=True)
class ArchiveFacts:
    """What an object name may be made of, read once from a sealed archive.

    ``created_ns`` comes from the v2 file header (legacy files: the file's mtime); ``metadata`` is
    the first record's metadata (empty for an archive without records).
    """

    name: str
    created_ns: int
    host: str = ""
    seq: int | None = None
    metadata: Mapping[str, str] | None = None


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def check_value(field: str, value: object, *, archive: str = "") -> str:
    """Return ``value`` (as str) if it may stand for ``{field}`` in an object name, else raise
    :class:`ObjectNameError` saying why."""
    where = f" (archive {archive})" if archive else ""
    text = value if isinstance(value, str) else str(value)
    problem = None
    if not text:
        problem = "is empty"
    elif text in (".", ".."):
        problem = f"is {text!r}"
    elif "/" in text or "\\" in text:
        problem = "contains a path separator"
    elif any(_is_control(ch) for ch in text):
        problem = "contains a control character"
    if problem:
        raise ObjectNameError(
            f"field {{{field}}}{where} {problem}: {text!r:.80}; it cannot be part of an object "
            "name (it would leave the prefix or make an ambiguous key)"
        )
    return text


def check_key(key: str, *, archive: str = "") -> str:
    """Return ``key`` if it is a safe relative object name, else raise :class:`ObjectNameError`."""
    where = f" for {archive}" if archive else ""
    problem = None
    if not key:
        problem = "is empty"
    elif key.startswith("/"):
        problem = "is absolute"
    elif len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        problem = f"is longer than {MAX_KEY_BYTES} bytes"
    elif any(_is_control(ch) for ch in key) or "\\" in key:
        problem = "contains a control character or a backslash"
    else:
        bad = [s for s in key.split("/") if s in ("", ".", "..")]
        if bad:
            problem = f"has an empty, '.' or '..' segment ({bad[0]!r})"
    if problem:
        raise ObjectNameError(f"object name {key!r:.120}{where} {problem}")
    return key


class ObjectNamer:
    """Render object names from ``template`` (see the module docstring).

    ``fields`` declares values for template fields (they win over record metadata); ``missing``
    stands for a metadata field the first record lacks (default None: that is an error).
    """

    def __init__(
        self,
        template: str = "{name}",
        *,
        fields: Mapping[str, object] | None = None,
        missing: str | None = None,
    ) -> None:
        if not isinstance(template, str) or not template.strip():
            raise ConfigError(f"object name template must be a non-empty string, got {template!r}")
        if template.startswith("/"):
            raise ConfigError(f"object name template {template!r} must be relative (no leading /)")
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise ConfigError(f"object name template {template!r}: {exc}") from None
        self.template = template
        self._parts: list[tuple[str, str | None, str]] = []
        for literal, field, spec, conversion in parsed:
            if field is not None:
                if not field.isidentifier():
                    raise ConfigError(
                        f"object name template {template!r}: field {{{field}}} must be a plain "
                        "name (no index, attribute or position)"
                    )
                if conversion:
                    raise ConfigError(
                        f"object name template {template!r}: conversions (!{conversion}) are "
                        "not supported"
                    )
            self._parts.append((literal, field, spec or ""))
        self.fields: dict[str, str] = {}
        try:
            for key, value in (fields or {}).items():
                if not isinstance(key, str) or not key.isidentifier():
                    raise ConfigError(f"fields: {key!r} is not a valid field name")
                self.fields[key] = check_value(key, value)
            if missing is not None:
                missing = check_value("missing", missing)
        except ObjectNameError as exc:
            raise ConfigError(f"fields / missing: {exc}") from None
        self.missing = missing
        if "{name}" not in template and not any(f == "name" for _, f, _ in self._parts):
            # Without the file name, two archives of one second would share an object.
            raise ConfigError(
                f"object name template {template!r} must contain {{name}}: without it two "
                "archives could get the same object name"
            )

    @property
    def metadata_fields(self) -> list[str]:
        """Fields that must come from record metadata (neither built in nor declared)."""
        return [
            field
            for _, field, _ in self._parts
            if field is not None and field not in BUILTIN_FIELDS and field not in self.fields
        ]

    def render(self, facts: ArchiveFacts) -> str:
        """The object name (relative to the transfer's prefix) of the archive ``facts`` tell of."""
        when = datetime.datetime.fromtimestamp(facts.created_ns / 1e9, tz=datetime.timezone.utc)
        metadata = facts.metadata or {}
        out: list[str] = []
        for literal, field, spec in self._parts:
            if literal:
                out.append(when.strftime(literal) if "%" in literal else literal)
            if field is None:
                continue
            value: Any
            if field in self.fields:
                value = self.fields[field]
            elif field == "name":
                value = facts.name
            elif field == "host":
                value = facts.host
            elif field == "seq":
                value = facts.seq if facts.seq is not None else 0
            elif field in metadata:
                value = metadata[field]
            elif self.missing is not None:
                value = self.missing
            else:
                raise ObjectNameError(
                    f"field {{{field}}} of object name template {self.template!r}: the first "
                    f"record of {facts.name} has no metadata key {field!r} (declare it in "
                    "fields=, or set missing=)"
                )
            try:
                text = format(value, spec)
            except (TypeError, ValueError) as exc:
                raise ObjectNameError(
                    f"field {{{field}}}: format spec {spec!r} does not apply to {value!r}: {exc}"
                ) from None
            out.append(check_value(field, text, archive=facts.name))
        return check_key("".join(out), archive=facts.name)

    def __repr__(self) -> str:
        return f"ObjectNamer({self.template!r}, fields={self.fields!r}, missing={self.missing!r})"


def archive_facts(path: str, name: str | None = None, *, metadata: bool = False) -> ArchiveFacts:
    """What an object name may use about the archive at ``path`` (see
    :class:`~shoebox_core.ship.object_names.ArchiveFacts`); ``metadata`` reads the first record."""
    from ..read.manager import read_archive
    from ..read.sources import Source, open_archive

    source = Source(path, os.path.getsize(path))
    created: int | None = None
    host = ""
    seq: int | None = None
    with open_archive(source) as opened:
        header = opened.archive.header
        if header is not None:
            fields = header.fields
            if isinstance(fields.get("created_ns"), int):
                created = fields["created_ns"]
            writer = fields.get("writer")
            if isinstance(writer, str):
                host = writer.rsplit(":", 1)[0]
            if isinstance(fields.get("seq"), int):
                seq = fields["seq"]
    if created is None:
        created = os.stat(path).st_mtime_ns  # a legacy file: no header
    first: Mapping[str, str] = {}
    if metadata:
        records = read_archive(source)
        try:
            first = next(records, ({}, b""))[0]
        finally:
            records.close()  # type: ignore[attr-defined]
    return ArchiveFacts(name or os.path.basename(path), created, host, seq, first)
