"""viber_sessions.bill: the pandas API (paths, DataFrames and pyarrow Tables in; the JSON
invoice's dict and typed DataFrames out)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner

import viber_sessions as vs
from viber_sessions.cli import cli
from viber_sessions.errors import UsageError

CASES = Path(__file__).parent / "cases" / "invoice"
LOG = str(CASES / "messages.csv")
PLANS = str(CASES / "tariff-plans.toml")
TZ = "Europe/Moscow"


@pytest.fixture(scope="module")
def billed():
    return vs.bill(LOG, PLANS, "2026-10", tz=TZ)


def test_invoice_is_the_json_invoice(billed):
    r = CliRunner().invoke(cli, ["invoice", LOG, "--tariff", PLANS, "--period", "2026-10", "--tz", TZ, "--format",
                                 "json", "-q"])
    doc = json.loads(r.stdout)
    doc.pop("generated_by")
    assert billed.invoice == doc


def test_dtypes_are_exact_and_typed(billed):
    messages, sessions, lines = billed.messages(), billed.sessions(), billed.invoice_lines()
    for frame, ids in ((messages, ("message_id", "business_id", "subscriber_id", "session_id")),
                       (sessions, ("session_id", "business_id", "subscriber_id")), (lines, ("business_id",))):
        for col in ids:
            assert frame[col].dtype == pd.StringDtype("pyarrow"), col
    assert str(messages["timestamp"].dtype) == f"datetime64[ns, {TZ}]"
    assert str(sessions["start"].dtype) == str(sessions["expires_at"].dtype) == f"datetime64[ns, {TZ}]"
    places = vs.load_tariff(PLANS).places
    assert messages["amount"].dtype == pd.ArrowDtype(pa.decimal128(38, places))
    assert lines["amount"].dtype == pd.ArrowDtype(pa.decimal128(38, places))
    for col in ("direction", "message_type", "billing", "reason"):
        assert messages[col].dtype == "category", col
    assert sessions["close_reason"].dtype == "category"
    assert lines["count"].dtype == "Int64"
    assert not any(str(t).startswith("float") for f in (messages, sessions, lines) for t in f.dtypes)
    # ids stay exactly as written, money exactly as on the invoice
    assert "007900000003" in set(messages["subscriber_id"])
    net = lines[(lines["business_id"] == "shop") & (lines["item"] == "net")]["amount"].iloc[0]
    assert net == Decimal(next(a["net"] for a in billed.invoice["accounts"] if a["business_id"] == "shop"))
    oos = messages[messages["billing"] == "out_of_session"]
    assert oos["amount"].notna().all() and messages[messages["billing"] != "out_of_session"]["amount"].isna().all()


def test_a_dataframe_or_a_table_gives_the_same_result(billed):
    table = pacsv.read_csv(LOG, convert_options=pacsv.ConvertOptions(column_types={
        c: pa.string() for c in ("message_id", "timestamp", "business_id", "subscriber_id")}))
    for logs in (table, table.to_pandas()):
        other = vs.bill(logs, vs.load_tariff(PLANS), "2026-10", tz=TZ)
        assert other.invoice == billed.invoice
        a, b = other.sessions(), billed.sessions()
        pd.testing.assert_frame_equal(a, b)
        m = other.messages().drop(columns=["source_file"])
        pd.testing.assert_frame_equal(m, billed.messages().drop(columns=["source_file"]))


def test_sessions_per_account_per_day(billed):
    sessions = billed.sessions()
    billable = sessions[sessions["billable"]]
    per_day = billable.groupby(["business_id", billable["start"].dt.date]).size()
    assert per_day.sum() == sum(a["sessions"]["count"] for a in billed.invoice["accounts"]) + \
        int((billable["billed_period"] != "2026-10").sum())


def test_load_options_and_errors(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("id,timestamp,business_id,subscriber_id,direction,message_type\n"
                   "m1,2026-10-05 09:00:00,shop,+7900,in,text\nm2,2026-10-05 09:01:00,shop,+7900,out,text\n")
    billed = vs.bill([log], PLANS, "2026-10", tz=TZ, column_map={"message_id": "id"}, input_tz=TZ)
    assert str(billed.messages()["timestamp"].iloc[0]) == "2026-10-05 09:00:00+03:00"
    with pytest.raises(UsageError, match="unknown load option 'colum_map'"):
        vs.bill([log], PLANS, "2026-10", colum_map={})
    with pytest.raises(UsageError):
        vs.bill([log], PLANS, "2026-13")


def test_the_pipeline_step_is_billing_bill_and_a_segmentation_is_pointed_there():
    from viber_sessions.billing import Invoice, bill

    log = vs.load([LOG])
    tariff = vs.load_tariff(PLANS)
    seg = vs.segment(log, tariff)
    period = vs.Period.parse("2026-10", TZ)
    assert isinstance(bill(seg, tariff, period), Invoice)
    with pytest.raises(TypeError, match="viber_sessions.billing.bill"):
        vs.bill(seg, tariff, "2026-10")
    assert callable(vs.load) and callable(vs.segment)



@pytest.mark.parametrize("period", ["2026-09..2026-10", ["2026-09", "2026-10"]])
def test_bill_takes_one_month_never_drops_the_others(period):
    """A range would silently become its first month: refused, whatever the logs are."""
    with pytest.raises(UsageError, match="one month"):
        vs.bill(LOG, PLANS, period, tz=TZ)
    with pytest.raises(UsageError, match="one month"):
        vs.bill(pd.read_csv(LOG, dtype=str), PLANS, period, tz=TZ)
