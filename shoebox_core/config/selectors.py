"""Choosing a record's metadata from a JSON object: field paths and a small expression language.

``shoebox write`` stores each input line as the payload and takes the metadata from the parsed
line. A *field* is a path into the object, optionally renamed::

    event_type                  ->  {"event_type": obj["event_type"]}
    uuid=payload.instance_id    ->  {"uuid": obj["payload"]["instance_id"]}
    tags.0, tags[0], a["b c"]   ->  list items and keys that are not plain names

An *expression* computes a value; it is parsed here into closures, never handed to ``eval``::

    payload.instance_id or payload.instance_uuid or "none"   # the first present, non-empty value
    publisher_id + "/" + event_type                          # concatenation (as strings)
    timestamp[:10]                                           # slicing a string or a list
    lower(event_type), upper(x), strip(x), replace(x, ".", "_"), split(x, ".")[0], json(payload)

Values become metadata strings: a string as it is, ``null`` as ``""``, ``true`` / ``false``,
numbers, arrays and objects as compact JSON. A path that leads nowhere is *missing*: the selector
stores ``""`` (``missing="empty"``), leaves the key out (``"omit"``) or raises
:class:`MissingField` (``"error"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from ..errors import ConfigError, MissingField

__all__ = ["MISSING_POLICIES", "MetadataSelector", "MissingField", "compile_expression"]

MISSING_POLICIES = ("empty", "omit", "error")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
Value = Any
Getter = Callable[[Any], Value]


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<number>-?\d+)
    | (?P<name>[A-Za-z_$@][\w$@-]*)
    | (?P<op>[.\[\]():,+])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            where = len(text) - len(text[position:].lstrip())
            raise ConfigError(f"unexpected {text[where]!r} at position {where + 1} of {text!r}")
        kind = match.lastgroup or "op"
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), token[1:-1])


def _to_text(value: Value) -> str:
    """The metadata string for a JSON value."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _present(value: Value) -> bool:
    return value is not _MISSING and value is not None and value != ""


def _index(value: Value, key: Any) -> Value:
    if isinstance(key, str) and isinstance(value, Mapping):
        return value.get(key, _MISSING)
    if isinstance(key, int) and isinstance(value, (list, str)):
        try:
            return value[key]
        except IndexError:
            return _MISSING
    if isinstance(key, slice) and isinstance(value, (list, str)):
        return value[key]
    return _MISSING


def _lift(func: Callable[..., Value]) -> Callable[..., Value]:
    """A function of strings that passes a missing argument on as missing."""

    def call(*args: Value) -> Value:
        if any(arg is _MISSING for arg in args):
            return _MISSING
        return func(*(_to_text(arg) for arg in args))

    return call


def _split(text: str, separator: str) -> list[str]:
    if separator == "":
        raise ValueError("split() separator must not be empty")
    return text.split(separator)


_FUNCTIONS: dict[str, tuple[int, Callable[..., Value]]] = {
    "lower": (1, _lift(str.lower)),
    "upper": (1, _lift(str.upper)),
    "strip": (1, _lift(str.strip)),
    "replace": (3, _lift(str.replace)),
    "split": (2, _lift(_split)),
    "json": (1, lambda v: _MISSING if v is _MISSING else json.dumps(v, separators=(",", ":"))),
}


