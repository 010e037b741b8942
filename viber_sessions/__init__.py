"""viber-sessions: exact Viber session billing from message logs.

The pipeline is ``load`` (files -> :class:`MessageLog`) -> ``segment`` (sessions) -> ``bill``
(invoice lines) -> ``render``. Every step is usable from Python::

    import viber_sessions as vs
    log = vs.load(["messages.csv"])
    tariff = vs.load_tariff("tariff.toml")
    seg = vs.segment(log, tariff)
    invoice = vs.billing.bill(seg, tariff, vs.Period.parse("2026-10", "Europe/Moscow"))

For notebooks, ``vs.bill`` bills in one call and gives pandas DataFrames (:mod:`.api`)::

    billed = vs.bill("messages.parquet", "tariff.toml", "2026-10", tz="Europe/Moscow")
    billed.invoice, billed.invoice_lines(), billed.sessions(), billed.messages()
"""

import sys
import types

__version__ = "0.1.0"

# The names below load on first use (PEP 562), so that the command line can install its signal
# handlers before numba, pyarrow and pandas are imported.
_EXPORTS = {
    "Invoice": "billing", "bill": "api", "Billing": "api",
    "BillingError": "errors", "InputError": "errors", "Problem": "errors", "TariffError": "errors",
    "UsageError": "errors", "ViberSessionsError": "errors",
    "LoadOptions": "load", "MessageLog": "load", "from_table": "load", "load": "load",
    "Segmentation": "segment", "segment": "segment",
    "Limits": "tariff", "Tariff": "tariff", "load_tariff": "tariff", "parse_tariff": "tariff",
    "Period": "timeutil",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'viber_sessions' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__


class _Package(types.ModuleType):
    """``load`` and ``segment`` are both functions of the package and names of its modules:
    importing a module must not replace the function of the same name."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
