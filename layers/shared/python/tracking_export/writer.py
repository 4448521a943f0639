"""The file writer of spec §4: cells → delimited records → encoded (and gzipped) bytes.

This is the hot path of an export, so per-cell work is kept to a few substring
tests (:class:`CellEncoder`) and per-row work to one list append
(:meth:`FileWriter.write_encoded`). Rows are buffered as lists of encoded cells
and turned into bytes a chunk at a time: one ``join`` and one ``str.encode`` per
chunk. Only when that encode fails is the chunk searched cell by cell for the
culprit, so the error can name its row and column.

Bytes reach ``out.write`` in pieces of exactly :data:`WRITE_CHUNK` bytes (the last
one shorter); the whole file is never held in memory.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from tracking_export.errors import ExportRunError, UnencodableCellError
from tracking_export.model import FileExportAction

# Size of each ``out.write``: large enough for few calls, small enough to bound memory.
WRITE_CHUNK = 1 << 20

# Spec §4 encoding name -> (Python codec, byte-order mark written first).
ENCODINGS: dict[str, tuple[str, bytes]] = {
    "UTF-8": ("utf-8", b""),
    "UTF-8-BOM": ("utf-8", codecs.BOM_UTF8),
    "ISO-8859-1": ("latin-1", b""),
    "WINDOWS-1252": ("cp1252", b""),
    "UTF-16LE": ("utf-16-le", codecs.BOM_UTF16_LE),
}

RECORD_END = "\r\n"

# formulaEscape (spec §4): a data cell whose first character other than a space
# (U+0020) is one of these is prefixed with "'"...
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
# ...unless it is entirely a number, leading spaces aside: optional sign, ASCII
# digits, at most one decimal separator of either kind ("-1.5", " -1.5", "-2,25", "-.5").
_NUMBER = re.compile(r" *[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")

# zlib's own gzip header (wbits=31) has mtime 0 and no file name, so two runs
# over the same rows give byte-identical files.
_GZIP_WBITS = 31
_GZIP_LEVEL = 6


class SupportsWriteBytes(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class CellEncoder:
    """Turns cell text into the text written between delimiters (spec §4).

    ``data_cell``: formula escape (when ``formulaEscape`` is on), then RFC 4180
    quoting; :meth:`data_cell_within` adds the ``maxLength`` cut between the two.
    ``header_cell``: quoting only — headers are never formula-escaped nor cut.
    A cell is quoted only when it holds the delimiter, a double quote, CR or LF;
    inner quotes are doubled.
    """

    data_cell: Callable[[str], str]
    header_cell: Callable[[str], str]

    def __init__(self, action: FileExportAction) -> None:
        self.delimiter = action.delimiter_char
        self._formula_escape = action.formula_escape
        delimiter = self.delimiter

        def quoted(text: str) -> str:
            if delimiter in text or '"' in text or "\r" in text or "\n" in text:
                return '"' + text.replace('"', '""') + '"'
            return text

        self.header_cell = quoted
        self.data_cell = self.data_cell_within(None)

    def data_cell_within(self, max_length: int | None) -> Callable[[str], str]:
        """The data-cell encoder that also cuts each cell to ``max_length`` characters.

        Spec §3 row 32: the cut bounds the cell as written in the file, so it comes
        after the formula escape (whose ``'`` counts) and before CSV quoting
        (``'@us`` with ``max_length`` 3 is written ``'@u``). ``None``: no cut.
        This is the only place where the formula-escape rule is applied.
        """
        # Closures over locals: no attribute lookups per cell on the hot path.
        delimiter = self.delimiter
        escape = self._formula_escape
        is_number = _NUMBER.fullmatch
        triggers = FORMULA_TRIGGERS
        limit = max_length

        def data_cell(text: str) -> str:
            if escape and text:
                first = text[0]
                if first == " ":
                    # A spreadsheet import that trims spaces would otherwise run " =1+1".
                    first = text.lstrip(" ")[:1]
                if first in triggers and not is_number(text):
                    text = "'" + text
            if limit is not None:
                text = text[:limit]
            if delimiter in text or '"' in text or "\r" in text or "\n" in text:
                return '"' + text.replace('"', '""') + '"'
            return text

        return data_cell


class FileWriter:
    """Streams one export file to ``out``: BOM, header line, data records, gzip trailer.

    The BOM and header line are prepared at construction (a header cell the
    encoding cannot hold raises :class:`UnencodableCellError` with row 0 there and
    then); nothing reaches ``out`` before a full :data:`WRITE_CHUNK` is ready or
    :meth:`close` is called. A file with no header line and no rows holds only the
    encoding's BOM (nothing for BOM-less encodings); gzip then wraps that content.
    ``preamble=False`` leaves out the BOM and header line (a later slice of a file).

    The lists given to :meth:`write_encoded` are kept until their chunk is
    written: callers must not mutate them afterwards.
    """

    def __init__(
        self,
        out: SupportsWriteBytes,
        action: FileExportAction,
        headers: Sequence[str],
        *,
        buffer_rows: int = 2000,
        preamble: bool = True,
    ) -> None:
        if buffer_rows < 1:
            raise ValueError("buffer_rows must be at least 1")
        self.encoder = CellEncoder(action)
        self.bytes_written = 0
        self._out = out
        self._encoding_name = action.encoding
        self._codec, bom = ENCODINGS[action.encoding]
        self._errors = "replace" if action.on_unencodable == "replace" else "strict"
        self._join = self.encoder.delimiter.join
        self._headers = list(headers)
        self._buffer_rows = buffer_rows
        self._pending_rows: list[Sequence[str]] = []
        self._flushed_rows = 0
        self._pending_bytes: list[bytes] = []
        self._pending_size = 0
        self._compressor = (
            zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
            if action.compression == "gzip"
            else None
        )
        self._failure: ExportRunError | None = None
        self._closed = False

        # Without the preamble (a distributed run's later slices) neither BOM nor header is written.
        start = bom if preamble else b""
        if action.show_headers and preamble:
            header_cells = [self.encoder.header_cell(h) for h in self._headers]
            start += self._encode_chunk([header_cells], first_row=0)
        self._emit(start)

    @property
    def rows(self) -> int:
        """Data rows written so far (header excluded), including those still buffered."""
        return self._flushed_rows + len(self._pending_rows)

    def write_encoded(self, cells: Sequence[str]) -> None:
        """Add one record whose cells already went through ``encoder.data_cell``."""
        pending = self._pending_rows
        pending.append(cells)
        if len(pending) >= self._buffer_rows:
            self._flush_rows()

    def write_all_encoded(self, rows: Iterable[Sequence[str]]) -> None:
        """:meth:`write_encoded` of each row in turn, without a call per row."""
        pending = self._pending_rows
        limit = self._buffer_rows
        for cells in rows:
            pending.append(cells)
            if len(pending) >= limit:
                self._flush_rows()
                pending = self._pending_rows

    def write_row(self, cells: Sequence[str]) -> None:
        """Add one record of raw cell texts (escaped and quoted here)."""
        self.write_encoded(list(map(self.encoder.data_cell, cells)))

    def close(self) -> None:
        """Write every buffered row and the gzip trailer. Calling it again does nothing."""
        if self._closed:
            return
        self._flush_rows()
        if self._compressor is not None:
            self._push(self._compressor.flush())
        self._write_pending(everything=True)
        self._closed = True
        # Any later write now reaches _flush_rows at once, which refuses it.
        self._buffer_rows = 0

    def _flush_rows(self) -> None:
        if self._closed:
            raise ValueError("the file writer is closed")
        if self._failure is not None:
            raise self._failure
        rows = self._pending_rows
        if not rows:
            return
        data = self._encode_chunk(rows, first_row=self._flushed_rows + 1)
        self._flushed_rows += len(rows)
        self._pending_rows = []
        self._emit(data)

    def _encode_chunk(self, rows: Sequence[Sequence[str]], first_row: int) -> bytes:
        """Bytes of ``rows`` as records; ``first_row`` is the file row number of ``rows[0]``."""
        text = RECORD_END.join([*map(self._join, rows), ""])
        try:
            return text.encode(self._codec, self._errors)
        except UnicodeEncodeError as error:
            self._failure = self._culprit(rows, first_row, error)
            raise self._failure from None

    def _culprit(
        self, rows: Sequence[Sequence[str]], first_row: int, error: UnicodeEncodeError
    ) -> ExportRunError:
        for offset, cells in enumerate(rows):
            for column, cell in enumerate(cells):
                try:
                    cell.encode(self._codec)
                except UnicodeEncodeError as cell_error:
                    header = self._headers[column] if column < len(self._headers) else ""
                    char = cell_error.object[cell_error.start]
                    return UnencodableCellError(first_row + offset, column, header, char, self._encoding_name)
        # Only reachable if a caller mutated a buffered row list after handing it over.
        return ExportRunError(f"rows could not be written in {self._encoding_name}: {error}")

    def _emit(self, data: bytes) -> None:
        if self._compressor is not None:
            data = self._compressor.compress(data)
        self._push(data)
        if self._pending_size >= WRITE_CHUNK:
            self._write_pending(everything=False)

    def _push(self, data: bytes) -> None:
        if data:
            self._pending_bytes.append(data)
            self._pending_size += len(data)

    def _write_pending(self, *, everything: bool) -> None:
        """Hand pending bytes to ``out`` in WRITE_CHUNK pieces; keep a short tail unless ``everything``."""
        if not self._pending_bytes:
            return
        blob = b"".join(self._pending_bytes)
        end = len(blob) if everything else len(blob) - len(blob) % WRITE_CHUNK
        for start in range(0, end, WRITE_CHUNK):
            piece = blob[start : min(start + WRITE_CHUNK, end)]
            self._out.write(piece)
            self.bytes_written += len(piece)
        rest = blob[end:]
        self._pending_bytes = [rest] if rest else []
        self._pending_size = len(rest)
