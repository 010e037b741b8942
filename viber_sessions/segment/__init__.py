"""Split every conversation into sessions (README, "The rules").

All per-message work is array work: duplicate and status flags, conversation codes, the ordering,
the type flags. The one inherently sequential step - where the next session opens depends on
where the previous one closed - is a single compiled pass (numba) over the ordered arrays.

Modules: :mod:`.kernel` (the state machine), :mod:`.dedup` (duplicate ids), :mod:`.order` (the
processing order), :mod:`.parallel` (threads), :mod:`.segmentation` (the whole step),
:mod:`.ahead` (the duplicate flags found while a log is typed).
"""

from __future__ import annotations

import importlib
import sys
import threading

from ..compiling import collector_paused
from .carry import CarriedState, StatePart, empty_state, join_state, state_at, state_part
from .codes import (BEFORE_CUT, BILLING_NAMES, C_EXPIRED, C_MESSAGE_LIMIT, C_OPEN, C_UNANSWERED_LIMIT, CLOSE_NAMES,
                    DUPLICATE, EXCLUDED, O_ROLLOVER, O_SUBSCRIBER, ORIGIN_NAMES, OUT_OF_SESSION, R_BEFORE_CUT,
                    R_DUPLICATE, R_EXCLUDED, R_NO_SESSION, R_NONE, R_ONE_SIDED, R_SESSIONS_DISABLED,
                    R_TYPE_NOT_ALLOWED, REASON_NAMES, SESSION)
from .plans import PlanLimits
from .segmentation import Segmentation, id_part, segment

#: Names given by the compiled modules, imported when first used (numba's own import takes a
#: fifth of a second: a run starts it on a thread while it reads its input, see
#: :func:`preload_kernels`).
_COMPILED = {"first_occurrences": "dedup", "run_kernel": "kernel", "run_kernel_plans": "kernel",
             "conversation_order": "order", "PARALLEL_MIN_ROWS": "parallel", "threads": "parallel"}


def __getattr__(name: str):
    if name in _COMPILED:
        return getattr(importlib.import_module(f"{__name__}.{_COMPILED[name]}"), name)
    if name in ("dedup", "kernel", "order", "parallel", "rows"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CarriedState",
    "empty_state",
    "state_at",
    "StatePart",
    "state_part",
    "join_state",
    "BEFORE_CUT",
    "R_BEFORE_CUT",
    "first_occurrences",
    "BILLING_NAMES",
    "C_EXPIRED",
    "C_MESSAGE_LIMIT",
    "C_OPEN",
    "C_UNANSWERED_LIMIT",
    "CLOSE_NAMES",
    "DUPLICATE",
    "EXCLUDED",
    "O_ROLLOVER",
    "O_SUBSCRIBER",
    "ORIGIN_NAMES",
    "OUT_OF_SESSION",
    "R_DUPLICATE",
    "R_EXCLUDED",
    "R_NO_SESSION",
    "R_NONE",
    "R_ONE_SIDED",
    "R_SESSIONS_DISABLED",
    "R_TYPE_NOT_ALLOWED",
    "REASON_NAMES",
    "SESSION",
    "PlanLimits",
    "run_kernel",
    "run_kernel_plans",
    "conversation_order",
    "PARALLEL_MIN_ROWS",
    "threads",
    "Segmentation",
    "id_part",
    "segment",
    "load_kernels",
    "kernels_loaded",
    "preload_kernels",
    "SKIP_BLAS_PROBE",
]

#: Set by the command line (its own process only): numba's first compile probes for a BLAS by
#: importing scipy.linalg.cython_blas, a quarter of a second when scipy is installed; these
#: kernels use no BLAS, so the probe is answered "absent" for that moment.
SKIP_BLAS_PROBE = False


#: The GIL switch interval while the kernels load on a thread (restored after): each Arrow or
#: NumPy call of the caller's thread gives the GIL up and takes it back, and then waits at most
#: this long for it instead of the default 5 ms.
SWITCH_INTERVAL = 0.001

_loaded = False
_lock = threading.Lock()
_preloading: list[threading.Thread] = []


def kernels_loaded() -> bool:
    """Whether :func:`load_kernels` has run in this process (a caller may then use a compiled
    helper where its plain fallback gives the same result, without paying numba's start)."""
    return _loaded


def load_kernels() -> None:
    """Import numba and load every compiled kernel once per process (about half a second, mostly
    numba's own start-up), answering its BLAS probe when the CLI asks for that. Waits for a
    load :func:`preload_kernels` started."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        probe = "scipy.linalg.cython_blas"
        hide = SKIP_BLAS_PROBE and probe not in sys.modules and "numba.np.arraymath" not in sys.modules
        if hide:
            sys.modules[probe] = None
        try:
            with collector_paused():
                _call_each_kernel()
        finally:
            if hide and sys.modules.get(probe, 0) is None:
                del sys.modules[probe]
        _loaded = True


def preload_kernels(first: tuple[str, ...] = (), then: tuple[str, ...] = ()) -> None:
    """Start :func:`load_kernels` on a thread, once per process: import the modules named in
    ``first`` (a library the run needs soon, as pyarrow needs pandas as soon as it converts a
    Python value), load the kernels, then call ``warm()`` of each module named in ``then``
    (other modules' compiled code). A run starts it before it reads its input: the reading lets
    other threads run (pyarrow releases the GIL), so these imports and loads are done when the
    run needs them. A failure there is left to the caller's own import or
    :func:`load_kernels`, which raises it on its own thread."""
    if _loaded or _preloading:
        return

    def work():
        interval = sys.getswitchinterval()
        if interval > SWITCH_INTERVAL:      # the caller's Arrow calls wait less for the GIL meanwhile
            sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            with collector_paused():        # numba's garbage is freed on this thread only
                for name in first:
                    importlib.import_module(name)
                load_kernels()
                for name in then:
                    importlib.import_module(name).warm()
        except BaseException:               # noqa: BLE001 - raised again by the caller's own call
            pass
        finally:
            if interval > SWITCH_INTERVAL:
                sys.setswitchinterval(interval)

    thread = threading.Thread(target=work, name="viber-sessions-kernels", daemon=True)
    _preloading.append(thread)
    thread.start()


def _call_each_kernel() -> None:
    from . import dedup, jit, kernel, order, rows

    jit.compile_all()

    dedup.warm()
    order.warm()
    kernel.warm()
    rows.warm()
