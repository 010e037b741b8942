"""CSV lines as file-like objects for Arrow's reader: the text after the header as it is (with
its line ends counted), or cleaned of blank and invalid lines (see csvscan, "CSV lines")."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, Problem
from .csvscan import (BLOCK, DELIM, LINE_MAX, LINE_OK, MALFORMED, NO_BYTES, NO_RECORDS, QUOTE, bytes_of,
                      ensure_kernels, line_kind)


class Chain:
    """A file-like object for Arrow's CSV reader: ``first`` (text already read), then the rest
    of ``stream``. Subclasses look at every piece as it passes (``seen``)."""

    closed = False

    def __init__(self, first: bytes, stream):
        self.buf, self.pos, self.stream = first, 0, stream
        self._eof = False

    def readable(self) -> bool:
        return True

    def prime(self) -> bool:
        """Whether any text follows (reads ahead at most one piece)."""
        if self.pos >= len(self.buf) and not self._eof:
            self.buf, self.pos = self._next(BLOCK), 0
        return self.pos < len(self.buf)

    def _next(self, nbytes: int):
        chunk = self.stream.read(nbytes)
        if not chunk:
            self._eof = True
        return chunk

    def read(self, nbytes: int = -1):
        nbytes = nbytes if nbytes is not None and nbytes > 0 else BLOCK
        if self.pos >= len(self.buf):
            if self._eof:
                return b""
            self.buf, self.pos = self._next(nbytes), 0       # may be longer than nbytes
            if not len(self.buf):
                return b""
        start, end = self.pos, min(len(self.buf), self.pos + nbytes)
        self.pos = end
        self.seen(self.buf, start, end)
        return self.buf if start == 0 and end == len(self.buf) else memoryview(self.buf)[start:end]

    def seen(self, buf, start: int, end: int) -> None:
        pass


class CountingReader(Chain):
    """Counts the line ends of the text as Arrow reads it (vectorised, no copy), notes a
    carriage return that is not followed by a line feed, and keeps the last pieces (for the
    last line)."""

    TAIL = 1 << 20

    def __init__(self, first: bytes, stream):
        super().__init__(first, stream)
        self.lf = self.size = 0
        self.lone_cr = self.cr_at_end = False
        self.last: list = []

    def seen(self, buf, start: int, end: int) -> None:
        ensure_kernels()
        from .csvkernels import count_lf, has_lone_cr

        arr = bytes_of(buf)[start:end]
        self.lf += int(count_lf(arr))
        if self.cr_at_end and arr[0] != 10:
            self.lone_cr = True
        if buf.find(b"\r", start, end) >= 0:
            self.lone_cr |= bool(has_lone_cr(arr))
        self.cr_at_end = bool(arr[-1] == 13)
        self.size += end - start
        self.last = (self.last + [(buf, start, end)])[-2:]

    def last_line(self) -> bytes | None:
        """The last line (without its line end), or None when longer than TAIL."""
        tail = b"".join(buf[max(start, end - self.TAIL):end] for buf, start, end in self.last)[-self.TAIL:]
        body = tail[:-1] if tail.endswith(b"\n") else tail
        body = body[:-1] if body.endswith(b"\r") else body
        p = max(body.rfind(b"\n"), body.rfind(b"\r"))
        if p < 0 and self.size > len(tail):
            return None
        return body[p + 1:]

    def ends_with_line_end(self) -> bool:
        if not self.last:
            return True
        buf, _, end = self.last[-1]
        return buf[end - 1:end] in (b"\n", b"\r")

    def last_line_whole(self, check: np.ndarray, delim: int = DELIM) -> bool:
        """Whether the last line is a readable data line (a quote left open on it would have
        run to the end of the text: Arrow reads that as a value)."""
        last = self.last_line()
        return last is not None and line_kind(last, check, delim) == ("data", LINE_OK)

    def lines(self) -> int | None:
        """The number of lines (None when a lone carriage return ends some: Arrow counts those,
        this count does not)."""
        if self.lone_cr or self.cr_at_end:
            return None
        return self.lf + (0 if self.ends_with_line_end() else 1)


class LineCleaner(Chain):
    """The data lines of a CSV stream (after its header) that Arrow can read as they are, piece
    by piece; counts the blank lines and sets aside the invalid data lines (``bad``: data row,
    text, code) with their row numbers. ``keep``: how many invalid lines to keep (all: None);
    ``delimiter``: the field delimiter (``CsvLayout.delimiter``)."""

    def __init__(self, name: str, first: bytes, stream, check: np.ndarray, keep: int | None,
                 delimiter: str = ","):
        super().__init__(b"", stream)
        self.name, self.check, self.keep = name, check, keep
        self.delim = ord(delimiter)
        self.raw_first = first
        self.pending = b""
        self.rows = self.blank = self.n_bad = self.n_kept = 0
        self.bad: list[tuple[int, str, str]] = []
        self.unterminated_row: int | None = None
        self.done = False

    def _next(self, nbytes: int):
        """The next cleaned piece (never empty until the end)."""
        while not self.done:
            data, final = self._lines()
            if final:
                self.done = True
            piece = self._clean(data, final) if len(data) else b""
            if len(piece):
                return piece
        self._eof = True
        return b""

    def _lines(self):
        """Raw text ending at a line end (or at the end of the stream: final)."""
        while True:
            if self.raw_first:
                chunk, self.raw_first = self.raw_first, b""
            else:
                chunk = self.stream.read(BLOCK)
            if not chunk:
                data, self.pending = self.pending, b""
                return data, True
            data = self.pending + chunk if self.pending else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                cut = data.rfind(b"\r", 0, len(data) - 1) + 1     # lone carriage returns only
            if cut:
                self.pending = data[cut:]
                return memoryview(data)[:cut], False
            self.pending = data
            if len(data) > LINE_MAX:
                raise InputError(Problem(self.name, self.rows + 1, None, "line_too_long",
                                         f"a line is longer than {LINE_MAX >> 20} MiB"))

    def _clean(self, data: bytes, final: bool):
        ensure_kernels()
        from .csvkernels import scan_lines

        arr = bytes_of(data)
        n_data, n_blank, n_bad, _, last_data = scan_lines(arr, self.delim, QUOTE, self.check, NO_BYTES, NO_RECORDS)
        out = data
        if n_blank or n_bad:
            room = n_bad if self.keep is None else max(0, min(n_bad, self.keep - len(self.bad)))
            rec = np.zeros((room, 4), np.int64)
            buf = np.empty(len(arr) + 1, np.uint8)
            _, _, _, size, _ = scan_lines(arr, self.delim, QUOTE, self.check, buf, rec)
            out = memoryview(buf[:size])
            for idx, start, end, kind in rec.tolist():
                code = MALFORMED[kind][0]
                text = bytes(data[start:min(end, start + 4096)]).decode("utf-8", "backslashreplace")
                self.bad.append((self.rows + idx + 1, text, code))
            self.n_kept += len(rec)
        self.rows += n_data
        self.blank += n_blank
        self.n_bad += n_bad
        if final and last_data and bytes(data[-1:]) not in (b"\n", b"\r"):
            self.unterminated_row = self.rows
        return out

    def notices(self) -> list[Problem]:
        if self.unterminated_row is None:
            return []
        return [no_final_newline(self.name, self.unterminated_row)]


def no_final_newline(name: str, row: int) -> Problem:
    return Problem(name, row, None, "no_final_newline",
                   "the last line has no line end (the file may have been cut short); it was read as it stands")
