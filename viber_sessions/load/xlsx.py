"""Reading Excel ``.xlsx`` workbooks with python-calamine: the first sheet (or ``--sheet``),
its first non-blank row (after ``skip_rows``) the header.

Cells keep what Excel stores: text stays text exactly; date cells of the timestamp column are
wall-clock times read in ``input_tz``, exactly (also in a column that mixes them with text
timestamps, which are read by ``--timestamp-format`` or as ISO-8601); a plain number there is no
timestamp (``bad_timestamp``).
An integral number in an id column becomes its integer text (``79000006885``) with a warning,
since Excel keeps no leading zeros. Rows whose every cell is empty are blank.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from ..errors import InputError, Problem
from .formats import looks_like
from .options import CANONICAL, ID_COLUMNS, REQUIRED, LoadOptions
from .raw import TS_UTC, BadCells, RawFile, check_columns, first_line
from .timestamps import parse_timestamps
from .typed import assumed_zone


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
    columns, notices, bad_cells = {}, [], []
    for i, canonical in fields:
        cells = [row[i] if i < len(row) else None for row in data]
        if canonical == "timestamp":
            columns[canonical], bad_cells, more = _timestamps(name, cells, options)
            notices.extend(more)
        else:
            columns[canonical], numbers, example = _texts(cells, canonical in ID_COLUMNS)
            if numbers:
                notices.append(Problem(name, None, header[i], "numeric_id",
                                       f"{numbers} id{'s are' if numbers > 1 else ' is a'} number{'s' if numbers > 1 else ''} "
                                       "in the workbook, read as integer text (e.g. "
                                       f"{example!r}); Excel keeps no leading zeros: "
                                       "store the column as text if the ids may have them"))
    return RawFile(pa.table(columns), blank=blank, notices=notices, bad_cells=bad_cells)


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


def _timestamps(name: str, cells: list, options: LoadOptions) -> tuple[pa.Array, list[BadCells], list[Problem]]:
    """The timestamp column, the cells that are no timestamp, and the notice of wall-clock
    times read in a zone nobody chose. Date cells alone: zone-less timestamps (read in input_tz
    by the typing). A column that also holds text: every cell converted here, each kind
    directly (date cells are exact instants: never written out and read back), as UTC
    instants; a text that is no timestamp (by --timestamp-format, or ISO-8601 / epoch) and a
    bare number (never an epoch value) are invalid cells with what the sheet holds."""
    stamps = [_as_datetime(v) for v in cells]
    if all(s is not None or _empty(v) for s, v in zip(stamps, cells)):
        return pa.array([s if s is not None and s.tzinfo is None else None for s in stamps],
                        pa.timestamp("us")), [], []
    n = len(cells)
    ns, bad = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    counts = {"naive": 0}
    dates = [i for i, s in enumerate(stamps) if s is not None]
    texts = [i for i, (s, v) in enumerate(zip(stamps, cells)) if s is None and isinstance(v, str) and not _empty(v)]
    listed = set(texts)
    others = [i for i, (s, v) in enumerate(zip(stamps, cells)) if s is None and not _empty(v) and i not in listed]
    if dates:
        aware = [stamps[i].astimezone(dt.timezone.utc).replace(tzinfo=None) if stamps[i].tzinfo else None
                 for i in dates]
        wall = pa.array([None if a is not None else stamps[i] for a, i in zip(aware, dates)], pa.timestamp("us"))
        local, local_bad = parse_timestamps(wall, options.input_tz, None)
        utc, utc_bad = parse_timestamps(pa.array(aware, pa.timestamp("us", tz="UTC")), "UTC", None)
        is_aware = np.array([a is not None for a in aware])
        ns[dates] = np.where(is_aware, utc, local)
        bad[dates] = np.where(is_aware, utc_bad, local_bad)
        counts["naive"] = int((~is_aware).sum())
    if texts:
        text_counts: dict = {}
        ns[texts], bad[texts] = parse_timestamps(pa.array([cells[i] for i in texts], pa.string()), options.input_tz,
                                                 options.epoch_unit, options.timestamp_format, text_counts)
        counts["naive"] += text_counts.get("naive", 0)
    bad[others] = True
    shown = [None] * n
    for i in np.flatnonzero(bad):
        v = cells[i]
        shown[i] = v if isinstance(v, str) else stamps[i].isoformat() if stamps[i] is not None else \
            f"{float(v)!r}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
    valid = np.zeros(n, dtype=bool)
    valid[dates + texts] = True
    valid &= ~bad
    column = pa.array(ns, pa.int64(), mask=~valid).cast(TS_UTC)
    cells_bad = [BadCells("timestamp", "bad_timestamp", pa.array(shown, pa.string()))] if bad.any() else []
    notices = [assumed_zone(name, options)] if counts["naive"] and \
        options.naive_warning_tz not in (None, options.input_tz) else []
    return column, cells_bad, notices
