"""The benchmarks of issues 4 and 7: the floors and `viber-sessions invoice` side by side.

    python bench/run.py                 # 1M and 10M rows (Parquet and CSV), the worst cases, the read floor
    python bench/run.py --huge          # also a 100M-row log billed with --memory-limit 4GB
    python bench/run.py --sizes 1000000 --repeat 1   # a quick look
    python bench/run.py --read-floor-only --repeat 5 # only the read-floor table (issue 7), updated in place
    python bench/run.py --sessions-only --repeat 1   # only `sessions --memory-limit 1GB` (issue 7), in place
    python bench/run.py --explain-only --repeat 5    # only `explain` against `invoice` (issue 7), in place

The *read floor* (issue 7, DECISIONS.md "Benchmarks") is a whole process that only reads the
log's columns with `pyarrow.parquet.read_table` (no `read_dictionary`; bench/read_floor.py), on
5M- and 10M-row realistic Parquet logs (--read-floor-sizes).

Logs are made with `viber-sessions generate` into bench/data/ (kept between runs). Every
figure is a whole process (interpreter start and imports included), timed with
/usr/bin/time: wall seconds and peak resident memory; each is the best of --repeat runs.
The results go to bench/results.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARIFF = ROOT / "sample_data" / "tariff.toml"
CLI = shutil.which("viber-sessions") or "viber-sessions"
TIME = "/usr/bin/time"


COMPILED = {"note": "bytecode as installed"}


def compiled() -> str:
    """Byte-compile the viber_sessions that ``viber-sessions`` runs, as ``pip install`` does for an
    installed package: an editable install under ``PYTHONDONTWRITEBYTECODE=1`` (this project's
    own sandbox) otherwise compiles every module from source at every run (about 60 ms, more than
    the read floor's imports). Returns what was done, for the results."""
    python = Path(CLI).resolve().with_name("python")
    python = str(python) if python.exists() else sys.executable
    found = subprocess.run([python, "-c", "import os, viber_sessions; print(os.path.dirname(viber_sessions.__file__))"],
                           capture_output=True, text=True, cwd=tempfile.gettempdir())
    if found.returncode != 0:
        return "viber_sessions not found"
    package = found.stdout.strip()
    done = subprocess.run([python, "-m", "compileall", "-q", package], capture_output=True, text=True)
    return f"bytecode of {package} compiled first" + ("" if done.returncode == 0 else " (failed: not writable)")


def sh(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def dataset(data: Path, name: str, rows: int, shape: str = "realistic", ext: str = "parquet") -> Path:
    path = data / f"{name}.{ext}"
    if not path.exists():
        print(f"generating {path} ({rows:,} rows, {shape})", file=sys.stderr)
        sh([CLI, "generate", str(path), "--rows", str(rows), "--seed", "1", "--start", "2026-09-29", "--days", "33",
            "--shape", shape])
    return path


def measure(cmd: list[str], repeat: int) -> dict:
    """Best wall time and its peak RSS over ``repeat`` runs of a whole process."""
    best = None
    for _ in range(repeat):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            out = subprocess.run([TIME, "-f", "%e %M", "-o", tf.name, *cmd], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
            wall, rss = tf.read().split()[-2:]
        run = {"seconds": float(wall), "peak_mb": int(rss) / 1024, "stdout": out.stdout}
        if best is None or run["seconds"] < best["seconds"]:
            best = run
    return best


def interleaved(cmds: dict[str, list[str]], repeat: int) -> dict[str, dict]:
    """:func:`measure` of several commands, their runs taken in turn (a burst of load from others
    on the machine then falls on all of them alike, not on one): the best wall time, and the
    median peak memory of the runs (the peak varies by a few percent from run to run)."""
    best: dict[str, dict] = {}
    peaks: dict[str, list[float]] = {name: [] for name in cmds}
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            run = measure(cmd, 1)
            peaks[name].append(run["peak_mb"])
            walls[name].append(run["seconds"])
            if name not in best or run["seconds"] < best[name]["seconds"]:
                best[name] = run
    for name, run in best.items():
        run["peak_mb"] = statistics.median(peaks[name])
        run["median_seconds"] = statistics.median(walls[name])
    return best


def invoice_cmd(path: Path, out: str, *extra: str) -> list[str]:
    return [CLI, "invoice", str(path), "--tariff", str(TARIFF), "--period", "2026-10", "--format", "json", "-q",
            "--output", out, *extra]


READ_FLOOR_BEGIN = "<!-- read-floor: bench/run.py --read-floor-only rewrites this section -->"
READ_FLOOR_END = "<!-- /read-floor -->"


def read_floor_section(data: Path, sizes: list[int], repeat: int) -> list[str]:
    """The read-floor table (issue 7): invoice against a process that only reads the columns."""
    rows = []
    load_before = os.getloadavg()
    for n in sizes:
        path = dataset(data, f"realistic-{n}", n)
        print(f"timing {path.name} against the read floor", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            best = interleaved({"read": [sys.executable, str(HERE / "read_floor.py"), str(path)],
                                "floor": [sys.executable, str(HERE / "floor.py"), str(path)],
                                "invoice": invoice_cmd(path, os.path.join(tmp, "invoice.json"))}, repeat)
        best["read"]["inner_seconds"] = json.loads(best["read"]["stdout"])["seconds"]
        best["floor"]["inner_seconds"] = json.loads(best["floor"]["stdout"])["seconds"]
        rows.append((n, best))
    load_after = os.getloadavg()
    lines = [READ_FLOOR_BEGIN, "", "## Against the read floor (issue 7)", ""]
    lines += machine()
    lines += [f"- load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
              f"{', '.join(f'{x:.2f}' for x in load_after)} (the machine is shared: each figure is the best of "
              f"{repeat} runs, the three commands taken in turn; memory: the median of the runs' peaks); "
              f"{COMPILED['note']}", "",
              "*Read floor*: `bench/read_floor.py`, a whole process that only does `pyarrow.parquet.read_table(LOG, "
              "columns=[message_id, timestamp, business_id, subscriber_id, direction, message_type, status])` (no "
              "`read_dictionary`); its own in-process time in brackets. *Floor*: the old floor of issue 4 "
              "(`bench/floor.py`). *Invoice*: as above. Realistic Parquet logs (`viber-sessions generate LOG --rows N "
              "--seed 1 --start 2026-09-29 --days 33`).", "",
              "| log | read floor s | floor s | invoice s | invoice / read floor | invoice / floor | read floor MB | "
              "invoice MB | memory / read floor |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for n, b in rows:
        r, f, i = b["read"], b["floor"], b["invoice"]
        lines.append(f"| realistic, {n:,} rows, parquet | {r['seconds']:.2f} ({r['inner_seconds']:.2f}) | "
                     f"{f['seconds']:.2f} ({f['inner_seconds']:.2f}) | {i['seconds']:.2f} | "
                     f"{i['seconds'] / r['seconds']:.2f} | {i['seconds'] / f['seconds']:.2f} | {r['peak_mb']:.0f} | "
                     f"{i['peak_mb']:.0f} | {i['peak_mb'] / r['peak_mb']:.2f} |")
    lines += ["", "Targets (issue 7): invoice at most 2.0x the read floor on 5M and 10M rows, peak memory at most "
              "1.5x the read floor's.", "", READ_FLOOR_END]
    return lines


NOTES_BEGIN = "<!-- notes: written by hand; bench/run.py keeps this section -->"
NOTES_END = "<!-- /notes -->"


def kept_notes(path: Path) -> list[str]:
    """The results file from its hand-written notes section to its end, if it has one: a full run
    keeps the notes and every section after them (hand-written, or rewritten in place by the
    ``--*-only`` runs)."""
    text = path.read_text() if path.exists() else ""
    if NOTES_BEGIN not in text or NOTES_END not in text:
        return []
    return ["", NOTES_BEGIN + text.split(NOTES_BEGIN, 1)[1].rstrip("\n")]


def replace_section(text: str, section: list[str]) -> str:
    """``text`` with its read-floor section replaced by ``section`` (appended when it has none)."""
    body = "\n".join(section)
    if READ_FLOOR_BEGIN in text and READ_FLOOR_END in text:
        head, rest = text.split(READ_FLOOR_BEGIN, 1)
        return head + body + rest.split(READ_FLOOR_END, 1)[1]
    return text.rstrip("\n") + "\n\n" + body + "\n"


SESSIONS_BEGIN = "<!-- sessions-memory-limit: bench/run.py --sessions-only rewrites this section -->"
SESSIONS_END = "<!-- /sessions-memory-limit -->"


def sessions_section(data: Path, rows: int, repeat: int, limit: str = "1GB") -> list[str]:
    """`sessions --memory-limit` on the realistic log (issue 7), beside the in-memory listing."""
    path = dataset(data, f"realistic-{rows}", rows)
    print(f"timing sessions on {path.name}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [CLI, "sessions", str(path), "--tariff", str(TARIFF), "-q", "--output"]
        best = interleaved({"in memory": cmd + [os.path.join(tmp, "a.parquet")],
                            f"--memory-limit {limit}": cmd + [os.path.join(tmp, "b.parquet"), "--memory-limit",
                                                              limit]}, repeat)
    lines = [SESSIONS_BEGIN, "", f"## `sessions --memory-limit {limit}` (issue 7)", ""]
    lines += machine()
    lines += ["", f"`viber-sessions sessions {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
              f"--tariff sample_data/tariff.toml --output S.parquet -q [--memory-limit {limit}]`: every session of "
              f"the {rows:,}-row log into one Parquet file, whole processes, best of {repeat} (memory: median peak).",
              "", "| run | seconds | peak MB |", "| --- | ---: | ---: |"]
    for name, run in best.items():
        lines.append(f"| {name} | {run['seconds']:.2f} | {run['peak_mb']:.0f} |")
    lines += ["", f"Target (issue 7): under the limit, i.e. (DECISIONS.md) at most {limit} plus the fixed overhead of "
              "the interpreter and libraries that the README states (about 250 MB).", "", SESSIONS_END]
    return lines


EXPLAIN_BEGIN = "<!-- explain-vs-invoice: bench/run.py --explain-only rewrites this section -->"
EXPLAIN_END = "<!-- /explain-vs-invoice -->"
#: A conversation of the realistic logs (it has rows in every row group).
EXPLAIN_ASK = ["--business", "bank", "--subscriber", "+79000550348"]


def explain_section(data: Path, rows: int, repeat: int) -> list[str]:
    """`explain` of one conversation against `invoice` on the same realistic Parquet log (issue 7)."""
    path = dataset(data, f"realistic-{rows}", rows)
    print(f"timing explain and invoice on {path.name}", file=sys.stderr)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        best = interleaved({"invoice": invoice_cmd(path, os.path.join(tmp, "invoice.json")),
                            "explain": [CLI, "explain", str(path), "--tariff", str(TARIFF), *EXPLAIN_ASK,
                                        "--format", "json"]}, repeat)
    load_after = os.getloadavg()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    inv, exp = best["invoice"], best["explain"]
    lines = [EXPLAIN_BEGIN, "", "## Explain against invoice (issue 7)", ""]
    lines += machine()
    lines += [f"- load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
              f"{', '.join(f'{x:.2f}' for x in load_after)}; {COMPILED['note']}",
              "", f"`viber-sessions explain {shown} --tariff sample_data/tariff.toml {' '.join(EXPLAIN_ASK)} "
              f"--format json` against `viber-sessions invoice {shown} --tariff sample_data/tariff.toml --period "
              f"2026-10 --format json -q -o OUT`: whole processes taken in turn, best of {repeat} (the medians in "
              "brackets; memory: the median peak).", "",
              "| log | invoice s | explain s | explain / invoice | explain peak MB |",
              "| --- | ---: | ---: | ---: | ---: |",
              f"| realistic, {rows:,} rows, parquet | {inv['seconds']:.2f} ({inv['median_seconds']:.2f}) | "
              f"{exp['seconds']:.2f} ({exp['median_seconds']:.2f}) | {exp['seconds'] / inv['seconds']:.2f} "
              f"({exp['median_seconds'] / inv['median_seconds']:.2f}) | {exp['peak_mb']:.0f} |",
              "", "Targets (issue 7): explain at most 0.35x the invoice, and under 500 MB.", "", EXPLAIN_END]
    return lines


def replace_marked(text: str, section: list[str], begin: str, end: str) -> str:
    body = "\n".join(section)
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + body + rest.split(end, 1)[1]
    return text.rstrip("\n") + "\n\n" + body + "\n"


def rewrite(out: Path, section: list[str], begin: str, end: str) -> None:
    """Replace the marked section of the results file ``out`` (append it when missing), and print it."""
    out.write_text(replace_marked(out.read_text() if out.exists() else "# Benchmark results\n", section, begin, end))
    print("\n".join(section))


def floor(path: Path, repeat: int) -> dict:
    result = measure([sys.executable, str(HERE / "floor.py"), str(path)], repeat)
    result["inner_seconds"] = json.loads(result["stdout"])["seconds"]
    return result


def invoice(path: Path, repeat: int, *extra: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return measure(invoice_cmd(path, os.path.join(tmp, "invoice.json"), *extra), repeat)


def kernel_rate(path: Path, repeat: int) -> float:
    """Rows per second of the segmentation step alone, on already ordered arrays."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from viber_sessions import load
    from viber_sessions.segment import conversation_order, run_kernel
    from viber_sessions.tariff import Limits

    log = load(str(path))
    order = conversation_order(log.business, log.subscriber, len(log.subscribers), log.timestamp, log.inbound)
    arrays = [np.ascontiguousarray(a[order]) for a in (log.business, log.subscriber, log.timestamp, log.inbound,
                                                       log.mtype)]
    n = len(order)
    ident = np.arange(n, dtype=np.int64)
    billing = np.zeros(n, dtype=np.int8)
    types = log.message_types
    can_open = np.array([t != "image" for t in types] + [False])
    allowed = np.array([t in ("text", "image") for t in types] + [False])
    run_kernel(ident[:10], *[a[:10] for a in arrays], billing[:10], can_open, allowed, Limits())   # load it
    best = float("inf")
    for _ in range(max(repeat, 3)):
        t = time.perf_counter()
        run_kernel(ident, *arrays, billing, can_open, allowed, Limits())
        best = min(best, time.perf_counter() - t)
    return n / best


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 2**20
    except (OSError, StopIteration):
        mem = float("nan")
    return [f"- machine: {platform.platform()}, {os.cpu_count()} cores ({cpu}), {mem:.1f} GiB memory",
            f"- Python {platform.python_version()}; numpy {version('numpy')}, pyarrow {version('pyarrow')}, "
            f"numba {version('numba')}, pandas {version('pandas')}; viber-sessions {version('viber-sessions')}",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000", help="rows of the realistic logs (comma-separated)")
    ap.add_argument("--worst-rows", type=int, default=1_000_000, help="rows of the worst-case logs")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the best counts)")
    ap.add_argument("--huge", action="store_true", help="also bill a 100M-row log with --memory-limit 4GB")
    ap.add_argument("--huge-rows", type=int, default=100_000_000)
    ap.add_argument("--data", default=str(HERE / "data"), help="where the generated logs are kept")
    ap.add_argument("--out", default=str(HERE / "results.md"))
    ap.add_argument("--read-floor-sizes", default="5000000,10000000",
                    help="rows of the realistic Parquet logs timed against the read floor (comma-separated)")
    ap.add_argument("--read-floor-only", action="store_true",
                    help="only the read-floor table: rewrite its section of --out, keep the rest")
    ap.add_argument("--sessions-only", action="store_true",
                    help="only the `sessions --memory-limit 1GB` table: rewrite its section of --out, keep the rest")
    ap.add_argument("--sessions-rows", type=int, default=10_000_000)
    ap.add_argument("--explain-only", action="store_true",
                    help="only `explain` against `invoice` on the 10M-row log: rewrite its section of --out")
    ap.add_argument("--explain-rows", type=int, default=10_000_000)
    args = ap.parse_args()
    COMPILED["note"] = compiled()
    print(COMPILED["note"], file=sys.stderr)
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    read_sizes = [int(s) for s in args.read_floor_sizes.split(",") if s]
    if args.sessions_only:
        rewrite(Path(args.out), sessions_section(data, args.sessions_rows, args.repeat), SESSIONS_BEGIN, SESSIONS_END)
        return
    if args.explain_only:
        rewrite(Path(args.out), explain_section(data, args.explain_rows, args.repeat), EXPLAIN_BEGIN, EXPLAIN_END)
        return
    if args.read_floor_only:
        out = Path(args.out)
        section = read_floor_section(data, read_sizes, args.repeat)
        out.write_text(replace_section(out.read_text() if out.exists() else "# Benchmark results\n", section))
        print("\n".join(section))
        return

    rows_out = []
    by_size = {}
    for n in sizes:
        for ext in ("parquet", "csv"):
            path = dataset(data, f"realistic-{n}", n, ext=ext)
            print(f"timing {path.name}", file=sys.stderr)
            f, i = floor(path, args.repeat), invoice(path, args.repeat)
            by_size[(n, ext)] = i
            rows_out.append((f"realistic, {n:,} rows, {ext}", n, f, i))
    for shape in ("one_conversation", "one_message_conversations"):
        path = dataset(data, f"{shape}-{args.worst_rows}", args.worst_rows, shape=shape)
        print(f"timing {path.name}", file=sys.stderr)
        rows_out.append((f"{shape.replace('_', ' ')}, {args.worst_rows:,} rows, parquet", args.worst_rows,
                         floor(path, args.repeat), invoice(path, args.repeat)))

    lines = ["# Benchmark results", "", "Reproduce with `python bench/run.py` (add `--huge` for the 100M-row run).", ""]
    lines += machine()
    lines += ["", "Each figure is a whole process (interpreter start and imports included), the best of "
              f"{args.repeat} runs; memory is the peak resident set. *Floor*: `bench/floor.py` (read the columns "
              "with `pyarrow.parquet.read_table` / `pyarrow.csv.read_csv`, `dictionary_encode` the message, business "
              "and subscriber ids, `numpy.lexsort` by conversation and time); its own in-process time is in "
              "brackets. *Invoice*: `viber-sessions invoice LOG --tariff sample_data/tariff.toml --period 2026-10 "
              "--format json`.", "",
              "| log | floor s | invoice s | invoice / floor | floor MB | invoice MB | memory ratio | invoice rows/s |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, n, f, i in rows_out:
        lines.append(f"| {label} | {f['seconds']:.2f} ({f['inner_seconds']:.2f}) | {i['seconds']:.2f} | "
                     f"{i['seconds'] / f['seconds']:.2f} | {f['peak_mb']:.0f} | {i['peak_mb']:.0f} | "
                     f"{i['peak_mb'] / f['peak_mb']:.2f} | {n / i['seconds']:,.0f} |")

    lines += ["", "Targets: invoice at most 1.5x the floor (Parquet and CSV) on the realistic log, at most 2x on the "
              "one-conversation worst case; peak memory at most 3x the floor's.", ""]
    if len(sizes) >= 2:
        small, big = min(sizes), max(sizes)
        for ext in ("parquet", "csv"):
            ratio = by_size[(big, ext)]["seconds"] / by_size[(small, ext)]["seconds"]
            lines.append(f"- growth, {ext}: the {big:,}-row invoice takes {ratio:.2f}x the {small:,}-row one "
                         f"(target: at most {1.2 * big / small:.0f}x)")
    print("timing the segmentation kernel", file=sys.stderr)
    big = max(sizes)
    lines.append("")
    lines.append("Segmentation step alone (`run_kernel` on arrays already in conversation order; target at least "
                 "20 million rows/s):")
    lines.append("")
    for label, path in ((f"realistic, {big:,} rows", data / f"realistic-{big}.parquet"),
                        (f"one conversation, {args.worst_rows:,} rows", data / f"one_conversation-{args.worst_rows}.parquet"),
                        (f"one-message conversations, {args.worst_rows:,} rows",
                         data / f"one_message_conversations-{args.worst_rows}.parquet")):
        lines.append(f"- {label}: {kernel_rate(path, args.repeat) / 1e6:.0f} million rows/s")

    if args.huge:
        path = dataset(data, f"realistic-{args.huge_rows}", args.huge_rows)
        print(f"timing {path.name} with --memory-limit 4GB", file=sys.stderr)
        i = invoice(path, 1, "--memory-limit", "4GB")
        lines += ["", f"Larger than memory: `viber-sessions invoice` on a {args.huge_rows:,}-row Parquet log "
                  f"({path.stat().st_size / 2**30:.1f} GiB on disk) with `--memory-limit 4GB`: "
                  f"{i['seconds']:.0f} s ({args.huge_rows / i['seconds']:,.0f} rows/s), peak memory "
                  f"{i['peak_mb'] / 1024:.2f} GiB (limit 4 GiB)."]
    if read_sizes:
        lines += [""] + read_floor_section(data, read_sizes, args.repeat)
    lines += kept_notes(Path(args.out))
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
