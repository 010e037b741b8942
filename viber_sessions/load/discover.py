"""Finding the input files (files, directories, globs, stdin) and opening a CSV afresh."""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import Sequence

import pyarrow as pa

from ..errors import InputError, Problem

DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".tsv", ".tsv.gz", ".jsonl", ".jsonl.gz", ".ndjson",
                 ".ndjson.gz", ".xlsx")


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files, directories (their data files, sorted) and globs, in the order given; ``-`` is stdin."""
    files: list[str] = []
    for item in inputs:
        if item == "-":
            files.append("-")
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and is_data_file(p.name))
            if not found:
                raise InputError(Problem(item, None, None, "no_data_files",
                                         "directory holds no log file (.csv, .tsv, .jsonl, .ndjson, optionally .gz; .parquet, "
                                         ".xlsx)"))
            files.extend(found)
        elif path.exists():
            files.append(item)
        elif glob.has_magic(item):
            found = sorted(glob.glob(item, recursive=True))
            if not found:
                raise InputError(Problem(item, None, None, "no_match", "no file matches this pattern"))
            files.extend(found)
        else:
            raise InputError(Problem(item, None, None, "missing_file", "no such file"))
    return files


def is_data_file(name: str) -> bool:
    return name.lower().endswith(DATA_SUFFIXES) and not name.startswith("~$")   # ~$: an open workbook's lock file


def is_parquet(name: str) -> bool:
    return name.lower().endswith((".parquet", ".pq"))


# ---------------------------------------------------------------------------------------------
# Reading one file into raw columns


def csv_opener(name: str, stdin):
    """A function that opens the CSV afresh each call (stdin is read once and kept)."""
    if name == "-":
        data = (stdin or sys.stdin.buffer).read()
        return lambda: pa.BufferReader(data)
    return lambda: pa.input_stream(name, compression="detect")
