"""What a reconciliation found (:class:`Reconciliation`, its :class:`Difference` records and
per-account sums) and how it is shown: the ``--details`` table, JSON data and the terminal
report."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa

from .. import money

#: Differences listed on a terminal (``--details FILE`` has every one).
DETAIL_LIMIT = 50


@dataclass
class Difference:
    status: str            # matched, shifted, only_ours, only_statement (or differs, for aggregates)
    business_id: str
    subscriber_id: str = ""
    our_start: str = ""
    statement_start: str = ""
    our_session_id: str = ""
    statement_session_id: str = ""
    delta_seconds: float | None = None
    key: str = ""          # date or period, for aggregate grains
    our_sessions: int | None = None
    statement_sessions: int | None = None
    our_out_of_session: int | None = None
    statement_out_of_session: int | None = None
    our_amount: Decimal = Decimal(0)
    statement_amount: Decimal = Decimal(0)
    reason: str = ""


@dataclass
class AccountDiff:
    business_id: str
    our_sessions: int = 0
    statement_sessions: int = 0
    our_amount: Decimal = Decimal(0)
    statement_amount: Decimal = Decimal(0)
    gross_difference: Decimal = Decimal(0)   # sum of |money| of every difference: nothing nets out

    @property
    def session_difference(self) -> int:
        return self.statement_sessions - self.our_sessions

    @property
    def amount_difference(self) -> Decimal:
        return self.statement_amount - self.our_amount


@dataclass
class Reconciliation:
    grain: str
    counts: dict[str, int]
    accounts: list[AccountDiff]
    details: list[Difference] = field(default_factory=list)

    def within(self, tolerance: Decimal) -> bool:
        """Every account's gross difference is within ``tolerance`` (a deleted and an added
        session of one account are two differences, not zero)."""
        return all(a.gross_difference <= tolerance for a in self.accounts)


def add_gross(accounts: dict[str, AccountDiff], details: list[Difference]) -> None:
    """Each difference's money, unsigned, added to its account's gross difference."""
    for d in details:
        acc = accounts[d.business_id]
        acc.gross_difference = money.total([acc.gross_difference, abs(d.statement_amount - d.our_amount)])


DETAILS_SCHEMA = pa.schema([
    ("status", pa.string()), ("business_id", pa.string()), ("subscriber_id", pa.string()), ("key", pa.string()),
    ("our_start", pa.string()), ("statement_start", pa.string()), ("delta_seconds", pa.float64()),
    ("our_session_id", pa.string()), ("statement_session_id", pa.string()), ("our_sessions", pa.int64()),
    ("statement_sessions", pa.int64()), ("our_out_of_session", pa.int64()), ("statement_out_of_session", pa.int64()),
    ("our_amount", pa.string()), ("statement_amount", pa.string()), ("reason", pa.string())])


def details_table(rec: Reconciliation, places: int) -> pa.Table:
    """Every difference with its reason (the ``--details`` file), amounts as exact text."""
    rows = list(rec.details)
    columns = {}
    for name in DETAILS_SCHEMA.names:
        values = [getattr(d, name) for d in rows]
        if name in ("our_amount", "statement_amount"):
            values = [money.fmt(a, places) for a in values]
        columns[name] = pa.array(values, DETAILS_SCHEMA.field(name).type)
    return pa.table(columns, schema=DETAILS_SCHEMA)


def as_dict(rec: Reconciliation, places: int, tolerance: Decimal) -> dict:
    fmt = lambda a: money.fmt(a, places)  # noqa: E731
    return {
        "grain": rec.grain, "counts": rec.counts,
        "accounts": [{"business_id": a.business_id, "our_sessions": a.our_sessions,
                      "statement_sessions": a.statement_sessions, "session_difference": a.session_difference,
                      "our_amount": fmt(a.our_amount), "statement_amount": fmt(a.statement_amount),
                      "amount_difference": fmt(a.amount_difference),
                      "gross_difference": fmt(a.gross_difference)} for a in rec.accounts],
        "total_amount_difference": fmt(money.total(a.amount_difference for a in rec.accounts)),
        "tolerance": fmt(tolerance), "within_tolerance": rec.within(tolerance),
        "details": details_table(rec, places).to_pylist(),
    }


def render_table(doc: dict, console, limit: int = DETAIL_LIMIT) -> None:
    """The report on a terminal: the counts, one row per account, the first ``limit``
    differences with their reasons, and the verdict."""
    from ..render import fit_table

    console.print(f"Statement grain: {doc['grain']}; " + ", ".join(f"{k} {v}" for k, v in doc["counts"].items()),
                  markup=False)
    cols = ["business_id", "our sessions", "statement sessions", "difference", "our amount", "statement amount",
            "net difference", "gross difference"]
    fit_table(console, cols, [[a["business_id"], str(a["our_sessions"]), str(a["statement_sessions"]),
                               f"{a['session_difference']:+d}", a["our_amount"], a["statement_amount"],
                               a["amount_difference"], a["gross_difference"]] for a in doc["accounts"]],
              set(cols[1:]))
    for d in doc["details"][:limit]:
        console.print(f"{d['status']}: {d['business_id']} {d['subscriber_id'] or d['key']} "
                      f"{d['our_start'] or d['statement_start']}: {d['reason']}", markup=False, soft_wrap=True)
    if len(doc["details"]) > limit:
        console.print(f"... {len(doc['details']) - limit} more differences (use --details FILE)", markup=False)
    console.print(("within" if doc["within_tolerance"] else "NOT within") + f" tolerance {doc['tolerance']} "
                  "(per account, gross)", markup=False)
