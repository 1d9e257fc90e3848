"""Coercion of strategy options.

Config files deliver strings, Python callers pass ints and floats: every strategy accepts all three
for a numeric option and says which option was wrong when it cannot use the value.
"""

from __future__ import annotations

import math

from .errors import ConfigError

__all__ = ["number", "boolean"]


def number(
    value: object,
    option: str,
    *,
    owner: str,
    positive: bool = True,
    integer: bool = False,
) -> float:
    """Return ``value`` as a finite float (or int when ``integer``), accepting numeric strings.

    ``option`` and ``owner`` name the keyword argument and the strategy in the error message.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{owner}: option {option!r} must be a number, got the boolean {value!r}")
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            result = float(text)
        except ValueError:
            raise ConfigError(
                f"{owner}: option {option!r} must be a number, got {value!r}"
            ) from None
    elif isinstance(value, (int, float)):
        result = float(value)
    else:
        raise ConfigError(
            f"{owner}: option {option!r} must be a number, got {type(value).__name__} {value!r}"
        )
    if not math.isfinite(result):
        raise ConfigError(f"{owner}: option {option!r} must be finite, got {value!r}")
    if positive and result <= 0:
        raise ConfigError(f"{owner}: option {option!r} must be greater than zero, got {value!r}")
    if integer:
        if result != int(result):
            raise ConfigError(f"{owner}: option {option!r} must be a whole number, got {value!r}")
        return int(result)
    return result


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def boolean(value: object, option: str, *, owner: str) -> bool:
    """Return ``value`` as a bool (also "true"/"false", "yes"/"no", "on"/"off", "1"/"0")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{owner}: option {option!r} must be true or false, got {value!r}")
