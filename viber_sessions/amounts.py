"""What each loaded row was charged: the ``amount`` and ``zone`` columns of ``--messages-out``.

A row billed out of session costs the unit price of its account's plan for its direction, type
and the subscriber's zone (the same lookup the invoice applies to its tally:
:meth:`viber_sessions.tariff.Tariff.lookup`, zone[type] -> zone.default -> plan[type] ->
plan.default). Rows inside a billable session cost nothing on their own (the session has one
price); duplicate, excluded and rejected rows are billed nowhere. Both get an empty amount.

The work is array work: the distinct (account, direction, type, country) keys of the
out-of-session rows are priced once each with Decimal, and the prices are spread over the rows
as a ``decimal128`` column with the invoice's line decimals (:attr:`Tariff.places`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa

from .errors import BillingError
from .segment import OUT_OF_SESSION, Segmentation
from .tariff import Tariff

#: Precision of every money column of the audit tables and the pandas API (scale: the decimals).
PRECISION = 38


def money_type(places: int) -> pa.DataType:
    """The Arrow type of a money column with ``places`` decimals."""
    return pa.decimal128(PRECISION, places)


def decimals(values, places: int) -> pa.Array:
    """Decimals (None: null) as a money column with ``places`` decimals, exactly."""
    quantum = Decimal(1).scaleb(-places)
    return pa.array([None if v is None else v.quantize(quantum) for v in values], money_type(places))


@dataclass(frozen=True)
class RowPrices:
    """Per loaded row: ``amount`` (null where the row was not billed on its own) and ``zone``
    (the zone whose price applied; ``""`` for the plan's own prices and unbilled rows)."""

    amount: pa.Array
    zone: pa.Array


def unique_keys(key: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``key`` (non-negative, below ``bins``; sorted) and each value's
    position among them (an integer array, int32 where the positions fit)."""
    if bins <= 4 * len(key) + 1024:          # a dense table is cheaper than sorting the keys
        present = np.zeros(bins, dtype=bool)
        present[key] = True
        uniq = np.flatnonzero(present)
        small = np.int32 if len(uniq) < 2**31 else np.int64     # a smaller table is gathered from faster
        index = np.empty(bins, dtype=small)
        index[uniq] = np.arange(len(uniq), dtype=small)
        return uniq, index[key]
    uniq, inverse = np.unique(key, return_inverse=True)
    return uniq, inverse


@dataclass(frozen=True)
class UnitPrices:
    """The unit prices of some out-of-session rows: ``prices`` (Decimal, one per distinct
    (account, direction, type, region) key, as the tariff writes them), the zone of each
    (``zone_of_key``: index into ``zones``, whose first entry is ``""``) and ``inverse``: the
    key of each row, as an index into ``prices``."""

    prices: list
    zones: list
    zone_of_key: list
    inverse: np.ndarray


def unit_prices(seg: Segmentation, tariff: Tariff, rows: np.ndarray) -> UnitPrices:
    """The unit prices of the loaded rows ``rows`` of ``seg`` (indexes of out-of-session rows)
    under ``tariff``: each distinct key is priced once. A type that the row's plan does not price
    is a :class:`BillingError`."""
    log = seg.log
    names = log.businesses.to_pylist() if len(rows) else []
    nt = max(len(log.message_types), 1)
    key = log.business[rows].astype(np.int64) * 2 + (~log.inbound[rows])
    key = key * nt + log.mtype[rows]
    regions: tuple[str, ...] = ("",)
    if len(rows) and tariff.has_zones:
        from .countries import region_names

        regions = region_names()
        key = key * len(regions) + seg.countries(log.subscriber[rows])
    uniq, inverse = unique_keys(key, max(len(names), 1) * 2 * nt * len(regions))
    prices, zone_of_key, zones = [], [], [""]
    for k in uniq.tolist():
        k, country = divmod(k, len(regions))
        b, rest = divmod(k, 2 * nt)
        outbound, t = divmod(rest, nt)
        plan = tariff.plan(names[b])
        direction, mtype = ("outbound" if outbound else "inbound"), log.message_types[t]
        unit, zone = plan.lookup(direction, mtype, plan.zone_of(regions[country]))
        if unit is None:
            raise BillingError(f"{tariff.source}: outbound_prices has no price for message type {mtype!r} (account "
                               f"{names[b]!r}); add it, or a `default` price, to [outbound_prices]")
        if zone not in zones:
            zones.append(zone)
        prices.append(unit)
        zone_of_key.append(zones.index(zone))
    return UnitPrices(prices=prices, zones=zones, zone_of_key=zone_of_key, inverse=inverse)


def row_prices(seg: Segmentation, tariff: Tariff | None = None) -> RowPrices:
    """The amount and zone of every loaded row of ``seg`` under ``tariff`` (default: the tariff
    ``seg`` was segmented with). Without any tariff, every amount is null and every zone ``""``.

    A type that the row's plan does not price is a :class:`BillingError` (the invoice refuses
    it the same way)."""
    tariff = tariff if tariff is not None else seg.plan
    n = len(seg.log)
    places = tariff.places if tariff is not None else 0
    oos = np.flatnonzero(seg.billing == OUT_OF_SESSION) if tariff is not None else np.zeros(0, np.int64)
    units = unit_prices(seg, tariff, oos) if tariff is not None else UnitPrices([], [""], [], oos)
    index = np.full(n, -1, dtype=np.int64)
    index[oos] = units.inverse
    missing = index < 0
    amount = decimals(units.prices, places).take(pa.array(index, mask=missing))
    zone_codes = np.zeros(n, dtype=np.int32)
    if len(oos):
        zone_codes[oos] = np.array(units.zone_of_key, dtype=np.int32)[units.inverse]
    zone = pa.array(units.zones, pa.string()).take(pa.array(zone_codes))
    return RowPrices(amount=amount, zone=zone)
