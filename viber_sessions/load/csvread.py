"""Reading one CSV file: its header, then Arrow's fast reading when the file turns out plain,
else the exact line-by-line one (see csvscan, "CSV lines")."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError, Problem
from .csvscan import BLOCK, parse_options
from .csvstream import CountingReader, LineCleaner, no_final_newline
from .formats import TSV, suffix_format, text_opener
from .options import CANONICAL, DELIMITERS, REQUIRED, LoadOptions
from .raw import DICT, DICT_COLUMNS, KEEP_WHEN_ERROR, TS_UTC, RawFile, all_missing, check_columns

#: The longest header line (a longer one is an error).
HEADER_MAX = 1 << 20


@dataclass
class Header:
    """The first non-blank line of a CSV stream: its names (None: no such line), the text
    read past it, the blank lines before it and the field delimiter (given or detected)."""

    names: list[str] | None
    rest: bytes = b""
    blank: int = 0
    delimiter: str = ","


def read_header(name: str, stream, delimiter: str | None = ",", skip_rows: int = 0) -> Header:
    """Read the header line with plain reads (never Arrow's reader: a header followed by a
    gigabyte of blank lines crashed it), skipping ``skip_rows`` lines, then blank lines before
    it. ``delimiter`` None: detected from the header line among , ; TAB | (the one that splits
    it into the most fields; a comma when none does)."""
    buf, blank, eof, start = b"", 0, False, True
    while True:
        if start and (len(buf) >= 3 or eof):
            buf, start = (buf[3:] if buf.startswith(b"\xef\xbb\xbf") else buf), False
        cut = _line_end(buf, eof) if not start else None
        if cut is None:
            if eof:
                delim = delimiter or detect_delimiter(buf)
                return Header(None, b"", blank + (1 if buf.strip(b" \t" + delim.encode()) == b"" and buf and not skip_rows
                                                 else 0), delim)
            if len(buf) > HEADER_MAX:
                raise InputError(Problem(name, None, None, "bad_header",
                                         f"the first line is longer than {HEADER_MAX >> 20} MiB: not a CSV header"))
            chunk = stream.read(1 << 16)
            eof = not chunk
            buf += chunk
            continue
        line, end = cut
        if skip_rows:
            skip_rows -= 1
            buf = buf[end:]
            continue
        delim = delimiter or detect_delimiter(line)
        kind = _header_kind(line, delim.encode())
        if kind == "blank":
            blank += 1
            buf = buf[end:]
            continue
        if kind == "open_quote":
            raise InputError(Problem(name, None, None, "bad_header", "the header line has a quote that is not "
                                     "closed on the line", line[:200].decode("utf-8", "backslashreplace")))
        return Header(_header_names(name, line, delim), buf[end:], blank, delim)


def detect_delimiter(line: bytes) -> str:
    """The delimiter among , ; TAB | that splits ``line`` (quoted text left out) into the most
    fields; a comma when none splits it."""
    bare = re.sub(rb'"[^"]*"', b"", bytes(line))
    counts = [bare.count(d.encode()) for d in DELIMITERS]
    best = max(range(len(DELIMITERS)), key=lambda i: (counts[i], -i))
    return DELIMITERS[best] if counts[best] else ","


def _header_kind(line: bytes, delim: bytes = b",") -> str:
    """'blank', 'open_quote' or 'data': the reading of ``scan_lines`` for one line, in Python
    (string searches: fast for any header, and no compiled kernel is needed to read one)."""
    if not line.strip(b" \t"):
        return "blank"
    i, n, content = 0, len(line), False
    while True:
        if line[i:i + 1] == b'"':                        # a quoted field
            j = i + 1
            while True:
                k = line.find(b'"', j)
                if k < 0:
                    return "open_quote"
                content |= k > j
                if line[k + 1:k + 2] == b'"':
                    content, j = True, k + 2
                    continue
                i = k + 1
                break
        k = line.find(delim, i)
        content |= (n if k < 0 else k) > i
        if k < 0:
            return "data" if content else "blank"
        i = k + 1


def _line_end(buf: bytes, eof: bool) -> tuple[bytes, int] | None:
    """(first line, offset after its line end) of ``buf``, or None when more text is needed."""
    lf, cr = buf.find(b"\n"), buf.find(b"\r")
    ends = [p for p in (lf, cr) if p >= 0]
    if not ends:
        return (buf, len(buf)) if eof and buf else None
    p = min(ends)
    if buf[p] == 13:
        if p + 1 == len(buf) and not eof:
            return None                          # a \r\n may be cut between two reads
        return buf[:p], p + (2 if buf[p + 1:p + 2] == b"\n" else 1)
    return buf[:p], p + 1


def _header_names(name: str, line: bytes, delimiter: str = ",") -> list[str]:
    text = line.decode("utf-8", "replace")
    if csv.field_size_limit() < len(text) + 1:    # the csv module's 128 KiB default is below our 1 MiB header cap
        csv.field_size_limit(len(text) + 1)
    try:
        return next(csv.reader([text], delimiter=delimiter, quotechar='"', doublequote=True, strict=False))
    except (csv.Error, StopIteration):
        raise InputError(Problem(name, None, None, "bad_header", "the header line cannot be read",
                                 text[:200])) from None


@dataclass
class CsvLayout:
    """How Arrow reads one CSV file: the header's names, which fields are read (by position:
    names in a header may repeat or be empty), their canonical names and the delimiter."""

    names: list[str]
    fields: list[int]
    canonical: list[str]
    delimiter: str = ","

    @classmethod
    def of(cls, name: str, names: list[str], options: LoadOptions, delimiter: str = ",") -> "CsvLayout":
        check_columns(name, names, options)
        wanted = {options.source_name(c): c for c in CANONICAL}
        fields = [i for i, n in enumerate(names) if n in wanted]
        return cls(list(names), fields, [wanted[names[i]] for i in fields], delimiter)

    @classmethod
    def of_header(cls, name: str, header: Header, options: LoadOptions) -> "CsvLayout":
        return cls.of(name, header.names, options, header.delimiter)

    @property
    def parse(self) -> pacsv.ParseOptions:
        """Arrow's parse options for this file (its delimiter)."""
        return parse_options(self.delimiter)

    @property
    def check(self) -> np.ndarray:
        """The fields whose text must be UTF-8 (the read ones)."""
        out = np.zeros(len(self.names), dtype=bool)
        out[self.fields] = True
        return out

    def read_options(self, threads: bool, block_size: int = BLOCK) -> pacsv.ReadOptions:
        return pacsv.ReadOptions(column_names=[f"f{i}" for i in range(len(self.names))], use_threads=threads,
                                 block_size=block_size)

    def convert_options(self, ts_type) -> pacsv.ConvertOptions:
        types = {f"f{i}": (ts_type if c == "timestamp" else DICT if c in DICT_COLUMNS else pa.string())
                 for i, c in zip(self.fields, self.canonical)}
        return pacsv.ConvertOptions(include_columns=list(types), column_types=types, strings_can_be_null=False,
                                    quoted_strings_can_be_null=False)

    def canonical_table(self, table: pa.Table) -> pa.Table:
        return table.rename_columns(self.canonical)

    def empty(self) -> pa.Table:
        return pa.table({c: pa.array([], pa.string()) for c in self.canonical})


