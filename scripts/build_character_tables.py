"""Build the 文字要件 tables in platform_hub/protocol/data/ from published sources.

Sources (each fetched by its ordinary client, then named on the command line):

- IPAmj明朝 Ver.005.01, the font the 文字情報基盤 (MJ) publishes with every MJ character at its UCS
  code point and every Moji_Joho IVS in its cmap format 14 (IPA Font License v1.0). Debian ships it:
  ``apt-get download fonts-ipamj-mincho && dpkg-deb -x fonts-ipamj-mincho_*.deb x``
  → ``x/usr/share/fonts/truetype/ipamj/ipamjm.ttf``.
- ja-itaiji 1.0.2 (PyPI, MIT License, © 2024 Manchuria Museum): 異体字 families of kanji.
  ``pip download ja-itaiji==1.0.2 --no-deps`` and unzip → ``ja_itaiji/data/term/ja-itaiji.json``.
- Unihan_Variants.txt of Unicode 15.0.0 (Unicode License): its kZVariant/kSemanticVariant pairs
  are joined first. ``apt-get download unicode-data`` → ``usr/share/unicode/Unihan_Variants.txt.bz2``.

Run (fontTools is needed only here, not by the hub):
    pip install fonttools
    python scripts/build_character_tables.py ipamjm.ttf ja-itaiji.json Unihan_Variants.txt.bz2

Writes mj_characters.txt (the MJ ideographs JIS X 0213 lacks, as ranges), mj_ivs.txt (base and its
registered selectors) and variants.txt (character → the one form searches fold it to).
"""

from __future__ import annotations

import bz2
import json
import sys
import unicodedata
from pathlib import Path

from fontTools.ttLib import TTFont

OUT = Path(__file__).resolve().parent.parent / "platform_hub" / "protocol" / "data"
IPAMJ = "IPAmj明朝 Ver.005.01 (Debian fonts-ipamj-mincho 005.01-2.1), IPA Font License v1.0"
ITAIJI = (
    "ja-itaiji 1.0.2 (PyPI), MIT License, (c) 2024 Manchuria Museum; ordered by Unihan_Variants.txt"
    " of Unicode 15.0.0 (Debian unicode-data 15.0.0-1), Unicode License"
)


