"""The report page: one HTML file with its style and charts inline and no script.

Nothing on the page is fetched: no script, no external style sheet, font or image (the charts
are inline SVG with their text drawn as paths). Every name from the log or the tariff is HTML
escaped. The same inputs give the same bytes (no clock, no random ids).
"""

from __future__ import annotations

import html
import shlex
from decimal import Decimal
from typing import Sequence

from .tally import ReportTally

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
       max-width: 1100px; margin: 24px auto; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.meta { color: #555; margin-top: 0; }
div.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { padding: 3px 7px; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
th.num { text-align: right; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot td { font-weight: bold; border-top: 2px solid #999; }
td.id { overflow-wrap: break-word; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; background: #f6f6f6;
       padding: 1px 3px; overflow-wrap: anywhere; }
figure { margin: 1.2em 0; }
figure svg { width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.85em; }
ul.warnings li { margin-bottom: 0.3em; }
.status-provisional { color: #a15c00; font-weight: bold; }
.status-final { color: #2a7a2a; font-weight: bold; }
"""

ACCOUNT_COLUMNS = ("account", "subscription fee", "sessions", "session charges", "out-of-session messages",
                   "out-of-session charges", "usage", "minimum top-up", "net", "tax", "amount due")


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def _row(cells: Sequence[str], numeric: Sequence[bool], tag: str = "td") -> str:
    out = []
    for cell, num in zip(cells, numeric):
        cls = ' class="num"' if num else (' class="id"' if tag == "td" else "")
        out.append(f"<{tag}{cls}>{esc(cell)}</{tag}>")
    return "<tr>" + "".join(out) + "</tr>"


def invoice_section(doc: dict) -> str:
    """The invoice per account (from the JSON invoice's shape), the totals and the row counts."""
    numeric = [False] + [True] * (len(ACCOUNT_COLUMNS) - 1)
    body = []
    for a in doc["accounts"]:
        oos = a["out_of_session"]
        oos_amount = sum((Decimal(line["amount"]) for line in oos), Decimal(0))
        places = len(a["usage"].split(".")[1]) if "." in a["usage"] else 0
        body.append(_row([a["business_id"], a["subscription_fee"], str(a["sessions"]["count"]),
                          a["sessions"]["amount"], str(sum(line["count"] for line in oos)),
                          f"{oos_amount:.{places}f}", a["usage"], a["minimum_charge_top_up"], a["net"], a["tax"],
                          a["amount_due"]], numeric))
    foot = _row(["total", "", "", "", "", "", "", "", doc["net"], doc["tax"], doc["amount_due"]], numeric)
    r = doc["rows"]
    parts = [f"{r['duplicates']:,} duplicates", f"{r['rejected']:,} rejected", f"{r['excluded']:,} excluded"]
    if r.get("before_cut"):
        parts.append(f"{r['before_cut']:,} before the cut")
    parts += [f"{r['in_session']:,} in session", f"{r['out_of_session']:,} out of session"]
    rows = f"Rows: {r['read']:,} read = " + " + ".join(parts)
    if r.get("blank_lines"):
        rows += f" ({r['blank_lines']:,} blank lines skipped)"
    header = _row(ACCOUNT_COLUMNS, numeric, "th")
    return (f"<h2>Invoice</h2>\n<div class=\"scroll\"><table>\n<thead>{header}</thead>\n<tbody>\n"
            + "\n".join(body) + f"\n</tbody>\n<tfoot>{foot}</tfoot>\n</table></div>\n<p>{esc(rows)}</p>\n")


def warnings_section(warnings: Sequence[str]) -> str:
    if not warnings:
        return "<h2>Warnings</h2>\n<p>None.</p>\n"
    items = "\n".join(f"<li>{esc(w)}</li>" for w in warnings)
    return f"<h2>Warnings</h2>\n<ul class=\"warnings\">\n{items}\n</ul>\n"


def _lines(account: dict) -> list[tuple[str, Decimal]]:
    """An account's invoice lines for the amount chart: the fee, the sessions, the out-of-session
    lines by type (both directions and every zone together)."""
    lines = [("subscription fee", Decimal(account["subscription_fee"])),
             ("sessions", Decimal(account["sessions"]["amount"]))]
    by_type: dict[str, Decimal] = {}
    for line in account["out_of_session"]:
        name = f"out of session: {line['message_type']}"
        by_type[name] = by_type.get(name, Decimal(0)) + Decimal(line["amount"])
    return lines + sorted(by_type.items())


#: The charts in reading order: name (also its ``svg.hashsalt``) and caption.
CHARTS = (
    ("sessions-per-day", "Billable sessions by the day they start; each is billed once, in the period of its start."),
    ("messages-per-day", "Messages billed per message (outside any billable session), inbound and outbound."),
    ("amounts", "Subscription fee, sessions and out-of-session lines; the figure is the account's total (fee + usage)."),
    ("reasons", "Every session that starts in the period, billable or not."),
    ("sizes", "How many messages the sessions that start in the period hold."),
    ("hours", "Local hour of each session's first message."),
)


def amount_charts(doc: dict) -> dict[str, tuple]:
    """The charts of the invoice alone: chart name -> (:data:`charts.CHARTS` name, args)."""
    return {"amounts": ("amounts", ([(a["business_id"], _lines(a), a["total"]) for a in doc["accounts"]],
                                    "Amount by account and line", doc["currency"], "amounts"))}


def session_charts(tally: ReportTally, month: str, tz: str) -> dict[str, tuple]:
    """The charts of the sessions' tally (:func:`.arrays.session_part`)."""
    reasons = [("Sessions by close reason", [(k, tally.close_reasons.get(k, 0)) for k in
                                             ("expired", "message_limit", "unanswered_limit", "open")]),
               ("Sessions by origin", [(k, tally.origins.get(k, 0)) for k in ("subscriber", "rollover")])]
    return {
        "sessions-per-day": ("stacked_days", (tally.sessions_per_day, tally.days, "Billable sessions per day, by account",
                                              f"day of {month} ({tz})", "sessions", "sessions-per-day")),
        "reasons": ("counts", (reasons, "reasons")),
        "sizes": ("histogram", (tally.sizes, "Messages per session", "messages in the session (inbound + outbound)",
                                "sessions", "sizes")),
        "hours": ("histogram", (tally.hours, "Hour of the day sessions open", f"hour ({tz})", "sessions", "hours", 0, 23)),
    }


def message_charts(tally: ReportTally, month: str, tz: str) -> dict[str, tuple]:
    """The charts of the messages' tally (:func:`.arrays.message_part`)."""
    return {"messages-per-day": ("stacked_days", (tally.messages_per_day, tally.days,
                                                  "Out-of-session messages per day, by type", f"day of {month} ({tz})",
                                                  "messages", "messages-per-day"))}


def chart_section(svgs: dict[str, str]) -> str:
    """Every chart (``svgs``: chart name -> SVG text), in reading order."""
    body = "\n".join(f"<figure>\n{svgs[name]}\n<figcaption>{esc(caption)}</figcaption>\n</figure>"
                     for name, caption in CHARTS)
    return f"<h2>Charts</h2>\n{body}\n"


def conversations_section(top, explain: Sequence[str], period: str) -> str:
    """The conversations charged most, each with the ``explain`` command that shows it (none
    asked for: no section)."""
    if top is None:
        return ""
    if not top.num_rows:
        return "<h2>Top conversations by charge</h2>\n<p>No conversation was charged in this period.</p>\n"
    numeric = [True, False, False, True, True, True, False]
    header = _row(["#", "account", "subscriber", "billed sessions", "billed messages", "charge", "explain it"],
                  numeric, "th")
    body = []
    for k, row in enumerate(top.to_pylist(), 1):
        command = shlex.join([*explain, "--business", row["business_id"], "--subscriber", row["subscriber_id"],
                              "--period", period])
        cells = [str(k), row["business_id"], row["subscriber_id"], f"{row['sessions']:,}", f"{row['messages']:,}",
                 f"{row['amount']}"]
        body.append(_row(cells, numeric[:6])[:-5] + f"<td><code>{esc(command)}</code></td></tr>")
    return (f"<h2>Top conversations by charge</h2>\n<p>Sessions are charged in the period they start, "
            f"out-of-session messages in the period of their timestamp.</p>\n<div class=\"scroll\"><table>\n"
            f"<thead>{header}</thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table></div>\n")


def page(doc: dict, svgs: dict[str, str], top, explain: Sequence[str], inputs: Sequence[str], tariff: str) -> str:
    """The whole HTML document (``svgs``: every chart of :data:`CHARTS`, by name)."""
    status = doc.get("status")
    status_html = f' · <span class="status-{esc(status)}">{esc(status)}</span>' if status else ""
    title = f"Viber sessions report {doc['period']}"
    listed = ", ".join(inputs[:5]) + (f" and {len(inputs) - 5} more" if len(inputs) > 5 else "")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{esc(title)}</h1>\n<p class=\"meta\">{esc(doc['timezone'])} · amounts in {esc(doc['currency'])}"
            f"{status_html}<br>log: {esc(listed)}<br>tariff: {esc(tariff)}</p>\n"
            + invoice_section(doc) + warnings_section(doc["warnings"])
            + chart_section(svgs)
            + conversations_section(top, explain, doc["period"]) + "</body>\n</html>\n")
