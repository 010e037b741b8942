"""The command line: parses options, calls the core, turns domain errors into exit codes.

Nothing here knows the billing rules; every command is a few lines over the core modules, one
module per group of commands (``options`` holds what they share, ``app`` the group).
"""

from __future__ import annotations

import os

from .. import entry, nopandas
from . import audit, config, generate, invoice, report, statements, validate  # noqa: F401  (registers the commands)
from .app import cli

__all__ = ["cli", "main"]


def main():
    import importlib
    import sys

    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command == "report":
        # the charts' helper process imports matplotlib while this one goes on (report/painter.py)
        from ..report.painter import start_early

        start_early()
    import pyarrow

    segment = importlib.import_module("viber_sessions.segment")   # the module: the package's `segment` is the function

    segment.SKIP_BLAS_PROBE = True
    if command == "explain":
        nopandas.skip()     # its pyarrow works as without pandas, which is never imported (nopandas.py)
    # pyarrow's own signal juggling (a handler swapped in around each read, the signal re-sent
    # afterwards) can lose a SIGINT or kill the process with it; our handlers act between reads
    pyarrow.enable_signal_handlers(False)
    _small_pages()
    entry.install()
    cli(prog_name="viber-sessions")


def _small_pages() -> None:
    """Let numpy's large arrays be backed by ordinary pages (its own process only). numpy asks
    the kernel for transparent huge pages on every array of 4 MB or more; where the kernel
    answers that advice by compacting memory on the spot (``defrag = madvise``, the kernel's
    default), the first touch of each fresh array costs more than the work done in it: a
    10M-row invoice spent about 0.4 s of system time there (bench/results.md). The same switch
    as numpy's ``NUMPY_MADVISE_HUGEPAGE=0``, which is read only when numpy is imported."""
    import numpy

    switch = getattr(getattr(getattr(numpy, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    if switch is not None and os.environ.get("NUMPY_MADVISE_HUGEPAGE") is None:
        switch(False)


if __name__ == "__main__":  # pragma: no cover
    main()