class _Parser:
    """Recursive descent over the tokens; each rule returns a getter ``obj -> value``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def fail(self, message: str) -> ConfigError:
        if self.at < len(self.tokens):
            kind, value, position = self.tokens[self.at]
            return ConfigError(f"{message}, found {value!r} at position {position + 1} of "
                               f"{self.text!r}")
        return ConfigError(f"{message} at the end of {self.text!r}")

    def peek(self, value: str | None = None, kind: str | None = None) -> bool:
        if self.at >= len(self.tokens):
            return False
        token_kind, token_value, _ = self.tokens[self.at]
        return (value is None or token_value == value) and (kind is None or token_kind == kind)

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        if not self.peek(value, kind):
            raise self.fail(f"expected {value or kind}")
        self.at += 1
        return self.tokens[self.at - 1][1]

    def parse(self) -> Getter:
        if not self.tokens:
            raise ConfigError("an empty expression")
        getter = self.alternatives()
        if self.at < len(self.tokens):
            raise self.fail("expected 'or', '+' or the end")
        return getter

    def alternatives(self) -> Getter:
        options = [self.concatenation()]
        while self.peek("or", "name"):
            self.take()
            options.append(self.concatenation())
        if len(options) == 1:
            return options[0]

        def first_present(obj: Any) -> Value:
            value = _MISSING
            for option in options:
                value = option(obj)
                if _present(value):
                    return value
            return value

        return first_present

    def concatenation(self) -> Getter:
        parts = [self.postfix()]
        while self.peek("+"):
            self.take()
            parts.append(self.postfix())
        if len(parts) == 1:
            return parts[0]

        def concatenate(obj: Any) -> Value:
            values = [part(obj) for part in parts]
            if any(value is _MISSING for value in values):
                return _MISSING
            return "".join(_to_text(value) for value in values)

        return concatenate

    def postfix(self) -> Getter:
        getter = self.primary()
        while self.peek("[") or self.peek("."):
            getter = self.subscript(getter)
        return getter

    def subscript(self, getter: Getter) -> Getter:
        if self.peek("."):
            self.take(".")
            key: Any = self.take(kind="name") if self.peek(kind="name") else None
            if key is None:
                key = int(self.take(kind="number"))
        else:
            self.take("[")
            key = self.bracket()
            self.take("]")
        return lambda obj: _index(getter(obj), key)

    def bracket(self) -> Any:
        if self.peek(kind="string"):
            return _unquote(self.take())
        start = int(self.take()) if self.peek(kind="number") else None
        if not self.peek(":"):
            if start is None:
                raise self.fail("expected a number, a quoted key or a slice")
            return start
        self.take(":")
        stop = int(self.take()) if self.peek(kind="number") else None
        return slice(start, stop)

    def primary(self) -> Getter:
        if self.peek(kind="string"):
            text = _unquote(self.take())
            return lambda obj: text
        if self.peek(kind="number"):
            number = int(self.take())
            return lambda obj: number
        if self.peek("("):
            self.take("(")
            inner = self.alternatives()
            self.take(")")
            return inner
        if self.peek(kind="name"):
            name = self.take()
            if self.peek("("):
                return self.call(name)
            return lambda obj: _index(obj, name)
        raise self.fail("expected a field name, a quoted string, a number or '('")

    def call(self, name: str) -> Getter:
        if name not in _FUNCTIONS:
            raise ConfigError(
                f"unknown function {name}() in {self.text!r}; available: "
                + ", ".join(f"{n}()" for n in _FUNCTIONS)
            )
        arity, func = _FUNCTIONS[name]
        self.take("(")
        args = [self.alternatives()]
        while self.peek(","):
            self.take(",")
            args.append(self.alternatives())
        self.take(")")
        if len(args) != arity:
            raise ConfigError(f"{name}() takes {arity} argument(s), {len(args)} given in "
                              f"{self.text!r}")
        return lambda obj: func(*(arg(obj) for arg in args))


def compile_expression(text: str) -> Callable[[Any], Any]:
    """Parse ``text``; return a function of a parsed JSON value that evaluates it (the result may
    be a JSON value or the missing marker). Raises :class:`ConfigError` for a bad expression."""
    if not isinstance(text, str):
        raise ConfigError(f"an expression must be a string, got {text!r}")
    return _Parser(text).parse()


def _compile_path(text: str) -> Getter:
    """A field: an expression made only of a name and subscripts."""
    parser = _Parser(text)
    if not parser.peek(kind="name") or parser.peek("or"):
        raise ConfigError(f"{text!r} is not a field path (a name, then .name, .0 or [\"key\"])")
    getter = parser.postfix()
    if parser.at < len(parser.tokens) or any(kind == "op" and value in "(+,"
                                               for kind, value, _ in parser.tokens):
        raise ConfigError(
            f"{text!r} is not a field path (a name, then .name, .0 or [\"key\"]); use an "
            "expression for anything more"
        )
    return getter


class MetadataSelector:
    """Builds the metadata of a record from its parsed JSON value.

    ``fields`` are paths (``"payload.instance_id"``), optionally renamed (``"uuid=payload.id"``;
    by default the key is the path as written); ``expressions`` map a metadata key to an
    expression. ``missing`` is ``"empty"``, ``"omit"`` or ``"error"``.
    """

    def __init__(
        self,
        fields: Sequence[str] = (),
        expressions: Mapping[str, str] | None = None,
        *,
        missing: str = "empty",
    ) -> None:
        if missing not in MISSING_POLICIES:
            raise ConfigError(f"missing must be one of {', '.join(MISSING_POLICIES)}, "
                              f"got {missing!r}")
        self.missing = missing
        self._getters: list[tuple[str, str, Getter]] = []
        for field in fields:
            name, sep, path = field.partition("=")
            if not sep:
                name, path = field, field
            name, path = name.strip(), path.strip()
            if not name:
                raise ConfigError(f"field {field!r} has an empty name")
            try:
                self._getters.append((name, path, _compile_path(path)))
            except ConfigError as exc:
                raise ConfigError(f"field {name!r}: {exc}") from None
        for name, text in (expressions or {}).items():
            try:
                self._getters.append((name, text, compile_expression(text)))
            except ConfigError as exc:
                raise ConfigError(f"metadata {name!r}: {exc}") from None
        names = [name for name, _, _ in self._getters]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ConfigError(f"metadata key {twice[0]!r} is chosen twice")

    @property
    def keys(self) -> list[str]:
        """The metadata keys, in order."""
        return [name for name, _, _ in self._getters]

    def __bool__(self) -> bool:
        return bool(self._getters)

    def __call__(self, obj: Any) -> dict[str, str]:
        """The metadata of the record whose parsed value is ``obj``."""
        metadata = {}
        for name, source, getter in self._getters:
            try:
                value = getter(obj)
            except (TypeError, ValueError):
                value = _MISSING  # e.g. a slice of a number: nothing sensible to store
            if value is _MISSING:
                if self.missing == "omit":
                    continue
                if self.missing == "error":
                    raise MissingField(name, source)
                value = ""
            metadata[name] = _to_text(value)
        return metadata
