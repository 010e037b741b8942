"""viber-sessions report: the tallies behind the charts (equal on every path, equal to the
invoice; the compiled passes equal to plain numpy), the page (self-contained, escaped,
deterministic, the same bytes whoever draws the charts), the chart helpers (errors in one line,
none left behind after a signal) and the page as a person sees it in headless Chromium (no
console error, no request, every chart drawn)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from viber_sessions import core, report
from viber_sessions.cli import cli
from viber_sessions.errors import ViberSessionsError
from viber_sessions.report import arrays, charts, kernel, painter
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


def test_charges_per_conversation_equal_the_audit_tables_on_the_sample():
    """Integer sums per conversation equal the exact decimal sums of --messages-out and
    --sessions-out, on thousands of conversations."""
    request = _request(inputs=[SAMPLE], tariff=SAMPLE_TARIFF)
    result = core.run(request)
    when = Period.parse("2026-10", "Europe/Moscow")
    places = result.tariff.places
    fast = report.from_segmentation(result.segmentation, result.tariff, when).top_conversations(10**6, places)
    parts = report.from_tables(result.messages(), result.sessions("Europe/Moscow"), result.tariff, when)
    assert fast.num_rows > 1000 and fast.equals(parts.top_conversations(10**6, places))


def test_money_of_units_is_exact_for_any_sign():
    units = np.array([-5, 0, 123, 2**62], dtype=np.int64)
    assert arrays.money_of_units(units, 2).to_pylist() == [Decimal("-0.05"), Decimal("0.00"), Decimal("1.23"),
                                                           Decimal(2**62).scaleb(-2)]


DAY = kernel.DAY_NS


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-3 * DAY, 40 * DAY)), max_size=300),
       st.integers(0, 3), st.integers(-2 * DAY, 35 * DAY), st.integers(0, 10 * DAY))
def test_period_rows_and_day_counts_equal_numpy(rows, wanted, lo, span):
    billing = np.array([b for b, _ in rows], np.int8)
    ts = np.array([t for _, t in rows], np.int64)
    hi = lo + span
    got = kernel.period_rows(billing, ts, wanted, lo, hi)
    assert got.tolist() == np.flatnonzero((billing == wanted) & (ts >= lo) & (ts < hi)).tolist()
    codes = (ts % 3).astype(np.int32)
    first, n_days = 1, 31
    counts = kernel.day_counts(codes, ts, first, 3, n_days)
    day = ts // DAY - first
    inside = (day >= 0) & (day < n_days)
    want = np.bincount(codes[inside] * n_days + day[inside], minlength=3 * n_days)
    assert counts.tolist() == want.tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-2 * DAY, 33 * DAY), st.integers(0, 2), st.integers(0, 1), st.integers(0, 3),
                          st.integers(1, 70), st.booleans()), max_size=200),
       st.integers(-3 * 3_600_000_000_000, 3 * 3_600_000_000_000))
def test_session_counts_equal_numpy(sessions, offset):
    start = np.array([r[0] for r in sessions], np.int64)
    local = start + offset                       # a zone's wall clock, a few hours off UTC
    business, origin, close = (np.array([r[k] for r in sessions], np.int8 if k > 1 else np.int32) for k in (1, 2, 3))
    size = np.array([r[4] for r in sessions], np.int64)
    billable = np.array([r[5] for r in sessions], bool)
    lo, hi, first, n_days = 0, 31 * DAY, 0, 31
    per_day, reasons, origins, hours, sizes = kernel.session_counts(start, local, business, origin, close, size,
                                                                    billable, lo, hi, first, 3, n_days)
    inside = (start >= lo) & (start < hi)
    day = local // DAY - first
    ok = inside & billable & (day >= 0) & (day < n_days)
    assert per_day.tolist() == np.bincount(business[ok] * n_days + day[ok], minlength=3 * n_days).tolist()
    assert reasons.tolist() == np.bincount(close[inside], minlength=4).tolist()
    assert origins.tolist() == np.bincount(origin[inside], minlength=2).tolist()
    assert hours.tolist() == np.bincount((local[inside] % DAY) // 3_600_000_000_000, minlength=24).tolist()
    assert sizes.tolist() == np.bincount(size[inside], minlength=int(size.max(initial=0)) + 1).tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(-10**6, 10**6)), max_size=100),
       st.lists(st.tuples(st.integers(0, 9), st.integers(0, 10**6)), max_size=100))
def test_conversation_sums_are_exact(messages, sessions):
    inverse = np.array([c for c, _ in messages] + [c for c, _ in sessions], np.int64)
    got = kernel.conversation_sums(inverse, np.array([v for _, v in messages], np.int64),
                                   np.array([v for _, v in sessions], np.int64), 10)
    want = ([sum(1 for c, _ in messages if c == k) for k in range(10)],
            [sum(1 for c, _ in sessions if c == k) for k in range(10)],
            [sum(v for c, v in messages + sessions if c == k) for k in range(10)])
    assert tuple(a.tolist() for a in got) == want


def test_the_out_of_core_engine_gives_the_same_page(tmp_path):
    request = _request()
    local = report.build(core.run(request), request)
    parted = core.run(request, core.OutOfCore(memory_limit=2000, workdir=str(tmp_path)))
    try:
        assert report.build(parted, request) == local
    finally:
        getattr(parted, "close", lambda: None)()


def test_helpers_draw_the_same_bytes_as_this_process():
    request = _request(inputs=[SAMPLE], tariff=SAMPLE_TARIFF)
    result = core.run(request)
    here = report.build(result, request)
    for workers in (1, 3):
        with painter.HelperPainter(workers) as helpers:
            assert report.build(result, request, painter=helpers) == here
        assert helpers.proc.returncode == 0 and len(helpers.channels) == workers     # ended by itself


def test_the_helper_finds_its_layout_module_under_pythonsafepath(monkeypatch):
    """The helper runs charts.py as a file, which imports layout.py beside it: also where Python
    does not put a script's folder on sys.path (PYTHONSAFEPATH, Python 3.11)."""
    monkeypatch.setenv("PYTHONSAFEPATH", "1")
    request = _request(inputs=[SAMPLE], tariff=SAMPLE_TARIFF)
    result = core.run(request)
    with painter.HelperPainter(1) as helpers:
        assert report.build(result, request, painter=helpers) == report.build(result, request)


