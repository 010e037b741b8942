"""generate: a synthetic message log."""

from __future__ import annotations

import os

import click

from ..generate import SHAPES
from .app import cli
from .options import (verbose_option)

@cli.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--rows", type=click.IntRange(min=1), default=50_000, show_default=True, help="How many rows.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed (same seed, same file).")
@click.option("--start", default="2026-10-01", show_default=True, help="First day of the month to fill (UTC).")
@click.option("--days", type=click.IntRange(min=1), default=31, show_default=True, help="How many days.")
@click.option("--accounts", type=click.IntRange(min=1, max=1000), default=6, show_default=True,
              help="How many business accounts.")
@click.option("--shape", type=click.Choice(SHAPES),
              default="realistic", show_default=True,
              help="realistic traffic, or a benchmark worst case: one huge conversation of 11-message sessions, "
                   "or every row its own conversation.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@verbose_option
def generate(out, rows, seed, start, days, accounts, shape, force):
    """Write a realistic synthetic message log to OUT (.csv, .csv.gz or .parquet).

    The log has several accounts, short chats, broadcasts, unanswered bursts, long
    conversations, images and other types, delivery statuses, duplicate rows and rows out of
    order, so that every rule is exercised.

    \b
    Example:
      viber-sessions generate /tmp/messages.parquet --rows 50000 --seed 7
    """
    from ..errors import UsageError
    from ..generate import GeneratorOptions, write_log

    if os.path.lexists(out) and not force:
        raise UsageError(f"{out} exists; give --force to replace it")
    write_log(out, GeneratorOptions(rows=rows, seed=seed, start=start, days=days, accounts=accounts, shape=shape))

