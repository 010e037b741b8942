"""The console script: signal handlers first, then the (heavy) imports, then the CLI.

SIGTERM is handled like Ctrl-C: it raises :class:`Terminated` (a ``KeyboardInterrupt``) in the
main thread, so every ``with``/``finally`` on the way out removes its temporary files and the
previous outputs stay as they were; the process prints one line and exits 143 (130 for
SIGINT). The handlers are installed before anything else is imported, so even a signal during
start-up ends in that one line, never in a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

VERBOSE = {"on": False}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C."""


def quiet_logs() -> None:
    """After a signal, no library logs its own shutdown (Dask's "Task exception was never
    retrieved" and the like): the user sees one line. ``-v`` keeps them."""
    if not VERBOSE["on"]:
        import logging

        logging.disable(logging.CRITICAL)


_HOLD = {"depth": 0, "pending": None}


def _on_signal(signum, frame):
    if _HOLD["depth"]:                 # inside held(): act when the block is over
        _HOLD["pending"] = signum
        return
    quiet_logs()
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def check_pending() -> None:
    """A signal that is waiting (see :func:`_unraisable`) acts now, unless inside :func:`held`."""
    pending = _HOLD["pending"]
    if pending is not None and not _HOLD["depth"]:
        _HOLD["pending"] = None
        _on_signal(pending, None)


@contextlib.contextmanager
def held():
    """SIGINT and SIGTERM wait until the block is over, then act as usual. (Blocking the signals
    with ``pthread_sigmask`` is not enough: the kernel then hands them to one of the library's
    threads, and Python still runs the handler in the main thread at once.) A signal already
    waiting acts before the block begins."""
    check_pending()
    _HOLD["depth"] += 1
    try:
        yield
    finally:
        _HOLD["depth"] -= 1
        pending = _HOLD["pending"]
        if not _HOLD["depth"] and pending is not None:
            _HOLD["pending"] = None
            _on_signal(pending, None)


def _exit_now(signum, frame):
    os.write(2, b"terminated\n" if signum == signal.SIGTERM else b"interrupted\n")
    os._exit(128 + signum)


def install() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:   # not when the parent ignores it
        signal.signal(signal.SIGINT, _on_signal)
    if sys.unraisablehook is not _unraisable:
        _previous_hook["hook"] = sys.unraisablehook
        sys.unraisablehook = _unraisable


_previous_hook = {"hook": sys.unraisablehook}


def _unraisable(unraisable) -> None:
    """A signal's exception raised while Python ran a callback whose errors it ignores (a weak
    reference's, a ``__del__``: the run would go on and end with exit 0 and a traceback) is kept
    as pending instead; anything else goes to the usual hook."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        # kept as pending: :func:`check_pending` acts on it (before a commit, after the command)
        _HOLD["pending"] = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
        return
    _previous_hook["hook"](unraisable)


def interrupted(exc: KeyboardInterrupt) -> int:
    """Say which signal ended the run, in one line; silence what libraries print while shutting
    down after it (a Dask cluster closed half-started at exit); the exit code."""
    terminated = isinstance(exc, Terminated)
    for signum in (signal.SIGINT, signal.SIGTERM):     # a second signal (or one re-raised by a library) ends it now
        signal.signal(signum, _exit_now)
    print("terminated" if terminated else "interrupted", file=sys.stderr, flush=True)
    code = 143 if terminated else 130
    if "distributed" not in sys.modules and not VERBOSE["on"]:
        # every temporary file and folder is gone by now (the exception has unwound every
        # ``with``); end here, so that nothing in the interpreter's shutdown can change the
        # exit status. A Dask run shuts its cluster down at exit first.
        sys.stdout.flush()
        os._exit(code)
    if not VERBOSE["on"]:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())
    return code


def finished() -> None:
    """The run is over: outputs committed, temporaries removed. A signal from here on ends the
    process at once with its one line (CPython would restore the default handlers while it
    shuts down, and a SIGTERM in that window would kill it without a word)."""
    signal.signal(signal.SIGTERM, _exit_now)
    if signal.getsignal(signal.SIGINT) is _on_signal:
        signal.signal(signal.SIGINT, _exit_now)


def main() -> None:
    install()
    VERBOSE["on"] = any(a in ("-v", "--verbose") for a in sys.argv[1:])
    code = 0
    try:
        from .cli import main as cli_main

        cli_main()
    except KeyboardInterrupt as exc:          # a signal outside a command (libraries still loading)
        code = interrupted(exc)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    finished()
    if "distributed" in sys.modules:          # a Dask cluster shuts down at exit
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)
