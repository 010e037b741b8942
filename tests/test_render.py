"""viber_sessions.render: the invoice as a person sees it (narrow terminals included)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from viber_sessions import core, render

CASES = Path(__file__).parent / "cases" / "invoice"


def _invoice():
    return core.run_invoice(core.Request(inputs=[str(CASES / "messages.csv")], tariff=str(CASES / "tariff.toml"),
                                         period="2026-10", tz="Europe/Moscow")).invoice


def _text(inv, width):
    buf = io.StringIO()
    render.invoice_table(inv, Console(file=buf, width=width, no_color=True, highlight=False))
    return buf.getvalue()


def test_no_amount_is_cut_at_any_width():
    inv = _invoice()
    amounts = {render.money.fmt(a.total, inv.places) for a in inv.accounts} | {"5000.00", "5005.75", "10007.85"}
    for width in (40, 60, 80, 120):
        text = _text(inv, width)
        assert "…" not in text, (width, text)
        assert max(len(line) for line in text.splitlines()) <= width
        for amount in amounts:
            assert re.search(rf"(?<![\d.]){re.escape(amount)}(?![\d.])", text), (width, amount)


def test_sixty_columns_keep_the_table_layout():
    text = _text(_invoice(), 60)
    assert "┃ item" in text and "out of session outbound" in text and "│ 5005.75 │" in text


def test_fit_table_falls_back_to_records_when_columns_cannot_fit():
    buf = io.StringIO()
    console = Console(file=buf, width=30, no_color=True)
    render.fit_table(console, ["account", "our amount", "statement amount"], [["shop", "123456789.00", "1.00"]],
                     {"our amount", "statement amount"})
    assert buf.getvalue().splitlines() == ["  shop", "    our amount: 123456789.00", "    statement amount: 1.00"]


def test_warnings_are_not_in_the_table():
    inv = _invoice()
    assert inv.warnings and "warning" not in _text(inv, 120)


def test_fit_table_wraps_headers_and_keeps_every_value_whole():
    cols = ["business_id", "our sessions", "statement sessions", "difference", "our amount", "statement amount",
            "net difference", "gross difference"]
    rows = [["007delivery", "187", "187", "+0", "224.40", "224.40", "0.00", "2.40"],
            ["shop", "1076", "1076", "+0", "1291.20", "1291.20", "0.00", "0.00"]]
    for width in (100, 120):
        buf = io.StringIO()
        render.fit_table(Console(file=buf, width=width, no_color=True), cols, rows, set(cols[1:]))
        text = buf.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width and "…" not in text
        for row in rows:
            assert re.search(r"│ " + r" +│ +".join(re.escape(v) for v in row) + r" │", text), (width, text)


def test_each_label_stays_on_the_line_of_its_number():
    import dataclasses
    from decimal import Decimal

    inv = _invoice()
    a = dataclasses.replace(inv.accounts[0], minimum_charge_top_up=Decimal("12345.67"), usage=Decimal("123456.78"))
    inv = dataclasses.replace(inv, accounts=(a, *inv.accounts[1:]))
    for width in (60, 120):
        text = _text(inv, width)
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= width
        for label in ("usage 123456.78", "minimum charge top-up 12345.67", "net 5005.75", "tax 0.00 (0 %)",
                      "amount due 5005.75", "amount due 5002.10", "Net 10007.85", "tax 0.00",
                      "amount due 10007.85 RUB", "Rows: 18 read = 1 duplicates", "0 rejected", "0 excluded",
                      "9 in session", "8 out of session", "to 2026-11-01T21:00:00Z", "to 2026-10-31T21:30:00Z;",
                      "(loaded: 2026-09-20T07:00:00Z", "1 session(s) of the period still open)"):
            assert any(label in line for line in lines), (width, label, text)
        # no line starts with a bare number (a number torn from its label)
        assert not [line for line in lines if re.fullmatch(r"\s*[\d.]+\s*", line)], text
    wide = _text(inv, 120).splitlines()
    assert "  usage 123456.78; minimum charge top-up 12345.67; net 5005.75; tax 0.00 (0 %); amount due 5005.75" in wide
    narrow = _text(inv, 60).splitlines()
    k = narrow.index("  usage 123456.78; minimum charge top-up 12345.67;")
    assert narrow[k + 1] == "    net 5005.75; tax 0.00 (0 %); amount due 5005.75"
