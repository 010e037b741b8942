"""Where a command runs: the four engine options every command that reads a log shares, and
the engine they choose (in memory, within a memory limit on disk, or on Dask); progress bars."""

from __future__ import annotations

import os
import sys

import click

from .options import apply_options, state

#: ``--memory-limit``, ``--workdir``, ``--engine``, ``--scheduler``: see the README's *Scale*.
engine_options = lambda func: apply_options(func, [  # noqa: E731
    click.option("--memory-limit", default=None, metavar="SIZE",
                 help="Work within about this much memory (e.g. 4GB): partition the log by conversation on disk "
                      "and work bucket by bucket. Chosen automatically when the input is clearly larger than memory."),
    click.option("--workdir", type=click.Path(file_okay=False), default=None,
                 help="Folder for the temporary buckets of --memory-limit (default: the system's temporary folder)."),
    click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
                 help="local: this machine; dask: a Dask cluster (pip install 'viber-sessions[dask]')."),
    click.option("--scheduler", default=None, metavar="ADDRESS",
                 help="With --engine dask: the scheduler address (tcp://host:8786), or 'local' for a local cluster."),
])


def engine_of(kw: dict, request, quiet: bool):
    """The engine the options in ``kw`` ask for (they are taken out of ``kw``)."""
    return choose_engine(kw.pop("engine"), kw.pop("scheduler"), kw.pop("memory_limit"), kw.pop("workdir"), request,
                         quiet)


def choose_engine(name, scheduler, memory_limit, workdir, request, quiet):
    """The engine the options ask for (the core never learns about options)."""
    from .. import core

    if name == "dask":
        if not state["verbose"]:      # the workers' own log lines (they inherit the environment)
            os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")
        return core.Dask(scheduler or "local")
    limit = memory_limit_for(memory_limit, name, request, quiet)
    return core.OutOfCore(limit, workdir) if limit is not None else core.Local()


def memory_limit_for(text, engine, request, quiet):
    """The memory limit asked for, or chosen because the input is clearly larger than memory."""
    from ..load import expand_inputs
    from ..outofcore import sizing

    if engine == "dask":
        return None
    if text is not None:
        return sizing.parse_memory(text)
    files = [f for f in expand_inputs(list(request.inputs)) if f != "-"]
    limit = sizing.automatic_limit(files) if files else None
    if limit is not None and not quiet:
        click.echo(f"note: the input looks larger than the available memory; billing it in buckets within "
                   f"{limit / 2**30:.1f} GiB (set --memory-limit to choose)", err=True)
    return limit


class Progress:
    """Rich progress bars on stderr, only when stderr is a terminal and not --quiet."""

    def __init__(self, quiet):
        self.enabled = not quiet and sys.stderr.isatty()
        self.bars = None
        self.tasks = {}

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             console=Console(stderr=True), transient=True)
        self.bars.start()
        return self.update

    def update(self, what, done, total):
        if what not in self.tasks:
            self.tasks[what] = self.bars.add_task(what, total=total)
        self.bars.update(self.tasks[what], completed=done, total=total)

    def __exit__(self, *exc):
        if self.bars is not None:
            self.bars.stop()
        return False