def _empty_raw(blank: int) -> RawFile:
    """A file without a non-blank line: no header, no rows."""
    return RawFile(pa.table({c: pa.array([], pa.string()) for c in REQUIRED}), blank=blank, header=False)


class _TextTimestamps(Exception):
    """Some timestamp has no offset (or is no timestamp): read the column as text."""


def read_csv(name: str, options: LoadOptions, stdin=None) -> RawFile:
    """A whole CSV file: Arrow's fast reader when the file turns out plain (see "CSV lines"),
    else the exact line-by-line reading."""
    opener = text_opener(name, stdin, options.encoding)
    for ts_type in (TS_UTC, pa.string()):
        with opener() as stream:
            header = read_header(name, stream, delimiter_for(name, options), options.skip_rows)
            if header.names is None:
                return _empty_raw(header.blank)
            layout = CsvLayout.of_header(name, header, options)
            try:
                fast = _read_plain(layout, header, stream, ts_type)
            except _TextTimestamps:
                continue
        if fast is None:
            break
        table, unterminated = fast
        notices = [no_final_newline(name, table.num_rows)] if unterminated else []
        return RawFile(layout.canonical_table(table), blank=header.blank, notices=notices)
    keep = KEEP_WHEN_ERROR if options.on_invalid == "error" else None
    return _read_exact(name, opener, options, keep)


def _read_plain(layout: CsvLayout, header: Header, stream, ts_type) -> tuple[pa.Table, bool] | None:
    """(table, the last line has no line end) read by Arrow as it is, or None when that reading
    cannot be trusted: a parse error; an empty line or row, or a record over several lines (the
    line ends, counted as Arrow reads, are not one per row); a last line that is not a whole
    data line (a quote left open on it runs to the end of the text, one row all the same)."""
    source = CountingReader(header.rest, stream)
    if not source.prime():
        return layout.empty(), False
    try:
        table = pacsv.read_csv(source, read_options=layout.read_options(True), parse_options=layout.parse,
                               convert_options=layout.convert_options(ts_type))
    except pa.ArrowInvalid as exc:
        if ts_type != pa.string() and "conversion error to timestamp" in str(exc):
            raise _TextTimestamps() from None
        return None
    if source.lines() != table.num_rows or _has_empty_row(table):
        return None
    if not source.last_line_whole(layout.check, ord(layout.delimiter)):
        return None
    return table, not source.ends_with_line_end()


def _has_empty_row(table: pa.Table) -> bool:
    """Whether some row has every read column empty (then only the exact reading can tell
    whether the other columns are empty too)."""
    return all_missing(table) is not None


def _read_exact(name: str, opener, options: LoadOptions, keep: int | None) -> RawFile:
    """A CSV file read line by line (see "CSV lines"), then by Arrow."""
    with opener() as stream:
        header = read_header(name, stream, delimiter_for(name, options), options.skip_rows)
        layout = CsvLayout.of_header(name, header, options)
        cleaner = LineCleaner(name, header.rest, stream, layout.check, keep, layout.delimiter)
        data = b"".join(iter(lambda: cleaner.read(BLOCK), b""))
    table = layout.empty()
    if data:
        for ts_type in (TS_UTC, pa.string()):
            try:
                table = pacsv.read_csv(pa.BufferReader(data), read_options=layout.read_options(True),
                                       parse_options=layout.parse, convert_options=layout.convert_options(ts_type))
                break
            except pa.ArrowInvalid as exc:
                if ts_type == pa.string() or "conversion error to timestamp" not in str(exc):
                    raise
    return RawFile(layout.canonical_table(table), malformed=cleaner.bad, blank=header.blank + cleaner.blank,
                   notices=cleaner.notices(), n_malformed=cleaner.n_bad)


def delimiter_for(name: str, options: LoadOptions) -> str | None:
    """The delimiter of a CSV file: the option (or profile), else a tab for ``.tsv``, else
    None (detected from the header line)."""
    if options.delimiter is not None:
        return options.delimiter
    return "\t" if name != "-" and suffix_format(name) == TSV else None
