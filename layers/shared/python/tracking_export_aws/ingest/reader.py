"""How the ingestion reads an object: decoded as a stream, cut into ranges of whole lines, in
bounded memory whatever the object holds (docs/ingestion.md, "Reading a file").

- The content decides the encoding: gzip data (its magic bytes) is decompressed, whatever
  the key; a key ending in ``.gz`` (or ``Content-Encoding: gzip``) whose content is not gzip,
  UTF-16 or UTF-32 text, and other archive formats are refused as a whole (:class:`Refused`).
- gzip is decompressed a slice at a time (never more than :data:`OUTPUT_STEP` bytes from one
  call), its members one after the other, with two caps: the decompressed size and the
  compression ratio. Corrupt or truncated data is refused too; the lines decoded before the
  damage are kept.
- A range is whole lines: at least its first line, then every line that ends within the
  byte budget. A line longer than the line cap is never held: its bytes are counted and
  dropped until its end, and it stays in the range as an empty line (so that line numbers
  hold) reported as too long.
"""

from __future__ import annotations

import zlib
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

OUTPUT_STEP = 1024 * 1024
# The ratio is judged once this much has been decompressed: small files compress oddly.
RATIO_CHECKED_FROM = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# Checked longest first: UTF-32's byte order marks begin like UTF-16's.
_TEXT_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_ARCHIVES = (
    (b"PK\x03\x04", "a zip archive"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)


class Refused(Exception):
    """The object cannot be read past this point; ``reason`` says why (never its content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def content_problem(start: bytes) -> str | None:
    """Why a file starting with these (decoded) bytes is no UTF-8 JSONL file, if it is not."""
    for mark, name in _TEXT_MARKS:
        if start.startswith(mark):
            return f"the file is {name} text; tracking files are UTF-8"
    for magic, name in _ARCHIVES:
        if start.startswith(magic):
            return f"the file is {name}; tracking files are JSONL, plain or gzip-compressed"
    return None


def peek(chunks: Iterable[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``size`` bytes of a chunk stream (fewer at its end) and the whole stream again."""
    stream = iter(chunks)
    head: list[bytes] = []
    seen = 0
    for chunk in stream:
        head.append(chunk)
        seen += len(chunk)
        if seen >= size:
            break

    def again() -> Iterator[bytes]:
        yield from head
        yield from stream

    return b"".join(head)[:size], again()


@dataclass
class Gunzip:
    """A gzip stream (members one after the other) decompressed a slice at a time, within caps."""

    max_output: int
    max_ratio: float
    read: int = 0  # compressed bytes given to the decompressor
    produced: int = 0
    lines_seen: int = 0  # complete lines decompressed so far (for the refusal's message)

    def chunks(self, compressed: Iterable[bytes]) -> Iterator[bytes]:
        decoder: Any = None  # None between two members
        for chunk in compressed:
            data = chunk
            while data:
                if decoder is None:
                    # Zero padding after a member is allowed (gzip(1) accepts it); then a member.
                    data = data.lstrip(b"\x00")
                    if not data:
                        break
                    if not GZIP_MAGIC.startswith(data[: len(GZIP_MAGIC)]):
                        raise Refused(f"the gzip data is followed by bytes that are not gzip{self._where()}")
                    decoder = zlib.decompressobj(31)  # wbits 31: a gzip member
                self.read += len(data)
                try:
                    out = decoder.decompress(data, OUTPUT_STEP)
                except zlib.error as exc:
                    raise Refused(f"the gzip data is corrupt ({_zlib_problem(exc)}){self._where()}") from None
                data = decoder.unconsumed_tail
                if decoder.eof:
                    data = decoder.unused_data
                    decoder = None
                self.read -= len(data)
                if out:
                    yield from self._checked(out)
        if decoder is not None:
            raise Refused(f"the gzip data ends before its end (a truncated upload?){self._where()}")

    def _checked(self, out: bytes) -> Iterator[bytes]:
        room = self.max_output - self.produced
        if len(out) > room:
            if room > 0:
                self.produced += room
                self.lines_seen += out.count(b"\n", 0, room)
                yield out[:room]
            raise Refused(
                f"the gzip data is over {self.max_output} bytes once decompressed "
                f"(setting INGEST_MAX_DECOMPRESSED_BYTES){self._where()}; split the file"
            )
        self.produced += len(out)
        self.lines_seen += out.count(b"\n")
        if self.produced >= RATIO_CHECKED_FROM and self.produced > self.max_ratio * max(1, self.read):
            raise Refused(
                f"the gzip data expands more than {self.max_ratio:g} times "
                f"(setting INGEST_MAX_COMPRESSION_RATIO){self._where()}: a decompression bomb is not read"
            )
        yield out

    def _where(self) -> str:
        return f" after line {self.lines_seen}" if self.lines_seen else " before its first line"


def _zlib_problem(exc: zlib.error) -> str:
    # "Error -3 while decompressing data: invalid block type": zlib's own words, no content.
    return str(exc).rpartition(": ")[2] or "unreadable"


def skip(chunks: Iterable[bytes], count: int) -> Iterator[bytes]:
    """The stream without its first ``count`` bytes."""
    for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        yield chunk[count:] if count else chunk
        count = 0


@dataclass
class Range:
    """Whole lines of a stream, from where the range started."""

    data: bytes = b""  # the lines, each ending in a newline; a line too long is an empty line here
    lines: int = 0  # lines in ``data``
    consumed: int = 0  # stream bytes the range covers (too-long lines included)
    done: bool = False  # the stream has no more lines
    too_long: list[int] = field(default_factory=list)  # 1-based positions in the range
    refused: str | None = None  # why reading stopped for good (the lines before it are in ``data``)


def read_range(chunks: Iterable[bytes], *, budget: int, max_line: int) -> Range:
    """The lines that begin the stream: the first always, then those that end within ``budget``
    bytes. A line over ``max_line`` bytes is read past, never held."""
    buffer = bytearray()
    result = Range()
    line_bytes = 0  # bytes of the line in progress (held or not)
    skipping = False  # the line in progress is over max_line: its bytes are dropped
    try:
        for chunk in chunks:
            position, size = 0, len(chunk)
            while position < size:
                newline = chunk.find(b"\n", position)
                end = size if newline < 0 else newline
                line_bytes += end - position
                if result.lines and result.consumed + line_bytes + (newline >= 0) > budget:
                    return _cut(result, buffer)  # this line is the next range's first
                if not skipping and line_bytes > max_line:
                    skipping = True
                    del buffer[len(buffer) - (line_bytes - (end - position)) :]
                elif not skipping:
                    buffer += chunk[position:end]
                if newline < 0:
                    break
                _end_line(result, buffer, skipping)
                result.consumed += line_bytes + 1
                line_bytes, skipping = 0, False
                position = newline + 1
    except Refused as refusal:
        # The line in progress is incomplete: it is not part of the range.
        result.refused = refusal.reason
        result.done = True
        return _cut(result, buffer)
    if line_bytes:  # a last line without its newline
        _end_line(result, buffer, skipping)
        result.consumed += line_bytes
    result.done = True
    return _cut(result, buffer)


def _end_line(result: Range, buffer: bytearray, too_long: bool) -> None:
    result.lines += 1
    if too_long:
        result.too_long.append(result.lines)
    buffer += b"\n"


def _cut(result: Range, buffer: bytearray) -> Range:
    """The range's data: the complete lines only (a partial line in progress is dropped)."""
    del buffer[buffer.rfind(b"\n") + 1 :]
    result.data = bytes(buffer)
    return result


def numbered_lines(
    data: bytes, first_line: int, too_long: Container[int] = ()
) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a range's data with their line numbers (the first is
    ``first_line + 1``), and the (empty) lines numbered in ``too_long``."""
    position, number, size = 0, first_line, len(data)
    while position < size:
        newline = data.find(b"\n", position)
        if newline < 0:
            newline = size
        number += 1
        text = data[position:newline]
        position = newline + 1
        if (text and not text.isspace()) or number in too_long:
            yield number, text
