"""Reading one input file (CSV, TSV, JSON Lines, xlsx or Parquet) into raw columns, and side
inputs as they are."""

from __future__ import annotations

import io
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import InputError, Problem
from .csvread import read_csv, read_header
from .csvscan import PARSE
from .csvstream import Chain
from .discover import csv_opener, is_parquet
from .formats import JSONL, PARQUET, XLSX, file_format, stdin_format
from .jsonl import read_jsonl
from .options import LoadOptions
from .parquet import read_parquet
from .raw import RawFile, reading
from .xlsx import read_xlsx


def read_raw(name: str, options: LoadOptions, stdin=None) -> RawFile:
    """One file's rows with the canonical columns it has, renamed to canonical names.

    CSV columns are read as text (identifiers stay exactly as written), the low-cardinality and
    id columns dictionary-encoded by the reader; timestamps are parsed by the reader when every
    value carries an offset, else read as text and parsed afterwards. Parquet columns keep their
    stored types (string columns come dictionary-encoded). JSON Lines and xlsx: see
    :mod:`.jsonl` and :mod:`.xlsx`. A missing or doubled column is an error that names it.
    Blank lines and all-empty rows are counted and left out.
    """
    with reading(name):
        kind = input_format(name, options)
        if name == "-":
            data = (stdin or sys.stdin.buffer).read()
            stdin = io.BytesIO(data)
            kind = stdin_format(data)
        if kind == PARQUET:
            return read_parquet(name, options)
        if kind == JSONL:
            return read_jsonl(name, options, stdin)
        if kind == XLSX:
            return read_xlsx(name, options)
        return read_csv(name, options, stdin)


def input_format(name: str, options: LoadOptions | None = None) -> str:
    """``csv``, ``tsv``, ``parquet``, ``jsonl`` or ``xlsx``: the reader an input file needs
    (stdin: ``csv``, told apart from JSON Lines when it is read)."""
    if name == "-":
        return "csv"
    return file_format(name)


def read_any(name: str) -> pa.Table:
    """A whole CSV (every column as text) or Parquet file, for side inputs such as statements."""
    with reading(name):
        if is_parquet(name):
            return pq.read_table(name)
        with csv_opener(name, None)() as stream:
            header = read_header(name, stream)
            if header.names is None:
                raise InputError(Problem(name, None, None, "empty_file", "the file is empty (no header row)"))
            keys = [f"f{i}" for i in range(len(header.names))]
            source = Chain(header.rest, stream)
            if not source.prime():
                return pa.table({k: pa.array([], pa.string()) for k in keys}).rename_columns(header.names)
            table = pacsv.read_csv(source, read_options=pacsv.ReadOptions(column_names=keys, block_size=1 << 24),
                                   parse_options=PARSE, convert_options=pacsv.ConvertOptions(
                                       column_types={k: pa.string() for k in keys}, strings_can_be_null=False))
        return table.rename_columns(header.names)
