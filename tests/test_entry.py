"""entry.py: signals end a run in one line, whatever the main thread was doing.

Each test runs in its own interpreter, since it installs the console script's handlers."""

from __future__ import annotations

import importlib._bootstrap
import importlib._bootstrap_external
import os
import signal
import subprocess
import sys

import pytest

from viber_sessions import entry


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_the_import_machinery_is_recognised_by_its_frames():
    """The name the handler looks for is the one this Python gives its import machinery."""
    for function in (importlib._bootstrap._get_module_lock, importlib._bootstrap_external.SourceFileLoader.get_data):
        assert function.__code__.co_filename.startswith(entry._IMPORT_MACHINERY)
    assert not entry.in_import_machinery(sys._getframe())
    assert not entry.in_import_machinery(None)


INSIDE_AN_IMPORT = """
import signal, sys, time, traceback
from viber_sessions import entry
entry.install()
seen = []


def tracer(frame, event, arg):
    # the handler as Python calls it when the signal comes while importlib takes a module's lock
    if event == "call" and frame.f_code.co_name == "_get_module_lock" and not seen:
        seen.append(frame.f_code.co_filename)
        entry._on_signal(signal.{sig}, frame)
    return None


start = time.monotonic()
sys.settrace(tracer)
try:
    import csv                              # not imported yet: the import takes csv's lock
    sys.settrace(None)
    time.sleep(5)                            # the retry comes within a few milliseconds
    print("not interrupted")
except KeyboardInterrupt as exc:
    sys.settrace(None)
    frames = traceback.extract_tb(exc.__traceback__)
    # raised by the retry where the main thread was once out of importlib's own code (in the
    # sleep after the import, or, on a slow machine, in csv's own module code)
    landed = frames[-4]
    print(seen[0], type(exc).__name__, "soon" if time.monotonic() - start < 2.5 else "late",
          landed.filename.startswith("<frozen importlib"), *[f.name for f in frames[-3:]])
    # no module lock was left taken: another thread imports csv at once
    import threading
    other = threading.Thread(target=lambda: __import__("csv"), daemon=True)
    other.start()
    other.join(10)
    print("imported again:", not other.is_alive() and "csv" in sys.modules)
"""


@pytest.mark.parametrize("sig, name", [("SIGINT", "KeyboardInterrupt"), ("SIGTERM", "Terminated")])
def test_a_signal_inside_the_import_machinery_acts_when_the_import_is_done(sig, name):
    """Raised inside importlib's code, the exception would leave the module's lock taken (the
    next import of it, from any thread, would wait for ever): the signal waits for the import
    to end, then acts on its own at once."""
    done = run(INSIDE_AN_IMPORT.format(sig=sig))
    assert done.stderr == ""
    assert done.stdout.splitlines() == [f"<frozen importlib._bootstrap> {name} soon False _on_alarm _act _on_signal",
                                        "imported again: True"]


def test_a_signal_inside_held_and_the_import_machinery_waits_for_the_block():
    code = """
import signal, time
from viber_sessions import entry
entry.install()


class Frame:
    class f_code:
        co_filename = "<frozen importlib._bootstrap>"


try:
    with entry.held():
        entry._on_signal(signal.SIGINT, Frame)
        time.sleep(0.2)                     # the retry comes meanwhile, and waits for the block
        print("block done")
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted after the block")
"""
    done = run(code)
    assert done.stdout.splitlines() == ["block done", "interrupted after the block"] and done.stderr == ""


SET_NAME = """
import sys
from viber_sessions import entry
entry.install()
sys.argv = ["viber-sessions", "--version"]


class Name:
    def __set_name__(self, owner, name):
        raise KeyboardInterrupt             # a signal while a class is built: Python wraps it


import viber_sessions.cli


def main():
    class Owner:
        attribute = Name()


viber_sessions.cli.main = main
entry.main()
"""


def test_a_signal_turned_into_another_exception_still_ends_as_a_signal():
    """Python reports an exception raised in ``__set_name__`` as a RuntimeError (numpy's
    ``finfo`` is built while numpy is imported): it still exits 130 with its one line."""
    done = run(SET_NAME)
    assert (done.returncode, done.stderr, done.stdout) == (130, "interrupted\n", "")


def test_signal_in_follows_the_chain(monkeypatch):
    monkeypatch.setitem(entry._HOLD, "raised", None)
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        assert isinstance(entry.signal_in(exc), KeyboardInterrupt)
    assert entry.signal_in(ValueError("plain")) is None


def test_once_a_signal_was_raised_any_exception_that_ends_the_run_is_that_signal(monkeypatch):
    """C code that meets the signal's exception can raise something unrelated (a TypeError
    "expected a message argument" while ``ssl`` was imported): after a signal, the run was
    interrupted, whatever exception ends it."""
    monkeypatch.setitem(entry._HOLD, "raised", signal.SIGTERM)
    assert isinstance(entry.signal_in(TypeError("expected a message argument")), entry.Terminated)
    entry.new_run()
    assert entry.signal_in(TypeError("expected a message argument")) is None


def test_quiet_logs_imports_nothing_and_tolerates_a_half_imported_logging(monkeypatch):
    """Called from the handler, possibly while ``logging`` itself is being imported."""
    monkeypatch.setitem(sys.modules, "logging", type(sys)("logging"))       # no ``disable`` yet
    monkeypatch.setitem(entry.VERBOSE, "on", False)
    entry.quiet_logs()


