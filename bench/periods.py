"""A 12-month run against a one-month run on the same log (README, "Monthly runs").

    python bench/periods.py                 # 10M rows over 365 days (generated once into bench/data/)
    python bench/periods.py --rows 1000000  # a smaller log

Both runs are whole processes (`viber-sessions invoice ... --format json -q -o FILE`), timed
alternately `--repeat` times; the best of each is compared. The goal: the 12-month run costs
at most 1.2x the one-month run (one load and one segmentation for every period).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    log = DATA / f"year-{opts.rows}.parquet"
    if not log.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "viber_sessions", "generate", str(log), "--rows", str(opts.rows),
                        "--days", "365", "--start", "2026-01-01"], check=True)
    tariff = str(ROOT / "sample_data" / "tariff.toml")
    with tempfile.TemporaryDirectory() as tmp:
        base = [sys.executable, "-m", "viber_sessions", "invoice", str(log), "--tariff", tariff, "--format", "json",
                "-q", "-o", f"{tmp}/out.json"]
        one, twelve = [], []
        for _ in range(opts.repeat):
            one.append(timed([*base, "--period", "2026-06"]))
            twelve.append(timed([*base, "--period", "2026-01..2026-12"]))
    a, b = min(one), min(twelve)
    print(f"| {opts.rows:,} rows over 365 days | 1 month {a:.2f} s | 12 months {b:.2f} s | ratio {b / a:.2f}x |")


if __name__ == "__main__":
    main()
