"""The cost of reading subscribers as phone numbers (issue 8): the 10M-row invoice with and
without ``--subscriber-format e164 --default-region RU``, and the spellings check alone.

    python bench/exports.py                  # best of 3, bench/data/realistic-10000000.parquet
    python bench/exports.py --rows 1000000 --repeat 1

Whole processes timed with /usr/bin/time (wall seconds, peak RSS); the target is at most 15 %
over the same invoice without the option. Prints a Markdown table for bench/results.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import CLI, TARIFF, dataset  # noqa: E402


def best(cmd: list[str], repeat: int) -> tuple[float, int]:
    out = None
    for _ in range(repeat):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            done = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf.name, *cmd], capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr}")
            wall, rss = tf.read().split()[-2:]
        if out is None or float(wall) < out[0]:
            out = (float(wall), int(rss) // 1024)
    return out


def spellings_alone(path: Path) -> tuple[int, float, int]:
    """(distinct subscribers, seconds of subscriber_spellings, subscribers found) in-process."""
    import pyarrow.parquet as pq

    from viber_sessions.phones import subscriber_spellings

    subs = pq.read_table(path, columns=["subscriber_id"]).column(0).combine_chunks().dictionary_encode().dictionary
    t = time.perf_counter()
    found = subscriber_spellings(subs)
    return len(subs), time.perf_counter() - t, found.count


def normalise_alone(path: Path) -> tuple[float, int, int]:
    """(seconds of normalise_ids over the subscriber column, distinct values parsed, kept) in-process."""
    import pyarrow.parquet as pq

    from viber_sessions import phones

    col = pq.read_table(path, columns=["subscriber_id"], read_dictionary=["subscriber_id"]).column(0).combine_chunks()
    phones.to_e164.cache_clear()
    t = time.perf_counter()
    _, outcome = phones.normalise_ids(col, "RU")
    return time.perf_counter() - t, outcome.changed + outcome.kept, outcome.kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = dataset(HERE / "data", f"realistic-{args.rows}", args.rows)
    base = [CLI, "invoice", str(path), "--tariff", str(TARIFF), "--period", "2026-10", "--format", "json",
            "--output", "/dev/null", "-q"]
    plain = best(base, args.repeat)
    e164 = best(base + ["--subscriber-format", "e164", "--default-region", "RU"], args.repeat)
    distinct, seconds, found = spellings_alone(path)
    print("| log | as written: s (MiB) | e164: s (MiB) | e164 cost |\n| --- | --- | --- | --- |")
    print(f"| realistic, {args.rows:,} rows, parquet | {plain[0]:.2f} ({plain[1]}) | {e164[0]:.2f} ({e164[1]}) | "
          f"{(e164[0] / plain[0] - 1) * 100:+.1f} % |")
    norm, parsed, kept = normalise_alone(path)
    print(f"\nsubscriber_spellings over the {distinct:,} distinct subscribers: {seconds:.3f} s ({found} found)")
    print(f"normalise_ids alone: {norm:.2f} s ({parsed:,} distinct non-canonical values parsed, {kept:,} kept), "
          f"{norm / plain[0] * 100:.1f} % of the invoice as written")


if __name__ == "__main__":
    main()
