"""Memoised HPACK Huffman decoding for the APNs HTTP/2 server.

HTTP/2 clients send ``authorization`` as a never-indexed literal (it is sensitive), so the same ~200-byte
provider token arrives Huffman-coded on every request, and hpack's pure-Python decoder spends more time on
it than the whole APNs check. Providers reuse one token for 20–60 minutes, so remembering the last few
decoded strings turns that into a dictionary lookup. Decoding is a pure function of its input, so the cache
changes nothing but speed, for every h2 user in the process.
"""

from __future__ import annotations

from collections.abc import Callable

import hpack.hpack

_MIN_CACHED_LENGTH = 24
_LIMIT = 512

_Decoder = Callable[[bytes | bytearray | memoryview | None], bytes]


def install_huffman_cache() -> None:
    """Wrap hpack's Huffman decoder with a small cache for long strings; idempotent."""
    current: _Decoder = getattr(hpack.hpack, "decode_huffman")  # noqa: B009
    if getattr(current, "herald_cached", False):
        return
    cache: dict[bytes, bytes] = {}

    def decode(huffman_string: bytes | bytearray | memoryview | None) -> bytes:
        if huffman_string is None or len(huffman_string) < _MIN_CACHED_LENGTH:
            return current(huffman_string)
        key = bytes(huffman_string)
        found = cache.get(key)
        if found is None:
            found = current(key)
            if len(cache) >= _LIMIT:
                cache.clear()
            cache[key] = found
        return found

    decode.herald_cached = True  # type: ignore[attr-defined]
    setattr(hpack.hpack, "decode_huffman", decode)  # noqa: B010
