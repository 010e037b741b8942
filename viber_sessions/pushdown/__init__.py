"""``explain`` on a log of any size: read only the rows an explanation needs.

An explanation of one conversation depends on three kinds of rows only (the *candidates*):

- the conversation's own rows (business_id, subscriber_id as asked);
- the rows that share one of its message ids and come before its last row with that id: a row
  is a duplicate when its id occurred at an earlier loaded row anywhere in the log;
- the latest instant of the loaded (valid) rows, which decides "open" or "expired".

Files are read batch by batch, in flat memory (Arrow's jemalloc allocator meanwhile:
:func:`flat_memory`). Parquet row groups are visited once, from the last to the first (so that
the ids of a conversation row are known before any earlier row is looked at), ``READERS`` at a
time on threads that look at their rows in turn; the reading of the last file starts before
the rest of the run's start-up (:class:`~.sources.ParquetSource`). A row group whose
statistics show it cannot hold the conversation is read for its ``message_id`` and
``timestamp`` only, and read whole only when one of those rows is a candidate; one whose
latest timestamp by its statistics is not later than the latest instant found so far is not
searched for it. Any other row group is read first for ``message_id``, ``business_id``,
``subscriber_id`` and ``message_type``, and whole only when one of its rows may be a candidate
or a blank row, or it may hold a later instant (the last row group, looked at first, is read
whole at once). CSV files are streamed with the loader's exact line reading. Within a row group of
several batches or a CSV file, an id first met in a later batch is looked for again in the
earlier batches (a second reading, up to that batch). The candidates are
then typed and validated by the loader's own functions, keep their row numbers in the whole
input, and are assembled into a small :class:`MessageLog`; the existing segmentation (its
kernels run as Python up to ``INTERPRET_MAX_ROWS`` rows: :mod:`viber_sessions.segment.jit`)
and :func:`viber_sessions.explain.explain` run on it, so the answer is the in-memory one.

A bad row that is not a candidate does not stop an explanation (the in-memory load stops at
it unless ``--on-invalid skip``); bad candidates are treated exactly as in memory. Lines that
cannot be split into fields (CSV) are never candidates. The latest instant is always that of
the valid rows.

The package: :mod:`.scan` (what the reading of each batch keeps: :class:`~.scan.Scan`) and
:mod:`.sources` and :mod:`.textsources` (the reading of one input by its format: Parquet; CSV,
JSON Lines and ``.xlsx``); here the entry points, which read
``BATCH_ROWS``, ``READERS`` and ``CSV_BLOCK`` when they run (tests make them small).
"""

from __future__ import annotations

import contextlib
import io
import sys
from typing import Sequence

import pyarrow as pa

from ..errors import BillingError, InputError, ViberSessionsError
from ..load import LoadOptions, MessageLog, all_rejected, assemble, expand_inputs, no_data_rows, reading
from ..load.formats import JSONL, PARQUET, XLSX, stdin_format
from ..load.read import input_format
from .scan import PriceCheck, Scan, matches, text
from .sources import ParquetSource
from .textsources import CsvSource, WholeSource

#: Rows per batch (a Parquet row group of up to this many rows is one batch).
BATCH_ROWS = 1 << 20
#: Parquet row groups read at the same time (on threads: the reading releases the GIL); at most
#: this many are in memory.
READERS = 2
#: Bytes of CSV text per batch.
CSV_BLOCK = 1 << 26
#: Candidate rows up to which the segmentation runs as Python instead of starting numba (about
#: half a CPU-second; the Python takes about 17 microseconds a row whatever the ids' length,
#: 0.34 s for 20,000; duplicates are found by Arrow's hash): see :mod:`viber_sessions.segment.jit`.
INTERPRET_MAX_ROWS = 5_000


def explain(inputs: Sequence[str] | str, tariff, business: str, subscriber: str, tz: str = "UTC", period=None,
            session_id: str | None = None, options: LoadOptions | None = None, stdin=None) -> dict:
    """:func:`viber_sessions.explain.explain` of one conversation, reading only its candidates.
    ``tariff``: a :class:`~viber_sessions.tariff.Tariff`, or the path of a tariff file (read
    while the log's reading starts; a bad tariff is refused before a bad input, as by the other
    commands)."""
    from .. import explain as ex
    from ..tariff import Tariff, load_tariff

    try:
        started = Candidates(inputs, business, [subscriber], options, stdin)
    except ViberSessionsError as exc:
        if not isinstance(tariff, Tariff):
            load_tariff(tariff)                 # its error first
        raise exc from None
    with started:
        if not isinstance(tariff, Tariff):
            tariff = load_tariff(tariff)
        log, data_end = started.read(tariff)
    seg = segment_small(log, tariff, data_end)
    return ex.explain(seg, tariff, business, subscriber, tz, period, session_id)


