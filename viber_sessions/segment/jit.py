"""The segmentation's compiled functions, compiled when first needed, or run as the plain Python
they are written in for a small log.

numba's start-up (its import and the loading of every kernel from its cache) takes about half a
CPU-second. An explanation segments one conversation (a few hundred rows): its Python runs in
milliseconds. Each function of :mod:`.dedup`, :mod:`.order`, :mod:`.rows`, :mod:`.kernel` and
:mod:`.parallel` is decorated with :func:`compiled` instead of ``numba.njit``; it is a
:class:`Kernel` until :func:`compile_all` (which :func:`viber_sessions.segment.load_kernels`
calls, and any call outside :func:`interpreted`) replaces it, in every module of the package
that holds it, with numba's compiled function (compiled callers find compiled callees).
Inside ``with interpreted():`` on the calling thread, a kernel not compiled yet runs its Python
(integer overflow wraps as in the compiled code: NumPy's warnings about it are silenced). Tests
hold the two equal on random logs (``tests/test_segment_jit.py``).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Callable, Iterator

import numpy as np

from ..compiling import guard

_state = threading.local()
_registered: list["Kernel"] = []
_lock = threading.Lock()


class Kernel:
    """A function for numba, not compiled yet (see the module's description)."""

    def __init__(self, fn: Callable, options: dict):
        self.py_func, self.options = fn, options
        self.dispatcher = None
        self.__name__, self.__qualname__, self.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        self.__module__ = fn.__module__

    def __call__(self, *args):
        if self.dispatcher is None:
            if getattr(_state, "interpreted", False):
                with np.errstate(over="ignore"):
                    return self.py_func(*args)
            from . import load_kernels

            load_kernels()
        return self.dispatcher(*args)

    def __repr__(self) -> str:
        return f"<kernel {self.__module__}.{self.__qualname__}>"


def compiled(**options) -> Callable[[Callable], Kernel]:
    """``numba.njit(**options)``, applied when first needed (a :class:`Kernel`)."""
    def wrap(fn: Callable) -> Kernel:
        kernel = Kernel(fn, options)
        _registered.append(kernel)
        return kernel
    return wrap


def compile_all() -> None:
    """Give every kernel its numba function (loaded from numba's cache when it is there) and put
    it in place of the kernel in the modules of this package (imports numba)."""
    with _lock:
        pending = [k for k in _registered if k.dispatcher is None]
        if not pending:
            return
        import numba

        guard()
        for k in pending:
            k.dispatcher = numba.njit(**k.options)(k.py_func)
        _swap({id(k): k.dispatcher for k in pending})


def _swap(by_id: dict) -> None:
    """Put ``by_id[id(value)]`` in place of every such value in the package's modules."""
    prefix = __name__.rpartition(".")[0].rpartition(".")[0] + "."
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(prefix):
            continue
        names = vars(module)
        for attr, value in list(names.items()):
            if id(value) in by_id:      # the ids of live objects: kernels and their numba functions
                names[attr] = by_id[id(value)]


def is_compiled() -> bool:
    """Whether the kernels have their numba functions."""
    return bool(_registered) and all(k.dispatcher is not None for k in _registered)


@contextlib.contextmanager
def interpreted(when: bool = True) -> Iterator[None]:
    """Kernels not compiled yet run as Python on this thread meanwhile (``when`` False: no change)."""
    before = getattr(_state, "interpreted", False)
    _state.interpreted = before or when
    try:
        yield
    finally:
        _state.interpreted = before


def interpreting() -> bool:
    """Whether this thread runs kernels not compiled yet as Python."""
    return getattr(_state, "interpreted", False) and not is_compiled()


@contextlib.contextmanager
def uncompiled() -> Iterator[None]:
    """Every kernel runs as its Python meanwhile, compiled or not, on the calling thread (tests
    compare the two; no other thread may run a kernel meanwhile)."""
    with _lock:
        saved = [(k, k.dispatcher) for k in _registered]
        _swap({id(d): k for k, d in saved if d is not None})
        for k in _registered:
            k.dispatcher = None
    try:
        with interpreted():
            yield
    finally:
        with _lock:
            for k, d in saved:
                k.dispatcher = d
            _swap({id(k): d for k, d in saved if d is not None})
