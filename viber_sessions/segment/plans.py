"""Each business account's session limits under a tariff's price plans, as the kernel reads
them (per plan, per message type). No compiled code here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tariff import Limits, Tariff


@dataclass(frozen=True, eq=False)
class PlanLimits:
    """Each business account's limits and whether it has sessions at all (a tariff's plans
    applied to the accounts of one log)."""

    limits: tuple[Limits, ...]       # the distinct limits; [0] is the top-level tariff's
    of_business: np.ndarray          # int32 per business code: index into ``limits``
    sessions_off: np.ndarray         # bool per business code: ``sessions = false`` in its plan

    @classmethod
    def of(cls, tariff: Tariff, businesses: list[str]) -> "PlanLimits":
        distinct: dict[Limits, int] = {tariff.limits: 0}
        of_business = np.zeros(len(businesses), dtype=np.int32)
        off = np.zeros(len(businesses), dtype=bool)
        for b, name in enumerate(businesses):
            plan = tariff.plan(name)
            of_business[b] = distinct.setdefault(plan.limits, len(distinct))
            off[b] = not plan.sessions
        return cls(limits=tuple(distinct), of_business=of_business, sessions_off=off)

    @property
    def uniform(self) -> bool:
        """One set of limits for every account (the single-limits kernel applies)."""
        return len(self.limits) == 1 or bool((self.of_business == self.of_business[0]).all())

    def window_ns(self) -> np.ndarray:
        """The window (ns) per business code."""
        return np.array([l.window_ns for l in self.limits], dtype=np.int64)[self.of_business]


def plan_tables(plans: PlanLimits, types: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per plan and message type code: can it open a session, is it allowed in one."""
    can_open = np.array([[t not in l.non_opening_types for t in types] + [False] for l in plans.limits], dtype=bool)
    allowed = np.array([[t in l.session_types for t in types] + [False] for l in plans.limits], dtype=bool)
    return can_open, allowed
