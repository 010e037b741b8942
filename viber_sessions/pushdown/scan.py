"""What the reading of every batch keeps for an explanation by pushdown: :class:`Scan` (see
the package's description), and the comparisons of id columns it makes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import phones
from ..load import LoadOptions, RawFile, parse_timestamps, type_columns
from ..load.chunks import combine
from ..load.options import EPOCH_UNITS
from ..load.raw import all_missing, missing_mask


def text(arr) -> pa.Array:
    """An id column as plain strings (as the loader reads ids: integers become their text)."""
    arr = combine(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


def matches(arr, values: pa.Array) -> np.ndarray:
    """Which rows of an id column equal one of ``values`` (a dictionary is compared once)."""
    arr = combine(arr)
    if pa.types.is_dictionary(arr.type):
        hit = pc.is_in(text(arr.dictionary), value_set=values).to_numpy(zero_copy_only=False)
        if not hit.any():
            return np.zeros(len(arr), dtype=bool)
        idx = arr.indices.fill_null(len(hit)).to_numpy(zero_copy_only=False)
        return np.append(hit, False)[idx]
    if len(values) == 1:                # a comparison, no hash table
        return pc.fill_null(pc.equal(text(arr), values[0]), False).to_numpy(zero_copy_only=False)
    return pc.fill_null(pc.is_in(text(arr), value_set=values), False).to_numpy(zero_copy_only=False)


def decoded(table: pa.Table) -> pa.Table:
    """The table with dictionary columns decoded (a few rows must not keep a row group's whole
    dictionary alive)."""
    columns = [combine(c) for c in table.columns]
    return pa.table([c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in columns],
                    names=table.column_names)


class PriceCheck:
    """Which rows have a message type that some plan of the tariff does not price outbound (by
    the type's text as written, trimmed and lowercase, and as a profile maps it): those rows are
    candidates too, so that the types the whole log would be refused for are seen (each distinct
    text is looked up once)."""

    def __init__(self, tariff, options: LoadOptions):
        self.plans = tariff.plans()
        self.mapping = options.value_map("message_type") or {}
        self.known: dict = {}

    def unpriced(self, value) -> bool:
        if value not in self.known:
            norm = value.strip().lower() if isinstance(value, str) else value
            names = {n for n in (value, norm, self.mapping.get(norm)) if isinstance(n, str) and n}
            self.known[value] = any(p.outbound_price(n) is None for p in self.plans for n in names)
        return self.known[value]

    def rows(self, column) -> np.ndarray:
        """Which rows of a ``message_type`` column may be refused."""
        arr = combine(column)
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(text(arr))
        hit = np.array([self.unpriced(v) for v in text(arr.dictionary).to_pylist()] + [False], dtype=bool)
        if not hit.any():
            return np.zeros(len(arr), dtype=bool)
        return hit[arr.indices.fill_null(len(hit) - 1).to_numpy(zero_copy_only=False)]


class Scan:
    """What the reading of every batch keeps: the conversation's message ids (with the place of
    their last conversation row), the candidate rows of each file, and the latest valid instant.
    With ``prices`` (a :class:`PriceCheck`), the rows of a type it may refuse count as rows of
    the conversation (their ids are followed the same way: a duplicate is not billed)."""

    def __init__(self, options: LoadOptions, businesses: list[str] | None, subscribers: list[str] | None,
                 prices: PriceCheck | None = None):
        self.options, self.prices = options, prices
        self.businesses = None if businesses is None else pa.array(businesses, pa.string())
        self.subscribers = None if subscribers is None else pa.array(subscribers, pa.string())
        self.last: dict[str, tuple[int, int]] = {}       # id -> (file, row) of its last conversation row
        self.ids = pa.array([], pa.string())
        self.parts: dict[int, list[tuple[np.ndarray, pa.Table, np.ndarray]]] = {}
        self.latest: int | None = None

    def look(self, fi: int, name: str, pos: np.ndarray, table: pa.Table, latest_bound: int | None = None,
             conv: np.ndarray | None = None) -> bool:
        """Keep the candidates of one batch (all columns, no blank row); True when it brought
        message ids not known before. ``latest_bound``: an instant no row of the batch is later
        than (from a row group's statistics), when known; ``conv``: the batch's
        :meth:`conversation_rows`, when known."""
        mid = text(table.column("message_id"))
        conv = self.conversation_rows(table) if conv is None else conv
        grew = False
        if conv.any():
            for m, p in zip(mid.filter(pa.array(conv)).to_pylist(), pos[conv].tolist()):
                if m:
                    grew |= m not in self.last
                    self.last[m] = max(self.last.get(m, (fi, p)), (fi, p))
            if grew:
                self.ids = pa.array(sorted(self.last), pa.string())
        keep = conv | self.shares_id(mid)
        if keep.any():
            k = pa.array(keep)
            self.parts.setdefault(fi, []).append((pos[keep], decoded(table.filter(k)), conv[keep]))
        if latest_bound is None or self.latest is None or latest_bound > self.latest:
            self._latest(name, table)
        return grew

    def conversation_rows(self, table: pa.Table) -> np.ndarray:
        """The rows of the conversation, and those of a type the tariff may refuse (``prices``).
        The more selective test first, the other only when some row is left: the subscribers
        (one comparison a row), unless they are normalised as phone numbers (a parse of each
        distinct value: the businesses first then)."""
        conv = np.ones(table.num_rows, dtype=bool)
        tests = [("subscriber_id", self.subscribers, self.subscriber_matches),
                 ("business_id", self.businesses, lambda column: matches(column, self.businesses))]
        if self.options.subscriber_format == "e164":
            tests.reverse()
        for column, values, test in tests:
            if values is not None and conv.any():
                conv &= test(table.column(column))
        if self.prices is not None:
            conv |= self.prices.rows(table.column("message_type"))
        return conv

    def may_keep(self, table: pa.Table, latest_bound: int | None, conv: np.ndarray | None = None) -> bool:
        """For a batch of the columns that tell (``message_id``, ``business_id``,
        ``subscriber_id``, ``message_type``): whether :meth:`look` may keep one of its rows or
        raise the latest instant, so that its other columns must be read too. False only when no
        row is of the conversation or shares one of its ids, none has all those columns empty (a
        blank row, or a bad one that sets no instant), and the statistics' ``latest_bound`` is
        not later than the latest instant found so far. ``conv``: the batch's
        :meth:`conversation_rows`, when known."""
        if self.latest is None or latest_bound is None or latest_bound > self.latest:
            return True
        if conv is None:
            conv = self.conversation_rows(table)
        if conv.any() or self.shares_id(text(table.column("message_id"))).any():
            return True
        return all_missing(table, first="message_id") is not None

    def subscriber_matches(self, column) -> np.ndarray:
        """Which rows are of the asked subscribers: with ``subscriber_format = "e164"``, every
        spelling that the loader normalises to one of them (each distinct value once)."""
        if self.options.subscriber_format != "e164":
            return matches(column, self.subscribers)
        arr = combine(column)
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(text(arr))
        normal, _ = phones.normalise_values(text(arr.dictionary), self.options.default_region)
        return matches(pa.DictionaryArray.from_arrays(arr.indices, normal), self.subscribers)

    def shares_id(self, mid: pa.Array) -> np.ndarray:
        if not len(self.ids):
            return np.zeros(len(mid), dtype=bool)
        return pc.fill_null(pc.is_in(mid, value_set=self.ids), False).to_numpy(zero_copy_only=False)

    def later(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(instants, the rows with a valid instant later than the latest so far). A
        column of instants (a timestamp with a time zone) is compared before it is converted:
        only the later rows are."""
        raw = combine(table.column("timestamp"))
        rows = None
        if self.latest is not None and pa.types.is_timestamp(raw.type) and raw.type.tz is not None:
            after = pc.greater(raw.cast(pa.int64()), pa.scalar(self.latest // EPOCH_UNITS[raw.type.unit]))
            rows = np.flatnonzero(pc.fill_null(after, False).to_numpy(zero_copy_only=False))
            raw = raw.take(pa.array(rows))
        ts_part, bad = parse_timestamps(raw, self.options.input_tz, self.options.epoch_unit,
                                        self.options.timestamp_format)
        if rows is not None:
            ts, ok = np.zeros(table.num_rows, dtype=np.int64), np.zeros(table.num_rows, dtype=bool)
            ts[rows], ok[rows] = ts_part, ~bad
        else:
            ts, ok = ts_part, ~bad
        return ts, (ok if self.latest is None else ok & (ts > self.latest))

    def _latest(self, name: str, table: pa.Table) -> None:
        """Raise the latest instant to that of this batch's latest valid row (rows are typed and
        validated from the latest instant down, as few as it takes)."""
        if self.latest is None and self._latest_of_instants(name, table):
            return
        ts, cand = self.later(table)
        while cand.any():
            top = ts[cand].max()
            at = np.flatnonzero(cand & (ts == top))
            t = type_columns(name, RawFile(table.take(pa.array(at))), self.options)
            if not t.bad.mask.all():
                self.latest = int(top)
                return
            cand[at] = False

    def _latest_of_instants(self, name: str, table: pa.Table) -> bool:
        """:meth:`_latest` of a first batch whose timestamps are instants (a timestamp with a time
        zone: their stored integers are in the instants' order) without converting the column:
        the rows of its largest stored value are typed, then those of the next, a few times.
        False when it cannot tell (another type, or no valid row among the first few values)."""
        raw = combine(table.column("timestamp"))
        if not (pa.types.is_timestamp(raw.type) and raw.type.tz is not None):
            return False
        stored = raw.cast(pa.int64())
        below = None
        for _ in range(8):
            top = pc.max(stored if below is None else pc.filter(stored, pc.less(stored, below))).as_py()
            if top is None:
                return False
            at = np.flatnonzero(pc.fill_null(pc.equal(stored, top), False).to_numpy(zero_copy_only=False))
            t = type_columns(name, RawFile(table.take(pa.array(at))), self.options)
            if not t.bad.mask.all():
                self.latest = int(t.timestamp[~t.bad.mask].max())
                return True
            below = top
        return False

    def needs_all_columns(self, table: pa.Table) -> bool:
        """For a batch of ``message_id``, ``timestamp`` (and ``message_type`` with ``prices``)
        only (of a row group that cannot hold the conversation): whether some row may be a candidate or a blank row."""
        mid = combine(table.column("message_id"))
        if self.shares_id(text(mid)).any():
            return True
        if self.prices is not None and self.prices.rows(table.column("message_type")).any():
            return True
        if self.later(table)[1].any():
            return True
        return bool((missing_mask(mid) & missing_mask(combine(table.column("timestamp")))).any())

    def rows_of(self, fi: int, template: pa.Table) -> tuple[pa.Table, np.ndarray]:
        """The candidates of file ``fi`` in row order (each once): the conversation's rows and the
        rows sharing an id that come before the id's last conversation row."""
        parts = sorted(self.parts.get(fi, []), key=lambda p: int(p[0][0]))
        tables, positions = [], []
        seen = np.zeros(0, dtype=np.int64)
        for pos, table, conv in parts:
            ids = text(table.column("message_id")).to_pylist()     # as looked up: integers as their text
            keep = conv | np.array([self.last.get(m, (-1, -1)) > (fi, p) for m, p in zip(ids, pos.tolist())],
                                   dtype=bool)
            keep &= ~np.isin(pos, seen)
            if keep.any():
                tables.append(table.filter(pa.array(keep)))
                positions.append(pos[keep])
                seen = np.concatenate([seen, pos[keep]])
        if not tables:
            return decoded(template), np.zeros(0, dtype=np.int64)
        pos = np.concatenate(positions)
        order = np.argsort(pos, kind="stable")
        return pa.concat_tables(tables).take(pa.array(order)), pos[order]
