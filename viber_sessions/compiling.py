"""What every module compiled with numba shares: Python's cycle collector paused while numba
compiles or loads code, on any thread.

numba's compiler leaves LLVM objects in reference cycles, and the cycle collector frees them on
whichever thread happens to run it. LLVM's context is not safe to use from two threads: one
thread compiling the report's passes while another made cyclic garbage aborted the process in 2
runs of 15 (``Assertion ... List invariant broken``), none of 25 with this guard. A run is in
that situation whenever numba compiles (an empty or stale cache: the first run after an
install) on one thread while others work: the run's kernel thread while the log is read, the
command while the chart replies come in.

:func:`guard` (called by every module that imports numba) has numba tell us whenever a thread
takes or leaves its compiler lock, which it holds while it compiles or loads code, and the
collector is off while any thread holds or waits for it (:func:`collector_paused`, counted). A
collection asked for by name (``gc.collect()``) still runs; a caller that switches the collector
off or on meanwhile has its choice replaced when the last thread leaves. Each thread's holds are
counted on their own: a hold that began before the guard was on is not ended by it, and a wait
for the lock cut short by an interrupt (numba never says it ended) is ended when that thread
next asks for the lock; until then the collector stays off.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_lock = threading.Lock()
_state = {"paused": 0, "was_enabled": True, "guarded": False}


def pause() -> None:
    """One more thread inside: the collector off (its state kept for :func:`resume`)."""
    with _lock:
        if _state["paused"] == 0:
            _state["was_enabled"] = gc.isenabled()
            gc.disable()
        _state["paused"] += 1


def resume() -> None:
    """One thread less inside: the collector back as it was once none is."""
    with _lock:
        _state["paused"] = max(_state["paused"] - 1, 0)
        if _state["paused"] == 0 and _state["was_enabled"]:
            gc.enable()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off for the block (nested and concurrent uses counted)."""
    pause()
    try:
        yield
    finally:
        resume()


def guard() -> None:
    """Pause the collector whenever numba holds or waits for its compiler lock, from now on, on
    every thread (once per process; imports numba)."""
    with _lock:
        if _state["guarded"]:
            return
        _state["guarded"] = True
    from numba.core import event
    from numba.core.compiler_lock import global_compiler_lock

    depth = threading.local()      # this thread's waits and holds that were counted

    class _Paused(event.Listener):
        def on_start(self, ev) -> None:
            held = getattr(depth, "n", 0)
            if held and not global_compiler_lock.is_locked():
                # counted before, never ended: a wait for the lock cut short (an interrupt)
                for _ in range(held):
                    resume()
                held = 0
            depth.n = held + 1
            pause()

        def on_end(self, ev) -> None:
            held = getattr(depth, "n", 0)
            if held:               # not a hold that began before the guard was on
                depth.n = held - 1
                resume()

    event.register("numba:compiler_lock", _Paused())


__all__ = ["collector_paused", "guard", "pause", "resume"]
