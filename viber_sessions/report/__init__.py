"""``viber-sessions report``: one self-contained HTML page about one period's billing.

The page holds the invoice per account (net, tax, amount due, the status when the invoice has
one), its warnings, charts (billable sessions per day and account, out-of-session messages per
day and type, amounts by account and line, sessions by close reason and origin, messages per
session, the hour sessions open) and the conversations charged most, each with the ``explain``
command that shows it. No click here.

The charts are drawn from per-day tallies (:mod:`.tally`) of the run's result: in memory
straight from the segmentation's arrays (:mod:`.arrays`), on the engines that bill in parts
from the audit tables part by part (``Result.messages()``, ``Result.sessions(tz)``); both give
the same tally (``tests/test_report.py``). :mod:`.charts` draws them with matplotlib as inline
SVG (the command: in a helper process started before the log is read, :mod:`.painter`), and
:mod:`.page` writes the HTML.
"""

from __future__ import annotations

import importlib

from .painter import Painter, start

#: What the package gives, by the module that holds it. Loaded when first asked for: the
#: command starts the charts' helper (:mod:`.painter`) before it imports the rest (numpy,
#: pyarrow, the billing code), so the helper's imports overlap the command's own.
_LAZY = {"TOP_CONVERSATIONS": "document", "build": "document", "explain_prefix": "document", "tally_of": "document",
         "from_segmentation": "arrays", "ReportTally": "tally", "from_tables": "tally"}


#: The package's modules, given as its attributes like those of any package once imported.
_MODULES = ("arrays", "charts", "document", "kernel", "layout", "page", "painter", "tally")


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_MODULES))


__all__ = ["Painter", "start", *_LAZY]
