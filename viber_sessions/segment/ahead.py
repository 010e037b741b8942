"""Duplicate detection started early: while the rest of the log is typed, on a thread.

The duplicate flags need only the message ids, which the typing has once it has read them; the
other columns' typing (timestamps, directions, types, statuses) lets other threads run. A run
that bills one file hands its ids to :meth:`Ahead.start` (the loader's ``on_ids``) and gives
the segmentation :meth:`Ahead.pending` for the flags of the loaded log (a future, whose result
the segmentation asks for once it has ordered the rows): they are given only when the log's
ids are that very array (one file, no row rejected or left out), else the segmentation finds
them itself. Either way the flags are those of :func:`~.dedup.first_occurrences`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np
import pyarrow as pa

from .parallel import PARALLEL_MIN_ROWS


#: Rows from which the flags are found ahead (a smaller log is deduplicated in a moment).
MIN_ROWS = PARALLEL_MIN_ROWS


class Ahead:
    """The duplicate flags of the first message-id array handed over, found on a thread."""

    def __init__(self, min_rows: int | None = None):
        self.min_rows = MIN_ROWS if min_rows is None else min_rows
        self._ids: pa.Array | None = None
        self._future: Future | None = None
        self._calls = 0

    def start(self, message_id: pa.Array) -> None:
        """Begin on ``message_id`` (a file's typed ids): once, for the first file only."""
        self._calls += 1
        if self._calls > 1 or len(message_id) < self.min_rows or not isinstance(message_id, pa.Array) \
                or message_id.type != pa.string():
            return
        from . import jit

        if jit.interpreting():
            return
        future: Future = Future()

        def work():
            try:
                from . import load_kernels
                from .dedup import first_occurrences

                load_kernels()
                # one thread: the typing's own threads keep the other core busy meanwhile (two
                # made the typing, which waits for its subscriber dictionary, 0.07-0.2 s longer)
                future.set_result(~first_occurrences(message_id, one_thread=True))
            except BaseException as exc:        # noqa: BLE001 - raised where the flags are asked for
                future.set_exception(exc)

        self._ids, self._future = message_id, future
        threading.Thread(target=work, name="viber-sessions-duplicates", daemon=True).start()

    def pending(self, log) -> Future | None:
        """The flags of :meth:`duplicates` as a future (the segmentation asks for its result once
        it has ordered the rows, which need no flags), or None."""
        if self._future is None or self._calls != 1 or log.message_id is not self._ids:
            return None
        return self._future

    def duplicates(self, log) -> np.ndarray | None:
        """The flags of the rows of ``log`` that repeat an earlier message id, when found ahead on
        its very ids (one file, every row loaded); else None."""
        pending = self.pending(log)
        return None if pending is None else pending.result()