def test_the_command_draws_in_two_workers_or_here_on_one_core(monkeypatch):
    monkeypatch.setattr(painter, "cores", lambda: 1)
    assert type(painter.start()) is painter.Painter
    monkeypatch.setattr(painter, "cores", lambda: 8)
    with painter.start() as helpers:
        assert isinstance(helpers, painter.HelperPainter) and len(helpers.channels) == 2


LONG = "a" * 40                     # shown cut to charts.LABEL_CHARS characters
LINES = [("subscription fee", Decimal("5000"))] + [(f"out of session: type{k}", Decimal(k)) for k in range(9)]


@pytest.mark.parametrize("chart, args", [
    ("stacked_days", (Counter({(LONG, 0): 10**9, ("b", 30): 7, **{(f"n{k}", k): k for k in range(12)}}), 31,
                      "Sessions", "day", "sessions")),
    ("stacked_days", (Counter(), 30, "Sessions", "day", "sessions")),
    ("amounts", ([(LONG, [("subscription fee", Decimal("5000")), (LONG + "x", Decimal("123456789.25"))],
                   "123461789.25")] + [(f"acc{k}", [("sessions", Decimal(k))], str(k)) for k in range(5)],
                 "Amount", "RUB")),
    ("amounts", ([(LONG, [("sessions", Decimal("10000000000"))], "10000000000.00")], "Amount", "VND")),
    ("amounts", ([("one", LINES, "5036.00")], "Amount", "RUB")),          # more legend than bars
    ("amounts", ([], "Amount", "RUB")),
    ("amounts", ([("taxi", [("sessions", Decimal("0.05"))], "0.05")], "Amount", "RUB")),
    ("amounts", ([("taxi", [("text", Decimal("0.0000003"))], "0.0000003")], "Amount", "RUB")),
    ("counts", ([("Sessions by close reason", [("unanswered_limit", 10**12), ("open", 0)]),
                 ("Sessions by origin", [(LONG, 3), ("rollover", 0)])],)),
    ("counts", ([("Sessions by close reason", [("expired", 0)]), ("Sessions by origin", [("subscriber", 0)])],)),
    *[("counts", ([("Sessions by close reason", [("expired", n), ("message_limit", 0), ("unanswered_limit", 3),
                                                 ("open", 1)]),
                   ("Sessions by origin", [("subscriber", n), ("rollover", 2)])],))
      for n in (898, 33_787, 85_359, 248_313)],                             # a last tick label near the edge
    ("amounts", ([("b1", [("subscription fee", Decimal(0)), ("sessions", Decimal("0.0000001"))], "0.0000001")],
                 "Amount", "RUB")),                                           # a long "0" label, short names
    ("histogram", (Counter({1: 10**9, 100_000: 3}), "Messages per session", "messages", "sessions")),
    ("histogram", (Counter(), "Hour", "hour", "sessions", 0, 23)),
])
@pytest.mark.parametrize("style", [{}, {"font.size": 14, "ytick.labelsize": 14, "xtick.labelsize": 16}])
def test_every_label_of_a_chart_fits_in_its_figure(monkeypatch, chart, args, style):
    """The axes are placed from the measured labels (report.layout): with long names, a billion,
    ten billion dong, a fraction of a kopeck, more legend than bars and empty charts, whatever
    style the calling program set, nothing is cut at the figure's edges, no two labels overlap,
    tick labels leave the next panel alone, and every number is written as it is."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG

    seen = []

    def check(draw, height, salt):
        from matplotlib.figure import Figure

        with charts.settings(salt):
            fig = Figure(figsize=(charts.WIDTH_IN, height), dpi=72)       # as the SVG is drawn: in points
            draw(fig)
            FigureCanvasSVG(fig)
            renderer = RendererSVG(*(72 * fig.get_size_inches()), io.StringIO())
            fig.draw(renderer)
            edge = fig.bbox
            texts = [t for ax in fig.axes for t in (*ax.texts, ax.title, *ax.get_xticklabels(), *ax.get_yticklabels(),
                                                    ax.xaxis.label, ax.yaxis.label,
                                                    *(ax.get_legend().get_texts() if ax.get_legend() else ()))
                     if t.get_text() and t.get_visible()]
            boxes = [t.get_window_extent(renderer) for t in texts]
            for text, box in zip(texts, boxes):
                assert edge.x0 <= box.x0 and box.x1 <= edge.x1 and edge.y0 <= box.y0 and box.y1 <= edge.y1, \
                    (text.get_text(), box, edge)
            for i, a in enumerate(boxes):
                for j in range(i + 1, len(boxes)):
                    assert not a.overlaps(boxes[j]), (texts[i].get_text(), texts[j].get_text())
            for left, right in zip(fig.axes, fig.axes[1:]):
                for label in right.get_yticklabels():
                    assert label.get_window_extent(renderer).x0 > left.get_window_extent(renderer).x1, label
            for ax in fig.axes:
                for axis, labels in ((ax.xaxis, ax.get_xticklabels()), (ax.yaxis, ax.get_yticklabels())):
                    for value, label in zip(axis.get_ticklocs(), labels):
                        if label.get_text().replace(",", "").replace(".", "").isdigit():
                            assert float(label.get_text().replace(",", "")) == pytest.approx(value, rel=1e-9, abs=1e-12)
            seen.extend(t.get_text() for t in texts)
        return ""

    monkeypatch.setattr(charts, "render", check)
    with matplotlib.rc_context(style):
        getattr(charts, chart)(*args, "salt")
    assert seen
    if chart in ("stacked_days", "histogram") and sum(args[0].values()):
        assert "1,000,000,000" in seen          # counts are written with thousands separators
    if any(LONG in repr(a) for a in args):
        assert charts.short(LONG) in seen
    if chart == "amounts" and args[0]:
        assert len([t for t in seen if t[:1].isdigit()]) >= 3 + len(args[0])    # a scale however small the amounts


def test_a_style_of_the_calling_program_changes_no_byte_of_a_chart():
    """Charts are drawn from matplotlib's defaults: a library user's style (or matplotlibrc)
    gives the same SVG bytes as none."""
    import matplotlib

    def draw():
        return charts.amounts([("shop-account", [("sessions", Decimal("12.50"))], "12.50")], "Amount", "RUB", "x")

    plain = draw()
    with matplotlib.rc_context({"font.size": 14, "ytick.labelsize": 20, "axes.facecolor": "#eeeeee",
                                "svg.fonttype": "none", "lines.linewidth": 3}):
        assert draw() == plain


def test_helper_failures_are_one_clear_error(monkeypatch, tmp_path):
    with painter.HelperPainter(1) as helpers:
        key = helpers.submit("no-such-chart")
        with pytest.raises(painter.ChartError, match="drawing a chart failed: KeyError: 'no-such-chart'") as failed:
            helpers.svg(key)
        assert "in the chart helper" in failed.value.__notes__[0] and "Traceback" in failed.value.__notes__[0]
        helpers.proc.kill()
        key = helpers.submit("histogram", Counter({1: 1}), "t", "x", "y", "s")
        with pytest.raises(painter.ChartError, match="ended before drawing every chart"):
            helpers.svg(key)
    fake = tmp_path / "matplotlib"                # a helper that cannot import matplotlib says so
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'matplotlib'\")\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with painter.HelperPainter(2) as helpers:
        for _ in range(2):                        # the helper and the worker it forked
            key = helpers.submit("histogram", Counter({1: 1}), "t", "x", "y", "s")
            with pytest.raises(ViberSessionsError, match=re.escape(painter.MATPLOTLIB_MISSING)):
                helpers.svg(key)


def test_without_matplotlib_the_report_stops_before_reading(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    r = run("report", SAMPLE, "--tariff", SAMPLE_TARIFF, "--period", "2026-10", "--output", tmp_path / "r.html")
    assert (r.exit_code, r.output) == (1, f"error: {painter.MATPLOTLIB_MISSING}\n")
    assert not (tmp_path / "r.html").exists()


def _marked(marker: str) -> list[int]:
    """The processes whose environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the helper processes")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_report_in_one_line_and_leaves_no_helper(sig, tmp_path):
    marker = f"VIBER_SESSIONS_TEST={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    out = tmp_path / "r.html"
    proc = subprocess.Popen([sys.executable, "-m", "viber_sessions", "report", SAMPLE, "--tariff", SAMPLE_TARIFF,
                             "--period", "2026-10", "-q", "--output", str(out)], env=env, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while proc.poll() is None and len(_marked(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)                          # until the helper runs
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)                  # Ctrl-C in a terminal: the whole foreground group
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:                      # it finished first
        assert err == b"" and out.exists()
    else:
        assert (proc.returncode, err.decode()) == ({signal.SIGINT: 130, signal.SIGTERM: 143}[sig],
                                                   "interrupted\n" if sig == signal.SIGINT else "terminated\n")
        assert not out.exists()
    deadline = time.monotonic() + 10
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(marker) == []


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


def test_the_charts_helper_starts_before_numpy_and_pyarrow_are_imported():
    """The command starts the charts' helper (report.painter) first thing: importing it imports
    none of the billing stack, so the helper's matplotlib import overlaps the command's own."""
    code = ("import sys, viber_sessions.report.painter; "
            "print(sorted(m for m in ('numpy', 'pyarrow', 'pandas', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = ("import viber_sessions.report as r; "      # the package's modules and names, as before it was lazy
            "print(r.arrays.__name__, r.page.__name__, r.tally.__name__, r.build.__name__, r.ReportTally.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["viber_sessions.report.arrays", "viber_sessions.report.page",
                                  "viber_sessions.report.tally", "build", "ReportTally"]


def test_chart_labels_of_long_names_stay_apart():
    """Two account ids equal in their first 27 characters were both shown as the same cut
    label; they keep their ends instead, and names still equal then are numbered."""
    from viber_sessions.report import charts

    a, b = "acme-holdings-international-retail-ru-01", "acme-holdings-international-retail-ru-02"
    labels = charts.shorts([a, b, "shop"])
    assert labels[2] == "shop" and labels[0] != labels[1] and labels[0].endswith("ru-01")
    assert all(len(label) <= charts.LABEL_CHARS for label in labels)
    same_ends = ["a" * 40 + "1" + "b" * 40, "a" * 40 + "2" + "b" * 40, "x" * 40 + "\n", "x" * 40 + "\t"]
    labels = charts.shorts(same_ends)
    assert len(set(labels)) == 4 and all(len(label) <= charts.LABEL_CHARS for label in labels)
    assert charts.shorts(["bank", "shop"]) == ["bank", "shop"]
