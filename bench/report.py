"""Report vs invoice on the benchmark log, as whole processes (issue 11: at most +20 %).

    python bench/report.py [LOG] [--runs N]

Times ``viber-sessions invoice LOG --tariff sample_data/tariff.toml --period 2026-10 --format
json -q -o OUT`` and ``viber-sessions report LOG ... -o OUT.html`` taken in turn, best of N
(default 3), and prints one Markdown row: log, invoice s, report s, the report's extra seconds
(best report - best invoice), ratio; then the medians of the runs and their ratio (a machine
whose speed drifts moves the best runs most), and the load averages before and after (other
work on the machine shows there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "bench" / "data" / "realistic-10000000.parquet"


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", default=str(DEFAULT))
    parser.add_argument("--runs", type=int, default=3)
    ns = parser.parse_args()
    if not Path(ns.log).exists():
        sys.exit(f"{ns.log}: missing; make it with: viber-sessions generate {ns.log} --rows 10000000 --seed 1 "
                 "--start 2026-09-29 --days 33")
    base = [sys.executable, "-m", "viber_sessions"]
    common = [ns.log, "--tariff", "sample_data/tariff.toml", "--period", "2026-10", "-q"]
    before = os.getloadavg()
    times: dict[str, list[float]] = {"invoice": [], "report": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ns.runs):
            times["invoice"].append(timed(base + ["invoice", *common, "--format", "json", "-o", f"{tmp}/i.json"]))
            times["report"].append(timed(base + ["report", *common, "-o", f"{tmp}/r.html"]))
    best = {k: min(v) for k, v in times.items()}
    middle = {k: statistics.median(v) for k, v in times.items()}
    print(f"| {Path(ns.log).name} | {best['invoice']:.2f} | {best['report']:.2f} | "
          f"{best['report'] - best['invoice']:+.2f} | {best['report'] / best['invoice']:.2f} |")
    print(f"medians: invoice {middle['invoice']:.2f} s, report {middle['report']:.2f} s, "
          f"{middle['report'] / middle['invoice']:.2f}x")
    print("load average before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}".format(*before, *os.getloadavg()))


if __name__ == "__main__":
    main()
