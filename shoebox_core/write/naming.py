"""File naming: expand a template into the next archive's name, and reserve it safely.

A template mixes ``datetime.strftime`` codes, expanded in UTC (so ``%f`` works), with the fields
``{seq}`` (the writer's file sequence number, zero-padded to six digits unless a format spec is
given, e.g. ``{seq:09d}``), ``{host}`` and ``{pid}``. Literal braces are written ``{{`` and ``}}``.

Characters a strftime code produces that cannot live in a file name portably (``/``, ``:``,
spaces) become ``_``, as stacktach-shoebox did; a template that itself contains a path separator
or ``..`` is refused, because a name must stay inside the writer's directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import socket
from datetime import datetime, timezone

from .._fsutil import (
    COMPRESSION_SUFFIXES,
    INPROGRESS_SUFFIX,
    JOURNAL_SUFFIX,
    RESERVED_SUFFIXES,
    RESERVING_SUFFIX,
    collision_name,
)
from ..errors import ConfigError

__all__ = ["TemplateNamer", "reserve"]

_TOKEN = re.compile(r"%%|%[-_0^#]?[A-Za-z]|\{\{|\}\}|\{(\w+)(:[^{}]*)?\}|[^%{}]+|[%{}]")
_FIELDS = ("seq", "host", "pid")
_UNSAFE = re.compile(r"[\s/\\:]")
_COLLISION = re.compile(r"~\d{3,}$")
_HOST = r"[A-Za-z0-9._-]+"  # what _safe_host() leaves
# Moments whose expansions show every shape a strftime code takes: each month, weekday, AM/PM,
# one- and two-digit days and hours, a leap day, the 366th day of a year.
_SAMPLES = [datetime(2000 + (i * 7) % 99, 1 + i % 12, 1 + (i * 5) % 28, (i * 5) % 24,
                     (i * 7) % 60, (i * 11) % 60, (i * 37) % 1_000_000, timezone.utc)
            for i in range(48)] + [datetime(2024, 2, 29, 12, tzinfo=timezone.utc),
                                   datetime(2024, 12, 31, 23, 59, 59, tzinfo=timezone.utc)]
_RUN = re.compile(r"\d+|[^\W\d_]+|.", re.DOTALL)


def _safe_host(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", host) or "host"


class TemplateNamer:
    """Names archives from a template such as ``"events_%Y%m%dT%H%M%S_{seq}.events"``."""

    def __init__(self, *, template: str, host: str | None = None, pid: int | str | None = None):
        if not isinstance(template, str) or not template:
            raise ConfigError(f"file name template must be a non-empty string, got {template!r}")
        if "/" in template or "\\" in template or "\x00" in template:
            raise ConfigError(
                f"file name template {template!r} contains a path separator; a name must stay "
                "inside the writer's directory (use directory= for where files go)"
            )
        self.template = template
        self.host = _safe_host(host if host is not None else socket.gethostname())
        self.pid = str(pid if pid is not None else os.getpid())
        self._tokens: list[tuple[str, str, str]] = []  # (kind, text, format spec)
        for match in _TOKEN.finditer(template):
            text = match.group(0)
            if match.group(1) is not None:
                field = match.group(1)
                if field not in _FIELDS:
                    raise ConfigError(
                        f"file name template {template!r}: unknown field {{{field}}}; "
                        f"available: {', '.join('{' + f + '}' for f in _FIELDS)}"
                    )
                self._tokens.append(("field", field, (match.group(2) or "")[1:]))
            elif text in ("{{", "}}"):
                self._tokens.append(("text", text[0], ""))
            elif text == "%%":
                self._tokens.append(("text", "%", ""))
            elif text in ("{", "}", "%"):
                raise ConfigError(
                    f"file name template {template!r}: stray {text!r} (write {text * 2} for a "
                    "literal one)"
                )
            elif text.startswith("%"):
                self._tokens.append(("time", text, ""))
            else:
                self._tokens.append(("text", text, ""))
        try:
            sample = self.name(when=0.0, seq=0)
        except ValueError as exc:  # a bad format spec, e.g. {seq:q}
            raise ConfigError(f"file name template {template!r}: {exc}") from None
        if sample in (".", "..") or sample.startswith(".."):
            raise ConfigError(f"file name template {template!r} expands to {sample!r}")
        self._pattern = re.compile(self._regex_text())
        suffix = self._reserved_suffix()
        if suffix is not None:
            raise ConfigError(
                f"file name template {template!r} can produce names ending in {suffix!r}, a "
                "suffix shoebox reserves for its own files (in-progress files, journals, "
                "compressed copies, partial copies); readers would skip such archives and "
                "recovery could remove them: end the template with an extension of your own, "
                "e.g. '.events'"
            )

    @property
    def has_seq(self) -> bool:
        """True when names carry ``{seq}``."""
        return any(kind == "field" and text == "seq" for kind, text, _ in self._tokens)

    def name(self, *, when: float, seq: int) -> str:
        """The name of a file opened at ``when`` (epoch seconds) as the writer's ``seq``-th file."""
        moment = datetime.fromtimestamp(when, timezone.utc)
        parts = []
        for kind, text, spec in self._tokens:
            if kind == "text":
                parts.append(text)
            elif kind == "time":
                parts.append(_UNSAFE.sub("_", moment.strftime(text)))
            elif text == "seq":
                parts.append(format(seq, spec or "06d"))
            else:
                parts.append(format(self.host if text == "host" else self.pid, spec))
        return "".join(parts)

    def regex(self) -> re.Pattern[str]:
        """A regular expression matching exactly the names this template can produce, by any
        process on any host (seq captured as ``seq``): each strftime code becomes the shapes its
        expansions take (``%Y`` four digits, ``%b`` letters...), ``{seq}`` digits, ``{pid}``
        digits, ``{host}`` the characters a host name keeps. Recovery and resumption use it to
        touch only this template's files."""
        return self._pattern

    def _token_regexes(self) -> list[tuple[str, str]]:
        """``(kind, regex)`` per token: kind "text" for literal text, "var" otherwise."""
        out = []
        for kind, text, spec in self._tokens:
            if kind == "text":
                out.append(("text", re.escape(text)))
            elif kind == "time":
                out.append(("var", _time_regex(text)))
            elif text == "seq":
                width = re.fullmatch(r"0?(\d*)d", spec or "06d")
                digits = rf"\d{{{width.group(1)},}}" if width and width.group(1) else r"\d+"
                out.append(("var", rf"(?P<seq>{digits if width else '[^.]+?'})"))
            elif spec:  # {host:>20} and the like: whatever the spec pads with
                out.append(("var", ".+?"))
            else:
                out.append(("var", _HOST if text == "host" else r"\d+"))
        return out

    def _regex_text(self) -> str:
        return "".join(regex for _, regex in self._token_regexes())

    def _reserved_suffix(self) -> str | None:
        """A suffix of :data:`RESERVED_SUFFIXES` some name of this template could end with."""
        tokens = self._token_regexes()
        for suffix in RESERVED_SUFFIXES:
            if _can_end_with(tokens, suffix):
                return suffix
        return None

    def next_seq(self, names: list[str]) -> int:
        """The first sequence number above any found in ``names`` (so names keep sorting in write
        order across restarts); 0 when the template has no ``{seq}`` or nothing matches."""
        if not self.has_seq:
            return 0
        highest = -1
        for _, match in self._own(names):
            highest = max(highest, int(match.group("seq")))
        return highest + 1

    def own_names(self, names: list[str]) -> list[str]:
        """The names among ``names`` of this template's archives: sealed, in progress or
        compressed (not journals)."""
        return [name for name, _ in self._own(names) if not name.endswith(JOURNAL_SUFFIX)]

    def _own(self, names: list[str]) -> list[tuple[str, re.Match[str]]]:
        found = []
        for name in names:
            match = self._pattern.fullmatch(_strip_decorations(name))
            if match:
                found.append((name, match))
        return found

    def __repr__(self) -> str:
        return f"TemplateNamer(template={self.template!r})"


