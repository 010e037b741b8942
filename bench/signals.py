"""A storm of interruptions: many invoice runs, each sent SIGINT or SIGTERM at a random moment,
on a machine kept busy (the kill test's rare failures come from slow machines, where the signal
lands in the middle of an import).

    python bench/signals.py                       # 300 runs, 3 at a time, 1 busy process
    python bench/signals.py --runs 1000 --load 2 --seed 7
    python bench/signals.py --memory-limit 64MB        # the out-of-core engine

Each run is `invoice LOG --tariff ... --output/--messages-out/--sessions-out/--rejects` on a
300,000-row Parquet log (as tests/test_kill.py), started as its own process with SIGINT at its
default, and sent the signal after a delay drawn uniformly between 0 and 1.2 times the
uninterrupted run (every other run: between 0 and 0.35 times, the start-up, where a signal
meets imports and threads starting). Every run must end within 30 s, in one of two ways: the signal's exit code
(130 or 143) with exactly "interrupted" or "terminated" on stderr, or exit 0 and nothing on
stderr (it finished first); and TMPDIR must be empty afterwards. Every run starts with the
outputs of an uninterrupted run (`--output-dir` folders included) present and holding "OLD",
and must end with all of them old or all of them exactly new, nothing else in the folder. A signal that comes while
Python itself starts (before the first line of viber-sessions runs, about 0.02-0.08 s) gets
Python's default action, counted apart as "before start". A run that hangs gets
SIGUSR1 (each run registers faulthandler on it) and its threads' stacks are saved next to the
report. Prints the outcomes per tenth of the run, and exits 1 when any run ended otherwise.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARIFF = ROOT / "sample_data" / "tariff.toml"
# the console script's entry, with faulthandler on SIGUSR1 so that a hung run shows its stacks
LAUNCH = ("import faulthandler, runpy, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
          "sys.argv[0] = 'viber-sessions'; runpy.run_module('viber_sessions', run_name='__main__', alter_sys=True)")
EXPECTED = {signal.SIGINT: (130, "interrupted\n"), signal.SIGTERM: (143, "terminated\n")}
HANG_SECONDS = 30
#: A signal sent later than this is never "before start" (Python's start-up takes 0.02-0.1 s,
#: a little more on a busy machine): a run killed later by the default action is a failure.
START_SECONDS = 0.2
# a traceback through the console script's main: the handlers were installed
STARTED = re.compile(r'viber_sessions/entry\.py", line \d+, in main')


def command(log: Path, memory_limit: str | None = None) -> list[str]:
    extra = ["--memory-limit", memory_limit, "--workdir", "tmp"] if memory_limit else []
    return [sys.executable, "-c", LAUNCH, "invoice", str(log), "--tariff", str(TARIFF), "--period", "2026-10", "-q",
            "--on-invalid", "skip", "--output", "out/inv.json", "--messages-out", "out/m.parquet",
            "--sessions-out", "out/s.csv", "--rejects", "out/r.csv", "--output-dir", "out/bills", *extra]


def outputs(folder: Path) -> dict[str, bytes]:
    """Every output file of a run (relative path -> bytes)."""
    out = folder / "out"
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


#: The outputs of the uninterrupted run (set by main): every run starts with the same names
#: holding b"OLD", and must end with all of them old or all of them new.
NEW: dict[str, bytes] = {}


def one_run(log: Path, folder: Path, sig: signal.Signals, delay: float,
            memory_limit: str | None = None) -> tuple[str, str]:
    """(outcome, detail) of one run sent ``sig`` after ``delay`` seconds."""
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("out/bills", "tmp"):
        (folder / sub).mkdir(parents=True)
    for name in NEW:
        (folder / "out" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "out" / name).write_bytes(b"OLD")
    proc = subprocess.Popen(command(log, memory_limit), cwd=folder, env={**os.environ, "TMPDIR": str(folder / "tmp")},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=HANG_SECONDS)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        proc.kill()
        _, err = proc.communicate()
        return "hung", err.decode("utf-8", "replace")
    err_text = err.decode("utf-8", "replace")
    left = sorted(p.name for p in (folder / "tmp").iterdir())
    if left:
        return "left temporaries", f"{left} (exit {proc.returncode}, stderr {err_text[-300:]!r})"
    if NEW:
        got = outputs(folder)
        kinds = {name: "old" if got.get(name) == b"OLD" else "new" if got.get(name) == data else "neither"
                 for name, data in NEW.items()}
        extra = sorted(set(got) - set(NEW))
        if extra or len(set(kinds.values())) > 1 or "neither" in kinds.values():
            return "mixed outputs", f"{kinds}, extra {extra} (exit {proc.returncode}, stderr {err_text[-300:]!r})"
        if proc.returncode == 0 and "old" in kinds.values():
            return "other ending", f"exit 0 with the old outputs: {err_text[-300:]!r}"
    if (proc.returncode, err_text) == EXPECTED[sig]:
        return "interrupted", ""
    if (proc.returncode, err_text) == (0, ""):
        return "finished first", ""
    if delay < START_SECONDS and (proc.returncode == -sig or ("KeyboardInterrupt" in err_text
                                                               and not STARTED.search(err_text))):
        # Python's own start-up (site, .pth files) had not yet reached viber-sessions' entry,
        # where the handlers are installed: Python's default action, nothing written (README,
        # "No file is destroyed or half-written")
        return "before start", err_text[-300:]
    return "other ending", f"exit {proc.returncode}: {err_text[-600:]!r}"


def busy() -> None:
    while True:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=3, help="runs at a time")
    parser.add_argument("--load", type=int, default=1, help="busy processes beside the runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-limit", help="run the out-of-core engine (e.g. 64MB; its --workdir is TMPDIR)")
    parser.add_argument("--data", type=Path, default=HERE / "data")
    args = parser.parse_args()

    args.data.mkdir(parents=True, exist_ok=True)
    log = args.data / "signals-300000.parquet"
    if not log.exists():
        subprocess.run([sys.executable, "-m", "viber_sessions", "generate", str(log), "--rows", "300000",
                        "--seed", "3"], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="signals-"))
    start = time.monotonic()
    outcome, detail = one_run(log, work / "reference", signal.SIGINT, 600, args.memory_limit)
    whole = time.monotonic() - start
    if outcome != "finished first":
        print(f"the uninterrupted run failed: {outcome} {detail}", file=sys.stderr)
        return 1
    NEW.update(outputs(work / "reference"))

    rng = random.Random(args.seed)
    # half of the signals in the first third of the run (start-up: imports, threads starting), where the
    # rare failures were; the other half anywhere in it, or after it
    trials = [(i, rng.choice([signal.SIGINT, signal.SIGTERM]),
               rng.uniform(0, (0.35 if i % 2 else 1.2) * whole)) for i in range(args.runs)]
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda t: (t, one_run(log, work / f"run{t[0] % args.jobs}-{t[0]}", t[1], t[2],
                                                          args.memory_limit)), trials))
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()

    table: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    bad = []
    for (i, sig, delay), (outcome, detail) in results:
        table[min(int(10 * delay / whole), 11)][outcome] += 1
        if outcome not in ("interrupted", "finished first", "before start"):
            bad.append((i, sig, delay, outcome, detail))
    names = ["interrupted", "finished first", "before start", "hung", "other ending", "mixed outputs",
             "left temporaries"]
    engine = f"--memory-limit {args.memory_limit}" if args.memory_limit else "in memory"
    print(f"{args.runs} runs ({engine}), {args.jobs} at a time, {args.load} busy process(es); uninterrupted run {whole:.2f} s "
          f"(alone, before the load); load average {os.getloadavg()[0]:.1f}")
    print()
    print("| signal at (share of the run) | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for tenth in sorted(table):
        label = f"{tenth / 10:.1f}–{(tenth + 1) / 10:.1f}" if tenth < 11 else "≥ 1.1"
        print(f"| {label} | " + " | ".join(str(table[tenth][n]) for n in names) + " |")
    for i, sig, delay, outcome, detail in bad:
        saved = work / f"run-{i}.txt"
        saved.write_text(detail)
        print(f"\nrun {i}: {sig.name} after {delay:.3f} s: {outcome} (saved in {saved})\n{detail[-1500:]}")
    if not bad:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
