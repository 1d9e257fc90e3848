"""The rules a pipeline config obeys: environment variables, secrets and the types of values.

Kept apart from :mod:`shoebox_core.config.pipeline` (which assembles a pipeline) so that each half
stays small: this module knows nothing of plugins, only of values and where they were found.
"""

from __future__ import annotations

import collections.abc
import datetime
import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Callable, Literal, Union

__all__ = [
    "Redactor",
    "check_value_type",
    "looks_secret",
    "substitute",
    "toml_type",
    "type_hints",
]

# A key whose name contains one of these words holds a secret: its value is never printed.
_SECRET = re.compile(r"key|secret|token|passw|passphrase|credential", re.IGNORECASE)
# ${NAME} or ${NAME:-default}; "$$" is a literal "$".
_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\}|:-)|\$\{")


def looks_secret(name: str) -> bool:
    """True when a key or an environment variable called ``name`` probably holds a secret."""
    return bool(_SECRET.search(name))


class Redactor:
    """Remembers the secret values met while loading a config and blanks them out of messages.

    A plugin's own error message may quote the value it was given; every message the config layer
    passes on goes through :meth:`redact` first.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: object) -> None:
        """Remember ``value`` (a string, or every string inside a list or table) as secret."""
        if isinstance(value, str):
            if len(value) >= 3:  # blanking "" or "a" everywhere would garble messages
                self._secrets.add(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                self.add(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self.add(item)

    def redact(self, text: str) -> str:
        """``text`` with every remembered secret replaced by ``***``."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def substitute(
    value: Any,
    where: Callable[[], str],
    environ: Mapping[str, str],
    redactor: Redactor,
    *,
    secret: bool = False,
) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string of ``value`` (recursively).

    ``where()`` names the key for error messages. A variable that is not set and has no default
    is an error; values of secret-looking variables, and every value when ``secret`` (the key
    looks secret), are given to ``redactor``.
    """
    if isinstance(value, str):
        return _substitute_text(value, where, environ, redactor, secret)
    if isinstance(value, list):
        return [substitute(item, where, environ, redactor, secret=secret) for item in value]
    if isinstance(value, dict):
        return {
            key: substitute(item, _within(where, key), environ, redactor,
                            secret=secret or looks_secret(key))
            for key, item in value.items()
        }
    if secret:
        redactor.add(str(value))
    return value


def _within(where: Callable[[], str], key: str) -> Callable[[], str]:
    return lambda: f"{where()}.{key}"


def _substitute_text(
    text: str,
    where: Callable[[], str],
    environ: Mapping[str, str],
    redactor: Redactor,
    secret: bool,
) -> str:
    from ..errors import ConfigError

    def malformed() -> ConfigError:
        return ConfigError(
            f"{where()}: malformed environment reference in the value (write ${{NAME}} or "
            "${NAME:-default}, and $$ for a literal $)"
        )

    def lookup(name: str, default: str | None) -> str:
        found = environ.get(name)
        if found is None or (found == "" and default is not None):
            if default is None:
                raise ConfigError(
                    f"{where()}: environment variable {name} is not set (give a default with "
                    f"${{{name}:-default}})"
                )
            found = expand(default)  # a default may hold references itself: ${A:-${B}}
        if secret or looks_secret(name):
            redactor.add(found)
        return found

    def expand(part: str) -> str:
        out = []
        start = 0
        for match in _REFERENCE.finditer(part):
            if match.start() < start:
                continue  # inside a default already taken
            out.append(part[start : match.start()])
            if match.group(0) == "$$":
                out.append("$")
                start = match.end()
                continue
            name = match.group(1)
            if name is None:
                raise malformed()
            if match.group(0).endswith("}"):
                out.append(lookup(name, None))
                start = match.end()
                continue
            end = _default_end(part, match.end())  # after ":-": up to its own closing brace
            if end < 0:
                raise malformed()
            out.append(lookup(name, part[match.end() : end]))
            start = end + 1
        out.append(part[start:])
        return "".join(out)

    result = expand(text)
    if secret:
        redactor.add(text)
        redactor.add(result)
    return result


def _default_end(text: str, start: int) -> int:
    """The index of the brace closing a default that starts at ``start`` (nested ``${...}`` and
    ``$$`` skipped), or -1."""
    depth = 0
    i = start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def toml_type(value: object) -> str:
    """What TOML calls the type of ``value``."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return "date-time"
    return type(value).__name__


def type_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    """The evaluated annotations of ``factory``'s parameters; empty when they cannot be read
    (a builtin, or ``X | Y`` annotations on a Python that cannot evaluate them)."""
    resolve = getattr(factory, "resolve", None)  # a lazily imported core factory
    target: Any = resolve() if callable(resolve) else factory
    if isinstance(target, type):
        # The class's own __init__ (mypy cannot tell a class from an instance here).
        target = target.__init__  # type: ignore[misc]
    try:
        return typing.get_type_hints(target)
    except Exception:
        return {}


_UNIONS: tuple[Any, ...] = (Union, getattr(types, "UnionType", Union))
_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _verdict(hint: Any, value: object) -> tuple[bool | None, list[str]]:
    """Whether ``value`` fits ``hint`` (None: cannot tell) and the names of what would fit."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return True, []
    if origin in _UNIONS:
        verdicts = [_verdict(arg, value) for arg in typing.get_args(hint)]
        names = [name for _, found in verdicts for name in found]
        if any(ok is True for ok, _ in verdicts):
            return True, names
        if all(ok is False for ok, _ in verdicts):
            return False, names
        return None, names
    if origin is Literal:
        choices = typing.get_args(hint)
        return value in choices, [" or ".join(repr(c) for c in choices)]
    if hint is type(None):
        return False, []
    if hint is bool:
        return isinstance(value, bool), ["true or false"]
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), ["an integer"]
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), ["a number"]
    if hint is str or hint is os.PathLike or origin is os.PathLike:
        return isinstance(value, str), ["a string"]
    if hint in _SEQUENCES or origin in _SEQUENCES:
        return isinstance(value, list), ["an array"]
    if hint in _MAPPINGS or origin in _MAPPINGS:
        return isinstance(value, Mapping), ["a table"]
    return None, []


def check_value_type(hint: Any, value: object) -> str | None:
    """None when ``value`` (as TOML delivers it) may be passed for a parameter annotated
    ``hint``, else what would be accepted (``"a number or a string"``). Annotations it cannot
    judge (a protocol, a class) accept anything: the factory then judges the value itself."""
    ok, names = _verdict(hint, value)
    if ok is not False:
        return None
    unique = list(dict.fromkeys(names))
    if "a number" in unique and "an integer" in unique:
        unique.remove("an integer")
    return " or ".join(unique) if unique else "another type"
