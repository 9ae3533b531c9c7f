"""文字要件: the characters an N (全角) item may hold, the 異体字 folds and the JIS X 0213 fallback.

Allowed: every character JIS X 0213:2004 encodes (Python's ``euc_jis_2004`` codec, which also takes
ASCII and half-width katakana: width is the XSD's concern, not this one), the MJ ideographs beyond it
and the Moji_Joho IVS registered on a base (both from IPAmj明朝 Ver.005.01, see data/), and the
full-width forms U+FF01–U+FF5E, U+FFE0–U+FFE6. Refused, each named by code point: control
characters, private-use characters (外字; MJ+ has none the hub allows), emoji, an IVS the Moji_Joho
collection does not register, anything else. docs/characters.md says where each table comes from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from functools import cache
from importlib.resources import files

from lxml import etree

from platform_hub.protocol.xml import local_name

_DATA = files("platform_hub.protocol") / "data"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # tab, LF, CR are the XML's own
_PRIVATE_USE = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
_EMOJI = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F1E6, 0x1F1FF), (0xFE0F, 0xFE0F))
_FULL_WIDTH = ((0xFF01, 0xFF5E), (0xFFE0, 0xFFE6))
GETA = "〓"  # what a fallback writes where JIS X 0213 has no form of the character


def _lines(name: str) -> list[list[str]]:
    text = (_DATA / name).read_text(encoding="utf-8")
    return [line.split() for line in text.splitlines() if line and not line.startswith("#")]


@cache
def _mj_characters() -> frozenset[str]:
    chars: set[str] = set()
    for (span,) in _lines("mj_characters.txt"):
        low, _, high = span.partition("-")
        chars.update(chr(p) for p in range(int(low, 16), int(high or low, 16) + 1))
    return frozenset(chars)


@cache
def _mj_sequences() -> dict[str, frozenset[str]]:
    return {
        chr(int(base, 16)): frozenset(chr(int(s, 16)) for s in sels) for base, *sels in _lines("mj_ivs.txt")
    }


@cache
def variants() -> dict[str, str]:
    """異体字 → the form search keys and fallbacks use (髙 → 高, 邊 → 辺)."""
    return {char: form for char, form in _lines("variants.txt")}


def is_selector(char: str) -> bool:
    point = ord(char)
    return 0xFE00 <= point <= 0xFE0F or 0xE0100 <= point <= 0xE01EF


def in_jis_x_0213(char: str) -> bool:
    try:
        char.encode("euc_jis_2004")
    except UnicodeEncodeError:
        return False
    return True


def _within(point: int, spans: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= point <= high for low, high in spans)


def _why_not(char: str) -> str | None:
    """Why one character (not a selector) may not stand in an N item; None: it may."""
    point = ord(char)
    if _CONTROL.match(char):
        return f"U+{point:04X} is a control character"
    if in_jis_x_0213(char) or char in _mj_characters() or _within(point, _FULL_WIDTH):
        return None
    if _within(point, _PRIVATE_USE):
        return f"U+{point:04X} is a private-use character (外字), which the 文字要件 does not allow"
    if _within(point, _EMOJI) or unicodedata.category(char) == "So":
        return f"U+{point:04X} is an emoji or symbol outside JIS X 0213"
    return f"U+{point:04X} is neither in JIS X 0213 nor among the 行政事務標準文字 (MJ)"


def refusals(text: str) -> list[str]:
    """Why ``text`` may not stand in an N item: one reason per offending code point (none: it may)."""
    try:  # the quick path: all of it JIS X 0213 (a C codec), and no control character
        text.encode("euc_jis_2004")
        if not _CONTROL.search(text):
            return []
    except UnicodeEncodeError:
        pass
    found: dict[str, str] = {}
    previous = ""
    for char in text:
        if is_selector(char):
            key, why = previous + char, _why_not_sequence(previous, char)
        else:
            key, why = char, _why_not(char)
        if why is not None:
            found.setdefault(key, why)
        previous = char
    return list(found.values())


def _why_not_sequence(base: str, selector: str) -> str | None:
    """Why a variation selector after ``base`` may not stand; None: a Moji_Joho IVS of ``base``."""
    point = ord(selector)
    if point == 0xFE0F:
        return "U+FE0F asks for emoji presentation"
    if not base or is_selector(base):
        return f"U+{point:04X} is a variation selector on no base character"
    if selector in _mj_sequences().get(base, frozenset()):
        return None
    return f"U+{ord(base):04X} U+{point:04X} is not a registered Moji_Joho IVS"


@cache
def _folds() -> dict[int, str | None]:
    """``str.translate``'s table of ``fold``: each 異体字 to its form, each selector to nothing."""
    table: dict[int, str | None] = {ord(char): form for char, form in variants().items()}
    table.update((point, None) for point in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)))
    return table


def fold(text: str) -> str:
    """``text`` for comparison: IVS dropped, each 異体字 as its family's one form."""
    return text.translate(_folds())


def fall_back(text: str) -> str:
    """``text`` within JIS X 0213: an IVS becomes its base, a character outside becomes its variant
    inside (from the table), or 〓 (GETA) where there is none."""
    table = variants()
    out: list[str] = []
    for char in text:
        if is_selector(char):
            continue
        if not in_jis_x_0213(char):
            form = table.get(char, "")
            char = form if form and in_jis_x_0213(form) else GETA
        out.append(char)
    return "".join(out)


def fall_back_items(root: etree._Element, n_items: Collection[str]) -> None:
    """Fall back, in place, the text of every element under ``root`` named as one of ``n_items``."""
    for node in root.iter():
        if isinstance(node.tag, str) and node.text and local_name(node) in n_items:
            node.text = fall_back(node.text)