CLICK_GLUE = """
import signal, sys
import click
from viber_sessions import entry
from viber_sessions.cli import app
entry.install()
sys.argv = ["viber-sessions", "config"]
made = []
make_context, enter, close_exit = app._Group.make_context, click.core.Context.__enter__, click.core.Context.exit


def made_context(self, *args, **kwargs):
    ctx = make_context(self, *args, **kwargs)
    made.append(ctx)
    return ctx


def entered(self):                           # click's `with self.make_context(...) as ctx:`
    if made and self is made[0] and "{where}" == "before":
        entry._on_signal(signal.SIGINT, None)
    return enter(self)


def exited(self, code=0):                    # click's `ctx.exit()` once the command returned
    if made and self is made[0] and "{where}" == "after":
        entry._on_signal(signal.SIGINT, None)
    return close_exit(self, code)


app._Group.make_context, click.core.Context.__enter__, click.core.Context.exit = made_context, entered, exited
entry.main()
"""


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_signal_in_clicks_own_code_is_not_aborted(where, tmp_path):
    """click turns a KeyboardInterrupt in its own code (before or after the command) into
    "Aborted!" and exit 1: the signal waits for the command, or acts when click is done."""
    done = subprocess.run([sys.executable, "-c", CLICK_GLUE.format(where=where)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (130, "interrupted\n")
    assert (done.stdout == "") == (where == "before")          # before the command: it did not run


def test_a_process_that_did_not_install_the_handlers_keeps_its_own(monkeypatch):
    """The CLI run in process (CliRunner, an application embedding it) leaves the host's SIGTERM
    handler alone: only the console script ends the process from a handler."""
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setitem(entry._INSTALLED, "on", False)
    entry.finished()
    assert signal.getsignal(signal.SIGTERM) is before


ANOTHER_HANDLER = """
import signal, time
from viber_sessions import entry
entry.install()


class Frame:
    class f_code:
        co_filename = "<frozen importlib._bootstrap>"


entry._on_signal(signal.SIGINT, Frame)      # waits for the import machinery to be left ...
got = []
signal.signal(signal.SIGINT, lambda s, f: got.append(s))     # ... meanwhile another hold took SIGINT
deadline = time.monotonic() + 5             # the retry comes within 5 ms; a loaded machine may take longer
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
print("retried through the handler in place:", got == [signal.SIGINT])
"""


def test_the_retry_goes_through_the_handler_installed_meanwhile():
    """The out-of-core engine holds signals with its own handler while it makes or removes its
    work folder: a signal waiting for the import machinery is sent again, for that handler."""
    done = run(ANOTHER_HANDLER)
    assert (done.stdout, done.stderr) == ("retried through the handler in place: True\n", "")


def test_no_retry_timer_when_sigalrm_belongs_to_someone_else():
    code = """
import signal, time
signal.signal(signal.SIGALRM, lambda s, f: print("their alarm"))
from viber_sessions import entry
entry.install()


class Frame:
    class f_code:
        co_filename = "<frozen importlib._bootstrap>"


entry._on_signal(signal.SIGINT, Frame)
time.sleep(0.1)
print("still waiting:", entry._HOLD["pending"] == signal.SIGINT)
try:
    with entry.held():                       # the next held block acts on it
        pass
except KeyboardInterrupt:
    print("interrupted")
"""
    done = run(code)
    assert (done.stdout, done.stderr) == ("still waiting: True\ninterrupted\n", "")


def test_once_click_is_done_a_signal_ends_the_process_at_once():
    """``--version``, ``--help`` and usage errors never reach the command: the handlers that end
    the process in one line are in place as soon as click returns, for the rest of entry.main."""
    code = """
import signal, sys
from viber_sessions import entry
import viber_sessions.cli as cli
original = cli.main


def main():
    try:
        original()
    finally:
        print(signal.getsignal(signal.SIGTERM).__name__, signal.getsignal(signal.SIGINT).__name__, flush=True)


cli.main = main
sys.argv = ["viber-sessions", "--version"]
entry.main()
"""
    done = run(code)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "_exit_now _exit_now", done.stdout


BLAS_PROBE = """
import os, sys
{setup}
from viber_sessions import entry


def install():                  # the console script's first step after quiet_blas: numpy as a run imports it
    import numpy
    print(os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task")), flush=True)
    os._exit(0)


entry.install = install
entry.main()
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts the threads in /proc")
def test_the_console_script_keeps_numpys_blas_to_one_thread():
    """NumPy's OpenBLAS would start a thread per core that spins with nothing to do (about 0.1
    CPU-second taken from the reading threads): the console script asks for one, before numpy is
    imported, and the process has no other thread then."""
    out = run(BLAS_PROBE.format(setup='os.environ.pop("OPENBLAS_NUM_THREADS", None)'))
    assert out.stdout.split() == ["1", "1"], out.stderr


def test_a_callers_own_blas_setting_is_kept():
    out = run(BLAS_PROBE.format(setup='os.environ["OPENBLAS_NUM_THREADS"] = "3"'))
    assert out.stdout.split()[0] == "3", out.stderr
    environ = {"OPENBLAS_NUM_THREADS": "2"}
    entry.quiet_blas(environ)
    assert environ == {"OPENBLAS_NUM_THREADS": "2"}
    environ = {}
    entry.quiet_blas(environ)
    assert environ == {"OPENBLAS_NUM_THREADS": "1"}
