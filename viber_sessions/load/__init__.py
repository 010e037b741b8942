"""Load message logs (CSV, CSV.gz, Parquet, stdin) into one typed table: a :class:`MessageLog`.

Everything here is column work with pyarrow and numpy; no Python loop runs per row except on
the error path, where the offending rows are described one by one. A CSV line is one record
(no field holds a line break: see "CSV lines" in :mod:`.csvscan`); blank lines and all-empty
rows are counted, not read; timestamps are valid in [2000-01-01, 2100-01-01) UTC only; Parquet
metadata is checked against the file's size before anything is allocated.

The modules, in the order the data passes through them:

- :mod:`.options`: the columns of a log and :class:`LoadOptions`;
- :mod:`.discover`: finding the input files;
- :mod:`.raw`: one file's raw columns (:class:`RawFile`), the column checks, blank rows;
- :mod:`.parquet`, :mod:`.csvscan`, :mod:`.csvstream`, :mod:`.csvread`, :mod:`.read`: reading;
- :mod:`.timestamps`, :mod:`.typed`: typing one file's columns (:class:`Typed`);
- :mod:`.assembly`: :func:`load`, :func:`from_table` and the :class:`MessageLog` they assemble.
- :mod:`.batches` and :mod:`.notices`: one file a batch at a time, and the notices of a log read
  in parts made those of the whole log (the engines that never hold a whole log).

This package re-exports the names other modules use; what a module shares is public in the
module that owns it.
"""

from .assembly import (REJECTED_SCHEMA, MessageLog, all_rejected, assemble, from_table, load, names_of, no_data_rows,
                       rejected_table)
from .csvread import HEADER_MAX, CsvLayout, Header, read_csv, read_header
from .csvscan import BLOCK, LINE_ENCODING, LINE_FIELDS, LINE_MAX, LINE_OK, LINE_OPEN_QUOTE, MALFORMED, PARSE
from .csvstream import Chain, LineCleaner, no_final_newline
from .discover import DATA_SUFFIXES, csv_opener, expand_inputs, is_parquet
from .options import (CANONICAL, DIRECTIONS, EPOCH_MS_THRESHOLD, EPOCH_UNITS, ID_COLUMNS, ON_INVALID, OPTIONAL, REQUIRED,
                      LoadOptions)
from .parquet import (MAX_ROWS_PER_BYTE, MIN_BYTES_PER_ROW, available_memory, check_memory, check_parquet_sizes,
                      empty_table, open_parquet, parquet_dictionary_columns, read_parquet)
from .raw import DICT, DICT_COLUMNS, KEEP_WHEN_ERROR, TS_UTC, RawFile, check_columns, drop_blank_rows, reading
from .read import read_any, read_raw
from .timestamps import parse_timestamps
from .typed import BAD_TIMESTAMP, MALFORMED_MESSAGES, Typed, type_columns

__all__ = [
    "BAD_TIMESTAMP", "BLOCK", "CANONICAL", "DATA_SUFFIXES", "DICT", "DICT_COLUMNS", "DIRECTIONS", "EPOCH_MS_THRESHOLD",
    "EPOCH_UNITS", "HEADER_MAX", "ID_COLUMNS", "KEEP_WHEN_ERROR", "LINE_ENCODING", "LINE_FIELDS", "LINE_MAX", "LINE_OK",
    "LINE_OPEN_QUOTE", "MALFORMED", "MALFORMED_MESSAGES", "MAX_ROWS_PER_BYTE", "MIN_BYTES_PER_ROW", "ON_INVALID",
    "OPTIONAL", "PARSE", "REJECTED_SCHEMA", "REQUIRED", "TS_UTC",
    "Chain", "CsvLayout", "Header", "LineCleaner", "LoadOptions", "MessageLog", "RawFile", "Typed",
    "all_rejected", "assemble", "available_memory", "check_columns", "check_memory", "check_parquet_sizes",
    "csv_opener", "drop_blank_rows", "empty_table", "expand_inputs", "from_table", "is_parquet", "load", "names_of",
    "no_data_rows",
    "no_final_newline", "open_parquet", "parquet_dictionary_columns", "parse_timestamps", "read_any", "read_csv",
    "read_header", "read_parquet", "read_raw", "reading", "rejected_table", "type_columns",
]
