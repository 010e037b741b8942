"""The columns of a message log and the options of reading one (:class:`LoadOptions`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import UsageError
from ..timeutil import check_timezone

REQUIRED = ("message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type")
OPTIONAL = ("status",)
CANONICAL = REQUIRED + OPTIONAL
ID_COLUMNS = ("message_id", "business_id", "subscriber_id")

#: Accepted spellings of the direction (case-insensitive) -> is the message inbound?
DIRECTIONS: Mapping[str, bool] = {
    "inbound": True, "in": True, "mo": True, "incoming": True, "subscriber": True,
    "outbound": False, "out": False, "mt": False, "outgoing": False, "business": False,
}
#: Integer epoch values below this are seconds, at or above it milliseconds (auto-detection).
EPOCH_MS_THRESHOLD = 100_000_000_000
EPOCH_UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
ON_INVALID = ("error", "skip")
SUBSCRIBER_FORMATS = ("as_is", "e164")
#: Delimiters a CSV header is searched for (in this order of preference on a tie).
DELIMITERS = (",", ";", "\t", "|")
#: The strptime directives a --timestamp-format may use (%Z, a zone name, is not one: MSK or
#: CST name several offsets, and Python reads one without its zone).
TIMESTAMP_DIRECTIVES = "YmdHMSfzyIpbBaAj%"
#: Columns whose values a profile may map ([source.values.COLUMN]).
VALUE_COLUMNS = ("direction", "message_type", "status")


@dataclass(frozen=True)
class LoadOptions:
    """How to read the input: column names, time zone of naive timestamps, invalid rows, and how
    an export is written (see README, "Reading other exports").

    ``encoding``: a Python codec name (None: UTF-8; a byte order mark always wins);
    ``delimiter``: one character (None: ``.tsv`` files use a tab, others are detected from the
    header line among ``, ; TAB |``); ``timestamp_format``: strptime formats tried in order
    (empty: ISO-8601 or epoch numbers); ``skip_rows``: lines before the header;
    ``subscriber_format``: ``as_is`` or ``e164`` (subscribers read as phone numbers, numbers
    without a country code in ``default_region``); ``sheet``: the ``.xlsx`` sheet (None: the
    first); ``values``: per column (direction, message_type, status) the file's value ->
    canonical value (case-insensitive; a value not in a given mapping is invalid);
    ``naive_warning_tz``: set (to the billing zone) when the input zone was not chosen, so that
    reading timestamps without an offset adds a notice saying which zone was assumed.
    """

    column_map: Mapping[str, str] = field(default_factory=dict)
    input_tz: str = "UTC"
    epoch_unit: str | None = None
    on_invalid: str = "error"
    encoding: str | None = None
    delimiter: str | None = None
    timestamp_format: tuple[str, ...] = ()
    skip_rows: int = 0
    subscriber_format: str = "as_is"
    default_region: str | None = None
    sheet: str | None = None
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    naive_warning_tz: str | None = None

    def __post_init__(self):
        check_timezone(self.input_tz, "--input-tz")
        self._check_reading()
        unknown = sorted(set(self.column_map) - set(CANONICAL))
        if unknown:
            raise UsageError(f"--map {unknown[0]}=...: {unknown[0]!r} is not a column of the log "
                             f"(columns: {', '.join(CANONICAL)})")
        sources = Counter(self.source_name(c) for c in CANONICAL)
        for c in CANONICAL:
            if sources[self.source_name(c)] > 1:
                others = [o for o in CANONICAL if o != c and self.source_name(o) == self.source_name(c)]
                raise UsageError(f"--map: {c} and {others[0]} both name the column {self.source_name(c)!r}")
        if self.epoch_unit is not None and self.epoch_unit not in EPOCH_UNITS:
            raise UsageError(f"--epoch-unit must be one of {', '.join(EPOCH_UNITS)}, not {self.epoch_unit!r}")
        if self.on_invalid not in ON_INVALID:
            raise UsageError(f"--on-invalid must be 'error' or 'skip', not {self.on_invalid!r}")

    def source_name(self, canonical: str) -> str:
        return self.column_map.get(canonical, canonical)

    def _check_reading(self) -> None:
        import codecs

        if self.encoding is not None:
            try:
                text = codecs.lookup(self.encoding)._is_text_encoding
            except LookupError:
                text = None
            if not text:
                raise UsageError(f"--encoding: {self.encoding!r} is not " + ("a known" if text is None else "a text")
                                 + " encoding (e.g. utf-8, cp1251, utf-16)") from None
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in "\"\r\n"):
            raise UsageError(f"--delimiter must be one character other than a quote or a line end (TAB: "
                             f"'\\t'), not {self.delimiter!r}")
        if isinstance(self.timestamp_format, str):
            object.__setattr__(self, "timestamp_format", (self.timestamp_format,))
        for fmt in self.timestamp_format:
            if not isinstance(fmt, str) or "%" not in fmt:
                raise UsageError(f"--timestamp-format must be a strptime format such as '%d.%m.%Y %H:%M:%S', "
                                 f"not {fmt!r}")
            check_directives(fmt)
        if not isinstance(self.skip_rows, int) or isinstance(self.skip_rows, bool) or self.skip_rows < 0:
            raise UsageError(f"--skip-rows must be a whole number 0 or more, not {self.skip_rows!r}")
        if self.subscriber_format not in SUBSCRIBER_FORMATS:
            raise UsageError(f"--subscriber-format must be 'as_is' or 'e164', not {self.subscriber_format!r}")
        if self.default_region is not None:
            from ..phones import check_region

            object.__setattr__(self, "default_region", check_region(self.default_region))
        unknown = sorted(set(self.values) - set(VALUE_COLUMNS))
        if unknown:
            raise UsageError(f"values of {unknown[0]!r} cannot be mapped (only {', '.join(VALUE_COLUMNS)})")
        object.__setattr__(self, "values", {c: {str(k).strip().lower(): str(v).strip().lower()
                                                for k, v in m.items()} for c, m in self.values.items()})
        if self.naive_warning_tz is not None:
            check_timezone(self.naive_warning_tz, "--tz")

    def value_map(self, column: str) -> Mapping[str, str] | None:
        """The profile's mapping of ``column``'s values (keys trimmed and lowercase), or None."""
        return self.values.get(column)


def check_directives(fmt: str) -> None:
    """Refuse a --timestamp-format directive that is not read exactly (see TIMESTAMP_DIRECTIVES)."""
    i = fmt.find("%")
    while i >= 0:
        d = fmt[i + 1:i + 2]
        if not d or d not in TIMESTAMP_DIRECTIVES:
            why = (" (a zone name such as MSK or UTC is ambiguous and would be dropped: write the offset with %z, "
                   "e.g. +0300 or +03:00, or give --input-tz for times without an offset)") if d == "Z" else ""
            shown = " ".join("%" + c for c in TIMESTAMP_DIRECTIVES)
            what = f"%{d} is not supported{why}" if d else "a lone % ends it"
            raise UsageError(f"--timestamp-format {fmt!r}: {what}; supported: {shown}")
        i = fmt.find("%", i + 2)
