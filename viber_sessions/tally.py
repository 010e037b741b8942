"""Counting what an invoice needs (README, "The rules"): a :class:`Tally` of integer counts per
period from one segmentation, in one compiled pass over the rows (:mod:`.counting`; numpy when the counts
of every key would not fit in a small dense table). Tallies of disjoint parts of a
log (buckets of whole conversations, cluster partitions) add up to the tally of the whole;
:mod:`viber_sessions.billing` prices them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .countries import region_names
from .segment import BEFORE_CUT, C_OPEN, DUPLICATE, EXCLUDED, OUT_OF_SESSION, R_TYPE_NOT_ALLOWED, SESSION, Segmentation
from .timeutil import Period


@dataclass(frozen=True)
class RowCounts:
    """The accounting identity: every input row is exactly one of these (blank lines are outside it)."""

    read: int
    duplicates: int
    rejected: int
    excluded: int
    in_session: int
    out_of_session: int
    blank_lines: int = 0      # blank lines and all-empty rows: outside the identity (not in ``read``)
    before_cut: int = 0       # rows timestamped before a carried-in state's cut (counted, otherwise ignored)

    def balanced(self) -> bool:
        return self.read == (self.duplicates + self.rejected + self.excluded + self.before_cut + self.in_session
                             + self.out_of_session)

    def __add__(self, o: "RowCounts") -> "RowCounts":
        return RowCounts(read=self.read + o.read, duplicates=self.duplicates + o.duplicates,
                         rejected=self.rejected + o.rejected, excluded=self.excluded + o.excluded,
                         in_session=self.in_session + o.in_session, out_of_session=self.out_of_session + o.out_of_session,
                         blank_lines=self.blank_lines + o.blank_lines, before_cut=self.before_cut + o.before_cut)



def billing_counts(billing: np.ndarray) -> list[int]:
    """Rows per billing class (SESSION ... BEFORE_CUT), without ``bincount``'s full-length
    int64 copy of the int8 classes."""
    return [int(np.count_nonzero(billing == c)) for c in range(BEFORE_CUT + 1)]


def row_counts(seg: Segmentation, counts: list[int] | None = None) -> RowCounts:
    """The row accounting of a whole log's segmentation (``counts``: its rows per billing
    class, when already counted)."""
    counts = billing_counts(seg.billing) if counts is None else counts
    return RowCounts(read=seg.log.rows_read, duplicates=int(counts[DUPLICATE]), rejected=seg.log.n_rejected,
                     excluded=int(counts[EXCLUDED]), in_session=int(counts[SESSION]),
                     out_of_session=int(counts[OUT_OF_SESSION]), blank_lines=seg.log.blank_lines,
                     before_cut=int(counts[BEFORE_CUT]))


def part_tally(seg: Segmentation, period: Period, accounts: Sequence[str] | None = None) -> Tally:
    """The tally of one part of a log (a bucket of whole conversations): its loaded rows only;
    rejected rows and blank lines are counted once, by :func:`rejected_tally`."""
    return part_tallies(seg, [period], accounts)[0]


def part_tallies(seg: Segmentation, periods: Sequence[Period], accounts: Sequence[str] | None = None) -> list[Tally]:
    """:func:`part_tally` of each of ``periods`` (sorted, disjoint) in one pass over the part's rows."""
    counts = billing_counts(seg.billing)
    rows = RowCounts(read=len(seg.log), duplicates=int(counts[DUPLICATE]), rejected=0,
                     excluded=int(counts[EXCLUDED]), in_session=int(counts[SESSION]),
                     out_of_session=int(counts[OUT_OF_SESSION]), before_cut=int(counts[BEFORE_CUT]))
    return tally_periods(seg, periods, accounts, rows=rows)


def add_periods(totals: list[Tally] | None, parts: list[Tally]) -> list[Tally]:
    """Per period, ``totals`` plus one more part's tallies (None: none yet)."""
    return list(parts) if totals is None else [a + b for a, b in zip(totals, parts)]


def rejected_tally(rejected: int, blank_lines: int) -> Tally:
    """The rows of a partitioned run that no part holds: rejected rows (and the blank lines)."""
    return Tally(rows=RowCounts(read=rejected, duplicates=0, rejected=rejected, excluded=0, in_session=0,
                                out_of_session=0, blank_lines=blank_lines), first_ts=None)