def sessions(inputs: Sequence[str] | str, tariff, tz: str = "UTC", where=None, options: LoadOptions | None = None,
             stdin=None):
    """The ``--sessions-out`` table of the sessions of ``where.accounts`` and ``where.subscribers``
    (a :class:`viber_sessions.sessionlist.Filter` naming at least one of them) that the other
    filters keep, reading only their candidates: the rows of the in-memory table."""
    from .. import tables
    from ..explain import check_prices

    options = options or LoadOptions()
    log, data_end = candidate_log(inputs, list(where.accounts) or None, list(where.subscribers) or None, options,
                                  stdin, tariff)
    seg = segment_small(log, tariff, data_end)
    check_prices(seg, tariff)
    missing = [a for a in where.accounts if a not in set(log.businesses.to_pylist())]
    if missing:
        check_accounts(inputs, missing, options, stdin, rescan=bool(where.subscribers))
    return tables.sessions_table(seg, tz, where(seg))


def segment_small(log: MessageLog, tariff, data_end: int):
    """:func:`viber_sessions.segment.segment` of the candidates, as Python when they are few."""
    from ..segment import jit, segment

    with jit.interpreted(len(log) <= INTERPRET_MAX_ROWS):
        return segment(log, tariff, data_end=data_end)


def check_accounts(inputs: Sequence[str] | str, accounts: Sequence[str], options: LoadOptions, stdin=None,
                   rescan: bool = True) -> None:
    """Refuse an ``--account`` that no valid row of the log has (a typo must not list no session;
    an invoice refuses it too), with the closest account id of the log as a hint. ``accounts``
    are missing from the candidates; with ``rescan`` (the candidates were also limited to some
    subscribers) the log is read again, until a valid row of the account. Standard input is
    read once: it is not read again (no hint, and with ``rescan`` no refusal)."""
    import difflib

    stdin_used = "-" in ([inputs] if isinstance(inputs, str) else list(inputs))
    for a in accounts:
        if rescan and (stdin_used or has_valid_row(inputs, a, options)):
            continue
        close = [] if stdin_used else difflib.get_close_matches(a, sorted(account_ids(inputs, options) - {a}), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise BillingError(f"--account {a!r}: no row of the loaded log belongs to this account{hint}")


def has_valid_row(inputs: Sequence[str] | str, account: str, options: LoadOptions) -> bool:
    """Whether a valid row of the log belongs to ``account`` (read batch by batch, until one is)."""
    files = expand_inputs([inputs] if isinstance(inputs, str) else [str(i) for i in inputs])
    for fi, name in enumerate(files):
        with reading(name):
            if source_of(fi, name, options).has_valid_row(account):
                return True
    return False


def account_ids(inputs: Sequence[str] | str, options: LoadOptions) -> set:
    """The distinct ``business_id`` texts of every row of the log (read batch by batch)."""
    files = expand_inputs([inputs] if isinstance(inputs, str) else [str(i) for i in inputs])
    found: set = set()
    for fi, name in enumerate(files):
        with reading(name):
            found |= source_of(fi, name, options).account_ids()
    return found


def candidate_log(inputs: Sequence[str] | str, business: str | Sequence[str] | None,
                  subscribers: Sequence[str] | None, options: LoadOptions | None = None,
                  stdin=None, tariff=None) -> tuple[MessageLog, int]:
    """(the candidate rows of the conversations of ``business`` (one id or several) with any of
    the ``subscribers`` spellings as a MessageLog whose rows keep their input numbers, the latest
    valid instant). None for the businesses or the subscribers: any (not both). With ``tariff``,
    the rows of any conversation whose message type one of its plans does not price are
    candidates too (:class:`~.scan.PriceCheck`). As in memory, an input without data rows is
    refused, and so is one without any valid row under ``--on-invalid skip``."""
    with Candidates(inputs, business, subscribers, options, stdin) as started:
        return started.read(tariff)


class Candidates:
    """:func:`candidate_log` in two steps: made, it opens the inputs and starts reading the last
    one (what the caller does meanwhile, such as reading the tariff, overlaps the reading);
    :meth:`read` gives the candidates. Used as a context manager: the reading stops at its end."""

    def __init__(self, inputs: Sequence[str] | str, business: str | Sequence[str] | None,
                 subscribers: Sequence[str] | None, options: LoadOptions | None = None, stdin=None):
        options = options or LoadOptions()
        self.files = expand_inputs([inputs] if isinstance(inputs, str) else [str(i) for i in inputs])
        businesses = [business] if isinstance(business, str) else business
        if businesses is None and subscribers is None:
            raise ValueError("candidate_log needs businesses or subscribers")
        self.businesses = None if businesses is None else list(businesses)
        self.subscribers = None if subscribers is None else list(subscribers)
        self.options, self.sources = options, []
        self._memory = flat_memory()
        self._memory.__enter__()
        try:
            for fi, name in enumerate(self.files):
                with reading(name):
                    self.sources.append(source_of(fi, name, options, stdin))
            if self.sources:                # the last file is read first: its reading starts now
                with reading(self.sources[-1].name):
                    self.sources[-1].start(self.businesses, self.subscribers)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Candidates":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the reading (the readers' threads end); the allocator is the caller's again."""
        try:
            for source in self.sources:
                source.close()
        finally:
            if self._memory is not None:
                memory, self._memory = self._memory, None
                memory.__exit__(None, None, None)

    def read(self, tariff=None) -> tuple[MessageLog, int]:
        """(the candidates as a MessageLog, the latest valid instant): see :func:`candidate_log`."""
        sources, options = self.sources, self.options
        try:
            for source in sources:
                with reading(source.name):
                    source.check()
            scan = Scan(options, self.businesses, self.subscribers,
                        None if tariff is None else PriceCheck(tariff, options))
            for source in reversed(sources):
                with reading(source.name):
                    source.scan(scan)
        finally:
            for source in sources:
                source.close()
        if sum(s.n_rows for s in sources) == 0:
            raise InputError(no_data_rows(self.files, sum(s.blank for s in sources), [s.header for s in sources]))
        typed = [s.typed(scan) for s in sources]
        if scan.latest is None and options.on_invalid == "skip":           # no valid row anywhere
            first = next(p for p in (s.first_problem() for s in sources if s.n_rows) if p is not None)
            raise InputError(all_rejected(sum(t.n_rows for t in typed), first))
        return assemble(self.files, typed, options), (scan.latest if scan.latest is not None else 0)


@contextlib.contextmanager
def flat_memory():
    """Arrow's jemalloc allocator (else the system's) while the candidates are read: it gives the
    memory of a row group back when the row group is done with; the default (mimalloc) keeps
    it, about 60 MB more at the peak of an explanation of the 10M-row log."""
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:          # a build without jemalloc
        pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def source_of(fi: int, name: str, options: LoadOptions, stdin=None):
    """The reading of input ``fi`` for its format: Parquet row group by row group, CSV (and
    TSV) streamed, JSON Lines and ``.xlsx`` whole (as the bounded engines read them). Standard
    input is read once (CSV or JSON Lines, told apart by its first character)."""
    kind = input_format(name, options)
    if name == "-":
        data = (stdin or sys.stdin.buffer).read()
        stdin, kind = io.BytesIO(data), stdin_format(data)
    if kind == PARQUET:
        return ParquetSource(fi, name, options, BATCH_ROWS, READERS)
    if kind in (JSONL, XLSX):
        return WholeSource(fi, name, options, stdin)
    return CsvSource(fi, name, options, stdin, CSV_BLOCK)


__all__ = ["BATCH_ROWS", "CSV_BLOCK", "INTERPRET_MAX_ROWS", "READERS", "CsvSource", "ParquetSource", "PriceCheck",
           "Candidates", "Scan", "WholeSource", "account_ids", "candidate_log", "check_accounts", "explain", "flat_memory",
           "has_valid_row", "matches", "segment_small", "sessions", "source_of", "text"]
