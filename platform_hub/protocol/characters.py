"""文字要件: the characters an N (全角) item may hold.

A minimal rule for now: no private-use character (a vendor's 外字, which CP932 decodes into the PUA
U+E000–U+F8FF, means nothing to another system) and no control character. The 行政事務標準文字 table
replaces this body; callers depend only on ``refusals``.
"""

from __future__ import annotations

import unicodedata

_PRIVATE_USE = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))


def refusals(text: str) -> list[str]:
    """Why ``text`` may not stand in an N item: one reason per offending code point (none: it may)."""
    found: list[str] = []
    for char in dict.fromkeys(text):  # each code point once, in order
        point = ord(char)
        if any(low <= point <= high for low, high in _PRIVATE_USE):
            found.append(
                f"U+{point:04X} is a private-use character (外字), which the 文字要件 does not allow"
            )
        elif unicodedata.category(char) == "Cc":
            found.append(f"U+{point:04X} is a control character")
    return found
