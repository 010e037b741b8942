"""The reading of one CSV input for an explanation by pushdown, streamed (:class:`CsvSource`),
or of one JSON Lines or ``.xlsx`` input, whole (:class:`WholeSource`); Parquet: :mod:`.sources`."""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import pyarrow as pa

from ..errors import Problem
from ..load import REQUIRED, CsvLayout, LoadOptions, RawFile, read_header, read_raw, type_columns
from ..load.batches import CsvBatches
from ..load.csvread import delimiter_for
from ..load.damage import check_dictionaries
from ..load.formats import text_opener
from .scan import Scan
from .sources import distinct, first_of, valid_among


class CsvSource:
    """One CSV file, streamed with the loader's exact line reading (invalid lines are set aside
    and keep their row numbers; :class:`~viber_sessions.load.batches.CsvBatches`)."""

    def __init__(self, fi: int, name: str, options: LoadOptions, stdin=None, block: int = 1 << 26):
        self.fi, self.name, self.options, self.stdin, self.block = fi, name, options, stdin, block
        self.n_rows = self.blank = 0
        self.header = True
        self.template = pa.table({c: pa.array([], pa.string()) for c in REQUIRED})
        self.opener = text_opener(name, stdin, options.encoding)
        with self.opener() as stream:
            header = read_header(name, stream, delimiter_for(name, options), options.skip_rows)
            if header.names is not None:
                self.template = CsvLayout.of_header(name, header, options).empty()

    def batches(self) -> Iterator[tuple[np.ndarray, pa.Table]]:
        """(row numbers in the file from 0, canonical columns as text) of each batch."""
        csv = CsvBatches(self.name, self.options, self.block, opener=self.opener)
        for batch in csv:
            yield batch.positions, batch.table
        self.n_rows, self.blank, self.header = csv.rows, csv.blank, csv.header

    def check(self) -> None:
        """Nothing to check before reading (the header was checked when opened)."""

    def start(self, businesses: list[str] | None, subscribers: list[str] | None) -> None:
        """Nothing read ahead."""

    def close(self) -> None:
        """Nothing to stop."""

    def scan(self, scan: Scan) -> None:
        grew_at = -1
        for k, (pos, table) in enumerate(self.batches()):
            if scan.look(self.fi, self.name, pos, table):
                grew_at = k
        if grew_at > 0:                        # ids first met in a later batch: look at the earlier ones again
            for k, (pos, table) in zip(range(grew_at), self.batches()):
                scan.look(self.fi, self.name, pos, table)

    def account_ids(self) -> set:
        """The distinct ``business_id`` texts of the file."""
        found: set = set()
        for _, table in self.batches():
            found.update(distinct(table))
        return found

    def has_valid_row(self, account: str) -> bool:
        """Whether a row of ``account`` is valid (read batch by batch, until one is found)."""
        return any(valid_among(self.name, t, account, self.options) for _, t in self.batches())

    def first_problem(self) -> Problem | None:
        """The problem of the file's first data row when it is invalid (a line set aside or the
        first row of the first batch, typed as the loader types it)."""
        csv = CsvBatches(self.name, self.options, self.block, opener=self.opener)
        for batch in csv:
            t = type_columns(self.name, RawFile(batch.table, malformed=batch.malformed), self.options)
            return first_of(dataclasses.replace(t, positions=batch.positions))
        if csv.malformed:
            return first_of(type_columns(self.name, RawFile(csv.empty(), malformed=csv.malformed), self.options))
        return None

    def typed(self, scan: Scan):
        table, pos = scan.rows_of(self.fi, self.template)
        t = type_columns(self.name, RawFile(table), self.options)
        return dataclasses.replace(t, positions=pos, n_rows=self.n_rows, blank=self.blank, header=self.header)


class WholeSource:
    """One JSON Lines or ``.xlsx`` file (or JSON Lines on standard input), read whole by the
    loader's reader and looked at as one batch (lines that are no JSON object are never
    candidates)."""

    def __init__(self, fi: int, name: str, options: LoadOptions, stdin=None):
        self.fi, self.name, self.options = fi, name, options
        self.raw = raw = read_raw(name, options, stdin)
        check_dictionaries(name, raw.table, options)        # every row, as a full load does
        self.table, self.bad_cells, self.notices = raw.table, raw.bad_cells, raw.notices
        self.n_rows, self.blank, self.header = raw.table.num_rows + raw.malformed_count, raw.blank, raw.header
        self.positions = np.delete(np.arange(self.n_rows, dtype=np.int64), [r - 1 for r, _, _ in raw.malformed])

    def check(self) -> None:
        """Nothing to check before reading (the header was checked when opened)."""

    def start(self, businesses: list[str] | None, subscribers: list[str] | None) -> None:
        """Nothing read ahead."""

    def close(self) -> None:
        """Nothing to stop."""

    def scan(self, scan: Scan) -> None:
        scan.look(self.fi, self.name, self.positions, self.table)

    def account_ids(self) -> set:
        """The distinct ``business_id`` texts of the file."""
        return distinct(self.table)

    def has_valid_row(self, account: str) -> bool:
        """Whether a row of ``account`` is valid (its invalid cells as the reader found them)."""
        return valid_among(self.name, self.table, account, self.options, self.bad_cells)

    def first_problem(self) -> Problem | None:
        """The problem of the file's first data row when it is invalid (as the loader types it)."""
        return first_of(type_columns(self.name, self.raw, self.options))

    def typed(self, scan: Scan):
        table, pos = scan.rows_of(self.fi, self.table.schema.empty_table())
        at = np.searchsorted(self.positions, pos)            # the candidates' rows in the reader's table
        t = type_columns(self.name, RawFile(table, notices=list(self.notices),
                                            bad_cells=[c.take(at) for c in self.bad_cells]), self.options)
        return dataclasses.replace(t, positions=pos, n_rows=self.n_rows, blank=self.blank, header=self.header)
