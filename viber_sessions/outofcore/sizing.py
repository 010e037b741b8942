"""How much memory a run needs, before anything is read: the ``--memory-limit`` text, the rows
of the inputs, and the limit chosen when an input is clearly larger than memory. Cheap to import
(the command line asks before it decides on an engine)."""

from __future__ import annotations

import os
import re
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UsageError
from ..load.discover import is_parquet
from ..load.parquet import available_memory

#: Bytes of memory one row needs while its bucket is billed (measured about 190; with margin).
BYTES_PER_ROW = 400


def parse_memory(text: str) -> int:
    """'4GB', '512MB', '1.5G', '300KiB' or a number of bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b?)\s*", str(text), re.IGNORECASE)
    if not m:
        raise UsageError(f"--memory-limit must be a size such as 4GB or 512MB, not {text!r}")
    value = float(m.group(1)) * 1024 ** "bkmgt".index((m.group(2) or "b").lower())
    if value < 1:
        raise UsageError(f"--memory-limit must be positive, not {text!r}")
    return int(value)


def estimate_rows(files: Sequence[str]) -> int:
    """Rows of the inputs: exact for Parquet (metadata), estimated for CSV (file size / the
    bytes per row of its first block; a compressed file is counted as 4 times its size)."""
    total = 0
    for name in files:
        if name == "-":
            continue
        try:
            if is_parquet(name):
                total += pq.ParquetFile(name).metadata.num_rows
                continue
            size = os.path.getsize(name) * (4 if name.lower().endswith(".gz") else 1)
            with pa.input_stream(name, compression="detect") as fh:
                head = fh.read(1 << 20)
        except (OSError, pa.ArrowException):
            continue        # unreadable: the loader reports it
        if head:
            total += int(size / (len(head) / max(head.count(b"\n"), 1))) + 1
    return total


def automatic_limit(files: Sequence[str]) -> int | None:
    """A memory limit when the input is clearly larger than the available memory, else None."""
    avail = available_memory()
    if avail is None:
        return None
    # cheap first: a log needs far less than 20 times its size on disk (Parquet, the densest,
    # about 13 bytes a row; gzip about a quarter of CSV), so most runs open no file here
    on_disk = sum(os.path.getsize(f) for f in files if f != "-" and os.path.exists(f))
    if on_disk * 20 <= avail * 0.8:
        return None
    need = estimate_rows(files) * BYTES_PER_ROW // 2
    return avail // 2 if need > avail * 0.8 else None
