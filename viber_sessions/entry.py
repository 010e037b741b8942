"""The console script: signal handlers first, then the (heavy) imports, then the CLI.

SIGTERM is handled like Ctrl-C: it raises :class:`Terminated` (a ``KeyboardInterrupt``) in the
main thread, so every ``with``/``finally`` on the way out removes its temporary files and the
previous outputs stay as they were; the process prints one line and exits 143 (130 for
SIGINT). The handlers are installed before anything else is imported, so even a signal during
start-up ends in that one line, never in a traceback.

A signal that arrives while Python runs its own import machinery (``importlib._bootstrap``,
the code that takes and gives back the locks of the modules being imported) waits until that
code is left: an exception raised there leaves a lock taken, and the next import of another
thread, or of this one, waits for it for ever (a run interrupted 0.2 s after its start hung,
one time in a few hundred). The signal is looked at again every :data:`RETRY_SECONDS`, with a
timer (SIGALRM), and acts as soon as the main thread runs any other code.
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
    retrieved" and the like): the user sees one line. ``-v`` keeps them. Nothing is imported
    here (this runs inside the signal handler, possibly in the middle of the import of
    ``logging`` itself): a ``logging`` not imported yet has nothing to quiet, and
    :func:`interrupted` calls this again once the exception has unwound."""
    if not VERBOSE["on"]:
        disable = getattr(sys.modules.get("logging"), "disable", None)
        if disable is not None:
            disable(50)                                       # logging.CRITICAL


_HOLD = {"depth": 0, "pending": None, "raised": None}
_INSTALLED = {"on": False}        # install() ran: this process is the console script

#: How often a signal that arrived inside the import machinery is looked at again.
RETRY_SECONDS = 0.005
_IMPORT_MACHINERY = "<frozen importlib._bootstrap"     # also matches ..._bootstrap_external


def in_import_machinery(frame) -> bool:
    """Whether ``frame`` (where the main thread was when the signal came) is importlib's own code."""
    code = getattr(frame, "f_code", None)
    return code is not None and code.co_filename.startswith(_IMPORT_MACHINERY)


def _on_signal(signum, frame):
    if _HOLD["depth"]:                 # inside held(): act when the block is over
        _HOLD["pending"] = signum
        return
    if in_import_machinery(frame):     # raised here, it would leave a module lock taken: retry soon
        _HOLD["pending"] = signum
        if signal.getsignal(signal.SIGALRM) is _on_alarm:   # (otherwise the next held block acts on it)
            signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
        return
    quiet_logs()
    _HOLD["raised"] = signum
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def new_run() -> None:
    """A command begins (several run in one process under tests): no signal raised or waiting."""
    _HOLD["raised"] = _HOLD["pending"] = None


def _act(signum, frame=None) -> None:
    """A signal that waited acts now: through :func:`_on_signal` while that is the handler;
    otherwise it is sent again, for the handler installed meanwhile to decide (the out-of-core
    engine's own hold while it makes or removes its work folder, or :func:`_exit_now` once the
    run is over)."""
    if not _INSTALLED["on"] or signal.getsignal(signum) is _on_signal:
        _on_signal(signum, frame)
    else:
        signal.raise_signal(signum)


def _on_alarm(signum, frame):
    """The retry of a signal that came inside the import machinery (see :func:`_on_signal`)."""
    pending = _HOLD["pending"]
    if pending is not None and not _HOLD["depth"]:
        _HOLD["pending"] = None
        _act(pending, frame)


def signal_in(exc: BaseException) -> KeyboardInterrupt | None:
    """The signal's exception behind ``exc``, if any: Python turns an exception raised in some
    places into another one (a ``RuntimeError`` "Error calling __set_name__" when it comes while
    a class is built; a ``TypeError`` when it comes while C code builds the ``ImportError`` a
    module catches), and that run was interrupted, not broken. So once a signal's exception has
    been raised in this process, whatever exception ends the run is that signal."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    raised = _HOLD["raised"]
    if raised is not None:
        return Terminated() if raised == signal.SIGTERM else KeyboardInterrupt()
    return None


def check_pending() -> None:
    """A signal that is waiting (see :func:`_unraisable`) acts now, unless inside :func:`held`."""
    pending = _HOLD["pending"]
    if pending is not None and not _HOLD["depth"]:
        _HOLD["pending"] = None
        _act(pending)


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
            _act(pending)


@contextlib.contextmanager
def released():
    """Inside a :func:`held` block, a block where signals act at once again (a signal that
    waited acts as the block begins): the command line holds signals in click's own code, where
    click would turn the exception into "Aborted!" and exit 1, and releases them in the code
    that handles them (parsing the options, running the command)."""
    depth = _HOLD["depth"]
    _HOLD["depth"] = 0
    try:
        check_pending()
        yield
    finally:
        _HOLD["depth"] = depth


def _exit_now(signum, frame):
    os.write(2, b"terminated\n" if signum == signal.SIGTERM else b"interrupted\n")
    os._exit(128 + signum)


def install() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:   # not when the parent ignores it
        signal.signal(signal.SIGINT, _on_signal)
    if signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, _on_alarm):   # not another's
        signal.signal(signal.SIGALRM, _on_alarm)
    _INSTALLED["on"] = True
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
    _HOLD["pending"] = None
    quiet_logs()
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
    shuts down, and a SIGTERM in that window would kill it without a word). Nothing changes in
    a process that did not :func:`install` the handlers (the CLI run in process, as tests do)."""
    if not _INSTALLED["on"]:
        return
    signal.signal(signal.SIGTERM, _exit_now)
    if signal.getsignal(signal.SIGINT) is _on_signal:
        signal.signal(signal.SIGINT, _exit_now)
    pending = _HOLD["pending"]
    if pending is not None:            # one that waited (the import machinery, click's own code)
        _exit_now(pending, None)


#: Set for the console script's process unless the caller set it (see :func:`quiet_blas`).
BLAS_THREADS = "OPENBLAS_NUM_THREADS"


def quiet_blas(environ=os.environ) -> None:
    """One OpenBLAS thread, unless the caller chose. NumPy's OpenBLAS starts a thread per core
    when numpy is imported, and they spin for a while waiting for work that never comes
    (nothing here multiplies matrices): about 0.1 CPU-second taken from the reading threads of
    every run, 6 % of an explanation's CPU time (bench/results.md). Read by OpenBLAS when
    numpy is first imported, so set before anything imports it; child processes (a report's
    chart helper, a local Dask cluster's workers) inherit it."""
    environ.setdefault(BLAS_THREADS, "1")


def main() -> None:
    VERBOSE["on"] = any(a in ("-v", "--verbose") for a in sys.argv[1:])
    quiet_blas()
    install()
    code = 0
    try:
        from .cli import main as cli_main

        cli_main()
    except KeyboardInterrupt as exc:          # a signal outside a command (libraries still loading)
        code = interrupted(exc)
    except Exception as exc:                  # ... turned into another exception by Python
        if signal_in(exc) is None:
            raise
        code = interrupted(signal_in(exc))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    finished()
    if "distributed" in sys.modules:
        # a Dask cluster shuts down in the exit functions: run them here, while a signal still
        # ends the process in one line (in Python's own shutdown the default handlers are back,
        # and a SIGTERM there killed the process without a word)
        import atexit

        run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
        if run_exit_functions is None:        # pragma: no cover - not CPython
            sys.exit(code)
        run_exit_functions()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)
