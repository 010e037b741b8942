"""viber-sessions: exact Viber session billing from message logs.

The pipeline is ``load`` (files -> :class:`MessageLog`) -> ``segment`` (sessions) -> ``bill``
(invoice lines) -> ``render``. Every step is usable from Python::

    import viber_sessions as vs
    log = vs.load(["messages.csv"])
    tariff = vs.load_tariff("tariff.toml")
    seg = vs.segment(log, tariff.limits)
    invoice = vs.bill(seg, tariff, vs.Period.parse("2026-10", "Europe/Moscow"))
"""

__version__ = "0.1.0"

from .billing import Invoice, bill  # noqa: E402
from .errors import BillingError, InputError, Problem, TariffError, UsageError, ViberSessionsError  # noqa: E402
from .load import LoadOptions, MessageLog, from_table, load  # noqa: E402
from .segment import Segmentation, segment  # noqa: E402
from .tariff import Limits, Tariff, load_tariff, parse_tariff  # noqa: E402
from .timeutil import Period  # noqa: E402

__all__ = ["BillingError", "InputError", "Invoice", "Limits", "LoadOptions", "MessageLog", "Period", "Problem",
           "Segmentation", "Tariff", "TariffError", "UsageError", "ViberSessionsError", "bill", "from_table",
           "load", "load_tariff", "parse_tariff", "segment", "__version__"]
