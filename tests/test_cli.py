"""The command line through click's CliRunner: exact output, formats, files, determinism, docs."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from click.testing import CliRunner

from viber_sessions.cli import cli
from viber_sessions.tables import MESSAGES_COLUMNS, SESSIONS_COLUMNS

ROOT = Path(__file__).parent.parent
CASES = Path(__file__).parent / "cases"
TARIFF = str(CASES / "invoice" / "tariff.toml")
LOG = str(CASES / "invoice" / "messages.csv")


def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), **kw)


def test_csv_invoice_exact():
    result = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "period,business_id,item,direction,message_type,zone,count,unit_price,amount\n"
        "2026-10,shop,subscription_fee,,,,1,5000.00,5000.00\n"
        "2026-10,shop,sessions,,,,2,1.20,2.40\n"
        "2026-10,shop,out_of_session,inbound,text,,1,0.00,0.00\n"
        "2026-10,shop,out_of_session,outbound,text,,1,0.85,0.85\n"
        "2026-10,shop,out_of_session,outbound,text_button,,1,1.00,1.00\n"
        "2026-10,shop,out_of_session,outbound,video,,1,1.50,1.50\n"
        "2026-10,shop,account_total,,,,,,5005.75\n"
        "2026-10,shop,usage,,,,,,5.75\n"
        "2026-10,shop,minimum_charge_top_up,,,,,,0.00\n"
        "2026-10,shop,net,,,,,,5005.75\n"
        "2026-10,shop,tax,,,,,0,0.00\n"
        "2026-10,shop,amount_due,,,,,,5005.75\n"
        "2026-10,taxi,subscription_fee,,,,1,5000.00,5000.00\n"
        "2026-10,taxi,sessions,,,,0,1.20,0.00\n"
        "2026-10,taxi,out_of_session,inbound,image,,1,0.00,0.00\n"
        "2026-10,taxi,out_of_session,outbound,image_text_button,,1,1.25,1.25\n"
        "2026-10,taxi,out_of_session,outbound,text,,1,0.85,0.85\n"
        "2026-10,taxi,account_total,,,,,,5002.10\n"
        "2026-10,taxi,usage,,,,,,2.10\n"
        "2026-10,taxi,minimum_charge_top_up,,,,,,0.00\n"
        "2026-10,taxi,net,,,,,,5002.10\n"
        "2026-10,taxi,tax,,,,,0,0.00\n"
        "2026-10,taxi,amount_due,,,,,,5002.10\n"
        "2026-10,,grand_total,,,,,,10007.85\n"
        "2026-10,,grand_net,,,,,,10007.85\n"
        "2026-10,,grand_tax,,,,,,0.00\n"
        "2026-10,,grand_amount_due,,,,,,10007.85\n")


def test_json_invoice_schema_and_provenance():
    result = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow", "--format", "json")
    doc = json.loads(result.stdout)
    assert list(doc) == ["period", "status", "coverage", "timezone", "currency", "rows", "accounts", "total", "net",
                         "tax", "amount_due", "warnings", "generated_by"]
    assert doc["rows"] == {"read": 18, "duplicates": 1, "rejected": 0, "excluded": 0, "before_cut": 0, "in_session": 9,
                           "out_of_session": 8, "blank_lines": 0}
    shop = doc["accounts"][0]
    assert shop["sessions"] == {"count": 2, "unit_price": "1.20", "amount": "2.40"}
    assert shop["subscription_fee"] == "5000.00" and shop["total"] == "5005.75"
    assert doc["generated_by"]["command"].startswith("viber-sessions invoice ")
    assert [i["path"] for i in doc["generated_by"]["inputs"]] == [LOG]
    assert doc["generated_by"]["inputs"][0]["sha256"] == hashlib.sha256(open(LOG, "rb").read()).hexdigest()
    # the data reaches back to September 20th: no history warning; b4 (video) was sent inside a session
    assert doc["warnings"] == ["account 'shop': 1 business message(s) of a type not allowed in a session (video) "
                               "sent while a session was open; billed per message"]


def test_table_format_on_terminal_shows_totals():
    result = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow", "--format", "table")
    assert result.exit_code == 0
    assert "Total: 10007.85 RUB" in result.stdout
    flat = " ".join(result.stdout.split())
    assert "Rows: 18 read = 1 duplicates + 0 rejected + 0 excluded + 9 in session + 8 out of session" in flat
    assert "warning" not in result.stdout      # warnings go to stderr only


def test_account_filter():
    result = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow",
                 "--format", "json", "--account", "taxi")
    doc = json.loads(result.stdout)
    assert [a["business_id"] for a in doc["accounts"]] == ["taxi"] and doc["total"] == "5002.10"


def test_outputs_are_deterministic_and_csv_parquet_agree(tmp_path):
    outs = []
    for k in range(2):
        args = ["invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow",
                "--output", str(tmp_path / "inv0.json"), "--messages-out", str(tmp_path / "m0.csv"),
                "--sessions-out", str(tmp_path / "s0.parquet"), "-q"]
        assert run(*args).exit_code == 0
        outs.append([(tmp_path / n).read_bytes() for n in ("inv0.json", "m0.csv", "s0.parquet")])
    assert outs[0] == outs[1]
    # the same log as Parquet gives the same invoice and assignment
    table = pacsv.read_csv(LOG, convert_options=pacsv.ConvertOptions(
        column_types={c: "string" for c in ("message_id", "business_id", "subscriber_id", "timestamp")}))
    pq.write_table(table, tmp_path / "log.parquet")
    r = run("invoice", str(tmp_path / "log.parquet"), "--tariff", TARIFF, "--period", "2026-10", "--tz",
            "Europe/Moscow", "--format", "json", "--messages-out", str(tmp_path / "mp.csv"))
    a = json.loads((tmp_path / "inv0.json").read_text())
    b = json.loads(r.stdout)
    for doc in (a, b):
        doc.pop("generated_by")
    assert a == b
    strip = lambda text: re.sub(r",[^,\n]*,\d+\n", "\n", text)  # noqa: E731  (source file and row differ)
    assert strip((tmp_path / "m0.csv").read_text()) == strip((tmp_path / "mp.csv").read_text())


def test_messages_out_columns_and_sessions_out(tmp_path):
    run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow", "-q", "--format", "json",
        "--messages-out", str(tmp_path / "m.parquet"), "--sessions-out", str(tmp_path / "s.csv"))
    m = pq.read_table(tmp_path / "m.parquet")
    assert m.column_names[:9] == ["message_id", "business_id", "subscriber_id", "timestamp", "direction",
                                  "message_type", "session_id", "billing", "reason"]
    assert tuple(m.column_names) == MESSAGES_COLUMNS
    assert m.num_rows == 18
    assert m.column("billing").to_pylist().count("duplicate") == 1
    s = pacsv.read_csv(tmp_path / "s.csv", convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    assert s.column_names == ["session_id", "business_id", "subscriber_id", "start", "expires_at", "origin",
                              "close_reason", "inbound_messages", "outbound_messages", "billable", "billed_period"]
    assert tuple(s.column_names) == SESSIONS_COLUMNS
    first = s.slice(0, 1).to_pylist()[0]
    assert first["session_id"] == "old/+79000000007/20260920T070000Z"
    assert first["billed_period"] == "2026-09" and first["close_reason"] == "expired"


def test_failed_run_leaves_no_file(tmp_path):
    out = tmp_path / "inv.json"
    result = run("invoice", str(CASES / "nope.csv"), "--tariff", TARIFF, "--period", "2026-10", "--output", str(out))
    assert result.exit_code == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_usage_errors_exit_2():
    assert run("invoice", LOG, "--tariff", TARIFF, "--period", "October").exit_code == 2
    assert run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Mars/Base").exit_code == 2
    assert run("invoice", LOG, "--period", "2026-10").exit_code == 2
    r = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--messages-out", "x.txt")
    assert r.exit_code == 2 and "use a name ending in .csv, .csv.gz, .parquet, .pq" in r.stderr


def test_unpriced_type_names_type_and_count(tmp_path):
    t = tmp_path / "t.toml"
    t.write_text('currency = "RUB"\nmonthly_fee = "1"\nsession_price = "1"\n[outbound_prices]\ntext = "1"\n')
    r = run("invoice", LOG, "--tariff", str(t), "--period", "2026-10")
    assert r.exit_code == 1
    assert "no price for message type 'image' (2 rows), 'image_text_button' (1 row)" in r.stderr


def test_every_command_has_help_and_readme_docs():
    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert command.help and len(command.help) > 40, f"{name} has no help text"
        assert f"viber-sessions {name}" in readme, f"README does not document `{name}`"
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert param.help, f"{name} {param.opts[0]} has no help"
                assert param.opts[-1] in readme or param.opts[0] in readme, \
                    f"README does not mention {name} {param.opts[-1]}"


def test_broken_pipe_is_quiet(tmp_path):
    big = tmp_path / "big.csv"
    assert run("generate", str(big), "--rows", "20000", "--seed", "2").exit_code == 0
    code = ("import subprocess, sys\n"
            f"p = subprocess.Popen([sys.executable, '-m', 'viber_sessions', 'invoice', {str(big)!r}, '--tariff', "
            f"{TARIFF!r}, '--period', '2026-10', '--format', 'json', '--messages-out', '/dev/stdout', '-q'], "
            "stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
            "p.stdout.readline(); p.stdout.close(); err = p.stderr.read().decode(); p.wait()\n"
            "print(repr(err))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stdout, out.stdout


def test_generate_is_deterministic(tmp_path):
    for k in range(2):
        assert run("generate", str(tmp_path / f"g{k}.parquet"), "--rows", "3000", "--seed", "5").exit_code == 0
    a, b = (pq.read_table(tmp_path / f"g{k}.parquet") for k in range(2))
    assert a.equals(b) and a.num_rows == 3000
    assert set(a.column_names) == {"message_id", "timestamp", "business_id", "subscriber_id", "direction",
                                   "message_type", "status"}


def test_unknown_account_is_an_error():
    # a typo must not produce a zero invoice
    result = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--tz", "Europe/Moscow",
                 "--format", "json", "--account", "taxi", "--account", "tax")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "error: --account 'tax': no row of the loaded log belongs to this account " \
                            "(did you mean 'taxi'?)\n"


def test_account_without_messages_in_the_period_is_warned():
    result = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-11", "--tz", "Europe/Moscow",
                 "--format", "json", "--account", "taxi")
    doc = json.loads(result.stdout)
    assert doc["accounts"] == []
    assert "--account 'taxi': no message of this account is timestamped in 2026-11" in doc["warnings"]


def test_reconcile_option_bounds_are_usage_errors():
    statement = str(ROOT / "sample_data" / "statement.csv")
    for option, value in (("--time-tolerance", "nan"), ("--time-tolerance", "1e308"), ("--tolerance", "1e999"),
                          ("--tolerance", "NaN"), ("--tolerance", "-1")):
        r = run("reconcile", LOG, "--tariff", TARIFF, "--statement", statement, option, value)
        assert r.exit_code == 2 and "Traceback" not in r.output, (option, value, r.output)


def test_an_unexpected_exception_is_one_line_and_exit_3(monkeypatch):
    from viber_sessions import core

    def boom(*a, **kw):
        raise ValueError("line one\nline two")

    monkeypatch.setattr(core, "prepare", boom)
    r = run("invoice", LOG, "--tariff", TARIFF, "--period", "2026-10")
    assert r.exit_code == 3
    assert r.stderr == ("error: internal error (ValueError: line one line two); this is a bug of viber-sessions: "
                        "please report it with the command (-v shows the traceback)\n")
