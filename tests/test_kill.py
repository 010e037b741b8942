"""Kill test (issue 12, "Must show"): a signal never leaves a half-written set of outputs.

`viber-sessions invoice LOG --tariff T --period 2026-10 -q --output out/inv.json
--messages-out out/m.parquet --sessions-out out/s.csv --rejects out/r.csv --on-invalid skip`
runs as a real process on a 300,000-row log, in a folder that already holds the four files of
an older run (another log, so every file differs), with TMPDIR (and `--workdir`) pointed at
folders of the test. SIGINT or SIGTERM arrives 0.2 s, 0.5 s or 1 s after the start, as soon as
anything appears in the output folder (the commit begins), or as soon as one of the four names
changes (in the middle of the commit). Afterwards:

* the four files are all the old ones (byte-identical to before) or all the new ones
  (byte-identical to an uninterrupted run), never a mix, and nothing else is in the folder;
* TMPDIR and `--workdir` are empty (no `viber-sessions-*` folder, no temporary file);
* the exit code is 130 for SIGINT and 143 for SIGTERM, with exactly one line on stderr and no
  traceback; or 0, with the new files and nothing on stderr, when the run finished first.

The same with `--memory-limit 64MB` (the out-of-core engine). Should that engine refuse
`--messages-out`/`--sessions-out` (exit 2, as the README says today), the test keeps the
outputs it accepts (`--output`, `--rejects`) and says so in a warning.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
TARIFF = str(ROOT / "sample_data" / "tariff.toml")
ROWS = 300_000
ALL_OUTPUTS = {"inv.json": "--output", "m.parquet": "--messages-out", "s.csv": "--sessions-out",
               "r.csv": "--rejects"}
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _generate(path: Path, rows: int, seed: int, bad_rows: int) -> str:
    subprocess.run([sys.executable, "-m", "viber_sessions", "generate", str(path), "--rows", str(rows),
                    "--seed", str(seed)], check=True, capture_output=True)
    table = pq.read_table(path)
    # a few rows with an unknown direction, so that --rejects has content (and differs between logs)
    step = rows // (bad_rows + 1)
    mask = pa.array([i % step == step // 2 and i // step < bad_rows for i in range(table.num_rows)])
    direction = pc.if_else(mask, pa.scalar("sideways"), table["direction"])
    table = table.set_column(table.schema.get_field_index("direction"), "direction", direction)
    pq.write_table(table, path)
    return str(path)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill-logs")
    return {"new": _generate(folder / "new.parquet", ROWS, 3, 5),
            "old": _generate(folder / "old.parquet", 20_000, 9, 2)}


def command(log: str, outputs, chunked: bool) -> list[str]:
    args = [sys.executable, "-m", "viber_sessions", "invoice", log, "--tariff", TARIFF, "--period", "2026-10",
            "-q", "--on-invalid", "skip"]
    for name in outputs:
        args += [ALL_OUTPUTS[name], f"out/{name}"]
    if chunked:
        args += ["--memory-limit", "64MB", "--workdir", "work"]
    return args


def fresh_folder(folder: Path) -> dict:
    """A run folder: out/ (outputs), work/ (--workdir), tmp/ (TMPDIR); the environment for it."""
    for sub in ("out", "work", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(folder / "tmp")}


def read_set(folder: Path, outputs) -> dict:
    return {name: (folder / "out" / name).read_bytes() for name in outputs}


@pytest.fixture(scope="module", params=["in_memory", "memory_limit"])
def engine(request, logs, tmp_path_factory):
    """The old and the new set of outputs for this engine, from uninterrupted runs."""
    chunked = request.param == "memory_limit"
    outputs = list(ALL_OUTPUTS)
    sets, seconds = {}, None
    for which in ("old", "new"):
        folder = tmp_path_factory.mktemp(f"ref-{request.param}-{which}")
        env = fresh_folder(folder)
        start = time.monotonic()
        proc = subprocess.run(command(logs[which], outputs, chunked), cwd=folder, env=env, capture_output=True)
        if proc.returncode == 2 and chunked and b"--messages-out" in proc.stderr and outputs == list(ALL_OUTPUTS):
            outputs = ["inv.json", "r.csv"]
            warnings.warn("--memory-limit refuses --messages-out/--sessions-out: the kill test of that engine "
                          f"covers {outputs} only ({proc.stderr.decode().strip()})")
            proc = subprocess.run(command(logs[which], outputs, chunked), cwd=folder, env=env, capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()
        if which == "new":
            seconds = time.monotonic() - start
        sets[which] = read_set(folder, outputs)
    for name in outputs:
        assert sets["old"][name] != sets["new"][name], f"{name}: the old and the new run must differ"
    return {"chunked": chunked, "outputs": outputs, "old": sets["old"], "new": sets["new"], "seconds": seconds,
            "logs": logs}


def _snapshot(folder: Path) -> dict:
    state = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            state[entry.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return state


def _wait_for(proc, folder: Path, changed, limit: float = 60) -> bool:
    """Poll the output folder until ``changed(before, now)``; False when the process ended first."""
    before = _snapshot(folder)
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if changed(before, _snapshot(folder)):
            return True
        time.sleep(0.0002)
    return False


POINTS = {
    "0.2s": 0.2,
    "0.5s": 0.5,
    "1s": 1.0,
    # the commit begins: the first entry appears in (or leaves) the output folder
    "commit_start": lambda before, now: before != now,
    # in the middle of the commit: one of the final names has just been replaced
    "commit_mid": lambda before, now: any(before.get(n) != now.get(n) for n in ALL_OUTPUTS),
}


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_leaves_the_old_set_or_the_new_one(engine, sig, point, tmp_path):
    outputs = engine["outputs"]
    env = fresh_folder(tmp_path)
    out = tmp_path / "out"
    for name, data in engine["old"].items():
        (out / name).write_bytes(data)
    proc = subprocess.Popen(command(engine["logs"]["new"], outputs, engine["chunked"]), cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    when = POINTS[point]
    sent = False
    try:
        if callable(when):
            fire = _wait_for(proc, out, when)
        else:
            try:
                proc.wait(timeout=when)
                fire = False
            except subprocess.TimeoutExpired:
                fire = True
        if fire and proc.poll() is None:
            proc.send_signal(sig)
            sent = True
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr_text = stderr.decode("utf-8", "replace")
    code = proc.returncode
    problems = []

    # the exit code and the message
    if code < 0:
        problems.append(f"died of signal {-code} (not handled): stderr {stderr_text[-300:]!r}")
    elif code == 0:
        if stderr_text:
            problems.append(f"exit 0 with -q, but stderr holds {stderr_text[:300]!r}")
    elif sent and code == EXIT[sig]:
        lines = stderr_text.splitlines()
        if len(lines) != 1:
            problems.append(f"exit {code} with {len(lines)} lines on stderr: {stderr_text[-500:]!r}")
    else:
        problems.append(f"exit {code} (expected {EXIT[sig] if sent else 0}{' or 0' if sent else ''}): "
                        f"{stderr_text[-300:]!r}")
    if "Traceback" in stderr_text or "Traceback" in stdout.decode("utf-8", "replace"):
        problems.append(f"traceback: {stderr_text.strip().splitlines()[-1] if stderr_text.strip() else ''}")

    # the files: the old set or the new one, nothing else
    present = sorted(p.name for p in out.iterdir())
    extra = sorted(set(present) - set(outputs))
    missing = sorted(set(outputs) - set(present))
    if extra:
        problems.append(f"left in the output folder: {extra}")
    if missing:
        problems.append(f"missing from the output folder: {missing}")
    else:
        got = read_set(tmp_path, outputs)
        kinds = {name: ("old" if got[name] == engine["old"][name] else
                        "new" if got[name] == engine["new"][name] else "neither") for name in outputs}
        if len(set(kinds.values())) != 1 or "neither" in kinds.values():
            problems.append(f"a mixed set of outputs: {kinds}")
        elif code == 0 and kinds[outputs[0]] != "new":
            problems.append("exit 0, but the outputs are the old ones")
    for sub in ("tmp", "work"):
        left = sorted(p.name for p in (tmp_path / sub).iterdir())
        if left:
            problems.append(f"left in {'TMPDIR' if sub == 'tmp' else '--workdir'}: {left}")
    assert not problems, (f"{'memory_limit' if engine['chunked'] else 'in_memory'} {sig.name} at {point} "
                          f"(signal {'sent' if sent else 'not sent: the run ended first'}, "
                          f"uninterrupted run {engine['seconds']:.2f} s):\n" + "\n".join(problems))


SWALLOWED = """
import signal, weakref
from viber_sessions import entry
entry.install()


class Held:
    pass


def callback(ref):                       # Python ignores what a weak reference's callback raises
    entry._on_signal(signal.{sig}, None)


thing = Held()
ref = weakref.ref(thing, callback)
try:
    del thing                            # the signal's exception is raised here, and swallowed
    with entry.held():                   # ... so it acts before the next commit
        print("committed")
except KeyboardInterrupt as exc:
    print(type(exc).__name__)
"""


@pytest.mark.parametrize("sig, name", [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")])
def test_a_signal_raised_inside_a_callback_is_not_lost(sig, name):
    """A signal that arrives while Python runs a callback whose errors it ignores (a weak
    reference's, as when a thread object is collected) would have let the run go on to exit 0
    with a traceback: it waits, quietly, and acts before the next commit (or after the command)."""
    done = subprocess.run([sys.executable, "-c", SWALLOWED.format(sig=sig)], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == name and done.stderr == ""