def in_jis(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def is_ideograph(point: int) -> bool:
    return unicodedata.name(chr(point), "").startswith("CJK") or 0x20000 <= point <= 0x3FFFF


def ranges(points: list[int]) -> list[str]:
    out: list[str] = []
    start = prev = points[0]
    for point in [*points[1:], -1]:
        if point != prev + 1:
            out.append(f"{start:04X}" if start == prev else f"{start:04X}-{prev:04X}")
            start = point
        prev = point
    return out


def mj_tables(font_path: str) -> tuple[list[int], dict[int, list[int]]]:
    cmap = TTFont(font_path, lazy=True)["cmap"]
    points = sorted(p for p in cmap.getBestCmap() if is_ideograph(p) and not in_jis(chr(p), "euc_jis_2004"))
    sequences: dict[int, list[int]] = {}
    for table in cmap.tables:
        if table.format == 14:
            for selector, pairs in table.uvsDict.items():
                if 0xE0100 <= selector <= 0xE01EF:  # IVS only; FE00–FE0F are standardized variants
                    for base, _glyph in pairs:
                        sequences.setdefault(base, []).append(selector)
    return points, {base: sorted(sels) for base, sels in sorted(sequences.items())}


def level(char: str) -> int:
    """0: JIS X 0208 第1水準 (the kanji in everyday use), 1: the rest of JIS X 0208, 2: JIS X 0213,
    3: beyond."""
    try:
        lead = char.encode("shift_jis")[0]
    except UnicodeEncodeError:
        return 2 if in_jis(char, "euc_jis_2004") else 3
    return 0 if 0x88 <= lead <= 0x98 and char.encode("shift_jis") <= b"\x98\x72" else 1


def rank(char: str) -> tuple[int, int]:
    """Which form of a family searches and fallbacks settle on: the most common, then the lowest."""
    return level(char), ord(char)


def unihan_pairs(variants_path: str) -> dict[tuple[str, str], int]:
    """kZVariant and kSemanticVariant pairs of Unihan_Variants.txt (either direction): 0 for a
    z-variant (the same character, a different glyph: kZVariant, or a source marked ``:Z``), else 1."""
    pairs: dict[tuple[str, str], int] = {}
    with bz2.open(variants_path, "rt", encoding="utf-8") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3 and fields[1] in ("kZVariant", "kSemanticVariant"):
                char = chr(int(fields[0][2:], 16))
                for value in fields[2].split():
                    other = chr(int(value.split("<")[0][2:], 16))
                    pair = (min(char, other), max(char, other))
                    strength = 0 if fields[1] == "kZVariant" or ":Z" in value else 1
                    pairs[pair] = min(pairs.get(pair, 1), strength)
    return pairs


def variant_map(itaiji_path: str, known: set[int], unihan: dict[tuple[str, str], int]) -> dict[str, str]:
    """Fold only pairs both sides name (mutual), among characters a Japanese register can hold (MJ
    or JIS X 0213): one-sided and simplified-Chinese entries would merge different surnames."""
    families: dict[str, list[str]] = json.loads(Path(itaiji_path).read_text(encoding="utf-8"))
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        while parent.get(c, c) != c:
            c = parent[c]
        return c

    def japanese(c: str) -> bool:
        return len(c) == 1 and is_ideograph(ord(c)) and (ord(c) in known or in_jis(c, "euc_jis_2004"))

    edges = {
        tuple(sorted((char, other)))
        for char, family in families.items()
        for other in family
        if other != char and japanese(char) and japanese(other) and char in families.get(other, [])
    }

    # Unihan's z-variants (the same character in another glyph) join first, then the 旧字体/新字体
    # pairs both in JIS X 0208, then the rest, the nearest (smallest families) first. A family
    # holds one 第1水準 kanji at most, eight forms in all: the dictionary's chains (医–億, 崎–埼,
    # 沢–途) would otherwise make one key of different names.
    def strength(edge: tuple[str, str]) -> tuple[int, int, int]:
        common = all(level(c) <= 1 for c in edge)
        return min(unihan.get(edge, 1), 1), int(not common), sum(len(families.get(c, [])) for c in edge)

    members: dict[str, list[str]] = {}
    for a, b in sorted(edges, key=lambda edge: (strength(edge), edge)):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        union = members.get(ra, [ra]) + members.get(rb, [rb])
        if len(union) > 8 or sum(level(c) == 0 for c in union) > 1:
            continue
        best, other = min(ra, rb, key=rank), max(ra, rb, key=rank)
        parent[other] = best
        members[best] = union
        members.pop(other, None)
    groups: dict[str, list[str]] = {}
    for char in parent:
        groups.setdefault(find(char), []).append(char)
    folded: dict[str, str] = {}
    for members in groups.values():
        best = min([*members, find(members[0])], key=rank)
        folded.update({m: best for m in members if m != best})
    return dict(sorted(folded.items()))


def main(font_path: str, itaiji_path: str, unihan_path: str) -> None:
    points, sequences = mj_tables(font_path)
    header = "# Generated by scripts/build_character_tables.py; do not edit.\n# Source: {}\n"
    (OUT / "mj_characters.txt").write_text(
        header.format(IPAMJ)
        + "# MJ ideographs outside JIS X 0213:2004, code point ranges (hex).\n"
        + "\n".join(ranges(points))
        + "\n",
        encoding="utf-8",
    )
    (OUT / "mj_ivs.txt").write_text(
        header.format(IPAMJ)
        + "# Moji_Joho IVS: base code point, then its registered selectors (hex).\n"
        + "".join(f"{b:04X} {' '.join(f'{s:X}' for s in sels)}\n" for b, sels in sequences.items()),
        encoding="utf-8",
    )
    known = set(points) | set(sequences)
    folded = variant_map(itaiji_path, known, unihan_pairs(unihan_path))
    (OUT / "variants.txt").write_text(
        header.format(ITAIJI)
        + "# 異体字: character, then the form search keys and fallbacks use.\n"
        + "".join(f"{c} {r}\n" for c, r in folded.items()),
        encoding="utf-8",
    )
    print(f"{len(points)} MJ characters, {sum(map(len, sequences.values()))} IVS, {len(folded)} variants")


if __name__ == "__main__":
    main(*sys.argv[1:4])
