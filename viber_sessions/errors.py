"""Problems are data: every error the core can raise carries the file, row and value it is about.

The CLI turns a :class:`ViberSessionsError` into one line on stderr and a non-zero exit code; the
library user gets the structured :class:`Problem` records.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One finding about the input (beancount style): where it is and what is wrong.

    ``row`` counts data rows from 1 (a CSV header is not a row); ``None`` when the problem is
    about a whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    code: str
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f": {self.value!r}"
        return text


class ViberSessionsError(Exception):
    """Base class of every error the core reports to a user (never a bug)."""

    exit_code = 1


class InputError(ViberSessionsError):
    """The message log cannot be read as given. ``problems`` lists every finding."""

    def __init__(self, problems: list[Problem] | Problem, total: int | None = None):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)
        first = str(self.problems[0])
        more = self.total - 1
        if more > 0:
            first += f" (and {more} more problem{'s' if more > 1 else ''}; `viber-sessions validate` lists them all)"
        super().__init__(first)


class TariffError(ViberSessionsError):
    """The tariff file is missing, malformed, or has an invalid field."""

    def __init__(self, path: str, field: str | None, message: str):
        self.path, self.field = path, field
        where = f"{path}: field {field!r}" if field else path
        super().__init__(f"{where}: {message}")


class BillingError(ViberSessionsError):
    """The log and the tariff do not fit together (for example an unpriced message type)."""


class UsageError(ViberSessionsError):
    """An option value the core cannot use (bad period, unknown time zone, ...)."""

    exit_code = 2
