"""The checks of a log loaded in memory (each a function of the log and the :class:`Context`
giving findings): suspicious identifiers, conflicting duplicates, unpriced types, business
messages of a type not allowed in a session, timestamps out of range. :data:`CHECKS` lists
them in report order; a new check is one more entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import ids
from ..load import MessageLog
from ..segment import R_TYPE_NOT_ALLOWED, segment
from ..tariff import Tariff
from ..timeutil import iso_utc
from .report import SEVERITY, Finding


@dataclass(frozen=True)
class Context:
    """What the checks are told besides the log."""

    tariff: Tariff | None = None
    now_ns: int | None = None
    since_ns: int | None = None
    until_ns: int | None = None


def rows_findings(log: MessageLog, mask: np.ndarray, column: str, code: str, message, values) -> list[Finding]:
    idx = np.flatnonzero(mask)
    files, rows = log.locate(log.row[idx])
    texts = values(idx)
    severity = SEVERITY.get(code, "error")
    return [Finding(log.sources[f], int(r), column, code, message(i) if callable(message) else message, v, severity)
            for i, f, r, v in zip(idx.tolist(), files.tolist(), rows.tolist(), texts)]


def suspicious_ids(log: MessageLog) -> list[Finding]:
    """One finding per distinct suspicious business or subscriber id, at its first row."""
    out = []
    for column, codes, names, what in (("business_id", log.business, log.businesses, "an account"),
                                       ("subscriber_id", log.subscriber, log.subscribers, "a subscriber")):
        hits = np.flatnonzero(ids.prefilter(names).to_numpy(zero_copy_only=False))
        if not len(hits):
            continue
        values = names.take(pa.array(hits)).to_pylist()
        reasons = {int(c): ids.suspicious(v) for c, v in zip(hits.tolist(), values)}
        reasons = {c: r for c, r in reasons.items() if r is not None}
        if not reasons:
            continue
        wanted = np.zeros(len(names) + 1, dtype=bool)
        wanted[list(reasons)] = True
        rows = np.flatnonzero(wanted[codes])             # the rows that carry a suspicious id
        found, first = np.unique(codes[rows], return_index=True)
        first_rows = rows[first]
        files, file_rows = log.locate(log.row[first_rows])
        texts = names.take(pa.array(found)).to_pylist()
        twins = [ids.cleaned(v) for v in texts]
        known = pc.is_in(pa.array(twins, pa.string()), value_set=names).to_numpy(zero_copy_only=False)
        for c, f, r, value, twin, has_twin in zip(found.tolist(), files.tolist(), file_rows.tolist(), texts,
                                                  twins, known):
            apart = f", apart from {twin!r} (also in the log)" if has_twin and twin != value else ""
            out.append(Finding(log.sources[f], int(r), column, "suspicious_id",
                               f"{column} has {reasons[c]}; ids are kept as written, so this is {what} of its "
                               f"own{apart}; first of its rows", value, "warning"))
    return out


def conflicting_duplicates(log: MessageLog) -> list[Finding]:
    codes = pc.dictionary_encode(log.message_id).indices.to_numpy(zero_copy_only=False)
    _, first_index, inverse = np.unique(codes, return_index=True, return_inverse=True)
    first = first_index[inverse]          # the row where each row's id was first seen
    dup = first != np.arange(len(codes))
    if not dup.any():
        return []
    differs = dup & ((log.timestamp != log.timestamp[first]) | (log.business != log.business[first])
                     | (log.subscriber != log.subscriber[first]) | (log.inbound != log.inbound[first])
                     | (log.mtype != log.mtype[first]))
    if not differs.any():
        return []
    ffile, frow = log.locate(log.row[first])

    def message(i):
        return (f"message_id was first seen in {log.sources[ffile[i]]}, row {frow[i]} with different content; "
                "this row is a duplicate and billed nowhere")

    message_ids = log.message_id
    return rows_findings(log, differs, "message_id", "conflicting_duplicate", message,
                 lambda idx: message_ids.take(pa.array(idx)).to_pylist())


def unpriced_types(log: MessageLog, tariff: Tariff) -> list[Finding]:
    """One error per message type that some outbound row's account cannot price: the account's
    plan (its override merged over the top level, an override's ``default`` included) has neither
    the type nor a default, which is what the invoice refuses (``billing.check_prices``). An
    override that prices the type (or has a default) clears its own account's rows only."""
    types = log.message_types
    names = log.businesses.to_pylist()
    plans = [tariff] + [tariff.accounts[n] for n in names if n in tariff.accounts]
    table = np.array([[p.outbound_price(t) is None for t in types] + [False] for p in plans], dtype=bool)
    if not table.any():
        return []
    plan_of = np.zeros(len(names), dtype=np.int64)
    k = 0
    for b, name in enumerate(names):
        if name in tariff.accounts:
            k += 1
            plan_of[b] = k
    unpriced = table[plan_of[log.business], log.mtype] & ~log.inbound
    out = []
    for t, name in enumerate(types):
        if not table[:, t].any():
            continue
        mask = unpriced & (log.mtype == t)
        if not mask.any():
            continue
        i = int(np.flatnonzero(mask)[0])
        f, r = log.locate(log.row[i:i + 1])
        message = f"the tariff has no outbound price for this type ({int(mask.sum())} rows; first shown)"
        if tariff.accounts:
            accounts = sorted(names[b] for b in np.unique(log.business[mask]).tolist())
            shown = ", ".join(repr(a) for a in accounts[:5]) + (f" and {len(accounts) - 5} more"
                                                                 if len(accounts) > 5 else "")
            message += f"; in the plan of account{'s' if len(accounts) > 1 else ''} {shown}"
        out.append(Finding(log.sources[f[0]], int(r[0]), "message_type", "unpriced_type", message, name, "error"))
    return out


def not_allowed_in_session(log: MessageLog, tariff: Tariff) -> list[Finding]:
    seg = segment(log, tariff)
    mask = seg.reason == R_TYPE_NOT_ALLOWED
    names = log.message_types
    return rows_findings(log, mask, "message_type", "type_not_allowed_in_session",
                 "business message of a type not allowed in a session, sent while one was open "
                 "(billed per message)", lambda idx: [names[t] for t in log.mtype[idx].tolist()])


def out_of_range(log: MessageLog, now_ns, since_ns, until_ns) -> list[Finding]:
    out = []
    ts = log.timestamp
    shown = lambda idx: iso_utc(ts[idx]).to_pylist()  # noqa: E731
    if now_ns is not None:
        out += rows_findings(log, ts > now_ns, "timestamp", "future_timestamp", "timestamp is in the future", shown)
    if since_ns is not None:
        out += rows_findings(log, ts < since_ns, "timestamp", "before_range", "timestamp is before the stated range", shown)
    if until_ns is not None:
        out += rows_findings(log, ts >= until_ns, "timestamp", "after_range", "timestamp is after the stated range", shown)
    return out


def unpriced_check(log: MessageLog, ctx: Context) -> list[Finding]:
    return unpriced_types(log, ctx.tariff) if ctx.tariff is not None else []


def not_allowed_check(log: MessageLog, ctx: Context) -> list[Finding]:
    return not_allowed_in_session(log, ctx.tariff) if ctx.tariff is not None else []


def range_check(log: MessageLog, ctx: Context) -> list[Finding]:
    return out_of_range(log, ctx.now_ns, ctx.since_ns, ctx.until_ns)


#: The checks of a loaded log, in report order (findings of one row and code keep this order).
CHECKS: list[Callable[[MessageLog, Context], list[Finding]]] = [
    lambda log, ctx: suspicious_ids(log),
    lambda log, ctx: conflicting_duplicates(log),
    unpriced_check,
    not_allowed_check,
    range_check,
]
