"""One file read a batch at a time, in flat memory: the one batch streamer of the engines that
never hold a whole log (out of core, explain by pushdown, Dask).

A CSV (or TSV) file is read as the loader reads it (its encoding, delimiter, lines skipped
before the header) with the loader's exact line reading (:class:`~.csvstream.LineCleaner`:
blank and invalid lines are set aside and keep their row numbers), then streamed by Arrow's
reader, which therefore sees no blank and no invalid line. A Parquet file is read batch by
batch by its own reader, blank rows taken off as the loader does. A JSON Lines or ``.xlsx``
file is read whole by its reader (:func:`~.read.read_raw`) and given as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .csvread import CsvLayout, delimiter_for, read_header
from .csvscan import LINE_MAX
from .csvstream import LineCleaner
from .formats import JSONL, PARQUET, XLSX, text_opener
from .options import REQUIRED, LoadOptions
from .parquet import open_parquet
from .raw import KEEP_WHEN_ERROR, RawFile, drop_blank_rows, reading
from .read import input_format, read_raw


@dataclass
class CsvBatch:
    """One batch of a CSV file: its canonical columns (as text), the 0-based row in the file of
    each table row, and the lines set aside among this batch's rows ``(row, text, problem)``."""

    table: pa.Table
    positions: np.ndarray
    malformed: list = field(default_factory=list)


class CsvBatches:
    """A CSV file's rows batch by batch (iterate once). After the last batch: ``header`` (the
    file has a header line), ``layout`` (None without a header), ``rows`` (data rows, the lines
    set aside included), ``blank`` (blank lines), ``notices``, ``malformed`` (lines set aside
    after the last batch's rows) and ``n_malformed`` (every line set aside, kept or not)."""

    def __init__(self, name: str, options: LoadOptions, block: int, keep: int | None = None, stdin=None,
                 opener=None):
        self.name, self.options, self.block, self.keep = name, options, block, keep
        self.opener = opener or text_opener(name, stdin, options.encoding)
        self.header, self.layout = True, None
        self.rows = self.blank = self.n_dropped = 0
        self.notices: list = []
        self.malformed: list = []

    def __iter__(self) -> Iterator[CsvBatch]:
        """The batches; a line longer than the block (Arrow's reader needs every row within one
        block) makes the file be read again with a block four times larger, from its start, the
        rows already given skipped (a line is at most ``LINE_MAX`` long)."""
        done = 0
        while True:
            try:
                for batch in self._read(done):
                    done = int(batch.positions[-1]) + 1 if len(batch.positions) else done
                    if batch.malformed:
                        done = max(done, batch.malformed[-1][0])
                    yield batch
                return
            except pa.ArrowInvalid as exc:
                if "straddl" not in str(exc) or self.block > 2 * LINE_MAX:
                    raise
                self.block *= 4

    def _read(self, done: int) -> Iterator[CsvBatch]:
        """The batches read with the current block, without the first ``done`` rows."""
        with self.opener() as stream:
            header = read_header(self.name, stream, delimiter_for(self.name, self.options), self.options.skip_rows)
            if header.names is None:
                self.header, self.blank = False, header.blank
                return
            self.layout = layout = CsvLayout.of_header(self.name, header, self.options)
            cleaner = LineCleaner(self.name, header.rest, stream, layout.check, self.keep, layout.delimiter)
            malformed, base = cleaner.bad, 0          # filled as Arrow reads ahead
            if cleaner.prime():
                reader = pacsv.open_csv(cleaner, read_options=layout.read_options(False, self.block),
                                        parse_options=layout.parse, convert_options=layout.convert_options(pa.string()))
                for batch in reader:
                    table = layout.canonical_table(pa.Table.from_batches([batch]))
                    # the lines set aside so far may lie in blocks ahead: keep those that fall
                    # inside this batch's rows (base + 1 ... base + rows + k), the rest for later
                    k = 0
                    while k < len(malformed) and malformed[k][0] <= base + table.num_rows + k:
                        k += 1
                    mine, malformed[:] = malformed[:k], malformed[k:]
                    skipped = [r - 1 - base for r, _, _ in mine]
                    positions = np.delete(np.arange(base, base + table.num_rows + k), skipped)
                    base += table.num_rows + k
                    if base <= done:                  # given before the block grew
                        continue
                    if len(positions) and positions[0] < done:
                        later = positions >= done
                        table, positions = table.filter(pa.array(later)), positions[later]
                        mine = [m for m in mine if m[0] > done]
                    yield CsvBatch(table, positions, mine)
            self.rows, self.blank = cleaner.rows, header.blank + cleaner.blank
            self.notices = list(cleaner.notices())
            self.malformed = list(malformed)
            self.n_dropped = cleaner.n_bad - cleaner.n_kept

    def empty(self) -> pa.Table:
        """The file's columns without rows (the required ones when it has no header)."""
        if self.layout is None:
            return pa.table({c: pa.array([], pa.string()) for c in REQUIRED})
        return self.layout.empty()


def raw_batches(name: str, options: LoadOptions, batch_rows: int) -> Iterator[RawFile]:
    """One file's rows as :class:`RawFile` batches (what ``type_columns`` types), with the CSV
    lines set aside since the last batch; the last item carries the file's blank lines, notices
    and lines set aside after its last row. JSON Lines and ``.xlsx`` files are one batch (read
    whole by their readers)."""
    with reading(name):
        kind = input_format(name, options)
        if kind == PARQUET:
            yield from _parquet_batches(name, options, batch_rows)
            return
        if kind in (JSONL, XLSX):
            yield read_raw(name, options)
            return
        keep = KEEP_WHEN_ERROR if options.on_invalid == "error" else None
        csv = CsvBatches(name, options, max(1 << 16, batch_rows * 64), keep)
        for batch in csv:
            yield RawFile(batch.table, malformed=batch.malformed)
        if not csv.header:
            yield RawFile(csv.empty(), blank=csv.blank, header=False)
            return
        yield RawFile(csv.empty(), malformed=csv.malformed, blank=csv.blank, notices=csv.notices,
                      n_malformed=len(csv.malformed) + csv.n_dropped)


def _parquet_batches(name: str, options: LoadOptions, batch_rows: int) -> Iterator[RawFile]:
    pf, present, wanted = open_parquet(name, options)
    if pf.metadata.num_rows == 0:       # no batch: type the empty columns, as in memory
        yield RawFile(pf.schema_arrow.empty_table().select(present).rename_columns([wanted[c] for c in present]))
        return
    for batch in pf.iter_batches(batch_size=batch_rows, columns=present):
        table = pa.Table.from_batches([batch])
        table, blank = drop_blank_rows(table.rename_columns([wanted[c] for c in table.column_names]))
        yield RawFile(table, blank=blank)