def _time_regex(code: str) -> str:
    """The shapes ``code``'s expansions take over :data:`_SAMPLES`, as one regex: digit runs
    keep their lengths, letter runs are letters, anything else is itself (after the ``_UNSAFE``
    replacement)."""
    shapes: set[tuple[tuple[str, str], ...]] = set()
    for moment in _SAMPLES:
        text = _UNSAFE.sub("_", moment.strftime(code))
        shapes.add(tuple(
            ("d", str(len(run))) if run[0].isdigit() else ("a", "") if run[0].isalpha()
            else ("t", run) for run in _RUN.findall(text)
        ))
    regexes = sorted({"".join(
        rf"\d{{{arg}}}" if kind == "d" else r"[^\W\d_]+" if kind == "a" else re.escape(arg)
        for kind, arg in shape) for shape in shapes})
    if len(regexes) > 12:  # %s, %c and the like in many shapes: digits and letters
        return r"[^\W_]+(?:[_.+-][^\W_]+)*"
    return "(?:" + "|".join(regexes) + ")"


def _can_end_with(tokens: list[tuple[str, str]], suffix: str) -> bool:
    """Whether a name made of ``tokens`` (``(kind, regex)``) can end with ``suffix``."""
    if not suffix:
        return True
    if not tokens:
        return False
    kind, regex = tokens[-1]
    if kind == "text":
        text = re.sub(r"\\(.)", r"\1", regex)
        if len(text) >= len(suffix):
            return text.endswith(suffix)
        return suffix.endswith(text) and _can_end_with(tokens[:-1], suffix[: -len(text)])
    pattern = re.compile(regex)
    # The variable part takes the last k characters of the suffix, or all of it and more.
    for k in range(1, len(suffix)):
        if pattern.fullmatch(suffix[-k:]) and _can_end_with(tokens[:-1], suffix[:-k]):
            return True
    return any(pattern.fullmatch(lead + suffix) for lead in ("", "a", "0", "a.", "0_", "A"))


