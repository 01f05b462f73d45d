"""How wide a line of text is drawn: measured from the font's own metrics, so that no label of a picture is
guessed into another. Pure.

The pictures name DejaVu Sans first (then Verdana and Arial, which are no wider); below are its advance
widths in 1/2048 em, regular and bold, for printable ASCII, Latin-1 and the signs the pictures use, as read
from DejaVuSans.ttf and DejaVuSans-Bold.ttf (``widths(path)`` reads them again; a test compares the two where
the fonts are installed). DejaVu Sans Mono, the bytes' font, gives every character 1233/2048 em. Any other
character counts as a whole em, wider than any letter here: a label may come out a little short, never long.
"""

from __future__ import annotations

import struct
from typing import Optional

EM = 2048
MONO = 1233
FIRST, LATIN1 = 32, 160  # the tables hold 32..126, then 160..255
ASCENT, DESCENT = 1901 / EM, 483 / EM  # above and below the baseline, in em (the box a line of text takes)

SANS = (
    651,
    821,
    942,
    1716,
    1303,
    1946,
    1597,
    563,
    799,
    799,
    1024,
    1716,
    651,
    739,
    651,
    690,
    1303,
    1303,
    1303,
    1303,
    1303,
    1303,
    1303,
    1303,
    1303,
    1303,
    690,
    690,
    1716,
    1716,
    1716,
    1087,
    2048,
    1401,
    1405,
    1430,
    1577,
    1294,
    1178,
    1587,
    1540,
    604,
    604,
    1343,
    1141,
    1767,
    1532,
    1612,
    1235,
    1612,
    1423,
    1300,
    1251,
    1499,
    1401,
    2025,
    1403,
    1251,
    1403,
    799,
    690,
    799,
    1716,
    1024,
    1024,
    1255,
    1300,
    1126,
    1300,
    1260,
    721,
    1300,
    1298,
    569,
    569,
    1186,
    569,
    1995,
    1298,
    1253,
    1300,
    1300,
    842,
    1067,
    803,
    1298,
    1212,
    1675,
    1212,
    1212,
    1075,
    1303,
    690,
    1303,
    1716,
    651,
    821,
    1303,
    1303,
    1303,
    1303,
    690,
    1024,
    1024,
    2048,
    965,
    1253,
    1716,
    739,
    2048,
    1024,
    1024,
    1716,
    821,
    821,
    1024,
    1303,
    1303,
    651,
    1024,
    821,
    965,
    1253,
    1985,
    1985,
    1985,
    1087,
    1401,
    1401,
    1401,
    1401,
    1401,
    1401,
    1995,
    1430,
    1294,
    1294,
    1294,
    1294,
    604,
    604,
    604,
    604,
    1587,
    1532,
    1612,
    1612,
    1612,
    1612,
    1612,
    1716,
    1612,
    1499,
    1499,
    1499,
    1499,
    1251,
    1239,
    1290,
    1255,
    1255,
    1255,
    1255,
    1255,
    1255,
    2011,
    1126,
    1260,
    1260,
    1260,
    1260,
    569,
    569,
    569,
    569,
    1253,
    1298,
    1253,
    1253,
    1253,
    1253,
    1253,
    1716,
    1253,
    1298,
    1298,
    1298,
    1298,
    1212,
    1300,
    1212,
)
SANS_BOLD = (
    713,
    934,
    1067,
    1716,
    1425,
    2052,
    1786,
    627,
    936,
    936,
    1071,
    1716,
    778,
    850,
    778,
    748,
    1425,
    1425,
    1425,
    1425,
    1425,
    1425,
    1425,
    1425,
    1425,
    1425,
    819,
    819,
    1716,
    1716,
    1716,
    1188,
    2048,
    1585,
    1561,
    1503,
    1700,
    1399,
    1399,
    1681,
    1714,
    762,
    762,
    1587,
    1305,
    2038,
    1714,
    1741,
    1501,
    1741,
    1577,
    1475,
    1397,
    1663,
    1585,
    2259,
    1579,
    1483,
    1485,
    936,
    748,
    936,
    1716,
    1024,
    1024,
    1382,
    1466,
    1214,
    1466,
    1389,
    891,
    1466,
    1458,
    702,
    702,
    1362,
    702,
    2134,
    1458,
    1407,
    1466,
    1466,
    1010,
    1219,
    979,
    1458,
    1335,
    1892,
    1321,
    1335,
    1192,
    1458,
    748,
    1458,
    1716,
    713,
    934,
    1425,
    1425,
    1303,
    1425,
    748,
    1024,
    1024,
    2048,
    1155,
    1323,
    1716,
    850,
    2048,
    1024,
    1024,
    1716,
    897,
    897,
    1024,
    1507,
    1303,
    778,
    1024,
    897,
    1155,
    1323,
    2120,
    2120,
    2120,
    1188,
    1585,
    1585,
    1585,
    1585,
    1585,
    1585,
    2222,
    1503,
    1399,
    1399,
    1399,
    1399,
    762,
    762,
    762,
    762,
    1716,
    1714,
    1741,
    1741,
    1741,
    1741,
    1741,
    1716,
    1741,
    1663,
    1663,
    1663,
    1663,
    1483,
    1511,
    1473,
    1382,
    1382,
    1382,
    1382,
    1382,
    1382,
    2146,
    1214,
    1389,
    1389,
    1389,
    1389,
    702,
    702,
    702,
    702,
    1407,
    1458,
    1407,
    1407,
    1407,
    1407,
    1407,
    1716,
    1407,
    1458,
    1458,
    1458,
    1458,
    1335,
    1466,
    1335,
)
EXTRA = {  # the signs the pictures use beyond Latin-1: (regular, bold)
    "…": (2048, 2048),
    "⋯": (2048, 2048),
    "⋮": (2048, 2048),
    "→": (1716, 1716),
    "←": (1716, 1716),
    "↔": (1716, 1716),
    "↺": (1716, 1716),
    "·": (651, 778),
    "─": (1233, 1233),
    "┄": (1233, 1233),
    "—": (2048, 2048),
    "–": (1024, 1024),
    "•": (1208, 1309),
    "“": (1061, 1346),
    "”": (1061, 1346),
    "‘": (651, 778),
    "’": (651, 778),
    "▶": (1575, 1575),
    "◀": (1575, 1575),
    "✓": (1716, 1716),
    "✗": (1716, 1716),
    "×": (1716, 1716),
    "≥": (1716, 1716),
    "≤": (1716, 1716),
}


