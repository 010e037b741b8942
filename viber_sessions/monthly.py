"""The monthly run (README, "Monthly runs"): what every engine shares when it bills several
periods from one load and one segmentation, starts from a carried-in state and leaves one for
the next run. No click here; the engines run it through :func:`viber_sessions.core.run`.
"""

from __future__ import annotations

from typing import Sequence

from .billing import check_cut
from .segment import CarriedState
from .tariff import Tariff
from .timeutil import Period


def carried_state(state_in, tariff: Tariff, options, periods: Sequence[Period]) -> CarriedState | None:
    """The carried-in state of a run: ``state_in`` is a state file (read and checked against the
    tariff's limits and the reading ``options``, :func:`viber_sessions.state.read_state`), a
    :class:`CarriedState`, or None. A state cut after the first period's start is refused."""
    if state_in is None:
        return None
    if isinstance(state_in, CarriedState):
        carry = state_in
    else:
        from .state import read_state

        carry = read_state(str(state_in), tariff, options)
    check_cut(carry.cut_ns, periods)
    return carry


def state_cut(periods: Sequence[Period]) -> int:
    """The instant a run's ``--state-out`` describes: the end of its last period."""
    return periods[-1].end_ns
