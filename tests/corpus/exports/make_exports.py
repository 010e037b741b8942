"""Make the exports of tests/corpus/exports/ (run once; the files are committed).

    python tests/corpus/exports/make_exports.py

One 2,000-row log (``canonical.csv``, made by ``viber-sessions generate``) written the ways
billing teams get it: Windows-1251 with ``;``, Russian headers and values and ``dd.mm.yyyy``
Moscow times; UTF-16 TSV as Excel saves "Unicode Text"; JSON Lines with epoch milliseconds; an
``.xlsx`` workbook with date cells (on its second sheet); subscribers in mixed phone spellings;
and blank lines and ``,,,,,,`` rows. Each has its profile (``NAME.toml``) and bills to exactly
the canonical invoice (tests/test_exports.py).

No xlsx writer is installed, so the workbook is written here as the few XML parts a minimal
.xlsx needs (inline strings; date cells are serial numbers with a date-time number format).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
MOSCOW = ZoneInfo("Europe/Moscow")
COLUMNS = ["message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type", "status"]
RUSSIAN = ["ИД сообщения", "Дата", "Аккаунт", "Абонент", "Направление", "Тип", "Статус"]
DIRECTIONS = {"inbound": "Входящее", "outbound": "Исходящее"}
TYPES = {"text": "Текст", "image": "Картинка", "file": "Файл", "video": "Видео", "text_button": "Текст и кнопка",
         "image_text_button": "Картинка, текст и кнопка"}
STATUSES = {"delivered": "Доставлено", "read": "Прочитано", "failed": "Не доставлено", "expired": "Истекло", "": ""}


def rows() -> list[dict]:
    with open(HERE / "canonical.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def cp1251_semicolon(data: list[dict]) -> None:
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(RUSSIAN)
    for r in data:
        local = instant(r["timestamp"]).astimezone(MOSCOW)
        w.writerow([r["message_id"], local.strftime("%d.%m.%Y %H:%M:%S"), r["business_id"], r["subscriber_id"],
                    DIRECTIONS[r["direction"]], TYPES[r["message_type"]], STATUSES[r["status"]]])
    (HERE / "cp1251_semicolon.csv").write_bytes(out.getvalue().encode("cp1251"))


def excel_utf16(data: list[dict]) -> None:
    out = io.StringIO()
    w = csv.writer(out, delimiter="\t", lineterminator="\r\n")
    w.writerow(["Message ID", "Sent", "Account", "Phone", "Direction", "Type", "Status"])
    for r in data:
        local = instant(r["timestamp"]).astimezone(MOSCOW)
        w.writerow([r["message_id"], local.strftime("%Y-%m-%d %H:%M:%S"), r["business_id"], r["subscriber_id"],
                    r["direction"].upper(), r["message_type"], r["status"]])
    (HERE / "excel_utf16.tsv").write_bytes(out.getvalue().encode("utf-16"))      # with its byte order mark


def json_lines(data: list[dict]) -> None:
    lines = []
    for r in data:
        obj = {"id": r["message_id"], "ts": int(instant(r["timestamp"]).timestamp() * 1000),
               "account": r["business_id"], "subscriber": r["subscriber_id"], "direction": r["direction"],
               "type": r["message_type"], "extra": {"channel": "viber"}}
        if r["status"]:
            obj["status"] = r["status"]
        lines.append(json.dumps(obj, ensure_ascii=False))
    (HERE / "messages.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def mixed_phones(data: list[dict]) -> None:
    """Each +7 900 number in one of four spellings, by row; other ids as they are."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for i, r in enumerate(data):
        sub = r["subscriber_id"]
        if sub.startswith("+7") and len(sub) == 12:
            d = sub[2:]
            sub = [sub, f"+7 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}", f"8 {d[:3]} {d[3:6]} {d[6:8]} {d[8:]}", "7" + d][i % 4]
        w.writerow([r[c] if c != "subscriber_id" else sub for c in COLUMNS])
    (HERE / "mixed_phones.csv").write_text(out.getvalue(), encoding="utf-8")


def blank_rows(data: list[dict]) -> None:
    """Blank lines, whitespace-only lines and Excel's ,,,,,, rows among the rows."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    out.write("\n,,,,,,\n")
    for i, r in enumerate(data):
        w.writerow([r[c] for c in COLUMNS])
        if i % 250 == 7:
            out.write(",,,,,,\n" if i % 500 == 7 else "   \n")
    out.write(",,,,,,\n  \t")
    (HERE / "blank_rows.csv").write_text(out.getvalue(), encoding="utf-8")


# --- a minimal .xlsx ---------------------------------------------------------------------------

def _col(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def _cell(ref: str, value) -> str:
    if isinstance(value, datetime):
        serial = (value - datetime(1899, 12, 30)).total_seconds() / 86_400
        return f'<c r="{ref}" s="1"><v>{serial!r}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if value == "":
        return ""
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def _sheet(table: list[list]) -> str:
    body = "".join(f'<row r="{r + 1}">' + "".join(_cell(f"{_col(c)}{r + 1}", v) for c, v in enumerate(row)) + "</row>"
                   for r, row in enumerate(table))
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{body}</sheetData></worksheet>")


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> None:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    names = list(sheets)
    parts = {
        "[Content_Types].xml":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" '
                      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                      for i in range(len(names)))
            + "</Types>",
        "_rels/.rels":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml":
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            + "".join(f'<sheet name="{escape(n)}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(names))
            + "</sheets></workbook>",
        "xl/_rels/workbook.xml.rels":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{i + 1}" Type="{rel}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
                      for i in range(len(names)))
            + f'<Relationship Id="rId{len(names) + 1}" Type="{rel}/styles" Target="styles.xml"/></Relationships>',
        "xl/styles.xml":
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="{main}">'
            '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd.mm.yyyy hh:mm:ss"/></numFmts>'
            '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders>'
            '<cellStyleXfs count="1"><xf/></cellStyleXfs>'
            '<cellXfs count="2"><xf/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>',
    }
    for i, n in enumerate(names):
        parts[f"xl/worksheets/sheet{i + 1}.xml"] = _sheet(sheets[n])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))     # byte-identical re-runs
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)


def workbook(data: list[dict]) -> None:
    table = [["Сообщение", "Время", "Аккаунт", "Абонент", "Направление", "Тип", "Статус"]]
    for r in data:
        local = instant(r["timestamp"]).astimezone(MOSCOW).replace(tzinfo=None)
        table.append([r["message_id"], local, r["business_id"], r["subscriber_id"], r["direction"], r["message_type"],
                      r["status"]])
    write_xlsx(HERE / "messages.xlsx", {"Сводка": [["Выгрузка сообщений"], ["строк", str(len(data))]],
                                        "Сообщения": table})


def main() -> None:
    canonical = HERE / "canonical.csv"
    if not canonical.exists():
        subprocess.run([sys.executable, "-m", "viber_sessions", "generate", str(canonical), "--rows", "2000",
                        "--seed", "3", "--start", "2026-09-29", "--days", "33"], check=True)
    data = rows()
    cp1251_semicolon(data)
    excel_utf16(data)
    json_lines(data)
    mixed_phones(data)
    blank_rows(data)
    workbook(data)


if __name__ == "__main__":
    main()
