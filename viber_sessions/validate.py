"""Check a log without billing it: every problem found, as :class:`Problem` records."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import Problem
from .load import LoadOptions, MessageLog, load
from .segment import R_TYPE_NOT_ALLOWED, segment
from .tariff import Tariff
from .timeutil import iso_utc


@dataclass(frozen=True)
class Report:
    rows_read: int
    files: tuple[str, ...]
    findings: tuple[Problem, ...]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.findings:
            out[p.code] = out.get(p.code, 0) + 1
        return dict(sorted(out.items()))


def validate(inputs: Sequence[str], options: LoadOptions, tariff: Tariff | None = None,
             now_ns: int | None = None, since_ns: int | None = None, until_ns: int | None = None,
             stdin=None) -> Report:
    """Every problem of the log: unreadable files and missing columns, invalid values, unpriced
    types, conflicting duplicates, business messages of a type not allowed in a session,
    timestamps in the future (after ``now_ns``) or outside [since_ns, until_ns)."""
    findings: list[Problem] = []
    log = load(inputs, replace(options, on_invalid="skip"), stdin=stdin, file_problems=findings)
    findings.extend(log.problems)
    if len(log):
        findings.extend(_conflicting_duplicates(log))
        if tariff is not None:
            findings.extend(_unpriced_types(log, tariff))
            findings.extend(_not_allowed_in_session(log, tariff))
        findings.extend(_out_of_range(log, now_ns, since_ns, until_ns))
    findings.sort(key=lambda p: (_file_order(log, p.file), p.row or 0, p.code))
    return Report(rows_read=log.rows_read, files=tuple(log.sources), findings=tuple(findings))


def _file_order(log: MessageLog, name: str) -> int:
    return log.sources.index(name) if name in log.sources else -1


def _rows(log: MessageLog, mask: np.ndarray, column: str, code: str, message, values) -> list[Problem]:
    idx = np.flatnonzero(mask)
    files, rows = log.locate(log.row[idx])
    texts = values(idx)
    return [Problem(log.sources[f], int(r), column, code, message(i) if callable(message) else message, v)
            for i, f, r, v in zip(idx.tolist(), files.tolist(), rows.tolist(), texts)]


def _conflicting_duplicates(log: MessageLog) -> list[Problem]:
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

    ids = log.message_id
    return _rows(log, differs, "message_id", "conflicting_duplicate", message,
                 lambda idx: ids.take(pa.array(idx)).to_pylist())


def _unpriced_types(log: MessageLog, tariff: Tariff) -> list[Problem]:
    out = []
    outbound = ~log.inbound
    for t, name in enumerate(log.message_types):
        if tariff.outbound_price(name) is not None:
            continue
        mask = outbound & (log.mtype == t)
        if not mask.any():
            continue
        i = int(np.flatnonzero(mask)[0])
        f, r = log.locate(log.row[i:i + 1])
        out.append(Problem(log.sources[f[0]], int(r[0]), "message_type", "unpriced_type",
                           f"the tariff has no outbound price for this type ({int(mask.sum())} rows; "
                           "first shown)", name))
    return out


def _not_allowed_in_session(log: MessageLog, tariff: Tariff) -> list[Problem]:
    seg = segment(log, tariff.limits)
    mask = seg.reason == R_TYPE_NOT_ALLOWED
    names = log.message_types
    return _rows(log, mask, "message_type", "type_not_allowed_in_session",
                 "business message of a type not allowed in a session, sent while one was open "
                 "(billed per message)", lambda idx: [names[t] for t in log.mtype[idx].tolist()])


def _out_of_range(log: MessageLog, now_ns, since_ns, until_ns) -> list[Problem]:
    out = []
    ts = log.timestamp
    shown = lambda idx: iso_utc(ts[idx]).to_pylist()  # noqa: E731
    if now_ns is not None:
        out += _rows(log, ts > now_ns, "timestamp", "future_timestamp", "timestamp is in the future", shown)
    if since_ns is not None:
        out += _rows(log, ts < since_ns, "timestamp", "before_range", "timestamp is before the stated range", shown)
    if until_ns is not None:
        out += _rows(log, ts >= until_ns, "timestamp", "after_range", "timestamp is after the stated range", shown)
    return out
