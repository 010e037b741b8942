"""The command group: one line on stderr and an exit code for every domain error, no traceback
unless -v; a closed pipe ends quietly."""

from __future__ import annotations

import os
import sys
import traceback

import click

from .. import __version__, entry
from ..errors import ViberSessionsError
from .options import state, verbose_option

class _Group(click.Group):
    """Translates domain errors into one line on stderr and an exit code; no traceback unless -v."""

    def main(self, args=None, *a, **kw):
        state["args"] = list(sys.argv[1:] if args is None else args)
        state["verbose"] = entry.VERBOSE["on"] = False
        entry.new_run()
        # a signal in click's own code would end in "Aborted!" and exit 1: it waits for the
        # option parsing or the command (released there), or acts when click is done
        with entry.held():
            try:
                return super().main(args, *a, **kw)
            finally:
                # over, whatever the way out (--help, a usage error): a signal from now on ends the
                # process at once, in one line, even while entry.main finishes
                entry.finished()

    def make_context(self, *a, **kw):
        try:
            with entry.released():
                return super().make_context(*a, **kw)
        except KeyboardInterrupt as exc:          # a signal while the options are parsed
            sys.exit(entry.interrupted(exc))
        except Exception as exc:
            if entry.signal_in(exc) is None:
                raise
            sys.exit(entry.interrupted(entry.signal_in(exc)))

    def invoke(self, ctx):
        try:
            with entry.released():
                result = super().invoke(ctx)
                entry.check_pending()            # a signal whose exception a callback swallowed
            return result
        except ViberSessionsError as exc:
            if entry.signal_in(exc) is not None:        # a signal, then an error on the way out
                ctx.exit(entry.interrupted(entry.signal_in(exc)))
            if state["verbose"]:
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # `| head` closed the pipe: stop quietly (csvkit style)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:            # a bug: still one line (the traceback with -v), never a wrong exit 0
            if entry.signal_in(exc) is not None:        # ... unless a signal's exception was turned into it
                ctx.exit(entry.interrupted(entry.signal_in(exc)))
            if state["verbose"]:
                traceback.print_exc()
            text = " ".join(str(exc).split())[:300]
            click.echo(f"error: internal error ({type(exc).__name__}: {text}); this is a bug of viber-sessions: please "
                       "report it with the command (-v shows the traceback)", err=True)
            ctx.exit(3)
        except KeyboardInterrupt as exc:
            # SIGINT, or SIGTERM (Terminated, see entry.py): the context managers on the way out
            # have removed every temporary file and folder; the old outputs are untouched
            if state["verbose"]:
                traceback.print_exc()
            ctx.exit(entry.interrupted(exc))
        finally:
            try:
                entry.finished()  # the command is over: a signal from now on ends the process at once
            except KeyboardInterrupt as exc:      # ... one that came just before that still ends in one line
                ctx.exit(entry.interrupted(exc))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="viber-sessions")
@verbose_option
def cli():
    """Turn Viber business message logs into exact session-based invoices.

    A subscriber's message opens a 24 h session that holds up to 60 business messages and
    closes after 10 unanswered ones; the README's "The rules" section states every rule.
    """
