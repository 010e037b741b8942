"""viber-sessions report: the tallies behind the charts (equal on every path, equal to the
invoice), the page (self-contained, escaped, deterministic) and the page as a person sees it in
headless Chromium (no console error, no request, every chart drawn)."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from viber_sessions import core, report
from viber_sessions.cli import cli
from viber_sessions.report import tally
from viber_sessions.render import invoice_dict
from viber_sessions.timeutil import Period

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases" / "invoice"
SAMPLE = str(ROOT / "sample_data" / "messages.parquet")
SAMPLE_TARIFF = str(ROOT / "sample_data" / "tariff.toml")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _request(inputs=(str(CASES / "messages.csv"),), tariff=str(CASES / "tariff-plans.toml"), period="2026-10",
             tz="Europe/Moscow"):
    return core.Request(inputs=list(inputs), tariff=tariff, period=period, tz=tz)


@pytest.mark.parametrize("tariff", ["tariff.toml", "tariff-plans.toml"])
@pytest.mark.parametrize("period", ["2026-09", "2026-10"])
def test_tallies_match_the_invoice_and_both_paths_agree(tariff, period):
    request = _request(tariff=str(CASES / tariff), period=period)
    result = core.run(request)
    when = Period.parse(period, "Europe/Moscow")
    fast = report.from_segmentation(result.segmentation, result.tariff, when)
    parts = report.from_tables(result.messages(), result.sessions("Europe/Moscow"), result.tariff, when)
    for name in ("sessions_per_day", "messages_per_day", "close_reasons", "origins", "sizes", "hours"):
        assert getattr(fast, name) == getattr(parts, name), name
    places = result.tariff.places
    assert fast.top_conversations(1000, places).equals(parts.top_conversations(1000, places))
    for keep in (0, 1, 3):                # keeping only the candidates changes nothing in the top
        kept = report.from_segmentation(result.segmentation, result.tariff, when, keep)
        assert kept.top_conversations(keep, places).equals(fast.top_conversations(keep, places))
    doc = invoice_dict(result.invoice)
    per_account = Counter()
    for (account, _), n in fast.sessions_per_day.items():
        per_account[account] += n
    assert dict(per_account) == {a["business_id"]: a["sessions"]["count"] for a in doc["accounts"]
                                 if a["sessions"]["count"]}
    assert sum(fast.messages_per_day.values()) == sum(line["count"] for a in doc["accounts"]
                                                      for line in a["out_of_session"])
    charged = fast.top_conversations(10**6, places)
    assert sum(charged.column("amount").to_pylist(), Decimal(0)) == sum(Decimal(a["usage"]) for a in doc["accounts"])


def test_charges_counted_by_sorting_equal_the_dense_count(monkeypatch):
    request = _request(tariff=str(CASES / "tariff-plans.toml"))
    result = core.run(request)
    when = Period.parse("2026-10", "Europe/Moscow")
    places = result.tariff.places
    dense = report.from_segmentation(result.segmentation, result.tariff, when)
    monkeypatch.setattr(tally, "DENSE_CELLS", 0)
    sorted_ = report.from_segmentation(result.segmentation, result.tariff, when)
    assert sorted_.top_conversations(1000, places).equals(dense.top_conversations(1000, places))
    assert dense.top_conversations(1000, places).num_rows > 3


def test_money_of_units_is_exact_for_any_sign():
    units = np.array([-5, 0, 123, 2**62], dtype=np.int64)
    assert tally.money_of_units(units, 2).to_pylist() == [Decimal("-0.05"), Decimal("0.00"), Decimal("1.23"),
                                                          Decimal(2**62).scaleb(-2)]


def test_the_out_of_core_engine_gives_the_same_page(tmp_path):
    request = _request()
    local = report.build(core.run(request), request)
    parted = core.run(request, core.OutOfCore(memory_limit=2000, workdir=str(tmp_path)))
    try:
        assert report.build(parted, request) == local
    finally:
        getattr(parted, "close", lambda: None)()


def test_page_is_deterministic_self_contained_and_escaped(tmp_path):
    log = tmp_path / "log.csv"
    evil = "<script>alert(1)</script>"
    log.write_text("message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
                   f"m1,2026-10-05T09:00:00Z,{evil},+7900,inbound,text\n"
                   f"m2,2026-10-05T09:01:00Z,{evil},+7900,outbound,text\n"
                   f"m3,2026-10-05T09:02:00Z,$x_1$,_under,outbound,video\n")
    pages = []
    for k in range(2):
        out = tmp_path / f"r{k}.html"
        r = run("report", log, "--tariff", SAMPLE_TARIFF, "--period", "2026-10", "--output", out, "-q")
        assert r.exit_code == 0, r.output
        pages.append(out.read_bytes())
    assert pages[0] == pages[1]
    text = pages[0].decode()
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<svg") == 6
    for needle in ("src=", "href=\"http", "@import", "<link", "@font-face"):
        assert needle not in text
    assert not re.search(r"url\((?!#)", text)            # only references inside the page (clip paths)
    # the explain command of the top conversation, quoted for a shell
    assert "--business &#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27; --subscriber +7900 --period 2026-10" in text


def test_report_options_and_errors(tmp_path):
    r = run("report", SAMPLE, "--tariff", SAMPLE_TARIFF, "--period", "2026-10", "--output", tmp_path / "r.pdf")
    assert r.exit_code == 2 and "use a name ending in .htm, .html" in r.output
    r = run("report", tmp_path / "missing.csv", "--tariff", SAMPLE_TARIFF, "--period", "2026-10",
            "--output", tmp_path / "r.html")
    assert r.exit_code == 1 and r.output.startswith("error: ") and not (tmp_path / "r.html").exists()
    r = run("report", SAMPLE, "--tariff", SAMPLE_TARIFF, "--period", "2026-13", "--output", tmp_path / "r.html")
    assert r.exit_code == 2


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no Chromium with chromedriver on this machine (.ci/run installs Debian's chromium and "
                    "chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900",
                "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_the_page_as_a_person_sees_it_in_chromium(tmp_path):
    page = tmp_path / "report.html"
    r = run("report", SAMPLE, "--tariff", SAMPLE_TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow",
            "--output", page, "-q")
    assert r.exit_code == 0, r.output
    browser = _browser()
    try:
        browser.get(page.as_uri())
        assert browser.title == "Viber sessions report 2026-10"
        sizes = browser.execute_script(
            "return Array.from(document.querySelectorAll('svg')).map(s => {"
            "const r = s.getBoundingClientRect(); return [r.width, r.height];})")
        assert len(sizes) == 6 and all(w > 300 and h > 100 for w, h in sizes), sizes
        wide = browser.execute_script("return document.documentElement.scrollWidth > window.innerWidth")
        assert not wide                                   # nothing sticks out sideways at 1200 px
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1200, height)
        shot = tmp_path / "report.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
        errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == []
        requests = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
        urls = {m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"}
        assert urls <= {page.as_uri()}, urls             # the page itself, nothing else
    finally:
        browser.quit()


def test_table_columns_reach_pandas_exactly():
    """The amounts on the page are the invoice's exact text (no float anywhere in money)."""
    request = _request()
    text = report.build(core.run(request), request)
    doc = invoice_dict(core.run(request).invoice)
    for a in doc["accounts"]:
        assert f"<td class=\"num\">{a['amount_due']}</td>" in text
    assert isinstance(pa.decimal128(38, 2), pa.DataType)