def combine(parts, rejected: int, blank_lines: int, rows_read: int) -> Tally:
    """The parts' tallies added up with the rejected rows, checked against the rows read (a
    difference is a bug, never bad input)."""
    total = rejected_tally(rejected, blank_lines)
    for part in parts:
        total = total + part
    if total.rows.read != rows_read or not total.rows.balanced():   # pragma: no cover - a bug
        raise RuntimeError(f"rows accounted for ({total.rows.read}) differ from rows read ({rows_read})")
    return total


def account_codes(seg: Segmentation, accounts: Sequence[str] | None) -> np.ndarray | None:
    """Business codes of the selected accounts (None: all)."""
    if not accounts:
        return None
    index = {b: i for i, b in enumerate(seg.log.businesses.to_pylist())}
    return np.array(sorted(index[a] for a in set(accounts) if a in index), dtype=np.int64)


@dataclass
class Tally:
    """Everything an invoice needs, as integer counts keyed by names: tallies of disjoint parts
    of the data (buckets of conversations, cluster partitions) add up to the tally of the
    whole, so the invoice of a log billed in parts is exactly the invoice of the log."""

    rows: RowCounts
    first_ts: int | None                                   # earliest loaded timestamp
    last_ts: int | None = None                             # latest loaded timestamp
    present: set = field(default_factory=set)              # accounts with a message in the period
    seen: set = field(default_factory=set)                 # accounts with a loaded message at all
    sessions: Counter = field(default_factory=Counter)     # billable sessions starting in the period
    in_session: Counter = field(default_factory=Counter)   # period messages in billable sessions
    lines: Counter = field(default_factory=Counter)        # (account, direction, type, country) out of session
    outbound_types: Counter = field(default_factory=Counter)   # (account, type): every billed-or-free outbound
    not_allowed: Counter = field(default_factory=Counter)  # (account, type): type_not_allowed in the period
    loaded: set = field(default_factory=set)               # every account with a loaded row
    plans: dict = field(default_factory=dict)   # account -> (Limits, sessions on) its sessions were computed with
    unclassified: bool = False   # lines whose subscriber country was not looked up (country ""): no zone prices
    open_sessions: int = 0       # sessions starting in the period that are still open at the end of the data
    state_cut: int | None = None   # the cut of the carried-in state the sessions started from
    state_from: int | None = None  # where the history behind that state began

    def __add__(self, other: "Tally") -> "Tally":
        r, o = self.rows, other.rows
        firsts = [t for t in (self.first_ts, other.first_ts) if t is not None]
        lasts = [t for t in (self.last_ts, other.last_ts) if t is not None]
        return Tally(
            rows=r + o, open_sessions=self.open_sessions + other.open_sessions,
            first_ts=min(firsts) if firsts else None, last_ts=max(lasts) if lasts else None,
            present=self.present | other.present, seen=self.seen | other.seen,
            sessions=self.sessions + other.sessions, in_session=self.in_session + other.in_session,
            lines=self.lines + other.lines, outbound_types=self.outbound_types + other.outbound_types,
            not_allowed=self.not_allowed + other.not_allowed, loaded=self.loaded | other.loaded,
            plans={**self.plans, **other.plans},
            state_cut=self.state_cut if self.state_cut is not None else other.state_cut,
            state_from=self.state_from if self.state_from is not None else other.state_from,
            unclassified=self.unclassified or other.unclassified)


def tally(seg: Segmentation, period: Period, accounts: Sequence[str] | None = None,
          rows: RowCounts | None = None, countries: bool | None = None) -> Tally:
    """Count what ``period``'s invoice needs from one segmentation (array work only).

    Out-of-session lines are keyed by the subscriber's country too when ``countries`` (default:
    when the tariff the segmentation was given has zones); each distinct subscriber is looked
    up once (:mod:`viber_sessions.countries`). Otherwise the country is ``""``."""
    return tally_periods(seg, [period], accounts, rows, countries)[0]


