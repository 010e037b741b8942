"""CSV lines: how the lines of a CSV text are classified (the compiled scanner is in
:mod:`.csvkernels`, imported when a file first needs it: numba's import is not paid by a run that
reads no CSV, or while it reads its Parquet input)."""

from __future__ import annotations

import importlib

import numpy as np
import pyarrow.csv as pacsv

# CSV lines
#
# No field of a message log holds a line break (DECISIONS "Reading exports"): every line end
# ends a record. Arrow's CSV reader lets a quoted field run on over line ends, so one stray
# quote swallows the rows after it. The scanner below splits the text into lines itself and
# reads each line with Arrow's own rules for quotes and delimiters; a line is blank (empty,
# spaces and tabs only, or every field empty), a data row Arrow reads as it is, or an invalid
# data row (a quote left open at the line end, a wrong number of fields, text of a read column
# that is not UTF-8), which is set aside with its row number. Arrow then reads the data rows.
#
# The common case pays for almost none of this: Arrow reads the file as it is while the line
# ends are counted (a vectorised count, no copy); when every line became one row, the last line
# is whole, and no row is empty, the result stands. Otherwise the file is read again, exactly.
# (Keeping empty lines as rows instead of counting them was tried: a gigabyte of line ends
# then became a billion rows in memory.)

LINE_OK, LINE_OPEN_QUOTE, LINE_FIELDS, LINE_ENCODING, LINE_JSON = 0, 1, 2, 3, 4
MALFORMED = {
    LINE_OPEN_QUOTE: ("malformed_line", "a quoted field is not closed on its line (fields may not contain line "
                                        "breaks: drop that column, or export xlsx or JSON Lines instead)"),
    LINE_FIELDS: ("malformed_row", "wrong number of fields (not as many as the header has)"),
    LINE_ENCODING: ("bad_encoding", "the text is not valid UTF-8 (for another encoding give --encoding, e.g. "
                                    "--encoding cp1251)"),
    LINE_JSON: ("bad_json", "not a JSON object on one line"),
}
PARSE = pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True, escape_char=False,
                           newlines_in_values=False, ignore_empty_lines=True)
DELIM, QUOTE = ord(","), ord('"')


def parse_options(delimiter: str = ",") -> pacsv.ParseOptions:
    """Arrow's reading of one CSV line with ``delimiter`` (PARSE for a comma)."""
    if delimiter == ",":
        return PARSE
    return pacsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True, escape_char=False,
                              newlines_in_values=False, ignore_empty_lines=True)
#: The longest line of a file (a longer one is an error).
LINE_MAX = 1 << 26
BLOCK = 1 << 24
NO_BYTES = np.zeros(0, np.uint8)
NO_RECORDS = np.zeros((0, 4), np.int64)


_kernels = {"ready": False}


def ensure_kernels() -> None:
    """numba starts through segment.load_kernels (which spares the command line numba's probe
    for a BLAS); the kernels of :mod:`.csvkernels` then load from numba's cache."""
    if not _kernels["ready"]:
        from ..segment import load_kernels

        load_kernels()
        _kernels["ready"] = True


_COMPILED = ("scan_lines", "count_lf", "has_lone_cr")


def __getattr__(name: str):
    if name in _COMPILED:
        return getattr(importlib.import_module(f"{__package__}.csvkernels"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def bytes_of(data) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def line_kind(line: bytes, check: np.ndarray, delim: int = DELIM) -> tuple[str, int]:
    """('blank' | 'data', kind) of one line of a file whose header has ``len(check)`` fields."""
    ensure_kernels()
    from .csvkernels import scan_lines

    rec = np.zeros((1, 4), np.int64)
    n_data, n_blank, n_bad, _, _ = scan_lines(bytes_of(line), delim, QUOTE, check, NO_BYTES, rec)
    if n_data == 0:
        return "blank", LINE_OK
    return "data", int(rec[0, 3]) if n_bad else LINE_OK
