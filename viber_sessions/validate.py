"""Check a log without billing it: every problem found, as :class:`Finding` records, and how to
show them (:func:`report_dict` for JSON, :func:`render_table` for a terminal).

Each finding has a severity:

- ``error``: the log cannot be billed as it is (an unreadable file, a missing column, an invalid
  value, a type the tariff does not price, no data row at all). Only errors make the exit
  code 1 (:attr:`Report.exit_code`).
- ``warning``: billable, but probably not what was meant (an identifier with spaces at an end or
  invisible characters, a duplicate message id with other contents, a timestamp in the future
  or outside the stated range, every load notice such as a last line without a line end).
- ``note``: a billing condition worth knowing (a business message of a type not allowed in a
  session, billed per message).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ids
from .errors import InputError, Problem, UsageError
from .load import LoadOptions, MessageLog, expand_inputs, load
from .segment import R_TYPE_NOT_ALLOWED, segment
from .tariff import Tariff
from .timeutil import iso_utc

SEVERITIES = ("error", "warning", "note")
#: Severity by finding code; a code not listed here (any problem of the loader) is an error.
SEVERITY = {
    "suspicious_id": "warning",
    "conflicting_duplicate": "warning",
    "future_timestamp": "warning",
    "before_range": "warning",
    "after_range": "warning",
    "no_final_newline": "warning",
    "type_not_allowed_in_session": "note",
}
#: Details shown by :func:`render_table` (errors and warnings only; JSON has every finding).
DETAIL_LIMIT = 50


@dataclass(frozen=True)
class Finding(Problem):
    """A :class:`Problem` with its severity: ``error``, ``warning`` or ``note``."""

    severity: str = "error"


def finding(p: Problem, severity: str | None = None) -> Finding:
    """``p`` as a :class:`Finding`, with ``severity`` or the one its code has."""
    if isinstance(p, Finding) and severity is None:
        return p
    return Finding(p.file, p.row, p.column, p.code, p.message, p.value,
                   severity or SEVERITY.get(p.code, "error"))


@dataclass(frozen=True)
class Report:
    rows_read: int
    files: tuple[str, ...]                 # every input file given or expanded, readable or not
    findings: tuple[Finding, ...]
    unreadable: tuple[str, ...] = field(default=())   # those of ``files`` that could not be read

    def counts(self) -> dict[str, int]:
        """Findings by code (sorted by code)."""
        out: dict[str, int] = {}
        for p in self.findings:
            out[p.code] = out.get(p.code, 0) + 1
        return dict(sorted(out.items()))

    def by_severity(self) -> dict[str, int]:
        """Findings by severity: always the three keys error, warning, note."""
        out = dict.fromkeys(SEVERITIES, 0)
        for p in self.findings:
            out[p.severity] += 1
        return out

    @property
    def exit_code(self) -> int:
        """1 when some finding is an error (the log cannot be billed as it is), else 0."""
        return 1 if any(p.severity == "error" for p in self.findings) else 0


def validate(inputs: Sequence[str], options: LoadOptions, tariff: Tariff | None = None,
             now_ns: int | None = None, since_ns: int | None = None, until_ns: int | None = None,
             stdin=None) -> Report:
    """Every problem of the log: unreadable files and missing columns, invalid values, unpriced
    types, suspicious identifiers, conflicting duplicates, load notices, business messages of a
    type not allowed in a session, timestamps in the future (after ``now_ns``) or outside
    [since_ns, until_ns)."""
    if isinstance(inputs, str):
        inputs = [inputs]
    if not inputs:
        raise UsageError("no input files given")
    problems: list[Problem] = []
    files: list[str] = []
    for item in inputs:
        try:
            files.extend(expand_inputs([str(item)]))
        except InputError as exc:        # missing file, empty directory, pattern without match
            problems.extend(exc.problems)
            files.append(str(item))
    readable = [f for f in files if not any(p.file == f and p.row is None for p in problems)]
    log = None
    if readable:
        file_problems: list[Problem] = []
        try:
            log = load(readable, replace(options, on_invalid="skip"), stdin=stdin, file_problems=file_problems)
        except InputError as exc:        # the input as a whole cannot be loaded
            problems.extend(exc.problems)
        problems.extend(file_problems)
    findings = [finding(p) for p in problems]
    if log is not None:
        findings.extend(finding(p) for p in log.problems)
        findings.extend(finding(p, "warning") for p in getattr(log, "notices", ()) or ())
        if len(log):
            findings.extend(_suspicious_ids(log))
            findings.extend(_conflicting_duplicates(log))
            if tariff is not None:
                findings.extend(_unpriced_types(log, tariff))
                findings.extend(_not_allowed_in_session(log, tariff))
            findings.extend(_out_of_range(log, now_ns, since_ns, until_ns))
    rows_read = log.rows_read if log is not None else 0
    if rows_read == 0 and not any(p.severity == "error" for p in findings):
        findings.append(Finding(", ".join(files), None, None, "no_data_rows",
                                "the input holds no data row (only a header or blank lines)", None, "error"))
    order = {name: i for i, name in reversed(list(enumerate(files)))}
    findings.sort(key=lambda p: (order.get(p.file, -1), p.row or 0, p.code))
    failed = {p.file for p in findings if p.row is None and p.severity == "error" and p.code != "no_data_rows"}
    unreadable = tuple(f for f in files if f in failed)
    return Report(rows_read=rows_read, files=tuple(files), findings=tuple(findings), unreadable=unreadable)


def _rows(log: MessageLog, mask: np.ndarray, column: str, code: str, message, values) -> list[Finding]:
    idx = np.flatnonzero(mask)
    files, rows = log.locate(log.row[idx])
    texts = values(idx)
    severity = SEVERITY.get(code, "error")
    return [Finding(log.sources[f], int(r), column, code, message(i) if callable(message) else message, v, severity)
            for i, f, r, v in zip(idx.tolist(), files.tolist(), rows.tolist(), texts)]


def _suspicious_ids(log: MessageLog) -> list[Finding]:
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


def _conflicting_duplicates(log: MessageLog) -> list[Finding]:
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
    return _rows(log, differs, "message_id", "conflicting_duplicate", message,
                 lambda idx: message_ids.take(pa.array(idx)).to_pylist())


def _unpriced_types(log: MessageLog, tariff: Tariff) -> list[Finding]:
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


def _not_allowed_in_session(log: MessageLog, tariff: Tariff) -> list[Finding]:
    seg = segment(log, tariff)
    mask = seg.reason == R_TYPE_NOT_ALLOWED
    names = log.message_types
    return _rows(log, mask, "message_type", "type_not_allowed_in_session",
                 "business message of a type not allowed in a session, sent while one was open "
                 "(billed per message)", lambda idx: [names[t] for t in log.mtype[idx].tolist()])


def _out_of_range(log: MessageLog, now_ns, since_ns, until_ns) -> list[Finding]:
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


# ---------------------------------------------------------------------------------------------
# Presentation


def finding_dict(p: Finding) -> dict:
    return {"file": p.file, "row": p.row, "column": p.column, "code": p.code, "severity": p.severity,
            "message": p.message, "value": p.value}


def report_dict(report: Report) -> dict:
    """The report as JSON-able data: ``rows_read``, ``files`` (every input file, readable or
    not), ``counts`` (findings by code), ``by_severity`` and ``findings`` (each with its
    ``severity``), in file and row order."""
    return {"rows_read": report.rows_read, "files": list(report.files), "counts": report.counts(),
            "by_severity": report.by_severity(), "findings": [finding_dict(p) for p in report.findings]}


def summary(report: Report) -> list[tuple[str, str, int, Finding]]:
    """``(code, severity, count, first finding)`` per code: errors first, then warnings, notes."""
    first: dict[str, Finding] = {}
    count: dict[str, int] = {}
    for p in report.findings:
        first.setdefault(p.code, p)
        count[p.code] = count.get(p.code, 0) + 1
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(((c, first[c].severity, count[c], first[c]) for c in first),
                  key=lambda t: (rank.get(t[1], 0), t[0]))


def summary_line(report: Report) -> str:
    """``50000 rows in 1 file(s): 2243 notes; no errors`` (the last line of the table)."""
    head = f"{report.rows_read} rows in {len(report.files)} file(s)"
    if report.unreadable:
        head += f" ({len(report.unreadable)} unreadable)"
    if not report.findings:
        return f"{head}: no findings"
    n = report.by_severity()
    parts = [f"{n[s]} {s}{'' if n[s] == 1 else 's'}" for s in SEVERITIES if n[s]]
    verdict = "cannot be billed as it is" if report.exit_code else "no errors"
    return f"{head}: {', '.join(parts)}; {verdict}"


def _where(p: Problem) -> str:
    where = p.file
    if p.row is not None:
        where += f", row {p.row}"
    if p.column is not None:
        where += f", column {p.column!r}"
    return where


def render_table(report: Report, console, limit: int = DETAIL_LIMIT) -> None:
    """The report for a terminal: a summary by code (code, severity, count, first example; one
    row per code however many findings it has), then the errors and warnings one by one (at
    most ``limit``; notes are in the summary only), then one line of totals.

    Nothing is cut: long cells wrap. On a wide console the first example is a fourth column;
    on a narrow one (60 columns) it goes on its own indented line under its code."""
    from rich import box
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    if report.findings:
        rows = summary(report)
        code_width = max(len("code"), *(len(code) for code, *_ in rows))
        count_width = max(len("count"), *(len(str(n)) for _, _, n, _ in rows))
        fixed = code_width + len("severity") + count_width + 6          # cells and their padding
        wide = console.width - fixed >= 40
        table = Table(title="Findings by code", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                      pad_edge=False, show_edge=False, expand=not wide)
        table.add_column("code", overflow="fold", ratio=None if wide else 1, min_width=min(code_width, 20))
        table.add_column("severity", no_wrap=True)
        table.add_column("count", justify="right", no_wrap=True)
        if wide:
            table.add_column("first example", overflow="fold")
        for code, severity, n, p in rows:
            example = Text(_where(p) + ": " + p.message + ("" if p.value is None else f": {p.value!r}"),
                           overflow="fold")
            cells = [Text(code, overflow="fold"), Text(severity, style=_STYLE.get(severity, "")), str(n)]
            if wide:
                table.add_row(*cells, example)
            else:
                table.add_row(*cells)
                table.add_row(Padding(Text("e.g. ", style="dim") + example, (0, 0, 0, 2)), "", "")
        console.print(table)
        shown = [p for p in report.findings if p.severity in ("error", "warning")]
        shown.sort(key=lambda p: 0 if p.severity == "error" else 1)      # stable: file and row order
        if shown:
            console.print(Text("Errors and warnings", style="bold"))
            for p in shown[:limit]:
                line = Text(f"{p.severity}: ", style=_STYLE.get(p.severity, ""))
                line.append(str(p))
                line.append(f" [{p.code}]", style="dim")
                console.print(line, overflow="fold")
            if len(shown) > limit:
                console.print(Text(f"... {len(shown) - limit} more (use --format json)"))
    console.print(Text(summary_line(report)), overflow="fold")


_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}
