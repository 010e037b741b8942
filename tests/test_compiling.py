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
