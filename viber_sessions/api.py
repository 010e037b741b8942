"""The pandas API: bill a log from a notebook and get DataFrames back.

``viber_sessions.bill(logs, tariff, period, tz="UTC", **load_options)`` takes paths (files,
folders, globs), a ``pandas.DataFrame`` or a ``pyarrow.Table`` with the canonical columns, and a
tariff path or :class:`~viber_sessions.tariff.Tariff`; it returns a :class:`Billing`:

- ``.invoice``: the invoice as a dict in the JSON invoice's shape (money as exact decimal text);
- ``.invoice_lines()``, ``.sessions()``, ``.messages()``: DataFrames whose timestamps are
  tz-aware (in ``tz``), ids are ``string[pyarrow]``, money is
  ``pd.ArrowDtype(pa.decimal128(38, places))`` (exact, never float), and direction, message
  type, billing, reason and close reason are categories.

``load_options`` are :class:`~viber_sessions.load.LoadOptions` fields (``column_map``,
``input_tz``, ``epoch_unit``, ``on_invalid``, ...). The pipeline step of the same name is
``viber_sessions.billing.bill``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

import pyarrow as pa

from . import core, render
from .amounts import decimals, money_type
from .errors import UsageError
from .load import LoadOptions

CATEGORIES = ("direction", "message_type", "billing", "reason", "close_reason")


def _options(load_options: dict) -> LoadOptions:
    try:
        return LoadOptions(**load_options)
    except TypeError:
        known = sorted(LoadOptions.__dataclass_fields__)
        unknown = sorted(set(load_options) - set(known))
        raise UsageError(f"bill(): unknown load option {unknown[0] if unknown else ''!r} (options: "
                         f"{', '.join(known)})") from None


def frame(table: pa.Table, tz: str, categories: Sequence[str] = CATEGORIES):
    """``table`` as a DataFrame: strings as ``string[pyarrow]``, decimals as Arrow decimals,
    timestamps in ``tz``, the ``categories`` columns as categories."""
    import pandas as pd

    columns = {}
    for field, col in zip(table.schema, table.columns):
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if field.name in categories:
            values = col.cast(pa.string()).to_pandas().astype("category")
            values = values.cat.rename_categories(lambda c: c)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            values = pd.Series(pd.arrays.ArrowStringArray(col.cast(pa.string()).combine_chunks()),
                               dtype=pd.StringDtype("pyarrow"))
        elif pa.types.is_decimal(kind):
            values = pd.Series(col.to_pandas(types_mapper=pd.ArrowDtype), dtype=pd.ArrowDtype(kind))
        elif pa.types.is_timestamp(kind):
            values = col.cast(pa.timestamp("ns", tz="UTC")).to_pandas().dt.tz_convert(tz)
        else:
            values = col.to_pandas()
        columns[field.name] = pd.Series(values).reset_index(drop=True)
    return pd.DataFrame(columns)


@dataclass(eq=False)
class Billing:
    """The result of :func:`bill`: the invoice and the audit tables as DataFrames."""

    result: core.Result
    tz: str

    @property
    def invoice(self) -> dict:
        """The invoice in the JSON invoice's shape (``viber-sessions invoice --format json``)."""
        return render.invoice_dict(self.result.invoice)

    def invoice_lines(self):
        """The invoice as lines (the CSV invoice's rows): ``count`` as a nullable integer,
        ``unit_price`` and ``amount`` as exact decimals (``tax``: ``unit_price`` is the rate)."""
        rows = render.invoice_rows(self.result.invoice)
        places = lambda text: len(text.split(".")[1]) if "." in text else 0  # noqa: E731
        scale = max([places(str(r[k])) for r in rows for k in ("unit_price", "amount") if r[k] != ""] + [0])
        money = lambda key: decimals([Decimal(str(r[key])) if r[key] != "" else None for r in rows], scale)  # noqa
        table = pa.table({
            "period": pa.array([r["period"] for r in rows], pa.string()),
            "business_id": pa.array([r["business_id"] for r in rows], pa.string()),
            "item": pa.array([r["item"] for r in rows], pa.string()),
            "direction": pa.array([r["direction"] for r in rows], pa.string()),
            "message_type": pa.array([r["message_type"] for r in rows], pa.string()),
            "zone": pa.array([r["zone"] for r in rows], pa.string()),
            "count": pa.array([None if r["count"] == "" else int(r["count"]) for r in rows], pa.int64()),
            "unit_price": money("unit_price"),
            "amount": money("amount"),
        })
        lines = frame(table, self.tz)
        lines["count"] = lines["count"].astype("Int64")
        return lines

    def sessions(self):
        """One row per session (the ``--sessions-out`` columns), ``start`` and ``expires_at`` in ``tz``."""
        return frame(_concat(self.result.sessions(self.tz)), self.tz)

    def messages(self):
        """One row per input row (the ``--messages-out`` columns): ``timestamp`` in ``tz`` (NaT
        for rejected rows, whose text is in ``raw_timestamp``), ``amount`` what the row was
        charged (empty inside a session and for rows billed nowhere)."""
        return frame(_concat(self.result.messages()), self.tz)


def _concat(parts) -> pa.Table:
    tables = list(parts)
    return pa.concat_tables(tables).unify_dictionaries().combine_chunks() if len(tables) > 1 else tables[0]


def bill(logs, tariff, period: str, tz: str = "UTC", *, engine: core.Engine | None = None,
         accounts: Sequence[str] = (), **load_options) -> Billing:
    """Bill ``logs`` (paths, a DataFrame or a pyarrow Table) under ``tariff`` (a path or a
    :class:`Tariff`) for ``period`` (``YYYY-MM`` in ``tz``). ``engine``: ``core.Local()``
    (default), ``core.OutOfCore(limit, workdir)`` or ``core.Dask(scheduler)`` for paths.
    (The pipeline step of the same name is :func:`viber_sessions.billing.bill`.)"""
    from .load import from_table
    from .billing import bill as bill_step
    from .segment import Segmentation, segment
    from .tariff import Tariff, load_tariff
    from .timeutil import Period, check_timezone

    if isinstance(logs, Segmentation):
        raise TypeError("viber_sessions.bill takes logs (paths, a DataFrame or a Table); to price a Segmentation "
                        "use viber_sessions.billing.bill(seg, tariff, period)")
    if not isinstance(period, str) or ".." in period:
        raise UsageError(f"viber_sessions.bill bills one month (YYYY-MM), not {period!r}: call it once per month")
    check_timezone(tz, "tz")
    when = Period.parse(period, tz)
    options = _options(load_options)
    if isinstance(logs, (str, os.PathLike)):
        logs = [logs]
    if isinstance(logs, (list, tuple)):
        request = core.Request(inputs=[str(p) for p in logs], tariff=tariff if isinstance(tariff, Tariff) else str(tariff),
                               period=period, tz=tz, accounts=tuple(accounts), load=options)
        return Billing(core.run(request, engine), tz)
    plan = tariff if isinstance(tariff, Tariff) else load_tariff(tariff)
    log = from_table(logs, options, name="<DataFrame>" if not isinstance(logs, pa.Table) else "<Table>")
    seg = segment(log, plan)
    invoice = core.with_notices(bill_step(seg, plan, when, accounts or None), log.notices)
    return Billing(core.Result(log=log, tariff=plan, segmentation=seg, invoice=invoice), tz)


__all__ = ["Billing", "CATEGORIES", "bill", "frame", "money_type"]
