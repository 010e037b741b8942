"""The command line: parses options, calls the core, turns domain errors into exit codes.

Nothing here knows the billing rules; every command is a few lines over the core modules, one
module per group of commands (``options`` holds what they share, ``app`` the group).
"""

from __future__ import annotations

from .. import entry
from . import audit, config, generate, invoice, report, statements, validate  # noqa: F401  (registers the commands)
from .app import cli

__all__ = ["cli", "main"]


def main():
    import importlib

    import pyarrow

    segment = importlib.import_module("viber_sessions.segment")   # the module: the package's `segment` is the function

    segment.SKIP_BLAS_PROBE = True
    # pyarrow's own signal juggling (a handler swapped in around each read, the signal re-sent
    # afterwards) can lose a SIGINT or kill the process with it; our handlers act between reads
    pyarrow.enable_signal_handlers(False)
    entry.install()
    cli(prog_name="viber-sessions")


if __name__ == "__main__":  # pragma: no cover
    main()
