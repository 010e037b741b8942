"""The batch streamer (viber_sessions/load/batches.py): a CSV line longer than the block is read
(the block grows, the rows already given are not given again), with the same rows, row numbers
and lines set aside as one large block gives; the engines that stream batches bill such a file
as in memory."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from viber_sessions.cli import cli
from viber_sessions.load import LoadOptions
from viber_sessions.load.batches import CsvBatches, raw_batches

HEADER = "message_id,timestamp,business_id,subscriber_id,direction,message_type\n"
TARIFF = "sample_data/tariff.toml"


def _long_log(path, long_at=(3, 40), width=150_000, rows=60):
    """Short rows with a few very long ones, a blank line and two lines set aside."""
    lines = [HEADER]
    for i in range(rows):
        business = "B" * width if i in long_at else "shop"
        lines.append(f"m{i},2026-10-01T10:{i % 60:02d}:00Z,{business},+7900{i % 3},"
                     f"{'inbound' if i % 2 == 0 else 'outbound'},text\n")
        if i == 10:
            lines.append("\n")
        if i in (20, 41):
            lines.append(f"x{i},2026-10-01T10:00:00Z,shop\n")          # too few fields
    path.write_text("".join(lines))
    return str(path)


def _all(batches: CsvBatches):
    got = list(batches)
    table = pa.concat_tables([b.table for b in got]).to_pydict()        # dictionaries decoded
    positions = np.concatenate([b.positions for b in got])
    malformed = [m for b in got for m in b.malformed] + batches.malformed
    return table, positions.tolist(), malformed, batches.rows, batches.blank, batches.notices


@pytest.mark.parametrize("long_at", [(3, 40), (0,), (59,), (20, 21, 22)])
def test_a_line_longer_than_the_block_is_read(tmp_path, long_at):
    path = _long_log(tmp_path / "long.csv", long_at)
    options = LoadOptions()
    small = CsvBatches(path, options, 1 << 16)
    table, positions, malformed, rows, blank, notices = _all(small)
    assert small.block > 150_000                       # it grew
    ref = _all(CsvBatches(path, options, 1 << 26))
    assert table == ref[0]
    assert (positions, malformed, rows, blank, notices) == tuple(ref[1:])
    assert len(positions) == len(set(positions)) == 60 and rows == 62 and blank == 1
    assert [m[0] for m in malformed] == [22, 44]        # blank lines are not rows


def test_raw_batches_of_long_lines(tmp_path):
    path = _long_log(tmp_path / "long.csv")
    got = list(raw_batches(path, LoadOptions(), 1))
    assert sum(r.table.num_rows for r in got) == 60


def test_invoice_and_validate_with_a_small_memory_limit_read_long_lines(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(HEADER + "".join(f"m{i},2026-10-01T10:0{i}:00Z,{'B' * 200_000},+79001,"
                                     f"{'inbound' if i == 0 else 'outbound'},text\n" for i in range(6)))
    args = ["invoice", str(path), "--tariff", TARIFF, "--period", "2026-10", "--format", "csv", "-q"]
    full = CliRunner().invoke(cli, args)
    small = CliRunner().invoke(cli, [*args, "--memory-limit", "1MB"])
    assert full.exit_code == small.exit_code == 0, small.output
    assert small.stdout_bytes == full.stdout_bytes and "B" * 200_000 in full.stdout
    full = CliRunner().invoke(cli, ["validate", str(path)])
    small = CliRunner().invoke(cli, ["validate", str(path), "--memory-limit", "1KB"])
    assert full.exit_code == small.exit_code == 0, small.output
    assert small.stdout == full.stdout and '"rows_read": 6' in full.stdout
