"""viber_sessions.compiling: no cycle collection while numba compiles or loads code, on any
thread (a collection on another thread meanwhile aborted the process now and then)."""

from __future__ import annotations

import gc
import sys
import threading

from viber_sessions import compiling


def test_the_collector_is_paused_while_any_thread_compiles_and_restored_after():
    """numba leaves LLVM objects in cycles; another thread's collection freeing them while one
    compiles aborted the process now and then. While any thread is inside collector_paused, no
    thread collects; the collector's former state comes back when the last one leaves."""
    import gc

    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def other():
        with compiling.collector_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(10)
    with compiling.collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()                 # the other thread is still inside
    leave.set()
    thread.join()
    assert gc.isenabled()
    gc.disable()
    try:
        with compiling.collector_paused():
            pass
        assert not gc.isenabled()             # a caller's own choice stays
    finally:
        gc.enable()


def test_the_kernel_thread_loads_with_the_collector_paused(monkeypatch):
    """What segment.preload_kernels runs on its thread (imports, kernels, other modules' warm())
    runs with the collector off; it is on again afterwards."""
    import gc
    import importlib
    import types

    segment_package = importlib.import_module("viber_sessions.segment")   # the package's `segment` is the function
    seen = []
    probe = types.ModuleType("viber_sessions_test_probe")
    probe.warm = lambda: seen.append(gc.isenabled())
    monkeypatch.setitem(sys.modules, probe.__name__, probe)
    monkeypatch.setattr(segment_package, "_loaded", False)
    monkeypatch.setattr(segment_package, "_preloading", [])
    segment_package.preload_kernels((), (probe.__name__,))
    segment_package._preloading[0].join(60)
    assert seen == [False] and gc.isenabled()



def test_numba_compiling_anywhere_pauses_the_collector():
    """With the guard on, the collector is off while numba holds its compiler lock (a compile
    here, of a function never compiled before) and on again after: a listener registered after
    the guard sees it off whenever numba is about to take the lock."""
    import numba
    from numba.core import event

    compiling.guard()
    seen = []

    class Probe(event.Listener):
        def on_start(self, ev):
            seen.append(("start", gc.isenabled()))

        def on_end(self, ev):
            seen.append(("end", gc.isenabled()))

    probe = Probe()
    event.register("numba:compiler_lock", probe)
    try:
        @numba.njit(cache=False)
        def add(a, b):
            return a + b

        assert add(1, 2) == 3
    finally:
        event.unregister("numba:compiler_lock", probe)
    starts = [enabled for what, enabled in seen if what == "start"]
    assert starts and not any(starts), seen       # off from before numba takes its lock
    assert gc.isenabled()


SCRIPT = r"""
import gc, threading
from numba.core.compiler_lock import global_compiler_lock
from viber_sessions import compiling

a_in, a_go, b_in, b_go = (threading.Event() for _ in range(4))

def hold(inside, go):
    with global_compiler_lock:
        inside.set()
        go.wait(30)

a = threading.Thread(target=hold, args=(a_in, a_go)); a.start(); a_in.wait(30)   # a hold from before the guard
compiling.guard()
b = threading.Thread(target=hold, args=(b_in, b_go)); b.start()                  # waits for the lock: counted
a_go.set(); a.join(); b_in.wait(30)
print("b holds:", gc.isenabled(), compiling._state["paused"])                   # a's end did not end b's pause
b_go.set(); b.join()
print("none:", gc.isenabled(), compiling._state["paused"])
"""


def test_a_hold_from_before_the_guard_does_not_end_anothers_pause():
    """numba may already be compiling on a thread when viber_sessions is first imported (a
    library user's own code): that hold's end is not counted, so it cannot switch the collector
    back on while another thread compiles."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split("\n")[:2] == ["b holds: False 1", "none: True 0"], out.stdout + out.stderr
