"""``--output-dir DIR``: ``DIR/{period}/{account}.{json|csv}`` for each account and
``DIR/{period}/invoice.{json|csv}`` with all of them (``.provisional.json`` while the period is
provisional). Each period's folder is written beside its target as a temporary folder and
swapped in whole at the end, so files of accounts no longer present go with the old folder
(and the run says which); an error or a signal leaves the old folders as they were.

Account ids become file names that never collide, with each other or with ``invoice``, also on
case-insensitive file systems: every byte but ``a-z``, ``0-9``, ``-`` and ``_`` is written
``%XX`` (upper-case hex; so ``.``, ``/`` and capitals are escaped too), the name ``invoice`` is
written ``%69nvoice``, and a name longer than 200 bytes keeps its first 150 followed by ``~`` and
16 hex digits of the id's sha256.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from .billing import Invoice
from .entry import held
from .errors import UsageError
from .writing import OutputError, Staging

SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_")
ALL_ACCOUNTS = "invoice"
MAX_NAME = 200


def file_stem(account: str) -> str:
    """The file name (without suffix) of an account id (see the module's docstring)."""
    raw = account.encode("utf-8")
    name = "".join(chr(b) if b in SAFE else f"%{b:02X}" for b in raw)
    if name == ALL_ACCOUNTS:
        name = "%69" + name[1:]
    if not name or len(name) > MAX_NAME:
        digest = hashlib.sha256(raw).hexdigest()[:16]
        cut = name[:150]
        cut = cut[:cut.rfind("%")] if "%" in cut[-2:] else cut     # never half an escape
        name = f"{cut}~{digest}"
    return name


def account_invoice(inv: Invoice, k: int) -> Invoice:
    """The invoice of the ``k``-th account alone: its lines, totals and the warnings that name it."""
    a = inv.accounts[k]
    named = tuple(w for w in inv.warnings if repr(a.business_id) in w)
    return dataclasses.replace(inv, accounts=(a,), total=a.total, net=a.net, tax=a.tax, amount_due=a.amount_due,
                               warnings=named)


def check_dir(path: str, inputs: Sequence[str], periods: Sequence = (), files: dict | None = None,
              accounts: Sequence[str] = ()) -> None:
    """Refuse, before anything is read: a folder that does not exist or lies inside an input
    folder; ``--account`` (the folders are replaced whole: the other accounts' files and the
    all-accounts file would be lost or wrong); and an input, or any file of ``files`` (option ->
    path: the tariff, the state, the other outputs), inside a period folder this run replaces
    (it would be deleted with the old folder)."""
    if accounts:
        raise UsageError("--account cannot be used with --output-dir: each period's folder is replaced whole, so the "
                         "other accounts' files would be deleted and invoice.json would hold the chosen accounts only; "
                         "write the chosen accounts' invoice with --output instead")
    if not os.path.isdir(path):
        raise UsageError(f"--output-dir {path}: no such folder (create it first)")
    real = os.path.realpath(path)
    for name in inputs:
        if name != "-" and os.path.isdir(name):
            root = os.path.realpath(name)
            if os.path.commonpath([root, real]) == root:
                raise UsageError(f"--output-dir {path} is inside the input folder {name}: the next run would read "
                                 "its files as logs; write it elsewhere")
    named = [("the input", name) for name in inputs if name != "-" and os.path.exists(name)]
    if any(name != "-" and not os.path.exists(name) for name in inputs):
        from .load import expand_inputs

        named += [("the input", name) for name in expand_inputs(list(inputs)) if name != "-"]
    named += [(option, name) for option, name in sorted((files or {}).items()) if name]
    for period in periods:
        folder = os.path.join(real, str(period))
        for option, name in named:
            if os.path.commonpath([folder, os.path.realpath(name)]) == folder:
                raise UsageError(f"{option} {name} lies inside {os.path.join(path, str(period))}, a folder this run "
                                 "replaces whole (it would be deleted); move it out of the period folders of "
                                 f"--output-dir {path}")


def period_files(inv: Invoice, fmt: str, render_one) -> dict[str, str]:
    """File name -> text of one period's folder; ``render_one(invoice, whole)`` gives a file's text."""
    suffix = (".provisional." if inv.status != "final" else ".") + fmt
    files = {ALL_ACCOUNTS + suffix: render_one(inv, True)}
    for k, a in enumerate(inv.accounts):
        files[file_stem(a.business_id) + suffix] = render_one(account_invoice(inv, k), False)
    return files


def write_periods(folder: str, periods: dict[str, dict[str, str]]) -> list[str]:
    """Write ``{period: {file name: text}}`` under ``folder``, each period's folder swapped in
    whole; returns a note for each file of an old folder that is gone."""
    with Folders(folder) as folders:
        folders.stage(periods)
    return folders.notes


class Folders(Staging):
    """The period folders of ``--output-dir``, staged beside their targets and swapped in when
    the ``with`` block ends without an error (after the files of a ``writing.OutputSet`` opened
    inside it are committed: ``with Folders(dir) as f, OutputSet() as out``), so that a failure
    of any output leaves every old folder as it was. ``Folders(None)`` does nothing."""

    def __init__(self, folder: str | None):
        self.folder = folder
        self.staged: list[tuple[str, Path]] = []
        self.notes: list[str] = []   # a note for each file of an old folder that is gone

    def stage(self, periods: dict[str, dict[str, str]]) -> None:
        """Write ``{period: {file name: text}}`` to temporary folders beside their targets."""
        folder = self.folder
        try:
            for period, files in sorted(periods.items()):
                target = Path(folder) / period
                with held():
                    tmp = tempfile.mkdtemp(prefix=f".{period}.", suffix=".tmp", dir=folder)
                    self.staged.append((tmp, target))
                for name, text in sorted(files.items()):
                    Path(tmp, name).write_text(text, encoding="utf-8")
                if target.is_dir():
                    gone = sorted(set(os.listdir(target)) - set(files))
                    self.notes += [f"{target / name} is gone: the new {period} folder has no such file" for name in gone]
        except OSError as exc:
            raise OutputError(f"cannot write {folder}: {exc.strerror or exc}") from None

    def _failure(self, err: OSError) -> Exception:
        return OutputError(f"cannot write {self.folder}: {err.strerror or err}")

    def _cleanup(self) -> None:
        with held():
            for tmp, _ in self.staged:
                with contextlib.suppress(OSError):
                    shutil.rmtree(tmp)
            self.staged.clear()

    def _commit(self) -> None:
        with held():
            for tmp, target in self.staged:
                old = None
                if target.exists():
                    old = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=self.folder)
                    os.rename(target, Path(old, "x"))
                os.rename(tmp, target)
                if old:
                    shutil.rmtree(old, ignore_errors=True)
            self.staged.clear()
