"""Key validation shared by both stores: a key names a file below the root, never outside it."""

from __future__ import annotations

from typing import Any

from .errors import InvalidKey

__all__ = ["check_key", "check_metadata"]


def check_key(key: Any) -> str:
    """Return ``key`` if it is a usable key, else raise :class:`InvalidKey` saying why.

    A key is a non-empty string of ``/``-separated segments. A segment may not be empty, ``.`` or
    ``..``; a key may not start with ``/`` (an absolute path), contain a backslash or a NUL. So
    every key names a file strictly below the store's root (encore wrote ``../x`` outside it).
    """
    if not isinstance(key, str):
        raise InvalidKey(key, f"a key is a str, not {type(key).__name__}")
    if not key:
        raise InvalidKey(key, "a key may not be empty")
    if "\x00" in key or "\\" in key:
        raise InvalidKey(key, "a key may not contain a NUL or a backslash")
    if key.startswith("/"):
        raise InvalidKey(key, "an absolute path would be outside the store")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(
                key, "empty, '.' and '..' path segments are refused (they would leave the root)"
            )
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKey(key, "a key must be valid Unicode (no lone surrogates)") from None
    return key


def check_metadata(key: str, metadata: Any) -> dict[str, Any]:
    """Return ``metadata`` if it is a dict with string keys, else raise ``TypeError``."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata for key {key!r} must be a dict, not {type(metadata).__name__}")
    for name in metadata:
        if not isinstance(name, str):
            raise TypeError(f"metadata for key {key!r}: the name {name!r} is not a str")
    return metadata
