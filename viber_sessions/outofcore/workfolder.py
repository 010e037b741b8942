"""The temporary folder of the out-of-core engine: removed whatever ends the run."""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import threading
from typing import Iterator


@contextlib.contextmanager
def work_folder(workdir: str | None = None) -> Iterator[str]:
    """A temporary folder (``viber-sessions-XXXX``) that is removed whatever ends the block: an
    error, Ctrl-C, or an exception raised by a signal handler (SIGTERM). Signals are held back
    while the folder is made and removed, so that neither step is cut short."""
    tmp = None
    try:
        with signals_held():           # a signal held here is raised on leaving: tmp is set by then
            tmp = tempfile.mkdtemp(prefix="viber-sessions-", dir=workdir)
        yield tmp
    finally:
        if tmp is not None:
            with signals_held():
                shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM back for the block: they are noted, and raised again after it
    with the handlers of before. (Blocking them with ``pthread_sigmask`` is not enough: the
    kernel hands them to another thread, and Python runs the handler in the main thread at
    once.) Handlers can only be set in the main thread; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old: dict = {}
    holding = [True]

    def hold(signum, frame):
        if holding[0]:
            pending.append(signum)
            return
        handler = old.get(signum)           # the block is over: act as the handler of before
        if callable(handler):
            handler(signum, frame)
        else:
            pending.append(signum)

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            old[signum] = signal.signal(signum, hold)
        yield
    finally:
        holding[0] = False
        for signum, handler in old.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)
