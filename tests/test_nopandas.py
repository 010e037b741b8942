"""nopandas.py: the console script keeps pyarrow from importing pandas; pandas objects still
reach pyarrow as pandas objects where we hand them over.

Each test runs in its own interpreter: pyarrow remembers its first look for pandas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARIFF = str(ROOT / "sample_data" / "tariff.toml")
LOG = str(ROOT / "tests" / "cases" / "04_unanswered_limit.csv")


def run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_skip_converts_python_values_without_importing_pandas():
    out = run("""
import json, sys
from viber_sessions import nopandas
first = nopandas.skip()
import numpy as np, pyarrow as pa, pyarrow.compute as pc
values = [pa.array(["a", ""]).to_pylist(), pc.equal(pa.array(["a"]), "a").to_pylist(),
          pa.array(np.array([1.5, np.nan])).null_count, pa.table({"a": np.arange(3)}).num_rows,
          pc.strftime(pa.array([1_000_000_001], pa.timestamp("ns", "UTC")), "%H:%M:%S").to_pylist()]
print(json.dumps({"first": first, "again": nopandas.skip(), "skipped": nopandas.skipped(), "values": values,
                  "pandas": "pandas" in sys.modules, "wanted": nopandas.wanted()}))
""")
    assert out == {"first": True, "again": True, "skipped": True, "pandas": False, "wanted": [],
                   "values": [["a", ""], [True], 0, 3, ["00:00:01.000000001"]]}


def test_skip_does_nothing_once_pandas_is_imported():
    out = run("""
import json, sys
import pandas
from viber_sessions import nopandas
import pyarrow as pa
skipped = nopandas.skip()
print(json.dumps({"skipped": skipped, "wanted": nopandas.wanted(), "nulls": pa.array(pandas.Series([1.0, None])).null_count}))
""")
    assert out == {"skipped": False, "wanted": ["pandas"], "nulls": 1}


CONSOLE = """
import json, os, sys

found = []


class Watch:
    # after nopandas.skip() (whose own finder refuses pandas first), any real import of pandas
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            found.append(name)
        return None


sys.meta_path.insert(0, Watch())
sys.argv = ["viber-sessions", *{args!r}]
real_exit = os._exit


def report_exit(code):
    sys.stdout.flush()
    print(json.dumps({{"code": code, "pandas": bool(found), "imported": "pandas" in sys.modules}}))
    sys.stdout.flush()
    real_exit(code)


os._exit = report_exit
from viber_sessions.entry import main
try:
    main()
finally:
    report_exit(0)
"""


EXPLAIN = ["explain", LOG, "--tariff", TARIFF, "--business", "shop", "--subscriber", "+79001234567"]


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_the_console_script_explains_without_pandas_as_a_run_with_pandas(fmt):
    """Only explain skips pandas; its answer is byte for byte the one of a run with pandas."""
    args = EXPLAIN + ["--format", fmt, "--tz", "Europe/Moscow"]
    out = run(CONSOLE.format(args=args))
    assert out == {"code": 0, "pandas": False, "imported": False}
    plain = subprocess.run([sys.executable, "-c", CONSOLE.format(args=args)], capture_output=True, text=True,
                           timeout=120, cwd=ROOT).stdout
    with_pandas = subprocess.run([sys.executable, "-c", "import pandas\n" + CONSOLE.format(args=args)],
                                 capture_output=True, text=True, timeout=120, cwd=ROOT).stdout
    assert plain.rsplit("\n{", 1)[0] == with_pandas.rsplit("\n{", 1)[0] and len(plain) > 200


def test_the_other_commands_keep_pandas():
    """An invoice (whose path hands pandas objects to pyarrow on Dask, and whose audit commands
    read timestamps back as Python values) keeps pyarrow's pandas."""
    out = run(CONSOLE.format(args=["invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--format", "json", "-q"]))
    assert out["code"] == 0 and out["imported"] is True
