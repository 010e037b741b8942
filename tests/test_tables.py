"""viber_sessions.tables and viber_sessions.amounts: the typed audit tables, the amount and zone
of every row (equal to the invoice's lines), and CSV text exactly as before the tables were typed."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import viber_sessions as vs
from viber_sessions import amounts, core, tables, writing
from viber_sessions.errors import BillingError
from viber_sessions.render import invoice_dict

CASES = Path(__file__).parent / "cases"
LOG = str(CASES / "invoice" / "messages.csv")
PLANS = str(CASES / "invoice" / "tariff-plans.toml")
TARIFF = str(CASES / "invoice" / "tariff.toml")


def _run(tariff=PLANS, period="2026-10", tz="Europe/Moscow", inputs=(LOG,), **kw):
    return core.run(core.Request(inputs=list(inputs), tariff=tariff, period=period, tz=tz, **kw))


@pytest.mark.parametrize("tariff", [TARIFF, PLANS])
@pytest.mark.parametrize("period", ["2026-09", "2026-10", "2026-11"])
def test_amounts_add_up_to_the_invoice_lines(tariff, period):
    """Per account, the amounts of the out-of-session rows timestamped in the period are the
    invoice's out-of-session lines exactly (zones and account plans included)."""
    result = _run(tariff, period)
    table = tables.messages_table(result.segmentation)
    assert table.schema.field("amount").type == pa.decimal128(38, result.tariff.places)
    doc = invoice_dict(result.invoice)
    lo, hi = vs.Period.parse(period, "Europe/Moscow").start_ns, vs.Period.parse(period, "Europe/Moscow").end_ns
    got = defaultdict(Decimal)
    counts = defaultdict(int)
    for row, ns in zip(table.to_pylist(), table.column("timestamp").cast(pa.int64()).to_pylist()):
        if row["billing"] == "out_of_session" and lo <= ns < hi:
            got[(row["business_id"], row["direction"], row["message_type"], row["zone"])] += row["amount"]
            counts[(row["business_id"], row["direction"], row["message_type"], row["zone"])] += 1
    want = {(a["business_id"], line["direction"], line["message_type"], line["zone"]): Decimal(line["amount"])
            for a in doc["accounts"] for line in a["out_of_session"]}
    assert dict(got) == want
    assert {k: c for k, c in counts.items()} == {(a["business_id"], line["direction"], line["message_type"],
                                                  line["zone"]): line["count"]
                                                 for a in doc["accounts"] for line in a["out_of_session"]}


def test_rows_billed_nowhere_or_in_a_session_have_no_amount_and_no_zone():
    rows = tables.messages_table(_run().segmentation).to_pylist()
    for row in rows:
        if row["billing"] == "out_of_session":
            assert row["amount"] is not None
        else:
            assert row["amount"] is None and row["zone"] == ""
    assert {r["billing"] for r in rows} >= {"session", "out_of_session", "duplicate"}
    assert {r["zone"] for r in rows} == {"", "Russia"}
    # a zone price: text_button to a Russian number costs the zone's 1.005, exactly
    b1 = next(r for r in rows if r["message_id"] == "b1")
    assert (b1["amount"], b1["zone"]) == (Decimal("1.005"), "Russia")


def test_without_a_tariff_amounts_are_empty():
    seg = vs.segment(vs.load([LOG]), vs.Limits())
    table = tables.messages_table(seg)
    assert table.column("amount").null_count == table.num_rows
    assert set(table.column("zone").to_pylist()) == {""}


def test_a_type_the_plan_does_not_price_is_refused():
    tariff = vs.load_tariff(TARIFF)
    seg = vs.segment(vs.load([LOG]), tariff)
    prices = dict(tariff.outbound_prices)
    del prices["video"]
    with pytest.raises(BillingError, match="'video'"):
        amounts.row_prices(seg, tariff.replace(outbound_prices=prices))


