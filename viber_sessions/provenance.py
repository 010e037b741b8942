"""``generated_by``: what produced an output (README, "Monthly runs"). The tool and its version,
the command line, the billing zone, the tariff and every input file with its size and sha256
(or, ``fast``, its size and modification time), and the carried-in state's sha256. No wall-clock
time: the same inputs give the same bytes."""

from __future__ import annotations

import hashlib
import os
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


def file_entry(path: str, fast: bool = False) -> dict:
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
    return {"path": path, "bytes": st.st_size, "sha256": sha256_of(path)}


def generated_by(command: str, tz: str, tariff_path: str | None, inputs: Sequence[str], fast: bool = False,
                 state_in: str | None = None) -> dict:
    """The provenance block of every JSON output of a run."""
    doc = {"tool": "viber-sessions", "version": __version__, "command": command, "timezone": tz,
           "tariff": {"path": tariff_path, "sha256": sha256_of(tariff_path) if tariff_path else None},
           "inputs": [file_entry(p, fast) for p in inputs]}
    if state_in:
        doc["state_in"] = {"path": state_in, "sha256": sha256_of(state_in)}
    return doc
