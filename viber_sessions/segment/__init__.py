"""Split every conversation into sessions (README, "The rules").

All per-message work is array work: duplicate and status flags, conversation codes, the ordering,
the type flags. The one inherently sequential step - where the next session opens depends on
where the previous one closed - is a single compiled pass (numba) over the ordered arrays.

Modules: :mod:`.kernel` (the state machine), :mod:`.dedup` (duplicate ids), :mod:`.order` (the
processing order), :mod:`.parallel` (threads), :mod:`.segmentation` (the whole step).
"""

from __future__ import annotations

import sys

from . import dedup, kernel, order
from .carry import CarriedState, StatePart, empty_state, join_state, state_at, state_part
from .dedup import first_occurrences
from .kernel import (BEFORE_CUT, BILLING_NAMES, R_BEFORE_CUT,
                     C_EXPIRED, C_MESSAGE_LIMIT, C_OPEN, C_UNANSWERED_LIMIT, CLOSE_NAMES,
                     DUPLICATE, EXCLUDED, O_ROLLOVER, O_SUBSCRIBER, ORIGIN_NAMES, OUT_OF_SESSION, R_DUPLICATE,
                     R_EXCLUDED, R_NO_SESSION, R_NONE, R_ONE_SIDED, R_SESSIONS_DISABLED, R_TYPE_NOT_ALLOWED,
                     REASON_NAMES, SESSION, PlanLimits, run_kernel, run_kernel_plans)
from .order import conversation_order
from .parallel import PARALLEL_MIN_ROWS, threads
from .segmentation import Segmentation, id_part, segment

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
    "SKIP_BLAS_PROBE",
]

#: Set by the command line (its own process only): numba's first compile probes for a BLAS by
#: importing scipy.linalg.cython_blas, a quarter of a second when scipy is installed; these
#: kernels use no BLAS, so the probe is answered "absent" for that moment.
SKIP_BLAS_PROBE = False


_loaded = False


def load_kernels() -> None:
    """Load every compiled kernel once per process (numba's first call costs a fifth of a
    second, mostly its own start-up), answering its BLAS probe when the CLI asks for that.
    Loading on a thread while the input is read was measured: no gain, both hold the GIL."""
    global _loaded
    if _loaded:
        return
    probe = "scipy.linalg.cython_blas"
    hide = SKIP_BLAS_PROBE and probe not in sys.modules and "numba.np.arraymath" not in sys.modules
    if hide:
        sys.modules[probe] = None
    try:
        _call_each_kernel()
    finally:
        if hide and sys.modules.get(probe, 0) is None:
            del sys.modules[probe]
    _loaded = True


def _call_each_kernel() -> None:
    dedup.warm()
    order.warm()
    kernel.warm()
