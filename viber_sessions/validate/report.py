"""Findings and the report of ``validate``: :class:`Finding` (a :class:`Problem` with a
severity), :class:`Report`, and how they are shown (:func:`report_dict` for JSON,
:func:`render_table` for a terminal)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Problem

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


def where(p: Problem) -> str:
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
            example = Text(where(p) + ": " + p.message + ("" if p.value is None else f": {p.value!r}"),
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
