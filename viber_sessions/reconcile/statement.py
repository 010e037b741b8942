"""Reading a provider's statement: its grain told apart by its columns, and its values (text,
amounts, counts) checked with errors that name the file, the row and the column."""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import money
from ..errors import InputError, Problem
from ..load import read_any

SESSION_COLUMNS = ("business_id", "subscriber_id", "start")
AGGREGATE_COLUMNS = ("business_id", "sessions", "out_of_session_messages", "amount")


def unquote_cells(table: pa.Table) -> pa.Table:
    """A CSV statement's text cells with exactly one leading ``'`` removed: the undoing of the
    formula neutralisation of our own CSV files (``writing.neutralise``), so our own
    ``--sessions-out`` is a valid statement whatever its ids hold."""
    for i, column in enumerate(table.schema):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            col = table.column(i)
            quoted = pc.starts_with(col, "'")
            if pc.any(quoted).as_py():
                table = table.set_column(i, column.name, pc.if_else(quoted, pc.utf8_slice_codeunits(col, 1), col))
    return table


def read_statement(path: str, column_map: Mapping[str, str] | None = None) -> tuple[str, pa.Table]:
    """The statement's grain (``session``, ``day`` or ``period``) and its columns, renamed."""
    table = read_any(path)
    if not path.lower().endswith((".parquet", ".pq")):
        table = unquote_cells(table)
    column_map = dict(column_map or {})
    rename = {source: canonical for canonical, source in column_map.items()}
    table = table.rename_columns([rename.get(c, c) for c in table.column_names])
    names = set(table.column_names)
    if set(SESSION_COLUMNS) <= names:
        return "session", table
    if set(AGGREGATE_COLUMNS) <= names and ("date" in names or "period" in names):
        return ("day" if "date" in names else "period"), table
    raise InputError(Problem(path, None, None, "unknown_statement",
                             "cannot tell the statement's grain: it needs business_id, subscriber_id, start (per "
                             "session) or business_id, date|period, sessions, out_of_session_messages, amount "
                             f"(per account); it has {', '.join(table.column_names)} (use --statement-map)"))


class Source:
    """Where statement values come from, for error messages: the file, the name each canonical
    column has in it (``--statement-map``), and each table row's data row in the file (from 1;
    rows set aside, such as ``billable = false``, keep their numbers)."""

    def __init__(self, path: str, column_map: Mapping[str, str] | None, rows: np.ndarray | None = None):
        self.path = path
        self.column_map = dict(column_map or {})
        self.rows = rows

    def column(self, canonical: str) -> str:
        return self.column_map.get(canonical, canonical)

    def row(self, index: int) -> int:
        return int(self.rows[index]) if self.rows is not None else index + 1

    def keep(self, mask) -> "Source":
        rows = self.rows if self.rows is not None else np.arange(1, len(mask) + 1)
        return Source(self.path, self.column_map, rows[np.asarray(mask, dtype=bool)])

    def problem(self, index: int | None, column: str, code: str, message: str, value) -> InputError:
        return InputError(Problem(self.path, None if index is None else self.row(index), self.column(column), code,
                                  message, None if value is None else str(value)))

    def strings(self, table: pa.Table, column: str) -> list:
        """A text column (integers become their text), as Python strings."""
        arr = table.column(column).combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if not (pa.types.is_string(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_large_string(arr.type)):
            raise self.problem(None, column, "bad_column_type", f"must hold text, not {arr.type}", None)
        return arr.cast(pa.string()).to_pylist()

    def decimals(self, values: list, column: str) -> list[Decimal]:
        """Amounts as exact decimals (empty: 0). A bad value is one error naming the file, the
        row and the column, with the value once."""
        out = []
        for i, v in enumerate(values):
            try:
                out.append(money.parse(v if v not in (None, "") else "0"))
            except money.MoneyError:
                raise self.problem(i, column, "bad_amount", amount_message(v), v) from None
        return out

    def ints(self, values: list, column: str) -> list[int]:
        out = []
        for i, v in enumerate(values):
            try:
                out.append(int(v))
            except (TypeError, ValueError):
                raise self.problem(i, column, "bad_count", "not a whole number", v) from None
        return out


def amount_message(value) -> str:
    """Why a statement amount is refused (the value itself is shown once, by the Problem)."""
    try:
        negative = Decimal(str(value).strip()) < 0
    except (ArithmeticError, ValueError):
        negative = False
    if negative:
        return "amount must not be negative"
    if isinstance(value, str) and "," in value:
        return "not a decimal amount: the decimal point must be '.' (such as 868.50), without thousands separators"
    return "not a decimal amount (such as 868.50)"


def strings_any(table: pa.Table, column: str) -> list:
    """Any column's values as text (None stays None)."""
    arr = table.column(column).combine_chunks()
    return [None if v is None else str(v) for v in arr.to_pylist()]
