"""Content-Encoding of a response body. Pure: bytes in, bytes out; no I/O, no clock.

kral_nb asks for ``Accept-Encoding: identity`` (raw reads are then the wire bytes and their
stamps the arrival times of the data), so any other encoding comes from a server or proxy
that ignored it. gzip and deflate are decoded with the standard library's ``zlib``; ``br``
and ``zstd`` are decoded when ``brotli`` / ``zstandard`` are installed, else refused with a
clear error — they are never offered. A body that fails to decode raises
:class:`BodyDecodeError`; the transport records it as an ``error`` record, keeping every
chunk decoded before it.
"""

from __future__ import annotations

import zlib
from typing import Any


class BodyDecodeError(ValueError):
    """The body could not be decoded with its Content-Encoding. ``partial``: what the read
    that failed decoded before its first bad byte (a good head and a corrupt tail may arrive
    in one read: the head is kept)."""

    def __init__(self, message: str, partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial = partial


class Identity:
    def decode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class Zlib:
    """gzip (``wbits=16+MAX_WBITS``) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._gzip = encoding in ("gzip", "x-gzip")
        self._first = True
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        before = self._z.copy()  # to find what decodes before a bad byte (error path only)
        try:
            return self._z.decompress(data)
        except zlib.error as exc:
            if self._first and not self._gzip:  # raw deflate without the zlib header
                self._first = False
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data)
            raise BodyDecodeError(f"{self.encoding}: {exc}", _valid_prefix(before, data)) from None
        finally:
            self._first = False

    def flush(self) -> bytes:
        try:
            out = self._z.flush()
        except zlib.error as exc:
            raise BodyDecodeError(f"{self.encoding}: {exc}") from None
        if not self._z.eof:
            raise BodyDecodeError(f"{self.encoding}: the compressed body ended early")
        return out


def _valid_prefix(z: Any, data: bytes) -> bytes:
    """The most ``data`` decodes to before its first bad byte: bisect on its length, each
    try on a copy of the decompressor as it was before ``data``."""
    lo, hi, best = 0, len(data), b""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            out = z.copy().decompress(data[:mid])
        except zlib.error:
            hi = mid - 1
        else:
            lo, best = mid, out
    return best


class _Library:
    """``br`` / ``zstd`` through their well-kept decoders, when installed."""

    def __init__(self, encoding: str, decompressor: Any) -> None:
        self.encoding, self._d = encoding, decompressor

    def decode(self, data: bytes) -> bytes:
        try:
            return bytes(self._d.decompress(data) if self.encoding == "zstd" else self._d.process(data))
        except Exception as exc:
            raise BodyDecodeError(f"{self.encoding}: {exc}") from None

    def flush(self) -> bytes:
        return b""


Decoder = Identity | Zlib | _Library


def decoder_for(content_encoding: str | None) -> Decoder:
    """The decoder for a ``Content-Encoding`` header (several codings: not supported)."""
    enc = (content_encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return Identity()
    if enc in ("gzip", "x-gzip", "deflate"):
        return Zlib(enc)
    if enc == "br":
        try:
            import brotli  # type: ignore[import-not-found]
        except ImportError:
            brotli = None
        if brotli is not None:
            return _Library("br", brotli.Decompressor())
    if enc == "zstd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            zstandard = None
        if zstandard is not None:
            return _Library("zstd", zstandard.ZstdDecompressor().decompressobj())
    raise BodyDecodeError(
        f"the server sent a {enc!r}-encoded body although kral_nb asked for identity; kral_nb "
        "decodes gzip and deflate (br with the brotli package, zstd with zstandard)")
