"""The state of every conversation at a cut instant, carried from one run to the next (README,
"Monthly runs"): what :func:`segment` needs to start each conversation where an earlier run left
it, and :func:`state_at`, which computes it from a segmentation (files: :mod:`viber_sessions.state`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..load import MessageLog
from .codes import CARRY_COLUMNS, DUPLICATE, OUT_OF_SESSION, R_SESSIONS_DISABLED, SESSION

#: The columns of :attr:`CarriedState.conversations`.
CONVERSATION_COLUMNS = ("business_id", "subscriber_id", "start", "origin", "business_messages", "unanswered",
                        "inbound", "outbound")


@dataclass(frozen=True, eq=False)
class CarriedState:
    """Every conversation whose session can still be open at ``cut_ns``, computed from the
    messages before the cut only, and the ids of the messages timestamped within one window
    before the cut (a copy after the cut is still a duplicate)."""

    cut_ns: int
    conversations: pa.Table      # CONVERSATION_COLUMNS, sorted by business_id, subscriber_id
    message_ids: pa.Table        # message_id, timestamp (ns), sorted by message_id
    data_from: int | None = None  # the earliest instant the history behind this state was loaded from

    def repeats(self, message_id: pa.Array) -> np.ndarray:
        """True for each id the state holds (an earlier copy of that message)."""
        if not self.message_ids.num_rows or not len(message_id):
            return np.zeros(len(message_id), dtype=bool)
        found = pc.is_in(message_id, value_set=self.message_ids.column("message_id").combine_chunks())
        return found.to_numpy(zero_copy_only=False).astype(bool)

    def codes(self, log: MessageLog) -> np.ndarray:
        """The carried sessions of the conversations ``log`` holds, as the kernel takes them
        (CARRY_COLUMNS, sorted by conversation code)."""
        conv = self.conversations
        if not conv.num_rows:
            return np.zeros((0, len(CARRY_COLUMNS)), np.int64)
        b = pc.index_in(conv.column("business_id"), value_set=log.businesses)
        s = pc.index_in(conv.column("subscriber_id"), value_set=log.subscribers)
        keep = pc.and_(pc.is_valid(b), pc.is_valid(s)).to_numpy(zero_copy_only=False)
        b = b.to_numpy(zero_copy_only=False)
        s = s.to_numpy(zero_copy_only=False)
        out = np.empty((int(keep.sum()), len(CARRY_COLUMNS)), np.int64)
        out[:, 0] = b[keep].astype(np.int64) * max(len(log.subscribers), 1) + s[keep].astype(np.int64)
        for k, name in enumerate(CONVERSATION_COLUMNS[2:], start=1):
            out[:, k] = conv.column(name).to_numpy()[keep]
        return out[np.argsort(out[:, 0], kind="stable")]


def empty_state(cut_ns: int, data_from: int | None = None) -> CarriedState:
    schema = pa.schema([("business_id", pa.string()), ("subscriber_id", pa.string()), ("start", pa.int64()),
                        ("origin", pa.int8()), ("business_messages", pa.int64()), ("unanswered", pa.int64()),
                        ("inbound", pa.int64()), ("outbound", pa.int64())])
    ids = pa.schema([("message_id", pa.string()), ("timestamp", pa.int64())])
    return CarriedState(cut_ns, schema.empty_table(), ids.empty_table(), data_from)


@dataclass(frozen=True, eq=False)
class StatePart:
    """What one part of a log (whole conversations; every message id of its rows) adds to the
    state at a cut: :func:`join_state` of the parts of a log is :func:`state_at` of the whole."""

    conversations: pa.Table      # its conversations still open at the cut (CONVERSATION_COLUMNS)
    untouched: np.ndarray | None  # per carried conversation: no row before the cut here, still open at it
    message_ids: pa.Table        # its rows' ids within the longest window before the cut (message_id, timestamp)
    first: int | None            # its earliest loaded instant
    window_ns: int               # the longest window


def state_at(seg, cut_ns: int) -> CarriedState:
    """The state of every conversation of ``seg`` at ``cut_ns`` from its messages before the cut
    only (later rows the run loaded to settle a period take no part), with the state ``seg``
    started from carried through for conversations it has no row of before the cut."""
    return join_state([state_part(seg, cut_ns)], cut_ns, seg.carry)


def state_part(seg, cut_ns: int) -> StatePart:
    """The part of the state at ``cut_ns`` that ``seg`` (a part of a log, or all of it) holds."""
    from .order import conversation_order
    from .segmentation import kernel_pass

    log = seg.log
    active = (((seg.billing == SESSION) | (seg.billing == OUT_OF_SESSION)) & (seg.reason != R_SESSIONS_DISABLED)
              & (log.timestamp < cut_ns))
    billing = np.where(active, SESSION, DUPLICATE).astype(np.int8)
    order = conversation_order(log.business, log.subscriber, len(log.subscribers), log.timestamp, log.inbound)
    order = order[active[order]]
    _, run = kernel_pass(log, order, billing, seg.limits if seg.plans is None else seg.plan.limits, seg.plans,
                         seg.carry, want_end=True)
    ends = run.ends[run.ends[:, 2] >= 0]
    k = ends[:, 2]
    window = windows_of(seg, log.businesses.to_pylist())[ends[:, 0]] if len(ends) else np.zeros(0, np.int64)
    still = run.s_start[k] + window > cut_ns
    ends, k = ends[still], k[still]
    fresh = pa.table({
        "business_id": log.businesses.take(pa.array(ends[:, 0])),
        "subscriber_id": log.subscribers.take(pa.array(ends[:, 1])),
        "start": pa.array(run.s_start[k], pa.int64()), "origin": pa.array(run.s_origin[k], pa.int8()),
        "business_messages": pa.array(ends[:, 3], pa.int64()), "unanswered": pa.array(ends[:, 4], pa.int64()),
        "inbound": pa.array(run.s_in[k], pa.int64()), "outbound": pa.array(run.s_out[k], pa.int64())})
    untouched = carried_through(seg, run, cut_ns) if seg.carry is not None else None
    first = int(log.timestamp.min()) if len(log) else None
    return StatePart(fresh, untouched, recent_ids(seg, cut_ns), first, longest_window(seg))


def join_state(parts, cut_ns: int, carry: CarriedState | None) -> CarriedState:
    """The state at ``cut_ns`` of a log from the :class:`StatePart` of each of its parts (at
    least one), all computed from the carried-in state ``carry`` (or none)."""
    parts = list(parts)
    tables = [p.conversations for p in parts]
    if carry is not None and carry.conversations.num_rows:
        through = np.logical_and.reduce([p.untouched for p in parts])
        tables.append(carry.conversations.filter(pa.array(through)))
    schema = tables[0].schema
    conversations = pa.concat_tables([t.cast(schema) for t in tables]).sort_by(
        [("business_id", "ascending"), ("subscriber_id", "ascending")])
    lo = cut_ns - parts[0].window_ns
    ids = [p.message_ids for p in parts]
    if carry is not None:
        old = carry.message_ids
        ids.append(old.filter(pc.greater_equal(old.column("timestamp"), lo)))
    ids = pa.concat_tables([t.cast(ids[0].schema) for t in ids])
    ids = ids.group_by("message_id").aggregate([("timestamp", "max")])
    ids = pa.table({"message_id": ids.column("message_id"), "timestamp": ids.column("timestamp_max")})
    firsts = [p.first for p in parts if p.first is not None]
    data_from = carry.data_from if carry is not None and carry.data_from is not None else \
        (min(firsts) if firsts else None)
    return CarriedState(cut_ns, conversations.combine_chunks(), ids.sort_by([("message_id", "ascending")]), data_from)


def windows_of(seg, names: list[str]) -> np.ndarray:
    """The window (ns) of each account of ``names`` under the limits ``seg`` was computed with."""
    plan = seg.plan
    if plan is None:
        return np.full(len(names), seg.limits.window_ns, np.int64)
    return np.array([plan.plan(name).limits.window_ns for name in names], dtype=np.int64)


def longest_window(seg) -> int:
    plan = seg.plan
    if plan is None:
        return seg.limits.window_ns
    return max(p.limits.window_ns for p in plan.plans())


def carried_through(seg, run, cut_ns: int) -> np.ndarray:
    """Per carried conversation: it has no row before the new cut here and is still open at it."""
    conv = seg.carry.conversations
    if not conv.num_rows:
        return np.zeros(0, dtype=bool)
    log = seg.log
    seen = set(zip(run.ends[:, 0].tolist(), run.ends[:, 1].tolist()))
    b = pc.index_in(conv.column("business_id"), value_set=log.businesses).to_pylist()
    s = pc.index_in(conv.column("subscriber_id"), value_set=log.subscribers).to_pylist()
    untouched = np.array([(x, y) not in seen for x, y in zip(b, s)], dtype=bool)
    window = windows_of(seg, conv.column("business_id").to_pylist())
    open_ = conv.column("start").to_numpy() + window > cut_ns
    return untouched & open_


def recent_ids(seg, cut_ns: int) -> pa.Table:
    """The ids of every loaded message (duplicates and excluded rows too) timestamped within the
    longest window before the cut, with their instants (the carried ones are added by
    :func:`join_state`, which keeps the latest instant of each id)."""
    log = seg.log
    rows = (log.timestamp >= cut_ns - longest_window(seg)) & (log.timestamp < cut_ns)
    return pa.table({"message_id": log.message_id.filter(pa.array(rows)).cast(pa.string()),
                     "timestamp": pa.array(log.timestamp[rows], pa.int64())})
