"""Reading JSON Lines (``.jsonl``, ``.ndjson``, optionally ``.gz``, or stdin): one JSON object a
line, read by pyarrow; a line that is no JSON object is one rejected row.

Keys are the column names (``--map`` and the profile's columns apply). String values are kept
exactly; a number in a text column becomes its decimal text as written (``79000006885``), a
number in the timestamp column is an epoch value. Only strings and numbers are values: an
object, an array, ``true``/``false`` or ``NaN`` in a read column is an invalid cell
(``bad_value``), never turned into text. Blank lines and objects whose every value is empty
(``{}``) are counted as blank; an object with keys but none of the read columns is a data row
(with missing values), never blank. When pyarrow's reader fails (a bad line, a column holding
both numbers and text, a value that is an object), the file is read again line by line in
Python, where each bad line is a malformed row (``bad_json``) with its row number.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from ..errors import InputError, Problem
from .csvscan import LINE_JSON, MALFORMED
from .formats import text_opener
from .options import CANONICAL, OPTIONAL, REQUIRED, LoadOptions
from .raw import BadCells, RawFile, all_missing, check_columns

_NUMBER_COLUMN = re.compile(r"Column\(/(.*?)\) changed from string to number")
_NONBLANK = re.compile(rb"(?m)^[ \t\r]*[^ \t\r\n]")
#: Lines looked at for the keys named in a missing-column error.
KEY_SAMPLE = 1000


def read_jsonl(name: str, options: LoadOptions, stdin=None) -> RawFile:
    """A whole JSON Lines file as raw canonical columns."""
    with text_opener(name, stdin, options.encoding, kind="a JSON Lines file")() as stream:
        data = b"".join(iter(lambda: stream.read(1 << 24), b""))
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    wanted = {options.source_name(c): c for c in CANONICAL}
    total = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    nonblank = len(_NONBLANK.findall(data))
    if nonblank == 0:
        return RawFile(pa.table({c: pa.array([], pa.string()) for c in REQUIRED}), blank=total, header=False)
    table = _read_fast(data, wanted)
    if table is not None and table.num_rows == nonblank:
        _check_keys(name, data, table, wanted, options)
        table, empty = _drop_blank_objects(_canonical(table, wanted), data)
        return RawFile(table, blank=total - nonblank + empty)
    return _read_lines(name, data, wanted, options)


def _drop_blank_objects(table: pa.Table, data: bytes) -> tuple[pa.Table, int]:
    """Leave out the rows of objects whose every value is empty (``{}``): a row that is empty
    only in the read columns comes from an object with other keys, a data row with missing
    values. (Looks at the lines of the empty rows only.)"""
    empty = all_missing(table, first="message_id")
    if empty is None:
        return table, 0
    at = np.flatnonzero(empty)
    lines = [line for line in data.split(b"\n") if line.strip(b" \t\r")]
    for i in at:
        if not _blank_object(lines[i]):
            empty[i] = False
    return table.filter(pa.array(~empty)), int(empty.sum())


def _blank_object(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and all(v is None or v == "" for v in obj.values())


def _read_fast(data: bytes, wanted: dict[str, str]) -> pa.Table | None:
    """pyarrow's reading, every wanted column as text (or as integers where the file writes
    numbers); None when that reading fails."""
    types = {src: pa.string() for src in wanted}
    for _ in range(len(types) + 1):
        try:
            return pajson.read_json(pa.BufferReader(data), read_options=pajson.ReadOptions(block_size=1 << 24),
                                    parse_options=pajson.ParseOptions(
                                        explicit_schema=pa.schema(list(types.items())),
                                        unexpected_field_behavior="ignore"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            found = _NUMBER_COLUMN.search(str(exc))
            key = found and found.group(1).replace("~1", "/").replace("~0", "~")
            if not key or types.get(key) != pa.string():
                return None
            types[key] = pa.int64()
    return None


def _canonical(table: pa.Table, wanted: dict[str, str]) -> pa.Table:
    """The wanted columns under their canonical names; numbers as text except the timestamp's."""
    columns = {}
    for src, canonical in wanted.items():
        column = table.column(src)
        if canonical in OPTIONAL and column.null_count == len(column):
            continue                     # an optional column no line has
        if pa.types.is_integer(column.type) and canonical != "timestamp":
            column = pc.cast(column, pa.string())
        columns[canonical] = column
    return pa.table(columns)