def _strip_decorations(name: str) -> str:
    """Remove journal, in-progress and compression suffixes and a collision marker from a name."""
    if name.endswith(JOURNAL_SUFFIX):
        name = name[: -len(JOURNAL_SUFFIX)]
    if name.endswith(INPROGRESS_SUFFIX):
        name = name[: -len(INPROGRESS_SUFFIX)]
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    stem, ext = os.path.splitext(name)
    return _COLLISION.sub("", stem) + ext


def inprogress_name(final_path: str) -> str:
    """The name a file carries while it is being written."""
    return final_path + INPROGRESS_SUFFIX



def _taken(final: str) -> bool:
    # A journal means the name's archive is still being shipped (possibly already removed
    # locally): reusing the name would mix two archives' progress.
    return os.path.lexists(final) or any(
        os.path.lexists(final + suffix) for suffix in (*COMPRESSION_SUFFIXES, JOURNAL_SUFFIX)
    )


def reserve(directory: str, name: str) -> tuple[int, str, str]:
    """Create the in-progress file for ``name`` in ``directory`` without touching anything existing.

    Returns ``(fd, in_progress_path, final_path)``; ``fd`` holds an exclusive ``flock`` (recovery
    tells a live writer's file by it). When ``name`` (or its in-progress twin, or a compressed copy
    ``name.gz`` / ``name.zst``, which readers would take for its twin) is taken, the next collision
    name (``a~001.events``...) is tried.

    The file is created under a hidden ``.reserving`` name, locked, and only then hard-linked to
    its in-progress name (a link never replaces an existing file): an in-progress name therefore
    never exists unlocked while its writer is alive, so another process's recovery cannot take it
    for a dead writer's file.
    """
    base = os.path.join(directory, name)
    # Read-write: if the directory is removed under a live writer, seal() copies the file back.
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    hidden = os.path.join(
        directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}{RESERVING_SUFFIX}"
    )
    try:
        fd = os.open(hidden, flags, 0o644)
    except FileNotFoundError:
        # The working directory is gone (removed by hand while we run): make it again.
        os.makedirs(directory, exist_ok=True)
        fd = os.open(hidden, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new inode: nobody else can hold it
        for n in range(100_000):
            final = collision_name(base, n)
            if _taken(final):
                continue
            temp = inprogress_name(final)
            try:
                os.link(hidden, temp)
            except FileExistsError:
                continue
            except OSError as exc:  # no hard links here: exclusive create, then lock
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                os.close(fd)
                os.unlink(hidden)
                return _reserve_without_links(base, n, flags)
            os.unlink(hidden)
            return fd, temp, final
    except BaseException:
        os.close(fd)
        if os.path.lexists(hidden):
            os.unlink(hidden)
        raise
    os.close(fd)
    os.unlink(hidden)
    raise FileExistsError(f"no free name for {base}")


def _reserve_without_links(base: str, start: int, flags: int) -> tuple[int, str, str]:
    """The fallback for file systems without hard links (a tiny window where the file exists
    unlocked remains)."""
    for n in range(start, 100_000):
        final = collision_name(base, n)
        if _taken(final):
            continue
        temp = inprogress_name(final)
        try:
            fd = os.open(temp, flags, 0o644)
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, temp, final
    raise FileExistsError(f"no free name for {base}")