def width(text: str, size: float, bold: bool = False, mono: bool = False) -> float:
    """How many px ``text`` takes at ``size`` px."""
    if mono:
        return len(text) * MONO * size / EM
    table, column = (SANS_BOLD, 1) if bold else (SANS, 0)
    units = 0
    for char in text:
        code = ord(char)
        if FIRST <= code < 127:
            units += table[code - FIRST]
        elif LATIN1 <= code < 256:
            units += table[code - LATIN1 + 127 - FIRST]
        elif char in EXTRA:
            units += EXTRA[char][column]
        else:
            units += EM
    return units * size / EM


def fit(text: str, room: float, size: float, bold: bool = False, mono: bool = False) -> str:
    """``text``, or as much of it as fits in ``room`` px followed by "…"."""
    if width(text, size, bold, mono) <= room:
        return text
    low, high = 0, len(text)  # the longest start that fits with its ellipsis
    while low < high:
        middle = (low + high + 1) // 2
        if width(text[:middle] + "…", size, bold, mono) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…" if low else "…"


def wrap(text: str, room: float, size: float, bold: bool = False, mono: bool = False, indent: str = "") -> list:
    """``text`` broken at spaces into lines no wider than ``room`` px; a word longer than a line is cut with
    "…"; the lines after the first begin with ``indent``."""
    lines: list = []
    current = ""
    for word in text.split(" "):
        trial = f"{current} {word}" if current.strip() else (current + word)
        if current.strip() and width(trial, size, bold, mono) > room:
            lines.append(current)
            current = indent + word
        else:
            current = trial
    lines.append(current)
    return [fit(line, room, size, bold, mono) for line in lines]


def widths(path: str, chars: Optional[str] = None) -> dict:
    """Each character's advance width in a TrueType font, in 1/2048 em: how the tables above were made."""
    data = open(path, "rb").read()
    tables = {}
    for number in range(struct.unpack(">H", data[4:6])[0]):
        tag, _, offset, _ = struct.unpack(">4sIII", data[12 + 16 * number : 28 + 16 * number])
        tables[tag.decode("latin-1")] = offset
    units = struct.unpack(">H", data[tables["head"] + 18 : tables["head"] + 20])[0]
    metrics = struct.unpack(">H", data[tables["hhea"] + 34 : tables["hhea"] + 36])[0]
    glyph = _glyphs(data, tables["cmap"])

    def advance(index: int) -> int:
        at = tables["hmtx"] + 4 * min(index, metrics - 1)
        return struct.unpack(">H", data[at : at + 2])[0] * EM // units

    chars = chars or "".join(map(chr, [*range(FIRST, 127), *range(LATIN1, 256)])) + "".join(EXTRA)
    return {char: advance(glyph(ord(char))) for char in chars}


def _glyphs(data: bytes, cmap: int):
    """The glyph index of a character, from the font's Unicode BMP table (cmap format 4)."""
    start = next(
        cmap + offset
        for number in range(struct.unpack(">H", data[cmap + 2 : cmap + 4])[0])
        for platform, encoding, offset in [struct.unpack(">HHI", data[cmap + 4 + 8 * number : cmap + 12 + 8 * number])]
        if (platform, encoding) == (3, 1) and struct.unpack(">H", data[cmap + offset : cmap + offset + 2])[0] == 4
    )
    count = struct.unpack(">H", data[start + 6 : start + 8])[0] // 2
    ends = struct.unpack(f">{count}H", data[start + 14 : start + 14 + 2 * count])
    starts = struct.unpack(f">{count}H", data[start + 16 + 2 * count : start + 16 + 4 * count])
    deltas = struct.unpack(f">{count}h", data[start + 16 + 4 * count : start + 16 + 6 * count])
    ranges = start + 16 + 6 * count
    offsets = struct.unpack(f">{count}H", data[ranges : ranges + 2 * count])

    def glyph(code: int) -> int:
        for n in range(count):
            if starts[n] <= code <= ends[n]:
                if offsets[n] == 0:
                    return (code + deltas[n]) & 0xFFFF
                at = ranges + 2 * n + offsets[n] + 2 * (code - starts[n])
                index = struct.unpack(">H", data[at : at + 2])[0]
                return (index + deltas[n]) & 0xFFFF if index else 0
        return 0

    return glyph
