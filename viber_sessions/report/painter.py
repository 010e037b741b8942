"""Who draws the report's charts: this process when asked (:class:`Painter`, the library's
default), or a helper process started before the log is read (:class:`HelperPainter`, what the
command uses).

matplotlib's import (about 0.3 s) and the six charts (about 0.45 s of pure Python, one core)
would otherwise follow the whole billing run. The helper runs :mod:`.charts` as a script (it
imports nothing of the package): it imports matplotlib and draws a small chart while this
process reads and bills the log (the billing leaves most of a second core idle), then forks a
second worker, warm at no cost, and the two draw the charts in turn as soon as each tally is
sent, while this process counts the next. The helper lives in its own session (the terminal's
Ctrl-C reaches the command only, which prints its one line) and every worker ends when its
requests end, however the command ends. Every painter gives the same bytes
(``tests/test_report.py``).
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

from ..errors import ViberSessionsError
from . import charts

MATPLOTLIB_MISSING = "the report needs matplotlib: pip install 'viber-sessions[report]'"


class ChartError(RuntimeError):
    """The helper failed to draw a chart (a bug): its error, with its traceback as a note."""


def require_matplotlib() -> None:
    """A :class:`ViberSessionsError` at once when matplotlib is not installed (before the log is
    read), not after the run."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ViberSessionsError(MATPLOTLIB_MISSING)


class Painter:
    """Draws each chart in this process when its SVG is asked for."""

    def __init__(self) -> None:
        self._jobs: dict[int, tuple[str, tuple]] = {}

    def submit(self, name: str, *args) -> int:
        """Ask for chart ``name`` (a :data:`charts.CHARTS` name) of ``args``; its key."""
        key = len(self._jobs)
        self._jobs[key] = (name, args)
        return key

    def svg(self, key: int) -> str:
        name, args = self._jobs.pop(key)
        return charts.CHARTS[name](*args)

    def close(self, failed: bool = False) -> None:
        self._jobs.clear()

    def __enter__(self) -> "Painter":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.close(failed=kind is not None)


class Channel:
    """One worker's requests and replies, and the thread that takes its replies as they come
    (the worker never waits on a full pipe while this process is still sending)."""

    def __init__(self, requests, replies, status) -> None:
        self.requests, self.replies_file, self.status = requests, replies, status
        self.replies: dict[int, tuple[bool, object]] = {}
        self.ended = False
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, name="viber-sessions-charts", daemon=True)
        self.reader.start()

    def send(self, key: int, name: str, args: tuple) -> None:
        try:
            pickle.dump((key, name, args), self.requests, protocol=pickle.HIGHEST_PROTOCOL)
            self.requests.flush()
        except (OSError, ValueError):      # the worker is gone: reply() says so
            pass

    def _read(self) -> None:
        try:
            while True:
                key, ok, value = pickle.load(self.replies_file)
                with self.changed:
                    self.replies[key] = (ok, value)
                    self.changed.notify_all()
        except (EOFError, OSError, pickle.UnpicklingError, ValueError):
            pass
        finally:
            with self.changed:
                self.ended = True
                self.changed.notify_all()

    def reply(self, key: int) -> tuple[bool, object]:
        """``(True, svg)`` or ``(False, (error type, message, traceback))``, once it has come."""
        with self.changed:
            while key not in self.replies and not self.ended:
                self.changed.wait()
            reply = self.replies.pop(key, None)
        if reply is None:
            raise ChartError(f"the chart helper ended before drawing every chart ({self.status()})")
        return reply

    def close(self) -> None:
        try:
            self.requests.close()
        except OSError:
            pass

    def finish(self) -> None:
        self.reader.join(timeout=10)          # the worker has ended: so have its replies
        if not self.reader.is_alive():
            self.replies_file.close()


class HelperPainter(Painter):
    """Draws the charts in ``workers`` processes: one helper, which forks the others once it is
    warm; the charts are shared out in turn; ``svg`` waits for one."""

    def __init__(self, workers: int = 2) -> None:
        super().__init__()
        pipes = [(*os.pipe(), *os.pipe()) for _ in range(max(workers, 1) - 1)]   # request r/w, reply r/w
        theirs = [fd for request_r, _, _, reply_w in pipes for fd in (request_r, reply_w)]
        try:
            self.proc = subprocess.Popen([sys.executable, str(Path(charts.__file__).resolve()), *map(str, theirs)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         pass_fds=theirs, start_new_session=True)
        except BaseException:
            for pipe in pipes:
                for fd in pipe:
                    os.close(fd)
            raise
        for fd in theirs:
            os.close(fd)
        self.channels = [Channel(self.proc.stdin, self.proc.stdout, self._status)]
        self.channels += [Channel(os.fdopen(request_w, "wb"), os.fdopen(reply_r, "rb"), self._status)
                          for _, request_w, reply_r, _ in pipes]
        self._next = 0
        self._closed = False

    def _status(self) -> str:
        code = self.proc.poll()
        return "still running" if code is None else f"exit status {code}"

    def submit(self, name: str, *args) -> int:
        key, self._next = self._next, self._next + 1
        self._channel(key).send(key, name, args)
        return key

    def _channel(self, key: int) -> Channel:
        return self.channels[key % len(self.channels)]

    def svg(self, key: int) -> str:
        ok, value = self._channel(key).reply(key)
        if ok:
            return value
        kind, message, remote = value
        if kind in ("ModuleNotFoundError", "ImportError") and "matplotlib" in message:
            raise ViberSessionsError(f"{MATPLOTLIB_MISSING} ({message})")
        error = ChartError(f"drawing a chart failed: {kind}: {message}")
        error.add_note(f"in the chart helper:\n{remote}")
        raise error

    def close(self, failed: bool = False) -> None:
        """Every worker's requests end (they end by themselves); after a failure, or when it
        does not end at once, the helper is killed (a worker it forked ends after its chart)."""
        super().close()
        if self._closed:
            return
        self._closed = True
        for channel in self.channels:
            channel.close()
        if failed:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for channel in self.channels:
            channel.finish()


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):      # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: A helper started by the command line as soon as it knows the command is ``report``
#: (:func:`start_early`), before the command's own imports: taken by the next :func:`start`.
_early: list[Painter] = []


def start_early() -> None:
    """Start the report's helper now, if it can be started (else the command's own
    :func:`start` decides and says why): it imports matplotlib while this process imports
    the rest and reads the log. An unused helper ends with this process (its requests end)."""
    if _early or importlib.util.find_spec("matplotlib") is None:
        return
    try:
        _early.append(start())
    except (OSError, ViberSessionsError):
        pass


def start(workers: int | None = None) -> Painter:
    """The painter of a report: a helper with ``workers`` processes (default: two, when this
    process may run on two cores or more) when this Python can start one (its executable and
    :mod:`.charts` as a file), else (or with 0, or on one core) this process: there a helper
    would only take turns with the run. Without matplotlib, a :class:`ViberSessionsError` at
    once. The helper :func:`start_early` started, if any, is taken first."""
    if workers is None and _early:
        return _early.pop()
    require_matplotlib()
    if workers is None:
        workers = 2 if cores() > 1 else 0
    if workers and sys.executable and os.path.isfile(charts.__file__):
        try:
            return HelperPainter(workers if hasattr(os, "fork") else 1)
        except OSError:                       # no process to spare: draw here
            pass
    return Painter()


__all__ = ["Channel", "ChartError", "HelperPainter", "cores", "MATPLOTLIB_MISSING", "Painter", "require_matplotlib", "start",
           "start_early"]
