"""``generated_by``: what produced an output (README, "Monthly runs"). The tool and its version,
the command line, the billing zone, the tariff and every input file with its size and sha256
(or, ``fast``, its size and modification time), and the carried-in state's sha256. No wall-clock
time: the same inputs give the same bytes."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Sequence

from . import __version__


def sha256_of(path: str) -> str | None:
    """The file's sha256 (None for standard input or a file that cannot be read)."""
    if path == "-":
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


class Digests:
    """The sha256 of files worked out on a thread while the run reads them (``hashlib`` lets
    other threads run while it hashes, so a large log's digest costs no wall time):
    :meth:`start` at the beginning of a run, :meth:`sha256` when the provenance is written. A
    path that was not started, or whose size or modification time changed since, is hashed
    when asked for."""

    def __init__(self, paths: Sequence[str]):
        self._todo = [p for p in dict.fromkeys(paths) if p != "-" and os.path.isfile(p)]
        self._done: dict[str, tuple[tuple, str | None]] = {}
        self._thread = threading.Thread(target=self._work, name="viber-sessions-sha256", daemon=True)

    @classmethod
    def start(cls, paths: Sequence[str]) -> "Digests":
        digests = cls(paths)
        if digests._todo:
            digests._thread.start()
        return digests

    def _work(self) -> None:
        for path in self._todo:
            stamp = _stamp(path)
            self._done[path] = (stamp, sha256_of(path))

    def sha256(self, path: str) -> str | None:
        if path in self._todo:
            self._thread.join()
            stamp, digest = self._done.get(path, (None, None))
            if stamp is not None and stamp == _stamp(path):
                return digest
        return sha256_of(path)


def _stamp(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_entry(path: str, fast: bool = False, digests: Digests | None = None) -> dict:
    """``{"path", "bytes", "sha256"}``, or with ``fast`` ``{"path", "bytes", "mtime"}`` (ISO-8601 UTC)."""
    if path == "-":
        return {"path": "-", "bytes": None, "mtime" if fast else "sha256": None}
    try:
        st = os.stat(path)
    except OSError:
        return {"path": path, "bytes": None, "mtime" if fast else "sha256": None}
    if fast:
        from datetime import datetime, timezone

        mtime = datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")
        return {"path": path, "bytes": st.st_size, "mtime": mtime}
    return {"path": path, "bytes": st.st_size, "sha256": (digests.sha256 if digests else sha256_of)(path)}


def generated_by(command: str, tz: str, tariff_path: str | None, inputs: Sequence[str], fast: bool = False,
                 state_in: str | None = None, digests: Digests | None = None) -> dict:
    """The provenance block of every JSON output of a run (``digests``: the inputs' sha256
    started earlier, see :class:`Digests`)."""
    doc = {"tool": "viber-sessions", "version": __version__, "command": command, "timezone": tz,
           "tariff": {"path": tariff_path, "sha256": sha256_of(tariff_path) if tariff_path else None},
           "inputs": [file_entry(p, fast, digests) for p in inputs]}
    if state_in:
        doc["state_in"] = {"path": state_in, "sha256": sha256_of(state_in)}
    return doc
