"""Text as people see it: user-perceived characters (grapheme clusters) and truncation that never splits one.

A push body is cut in two places: the composer trims it to fit a payload's byte limit (opt-in), and every
platform shortens title and body on screen. Both must cut between *user-perceived characters*: never inside
a multi-byte UTF-8 sequence (Python strings already guarantee that), never between an emoji and its skin
tone, never inside a ZWJ family or a flag, never between a letter and its combining accent.

``grapheme_clusters`` implements the rules of Unicode's extended grapheme clusters (UAX #29) that matter for
push texts — CR LF, combining marks and other extenders, ZWJ sequences of pictographs, regional-indicator
pairs, Hangul syllables, spacing marks and prepend-free text — with the standard library only (the
simulator imports this module too).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Final

ELLIPSIS: Final = "…"

_ZWJ = 0x200D
_L, _V, _T, _LV, _LVT = 1, 2, 3, 4, 5


def _is_extend(cp: int) -> bool:
    """Grapheme_Extend-like: combining marks, variation selectors, emoji modifiers, tags, ZWJ, ZWNJ."""
    if cp < 0x300:
        return False
    if cp == _ZWJ or cp == 0x200C or 0xFE00 <= cp <= 0xFE0F or 0x1F3FB <= cp <= 0x1F3FF:
        return True
    if 0xE0020 <= cp <= 0xE007F or 0xE0100 <= cp <= 0xE01EF:
        return True
    return unicodedata.category(chr(cp)) in ("Mn", "Me", "Mc")


def _is_regional_indicator(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _is_pictographic(cp: int) -> bool:
    """An approximation of Extended_Pictographic: the emoji and symbol blocks a ZWJ sequence joins."""
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2300 <= cp <= 0x23FF
        or 0x2B00 <= cp <= 0x2BFF
        or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299)
    )


def _hangul(cp: int) -> int:
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return _L
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return _V
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return _T
    if 0xAC00 <= cp <= 0xD7A3:
        return _LV if (cp - 0xAC00) % 28 == 0 else _LVT
    return 0


def _joins(prev: int, cp: int, pictographic_run: bool, ri_count: int) -> bool:
    """True when there is no cluster boundary between ``prev`` and ``cp``."""
    if prev == 0x0D and cp == 0x0A:
        return True
    if prev in (0x0D, 0x0A) or cp in (0x0D, 0x0A):
        return False
    if _is_extend(cp):
        return True
    if prev == _ZWJ and pictographic_run and _is_pictographic(cp):
        return True
    if _is_regional_indicator(prev) and _is_regional_indicator(cp):
        return ri_count % 2 == 1
    hp, hc = _hangul(prev), _hangul(cp)
    if hp and hc:
        return (
            (hp == _L and hc in (_L, _V, _LV, _LVT))
            or (hp in (_LV, _V) and hc in (_V, _T))
            or (hp in (_LVT, _T) and hc == _T)
        )
    return False


def cluster_starts(text: str) -> Iterator[int]:
    """The index in ``text`` where each grapheme cluster starts (the first is 0 when ``text`` is not empty)."""
    prev = -1
    pictographic_run = False
    ri_count = 0
    for i, ch in enumerate(text):
        cp = ord(ch)
        if prev < 0 or not _joins(prev, cp, pictographic_run, ri_count):
            yield i
            pictographic_run = _is_pictographic(cp)
            ri_count = 0
        elif not (_is_extend(cp) or _is_pictographic(cp)):
            pictographic_run = False
        ri_count = ri_count + 1 if _is_regional_indicator(cp) else 0
        prev = cp


def grapheme_clusters(text: str) -> list[str]:
    """``text`` split into user-perceived characters."""
    starts = [*cluster_starts(text), len(text)]
    return [text[a:b] for a, b in pairwise(starts)]


def grapheme_length(text: str) -> int:
    """How many user-perceived characters ``text`` has."""
    return sum(1 for _ in cluster_starts(text))


def truncate_graphemes(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` cut to at most ``limit`` user-perceived characters, the last one an ellipsis when cut."""
    if limit <= 0:
        return ""
    starts = list(cluster_starts(text))
    if len(starts) <= limit:
        return text
    keep = max(limit - grapheme_length(ellipsis), 0)
    return text[: starts[keep]].rstrip() + ellipsis if keep else ellipsis


def cut_to_bytes(text: str, max_bytes: int, encoded_len: Callable[[str], int] | None = None) -> str:
    """The longest prefix of ``text`` made of whole clusters whose encoded size is at most ``max_bytes``.

    ``encoded_len`` measures a piece as it will be sent (UTF-8 by default; a JSON string's escapes with
    ``json_string_len``).
    """
    measure = encoded_len or _utf8_len
    used = 0
    end = 0
    starts = [*cluster_starts(text), len(text)]
    for a, b in pairwise(starts):
        size = measure(text[a:b])
        if used + size > max_bytes:
            break
        used += size
        end = b
    return text[:end]


def _utf8_len(piece: str) -> int:
    return len(piece.encode("utf-8", "surrogatepass"))


def json_string_len(piece: str) -> int:
    """Bytes ``piece`` takes inside a JSON string written with UTF-8 and minimal escapes."""
    size = 0
    for ch in piece:
        cp = ord(ch)
        if ch in '"\\':
            size += 2
        elif cp < 0x20:
            size += 2 if ch in "\b\f\n\r\t" else 6
        elif cp < 0x80:
            size += 1
        elif cp < 0x800:
            size += 2
        elif cp < 0x10000:
            size += 3
        else:
            size += 4
    return size

