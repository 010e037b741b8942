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


def test_skip_converts_without_importing_pandas_and_restore_brings_it_back():
    out = run("""
import json, sys
from viber_sessions import nopandas
first = nopandas.skip()
import numpy as np, pyarrow as pa, pyarrow.compute as pc
values = [pa.array(["a", ""]).to_pylist(), pc.equal(pa.array(["a"]), "a").to_pylist(),
          pa.array(np.array([1.5, np.nan])).null_count, pa.table({"a": np.arange(3)}).num_rows]
before = "pandas" in sys.modules
import pandas as pd
nan = pd.Series([1.0, None])
skipped_nulls = pa.array(nan).null_count            # pyarrow does not know pandas: NaN stays a number
nopandas.restore()
print(json.dumps({"first": first, "again": nopandas.skip(), "values": values, "before": before,
                  "skipped_nulls": skipped_nulls, "restored_nulls": pa.array(nan).null_count,
                  "category": str(pa.array(pd.Series(pd.Categorical(["x", "y"]))).type),
                  "skipped": nopandas.skipped(), "wanted": nopandas.wanted()}))
""")
    assert out["first"] is True and out["before"] is False
    assert out["values"] == [["a", ""], [True], 0, 3]
    assert out["skipped_nulls"] == 0                 # why restore() is called before pandas objects
    assert out["restored_nulls"] == 1 and out["category"].startswith("dictionary")
    assert out["skipped"] is False and out["again"] is False and out["wanted"] == ["pandas"]


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


@pytest.mark.parametrize("args", [
    ["explain", LOG, "--tariff", TARIFF, "--business", "shop", "--subscriber", "+79001234567", "--format", "json"],
    ["invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--format", "json", "-q"],
], ids=["explain", "invoice"])
def test_the_console_script_runs_without_pandas(args):
    out = run(CONSOLE.format(args=args))
    assert out == {"code": 0, "pandas": False, "imported": False}


def test_the_console_script_on_dask_bills_as_in_memory(tmp_path):
    pytest.importorskip("dask.dataframe")
    pytest.importorskip("distributed")
    out_file = tmp_path / "inv.json"
    args = ["invoice", LOG, "--tariff", TARIFF, "--period", "2026-10", "--format", "json", "-q",
            "--engine", "dask", "-o", str(out_file)]
    local = tmp_path / "local.json"
    assert run(CONSOLE.format(args=args))["code"] == 0
    assert run(CONSOLE.format(args=args[:-4] + ["-o", str(local)]))["code"] == 0
    strip = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k != "generated_by"}  # noqa: E731
    assert strip(out_file) == strip(local)
