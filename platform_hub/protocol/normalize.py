"""Japanese normalisation for search keys: NFKC (full/half width), kana unified, spaces dropped,
異体字 folded (髙 = 高, 邊 = 辺) and IVS dropped (characters.fold), ヶ/ケ/が alike in addresses."""

from __future__ import annotations

import re
import unicodedata

import jaconv

from platform_hub.protocol import characters

_SPACES = re.compile(r"\s+")
# Dashes, long-vowel marks and minus signs written between digits of an address all mean "-".
_ADDRESS_DASH = re.compile(r"(?<=\d)[\-‐‑‒–—―−ｰー－](?=\d)")
_ADDRESS_UNITS = re.compile(r"(?<=\d)(丁目|番地|番|号)(?=\d)")
# 一丁目, 二十三番 …: kanji numerals that count blocks and lots, as written on many 住民票.
_KANJI_COUNT = re.compile(r"([一二三四五六七八九十]+)(?=丁目|番地|番|号)")
_KANJI_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")}
# 霞ヶ関, 霞ケ関, 霞が関: one place written three ways; between kanji they are the same が.
_GA = re.compile(
    r"(?<=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff])[ヶケヵが](?=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff])"
)


def _kanji_number(text: str) -> str:
    """一 → 1, 十二 → 12, 二十 → 20, 九十九 → 99 (blocks and lots stay below a hundred)."""
    tens, _, ones = text.rpartition("十")
    if "十" not in text:
        return str(_KANJI_DIGITS[text]) if len(text) == 1 else text
    return str((_KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + (_KANJI_DIGITS.get(ones, 0) if ones else 0))


def name_key(name: str) -> str:
    """氏名 for comparison: width-folded, without spaces (山田　太郎 = 山田太郎), 異体字 folded and IVS
    dropped (髙橋 = 高橋). Selectors go before NFKC, which would keep them; the fold after, as NFKC
    maps compatibility ideographs (U+F900…) onto the unified ones the table knows."""
    return characters.fold(_SPACES.sub("", unicodedata.normalize("NFKC", characters.fold(name))))


def kana_key(kana: str) -> str:
    """読み仮名 for comparison: half-width katakana and hiragana both become full-width katakana."""
    return jaconv.hira2kata(name_key(kana))


def address_key(address: str) -> str:
    """住所 for comparison: as a name, 一丁目２番３号 and 1-2-3 alike where digits, 霞ヶ関 = 霞が関."""
    folded = _GA.sub("が", name_key(address))
    folded = _KANJI_COUNT.sub(lambda match: _kanji_number(match.group(1)), folded)
    folded = _ADDRESS_UNITS.sub("-", folded)
    folded = _ADDRESS_DASH.sub("-", folded)
    return folded.removesuffix("号")