def _check_keys(name: str, data: bytes, table: pa.Table, wanted: dict[str, str], options: LoadOptions) -> None:
    """Refuse a file none of whose lines has a required column (naming the keys it has)."""
    absent = [src for src in wanted if wanted[src] in REQUIRED and table.column(src).null_count == table.num_rows
              and json.dumps(src, ensure_ascii=False).encode() not in data]
    if absent:
        check_columns(name, _keys(data), options)


def _keys(data: bytes) -> list[str]:
    """The keys of the first lines (in the order first met)."""
    keys: dict[str, None] = {}
    for line in data.split(b"\n", KEY_SAMPLE)[:KEY_SAMPLE]:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            keys.update(dict.fromkeys(obj))
    return list(keys)


def _text(value: str) -> bool:
    """Whether a string is text (UTF-8 can hold it: no lone surrogate)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Constant(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` as written (no value of a column)."""


def _number(text: str) -> str:
    return text


def _parse(line: bytes):
    """A line's JSON, numbers kept as the text they are written with."""
    return json.loads(line, parse_int=_number, parse_float=_number, parse_constant=_Constant)


def _cell(value) -> tuple[str | None, str | None]:
    """(text, None) of a string or number; (None, what is written) of any other JSON value, and
    of a string holding a lone surrogate (``"\\udc80"``: no text, it cannot be UTF-8)."""
    if value is None or (isinstance(value, str) and not isinstance(value, _Constant) and _text(value)):
        return value, None
    if isinstance(value, str) and not isinstance(value, _Constant):
        return None, value.encode("utf-8", "backslashreplace").decode("utf-8")
    return None, str(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _read_lines(name: str, data: bytes, wanted: dict[str, str], options: LoadOptions) -> RawFile:
    """Line by line: a line that is no JSON object is a malformed row with its row number."""
    columns: dict[str, list] = {c: [] for c in wanted.values()}
    bad: dict[str, list] = {c: [] for c in wanted.values()}
    keys: dict[str, None] = {}
    malformed: list[tuple[int, str, str]] = []
    blank = row = 0
    code = MALFORMED[LINE_JSON][0]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines:
        if not line.strip(b" \t\r"):
            blank += 1
            continue
        try:
            obj = _parse(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            row += 1
            malformed.append((row, line[:4096].decode("utf-8", "backslashreplace").rstrip("\r"), code))
            continue
        if len(keys) < 4096:
            keys.update(dict.fromkeys(obj))
        if all(v is None or v == "" for v in obj.values()):
            blank += 1                         # {} or every value empty: a blank row
            continue
        row += 1
        for src, c in wanted.items():
            text, wrong = _cell(obj.get(src))
            columns[c].append(text)
            bad[c].append(wrong)
    if row == len(malformed) and not keys:
        if not row:
            return RawFile(pa.table({c: pa.array([], pa.string()) for c in REQUIRED}), blank=blank, header=False)
        first = malformed[0]
        raise InputError(Problem(name, first[0], None, code, "not a JSON Lines file: no line is a JSON object",
                                 first[1][:200]))
    check_columns(name, list(keys), options)
    table = pa.table({c: pa.array(v, pa.string()) for c, v in columns.items()
                      if c not in OPTIONAL or any(x is not None for x in v) or any(x is not None for x in bad[c])})
    cells = [BadCells(c, "bad_value", pa.array(v, pa.string())) for c, v in bad.items()
             if c in table.column_names and any(x is not None for x in v)]
    return RawFile(table, malformed=malformed, blank=blank, bad_cells=cells)