def test_timestamps_are_typed_and_rejected_rows_keep_their_raw_text(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                   "m1,2026-10-05T09:00:00.25Z,shop,+7900,inbound,text\n"
                   "m2,not-a-date,shop,+7900,outbound,text\n"
                   "m3,2026-10-05T09:01:00Z,shop,+7900,outbound,text\n")
    result = _run(TARIFF, inputs=[str(log)], on_invalid="skip")
    table = tables.messages_table(result.segmentation)
    assert table.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert table.column("timestamp").is_null().to_pylist() == [False, True, False]
    assert table.column("raw_timestamp").to_pylist() == [None, "not-a-date", None]
    text = writing.as_text(table)
    assert text.column("timestamp").to_pylist() == ["2026-10-05T09:00:00.25Z", "not-a-date", "2026-10-05T09:01:00Z"]
    assert table.column("billing").to_pylist() == ["session", "rejected", "session"]
    assert table.column("amount").to_pylist() == [None, None, None]
    assert tuple(table.column_names) == tables.MESSAGES_COLUMNS


def test_sessions_table_is_typed_and_ordered_as_strings_sort():
    seg = _run().segmentation
    table = tables.sessions_table(seg, "Europe/Moscow")
    assert tuple(table.column_names) == tables.SESSIONS_COLUMNS
    assert table.schema.field("start").type == table.schema.field("expires_at").type == tables.TIMESTAMP
    keys = list(zip(table.column("business_id").to_pylist(), table.column("subscriber_id").to_pylist(),
                    table.column("start").cast(pa.int64()).to_pylist(), table.column("session_id").to_pylist()))
    assert keys == sorted(keys, key=lambda k: (k[0].encode(), k[1].encode(), k[2], k[3].encode()))
    mask = np.zeros(seg.n_sessions, dtype=bool)
    mask[::2] = True
    part = tables.sessions_table(seg, "Europe/Moscow", mask)
    assert set(part.column("session_id").to_pylist()) == set(seg.session_ids().filter(pa.array(mask)).to_pylist())


def test_sessions_starting_at_one_instant_keep_their_id_order():
    """Rollovers at one instant: ids -2 ... -11 sort as strings (the old order, byte for byte)."""
    import pandas as pd

    rows = [("i", "2026-10-01T10:00:00Z", "inbound")] + [(f"o{k}", "2026-10-01T10:00:00Z", "outbound")
                                                          for k in range(61 * 11)]
    frame = pd.DataFrame([(m, t, "shop", "+7900", d, "text") for m, t, d in rows],
                         columns=["message_id", "timestamp", "business_id", "subscriber_id", "direction",
                                  "message_type"])
    seg = vs.segment(frame, vs.Limits(max_unanswered=10_000))
    ids = tables.sessions_table(seg, "UTC").column("session_id").to_pylist()
    assert len(ids) == 12 and ids == sorted(ids)


def test_csv_text_is_as_before_the_tables_were_typed(tmp_path):
    """The README's sessions example, byte for byte, through the typed table and as_text."""
    seg = vs.segment(vs.load([str(CASES / "06_message_limit.csv")]), vs.load_tariff(TARIFF))
    got = writing.csv_bytes(tables.sessions_table(seg, "UTC")).decode()
    assert got == (
        '"session_id","business_id","subscriber_id","start","expires_at","origin","close_reason",'
        '"inbound_messages","outbound_messages","billable","billed_period"\n'
        '"shop/+79001234567/20261005T090000Z","shop","+79001234567","2026-10-05T09:00:00Z","2026-10-06T09:00:00Z",'
        '"subscriber","message_limit",13,60,true,"2026-10"\n'
        '"shop/+79001234567/20261005T100100Z","shop","+79001234567","2026-10-05T10:01:00Z","2026-10-06T10:01:00Z",'
        '"rollover","open",1,5,true,"2026-10"\n')
    messages = writing.csv_bytes(tables.messages_table(seg)).decode().splitlines()
    assert messages[1] == ('"s0","shop","+79001234567","2026-10-05T09:00:00Z","inbound","text",'
                           '"shop/+79001234567/20261005T090000Z","session","",,"",,"'
                           + str(CASES / "06_message_limit.csv") + '",1')
