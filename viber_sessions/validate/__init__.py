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

In memory the log is loaded once and :data:`checks.CHECKS` run on it; with ``memory_limit``
(or ``engine=core.OutOfCore(...)``) the same findings come from a bounded pass (:mod:`.bounded`),
and with ``engine=core.Dask(scheduler)`` from the same steps on a Dask cluster (:mod:`.on_dask`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ..errors import InputError, Problem, UsageError
from ..load import LoadOptions, expand_inputs, load
from ..tariff import Tariff
from .checks import CHECKS, Context
from .report import (DETAIL_LIMIT, SEVERITIES, SEVERITY, Finding, Report, finding, finding_dict, render_table,
                     report_dict, summary, summary_line)

__all__ = ["CHECKS", "DETAIL_LIMIT", "SEVERITIES", "SEVERITY", "Context", "Finding", "Report", "finding",
           "finding_dict", "render_table", "report_dict", "summary", "summary_line", "validate"]


def validate(inputs: Sequence[str], options: LoadOptions, tariff: Tariff | None = None,
             now_ns: int | None = None, since_ns: int | None = None, until_ns: int | None = None,
             stdin=None, memory_limit: int | None = None, workdir: str | None = None, engine=None) -> Report:
    """Every problem of the log: unreadable files and missing columns, invalid values, unpriced
    types, suspicious identifiers, conflicting duplicates, load notices, business messages of a
    type not allowed in a session, timestamps in the future (after ``now_ns``) or outside
    [since_ns, until_ns). With ``memory_limit`` (bytes) the log is never held whole, and with
    ``engine`` (a :mod:`viber_sessions.core` engine: ``Local()``, ``OutOfCore(limit, workdir)``
    or ``Dask(scheduler)``) it is checked where the engine says: the same report on every
    engine (standard input is read in memory only)."""
    from ..core import Dask, OutOfCore

    scheduler = engine.scheduler if isinstance(engine, Dask) else None
    if isinstance(engine, OutOfCore):
        memory_limit, workdir = engine.memory_limit, engine.workdir
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
    ctx = Context(tariff, now_ns, since_ns, until_ns)
    options = replace(options, on_invalid="skip")
    if scheduler is not None:
        from .on_dask import validate_on_dask

        file_problems, found, rows_read = (validate_on_dask(readable, options, ctx, scheduler)
                                           if readable else ([], [], 0))
        findings = [finding(p) for p in problems + file_problems] + [finding(p) for p in found]
    elif memory_limit is not None:
        if "-" in readable:
            raise UsageError("standard input cannot be validated with --memory-limit; write it to a file first")
        from .bounded import validate_within

        file_problems, found, rows_read = (validate_within(readable, options, ctx, memory_limit, workdir)
                                           if readable else ([], [], 0))
        findings = [finding(p) for p in problems + file_problems] + [finding(p) for p in found]
    else:
        findings, rows_read = _in_memory(readable, options, ctx, problems, stdin)
    return _report(files, findings, rows_read)


def _in_memory(readable: list[str], options: LoadOptions, ctx: Context, problems: list[Problem], stdin
               ) -> tuple[list[Finding], int]:
    log = None
    if readable:
        file_problems: list[Problem] = []
        try:
            log = load(readable, options, stdin=stdin, file_problems=file_problems)
        except InputError as exc:        # the input as a whole cannot be loaded
            problems.extend(exc.problems)
        problems.extend(file_problems)
    findings = [finding(p) for p in problems]
    if log is not None:
        findings.extend(finding(p) for p in log.problems)
        findings.extend(finding(p, "warning") for p in getattr(log, "notices", ()) or ())
        if len(log):
            for check in CHECKS:
                findings.extend(check(log, ctx))
    return findings, (log.rows_read if log is not None else 0)


def _report(files: list[str], findings: list[Finding], rows_read: int) -> Report:
    if rows_read == 0 and not any(p.severity == "error" for p in findings):
        findings.append(Finding(", ".join(files), None, None, "no_data_rows",
                                "the input holds no data row (only a header or blank lines)", None, "error"))
    order = {name: i for i, name in reversed(list(enumerate(files)))}
    findings.sort(key=lambda p: (order.get(p.file, -1), p.row or 0, p.code))
    failed = {p.file for p in findings if p.row is None and p.severity == "error" and p.code != "no_data_rows"}
    unreadable = tuple(f for f in files if f in failed)
    return Report(rows_read=rows_read, files=tuple(files), findings=tuple(findings), unreadable=unreadable)