def period_index(ts: np.ndarray, periods: Sequence[Period]) -> np.ndarray:
    """Per timestamp: the index of the period of ``periods`` (sorted, disjoint) holding it, -1 for none."""
    edges = np.array([x for p in periods for x in (p.start_ns, p.end_ns)], dtype=np.int64)
    at = np.searchsorted(edges, ts, side="right") - 1
    return np.where((at >= 0) & (at % 2 == 0), at // 2, -1)


def tally_periods(seg: Segmentation, periods: Sequence[Period], accounts: Sequence[str] | None = None,
                  rows: RowCounts | None = None, countries: bool | None = None) -> list[Tally]:
    """:func:`tally` of each of ``periods`` (sorted, disjoint) in one pass over the rows: the
    period of each row is found once and is part of every counting key."""
    log = seg.log
    names = log.businesses.to_pylist()
    nb, npd = len(names), len(periods)
    keep = np.ones(nb, dtype=bool)
    selected = account_codes(seg, accounts)
    if selected is not None:
        keep[:] = False
        keep[selected] = True
    if countries is None:
        countries = seg.plan is not None and seg.plan.has_zones
    counted = (dense_counts if dense_fits(seg, npd, bool(countries)) else numpy_counts)(seg, periods, keep,
                                                                                        bool(countries))
    present, in_session, lines, not_allowed, outbound_types, first, last, classes = counted
    s_pidx = period_index(seg.s_start, periods)
    billed = seg.s_billable & (s_pidx >= 0) & keep[seg.s_business]
    sessions = _per_period(names, s_pidx[billed], seg.s_business[billed], npd)
    opened = (s_pidx >= 0) & keep[seg.s_business] & (seg.s_close == C_OPEN)
    open_counts = np.bincount(s_pidx[opened], minlength=npd)
    rows = rows or row_counts(seg, classes)
    plans = {name: (seg.limits_of(b), not (seg.plans is not None and bool(seg.plans.sessions_off[b])))
             for b, name in enumerate(names)}
    return [Tally(rows=rows, first_ts=first, last_ts=last,
                  present={names[b] for b in np.flatnonzero(present[k] & keep).tolist()},
                  seen=set(names) & set(accounts) if accounts else set(), sessions=sessions[k],
                  in_session=in_session[k], lines=lines[k], outbound_types=outbound_types,
                  not_allowed=not_allowed[k], loaded=set(names), unclassified=bool(lines[k]) and not countries,
                  plans=plans, open_sessions=int(open_counts[k]),
                  state_cut=seg.carry.cut_ns if seg.carry is not None else None,
                  state_from=seg.carry.data_from if seg.carry is not None else None)
            for k in range(npd)]


def numpy_counts(seg: Segmentation, periods: Sequence[Period], keep: np.ndarray, countries: bool) -> tuple:
    """The per-row counts of :func:`tally_periods` with numpy (any number of keys): (present per
    period and business code, in-session messages, out-of-session lines, type_not_allowed
    messages per period, outbound types, first and last timestamp, rows per billing class)."""
    log = seg.log
    names = log.businesses.to_pylist()
    nb, npd = len(names), len(periods)
    pidx = period_index(log.timestamp, periods)
    mine = keep[log.business]
    counted = (pidx >= 0) & mine
    present = np.bincount(pidx[pidx >= 0] * nb + log.business[pidx >= 0], minlength=npd * nb).reshape(npd, nb) > 0
    in_session = _per_period(names, pidx[counted & (seg.billing == SESSION)],
                             log.business[counted & (seg.billing == SESSION)], npd)
    group = _Grouping(seg, names, countries)
    lines = group.count(counted & (seg.billing == OUT_OF_SESSION), pidx, npd, True, countries)
    not_allowed = group.count(counted & (seg.reason == R_TYPE_NOT_ALLOWED), pidx, npd, False)
    active = (seg.billing == SESSION) | (seg.billing == OUT_OF_SESSION)
    outbound_types = group.count(active & mine & ~log.inbound, np.zeros(len(log), np.int64), 1, False)[0]
    first = int(log.timestamp.min()) if len(log) else None
    last = int(log.timestamp.max()) if len(log) else None
    return present, in_session, lines, not_allowed, outbound_types, first, last, billing_counts(seg.billing)


def dense_fits(seg: Segmentation, npd: int, countries: bool) -> bool:
    """Whether :func:`dense_counts`' tables (one counter per possible key) are no larger than
    the numpy counting's own dense bins would be (at most 4 per row)."""
    nb, nt = len(seg.log.businesses), max(len(seg.log.message_types), 1)
    nc = len(region_names()) if countries else 1
    return npd * nb * (2 + 2 * nt * nc + nt) + nb * nt <= 4 * len(seg.log) + 1024


def dense_counts(seg: Segmentation, periods: Sequence[Period], keep: np.ndarray, countries: bool) -> tuple:
    """:func:`numpy_counts` in one compiled pass over the rows into dense tables (when
    :func:`dense_fits`); each distinct subscriber of a counted out-of-session row is looked up
    once when ``countries``."""
    from .counting import CLASSES, count_rows, needed_subscribers

    log = seg.log
    names, types = log.businesses.to_pylist(), log.message_types
    nb, nt, npd = len(names), max(len(types), 1), len(periods)
    edges = np.array([x for p in periods for x in (p.start_ns, p.end_ns)], dtype=np.int64)
    columns = (log.timestamp, log.business, log.subscriber)
    regions = region_names() if countries else ("",)
    region_of = np.zeros(1, np.int16)
    if countries and len(log):
        need = np.zeros(len(log.subscribers), dtype=bool)
        needed_subscribers(*columns, seg.billing, edges, keep, need)
        codes = np.flatnonzero(need)
        region_of = np.zeros(max(len(log.subscribers), 2), np.int16)
        region_of[codes] = seg.countries(codes)
    present = np.zeros((npd, nb), dtype=bool)
    in_session = np.zeros((npd, nb), np.int64)
    lines = np.zeros((npd, nb, 2, nt, len(regions)), np.int64)
    not_allowed = np.zeros((npd, nb, nt), np.int64)
    outbound = np.zeros((nb, nt), np.int64)
    classes = np.zeros(CLASSES, np.int64)
    span = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min], dtype=np.int64)
    count_rows(*columns, log.inbound, log.mtype, seg.billing, seg.reason, edges, keep, region_of, present, in_session,
               lines, not_allowed, outbound, classes, span)
    by_name = [Counter({names[b]: int(c[b]) for b in np.flatnonzero(c).tolist()}) for c in in_session]
    out_lines = [Counter({(names[b], "outbound" if d else "inbound", types[t], regions[r]): int(x[b, d, t, r])
                          for b, d, t, r in zip(*(i.tolist() for i in np.nonzero(x)))}) for x in lines]
    out_na = [Counter({(names[b], types[t]): int(x[b, t]) for b, t in zip(*(i.tolist() for i in np.nonzero(x)))})
              for x in not_allowed]
    out_types = Counter({(names[b], types[t]): int(outbound[b, t])
                         for b, t in zip(*(i.tolist() for i in np.nonzero(outbound)))})
    first, last = (int(span[0]), int(span[1])) if len(log) else (None, None)
    return present, by_name, out_lines, out_na, out_types, first, last, classes.tolist()


