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
from .writing import OutputError

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


def check_dir(path: str, inputs: Sequence[str]) -> None:
    """Refuse, before anything is read, a folder that does not exist or lies inside an input folder."""
    if not os.path.isdir(path):
        raise UsageError(f"--output-dir {path}: no such folder (create it first)")
    real = os.path.realpath(path)
    for name in inputs:
        if name != "-" and os.path.isdir(name):
            root = os.path.realpath(name)
            if os.path.commonpath([root, real]) == root:
                raise UsageError(f"--output-dir {path} is inside the input folder {name}: the next run would read "
                                 "its files as logs; write it elsewhere")


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
    staged: list[tuple[str, Path]] = []
    notes: list[str] = []
    try:
        for period, files in sorted(periods.items()):
            target = Path(folder) / period
            with held():
                tmp = tempfile.mkdtemp(prefix=f".{period}.", suffix=".tmp", dir=folder)
                staged.append((tmp, target))
            for name, text in sorted(files.items()):
                Path(tmp, name).write_text(text, encoding="utf-8")
            if target.is_dir():
                gone = sorted(set(os.listdir(target)) - set(files))
                notes += [f"{target / name} is gone: the new {period} folder has no such file" for name in gone]
        with held():
            for tmp, target in staged:
                old = None
                if target.exists():
                    old = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=folder)
                    os.rename(target, Path(old, "x"))
                os.rename(tmp, target)
                if old:
                    shutil.rmtree(old, ignore_errors=True)
            staged.clear()
    except OSError as exc:
        raise OutputError(f"cannot write {folder}: {exc.strerror or exc}") from None
    finally:
        with held():
            for tmp, _ in staged:
                with contextlib.suppress(OSError):
                    shutil.rmtree(tmp)
    return notes
