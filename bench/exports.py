"""The cost of reading subscribers as phone numbers (issue 8): the 10M-row invoice with and
without ``--subscriber-format e164 --default-region RU``, and the spellings check alone.

    python bench/exports.py                  # best of 3, bench/data/realistic-10000000.parquet
    python bench/exports.py --rows 1000000 --repeat 1

Whole processes timed with /usr/bin/time (wall seconds, peak RSS); the target is at most 15 %
over the same invoice without the option. Prints a Markdown table for bench/results.md, then
in-process figures: the spellings check, normalise_ids alone, and the typing of the file
(``type_columns``) without the option, with it inline, and with the parses on their thread
(``phones.Normalising``, the default), each the best of --repeat; and the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
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


def normalise_alone(path: Path) -> tuple[float, int, int, int]:
    """(seconds of normalise_ids over the subscriber column, distinct values not canonical, of
    those parsed (written with phone characters only), kept) in-process."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from viber_sessions import phones

    col = pq.read_table(path, columns=["subscriber_id"], read_dictionary=["subscriber_id"]).column(0).combine_chunks()
    other = col.dictionary.filter(pc.invert(pc.match_substring_regex(col.dictionary, phones.CANONICAL_E164)))
    parsed = pc.sum(pc.match_substring_regex(pc.utf8_trim_whitespace(other), phones.PHONE_LIKE)).as_py() or 0
    phones.to_e164.cache_clear()
    t = time.perf_counter()
    _, outcome = phones.normalise_ids(col, "RU")
    return time.perf_counter() - t, len(other), parsed, outcome.kept


def typing_alone(path: Path, repeat: int) -> dict[str, float]:
    """Best seconds of ``type_columns`` over the file as read: as written, e164 with the parses
    inline (no thread), e164 with the parses on their thread (the default)."""
    from viber_sessions import phones
    from viber_sessions.load.options import LoadOptions
    from viber_sessions.load.read import read_raw
    from viber_sessions.load.typed import type_columns

    plain = LoadOptions()
    e164 = dataclasses.replace(plain, subscriber_format="e164", default_region="RU")
    raw = read_raw(str(path), plain, None)
    phones.to_e164("+7 900 000 00 00", "RU")             # phonenumbers' metadata loaded once
    least = phones.BACKGROUND_MIN_VALUES
    out: dict[str, list[float]] = {}
    try:
        for _ in range(repeat):
            for label, options, minimum in (("as written", plain, least), ("e164 inline", e164, 1 << 62),
                                            ("e164 on a thread", e164, least)):
                phones.BACKGROUND_MIN_VALUES = minimum
                phones.to_e164.cache_clear()
                t = time.perf_counter()
                type_columns(str(path), raw, options)
                out.setdefault(label, []).append(time.perf_counter() - t)
    finally:
        phones.BACKGROUND_MIN_VALUES = least
    return {label: min(times) for label, times in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = dataset(HERE / "data", f"realistic-{args.rows}", args.rows)
    base = [CLI, "invoice", str(path), "--tariff", str(TARIFF), "--period", "2026-10", "--format", "json",
            "--output", "/dev/null", "-q"]
    runs = [(best(base, 1), best(base + ["--subscriber-format", "e164", "--default-region", "RU"], 1))
            for _ in range(args.repeat)]          # interleaved: a busy moment hits both alike
    plain, e164 = min(r[0] for r in runs), min(r[1] for r in runs)
    distinct, seconds, found = spellings_alone(path)
    print("| log | as written: s (MiB) | e164: s (MiB) | e164 cost |\n| --- | --- | --- | --- |")
    print(f"| realistic, {args.rows:,} rows, parquet | {plain[0]:.2f} ({plain[1]}) | {e164[0]:.2f} ({e164[1]}) | "
          f"{(e164[0] / plain[0] - 1) * 100:+.1f} % |")
    norm, other, parsed, kept = normalise_alone(path)
    print(f"\nsubscriber_spellings over the {distinct:,} distinct subscribers: {seconds:.3f} s ({found} found)")
    print(f"normalise_ids alone: {norm:.2f} s ({other:,} distinct values not canonical, {parsed:,} of them parsed, "
          f"{kept:,} kept), "
          f"{norm / plain[0] * 100:.1f} % of the invoice as written")
    typing = typing_alone(path, args.repeat)
    print("typing the file (type_columns): " + ", ".join(f"{k} {v:.2f} s" for k, v in typing.items()))
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
