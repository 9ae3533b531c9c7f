"""Text the databases cannot store."""

from __future__ import annotations

from typing import Any


def unstorable(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys too) holds a NUL or a lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return "\x00" in value
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(map(unstorable, value))
    return False
