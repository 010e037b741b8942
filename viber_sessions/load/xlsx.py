"""Reading Excel ``.xlsx`` workbooks with python-calamine: the first sheet (or ``--sheet``),
its first non-blank row (after ``skip_rows``) the header.

Cells keep what Excel stores: text stays text exactly; date cells of the timestamp column are
wall-clock times read in ``input_tz``; a plain number there is no timestamp (``bad_timestamp``).
An integral number in an id column becomes its integer text (``79000006885``) with a warning,
since Excel keeps no leading zeros. Rows whose every cell is empty are blank.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from ..errors import InputError, Problem
from .formats import looks_like
from .options import CANONICAL, ID_COLUMNS, REQUIRED, LoadOptions
from .raw import RawFile, check_columns, first_line


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _open_sheet(name: str, options: LoadOptions):
    import python_calamine

    with open(name, "rb") as fh:
        head = fh.read(8)
    if not head.startswith(b"PK\x03\x04"):
        what = looks_like(head) or "text or another kind of file"
        raise InputError(Problem(name, None, None, "unsupported_format",
                                 f"not an Excel .xlsx workbook: it looks like {what}"))
    try:
        book = python_calamine.CalamineWorkbook.from_path(name)
        names = book.sheet_names
        if options.sheet is None:
            if not names:
                raise InputError(Problem(name, None, None, "empty_file", "the workbook has no sheet"))
            return book.get_sheet_by_index(0)
        if options.sheet not in names:
            raise InputError(Problem(name, None, None, "missing_sheet",
                                     f"no sheet named {options.sheet!r} (--sheet); the workbook has: "
                                     + ", ".join(repr(n) for n in names)))
        return book.get_sheet_by_name(options.sheet)
    except InputError:
        raise
    except Exception as exc:           # calamine's own errors: a damaged or encrypted workbook
        raise InputError(Problem(name, None, None, "unreadable",
                                 f"not a readable .xlsx workbook ({first_line(str(exc))})")) from None


def read_xlsx(name: str, options: LoadOptions) -> RawFile:
    """One sheet as raw canonical columns (text, or wall-clock timestamps)."""
    rows = _open_sheet(name, options).to_python(skip_empty_area=False)
    rows = rows[options.skip_rows:]
    blank = 0
    for start, row in enumerate(rows):
        if not all(_empty(v) for v in row):
            break
        blank += 1
    else:
        return RawFile(pa.table({c: pa.array([], pa.string()) for c in REQUIRED}), blank=blank, header=False)
    header = ["" if v is None else str(v) for v in rows[start]]
    while header and header[-1] == "":
        header.pop()
    check_columns(name, header, options)
    wanted = {options.source_name(c): c for c in CANONICAL}
    fields = [(i, wanted[n]) for i, n in enumerate(header) if n in wanted]
    data = []
    for row in rows[start + 1:]:
        if all(_empty(v) for v in row):
            blank += 1
        else:
            data.append(row)
    columns, notices = {}, []
    for i, canonical in fields:
        cells = [row[i] if i < len(row) else None for row in data]
        if canonical == "timestamp":
            columns[canonical] = _timestamps(cells, options)
        else:
            columns[canonical], numbers, example = _texts(cells, canonical in ID_COLUMNS)
            if numbers:
                notices.append(Problem(name, None, header[i], "numeric_id",
                                       f"{numbers} id{'s are' if numbers > 1 else ' is a'} number{'s' if numbers > 1 else ''} "
                                       "in the workbook, read as integer text (e.g. "
                                       f"{example!r}); Excel keeps no leading zeros: "
                                       "store the column as text if the ids may have them"))
    return RawFile(pa.table(columns), blank=blank, notices=notices)


def _number_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _texts(cells: list, is_id: bool) -> tuple[pa.Array, int, str | None]:
    """Text of each cell, how many integral numbers were turned into integer text, the first."""
    out, numbers, example = [], 0, None
    for v in cells:
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, bool):
            out.append("TRUE" if v else "FALSE")
        elif isinstance(v, (int, float)):
            out.append(_number_text(v))
            if is_id and float(v).is_integer():
                numbers += 1
                example = example or out[-1]
        elif isinstance(v, (dt.datetime, dt.date, dt.time)):
            out.append(v.isoformat())
        else:
            out.append(str(v))
    return pa.array(out, pa.string()), numbers, example


def _as_datetime(v) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None) if v.tzinfo is None else v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    return None


def _timestamps(cells: list, options: LoadOptions) -> pa.Array:
    """Date cells as zone-less timestamps (read in input_tz later); a column that also holds
    text becomes text, the date cells written in the first --timestamp-format (or ISO-8601)
    and numbers as they are (no timestamp)."""
    stamps = [_as_datetime(v) for v in cells]
    if all(s is not None or _empty(v) for s, v in zip(stamps, cells)):
        return pa.array([s if s is not None and s.tzinfo is None else None for s in stamps], pa.timestamp("us"))
    fmt = options.timestamp_format[0] if options.timestamp_format else None
    out = []
    for s, v in zip(stamps, cells):
        if s is not None:
            out.append(s.strftime(fmt) if fmt else s.isoformat())
        elif v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(f"{float(v)!r}")          # a bare number: never read as an epoch value
        else:
            out.append(str(v))
    return pa.array(out, pa.string())