def _per_period(names: list[str], pidx: np.ndarray, business: np.ndarray, npd: int) -> list[Counter]:
    """Counts by (period, account name) as one Counter per period."""
    nb = len(names)
    counts = np.bincount(pidx.astype(np.int64) * nb + business, minlength=npd * nb).reshape(npd, nb)
    return [Counter({names[b]: int(counts[k, b]) for b in np.flatnonzero(counts[k]).tolist()}) for k in range(npd)]


class _Grouping:
    """Counts of rows by (period, account[, direction], type[, country]) with numpy."""

    def __init__(self, seg: Segmentation, names: list[str], countries: bool):
        self.seg, self.names = seg, names
        self.regions = region_names() if countries else ("",)

    def count(self, mask: np.ndarray, pidx: np.ndarray, npd: int, with_direction: bool,
              by_country: bool = False) -> list[Counter]:
        log, names = self.seg.log, self.names
        nb, nt = len(names), max(len(log.message_types), 1)
        key = (pidx[mask].astype(np.int64) * nb + log.business[mask]) * 2
        if with_direction:
            key += ~log.inbound[mask]
        key = key * nt + log.mtype[mask]
        nc, regions = 1, ("",)
        if by_country:
            regions = self.regions
            nc = len(regions)
            key = key * nc + self.seg.countries(log.subscriber[mask])
        bins = npd * nb * 2 * nt * nc
        if bins <= 4 * len(key) + 1024:          # a dense count is cheaper than sorting the keys
            counts = np.bincount(key, minlength=bins)
            keys = np.flatnonzero(counts)
            counts = counts[keys]
        else:
            keys, counts = np.unique(key, return_counts=True)
        out = [Counter() for _ in range(npd)]
        for k, c in zip(keys.tolist(), counts.tolist()):
            k, country = divmod(k, nc)
            k, t = divmod(k, nt)
            k, outbound = divmod(k, 2)
            period, b = divmod(k, nb)
            if with_direction:
                out[period][(names[b], "outbound" if outbound else "inbound", log.message_types[t],
                             regions[country])] = c
            else:
                out[period][(names[b], log.message_types[t])] = c
        return out
