"""generated_by: tool, command, zone, tariff and inputs with sha256 (or size and mtime); no clock."""

from __future__ import annotations

import hashlib
import os

from viber_sessions.provenance import Digests, generated_by


def test_generated_by_hashes_files_and_records_no_clock(tmp_path):
    log = tmp_path / "m.csv"
    log.write_text("a,b\n1,2\n")
    tariff = tmp_path / "t.toml"
    tariff.write_text("x = 1\n")
    doc = generated_by("viber-sessions invoice m.csv", "Europe/Moscow", str(tariff), [str(log)])
    assert doc["tool"] == "viber-sessions" and doc["timezone"] == "Europe/Moscow"
    assert doc["tariff"] == {"path": str(tariff), "sha256": hashlib.sha256(b"x = 1\n").hexdigest()}
    assert doc["inputs"] == [{"path": str(log), "bytes": 8, "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest()}]
    assert doc == generated_by("viber-sessions invoice m.csv", "Europe/Moscow", str(tariff), [str(log)])
    os.utime(log, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    fast = generated_by("c", "UTC", str(tariff), [str(log), "-"], fast=True, state_in=str(tariff))
    assert fast["inputs"] == [{"path": str(log), "bytes": 8, "mtime": "2023-11-14T22:13:20Z"},
                              {"path": "-", "bytes": None, "mtime": None}]
    assert fast["state_in"]["sha256"] == doc["tariff"]["sha256"]


def test_digests_started_early_equal_hashing_at_the_end_and_notice_a_changed_file(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.csv", "b.csv", "c.csv"))
    a.write_bytes(b"x" * (3 << 20))            # several reads of a megabyte
    b.write_text("m,b\n")
    c.write_text("never started\n")
    digests = Digests.start([str(a), str(b), str(a), "-", str(tmp_path / "missing.csv"), str(tmp_path)])
    assert digests.sha256(str(a)) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    b.write_text("m,b,changed after the start\n")
    assert digests.sha256(str(b)) == hashlib.sha256(b"m,b,changed after the start\n").hexdigest()
    assert digests.sha256(str(c)) == hashlib.sha256(b"never started\n").hexdigest()
    assert digests.sha256("-") is None and digests.sha256(str(tmp_path / "missing.csv")) is None
    doc = generated_by("c", "UTC", None, [str(a), str(c)], digests=digests)
    assert doc == generated_by("c", "UTC", None, [str(a), str(c)])
