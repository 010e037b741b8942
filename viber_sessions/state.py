"""Month-to-month state files (``--state-out`` / ``--state-in``, README "Monthly runs").

One Parquet file: a row per conversation whose session can still be open at the cut
(``kind = conversation``) and a row per message id timestamped within one window before the cut
(``kind = message_id``). The schema's metadata records the cut, where the history behind it
began, the tool version, every plan's limits and the reading settings that change ids; a state
carried into a run with other limits or settings is refused with one line.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__
from .errors import BillingError
from .segment.carry import CONVERSATION_COLUMNS, CarriedState
from .tariff import Tariff

FORMAT = "viber-sessions state 1"
SCHEMA = pa.schema([("kind", pa.string()), ("business_id", pa.string()), ("subscriber_id", pa.string()),
                    ("start", pa.int64()), ("origin", pa.int8()), ("business_messages", pa.int64()),
                    ("unanswered", pa.int64()), ("inbound", pa.int64()), ("outbound", pa.int64()),
                    ("message_id", pa.string()), ("timestamp", pa.int64())])
#: Reading settings that change what an id is (issue 8's E.164 normalisation), when the options have them.
ID_SETTINGS = ("subscriber_format", "default_region")


def limits_signature(tariff: Tariff) -> dict:
    """The session limits every account is billed under: ``""`` for the top-level plan, and an
    entry for each account override whose effective limits differ from it (an override that
    changes prices only leaves the limits as they are). A plan without sessions is
    ``{"sessions": false}`` whatever its limits say (they are not used)."""
    def one(plan: Tariff) -> dict:
        if not plan.sessions:
            return {"sessions": False}
        lim = plan.limits
        return {"window_ns": lim.window_ns, "max_business_messages": lim.max_business_messages,
                "max_unanswered": lim.max_unanswered, "non_opening_types": sorted(lim.non_opening_types),
                "session_types": sorted(lim.session_types), "after_message_limit": lim.after_message_limit,
                "unbilled_statuses": sorted(lim.unbilled_statuses), "sessions": True}
    return effective({"": one(tariff), **{name: one(tariff.plan(name)) for name in sorted(tariff.accounts)}})


def effective(signature: dict) -> dict:
    """A limits signature without the accounts whose limits equal the top-level ones (two
    signatures are then equal exactly when every account gets the same limits from both)."""
    top = signature.get("")
    return {name: lim for name, lim in signature.items() if name == "" or lim != top}


def settings_of(options) -> dict:
    return {k: getattr(options, k, None) for k in ID_SETTINGS}


def write_state(state: CarriedState, path: str, tariff: Tariff, options=None) -> None:
    """``state`` as a Parquet file at ``path`` (a staged temporary path), deterministically."""
    conv = state.conversations
    n, m = conv.num_rows, state.message_ids.num_rows
    cols = {"kind": pa.array(["conversation"] * n + ["message_id"] * m, pa.string())}
    for name in SCHEMA.names[1:9]:
        cols[name] = pa.concat_arrays([conv.column(name).combine_chunks().cast(SCHEMA.field(name).type),
                                       pa.nulls(m, SCHEMA.field(name).type)])
    for name in ("message_id", "timestamp"):
        cols[name] = pa.concat_arrays([pa.nulls(n, SCHEMA.field(name).type),
                                       state.message_ids.column(name).combine_chunks().cast(SCHEMA.field(name).type)])
    meta = {"format": FORMAT, "version": __version__, "cut_ns": str(state.cut_ns),
            "data_from_ns": "" if state.data_from is None else str(state.data_from),
            "limits": json.dumps(limits_signature(tariff), sort_keys=True),
            "settings": json.dumps(settings_of(options), sort_keys=True)}
    table = pa.table(cols, schema=SCHEMA).replace_schema_metadata({k.encode(): v.encode() for k, v in meta.items()})
    pq.write_table(table, path, compression="zstd")


def read_state(path: str, tariff: Tariff, options=None) -> CarriedState:
    """The state file at ``path``, refused (one line) when it is not a state file or was computed
    under other limits or reading settings than this run's."""
    try:
        table = pq.read_table(path)
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    except (OSError, pa.ArrowInvalid) as exc:
        raise BillingError(f"--state-in {path}: not a readable state file ({' '.join(str(exc).split())[:200]})") from None
    if meta.get("format") != FORMAT or not set(SCHEMA.names) <= set(table.column_names):
        raise BillingError(f"--state-in {path}: not a state file written by viber-sessions --state-out")
    if effective(json.loads(meta["limits"])) != limits_signature(tariff):
        raise BillingError(f"--state-in {path}: it was computed under other session limits than the tariff "
                         f"{tariff.source} gives (window, message limits, types or sessions switch of some plan); "
                         "carry a state only between runs with the same limits")
    if json.loads(meta["settings"]) != settings_of(options):
        raise BillingError(f"--state-in {path}: it was computed with other reading settings "
                         f"({meta['settings']}); use the same {', '.join(ID_SETTINGS)}")
    kind = table.column("kind")
    conv = table.filter(pc.equal(kind, "conversation")).select(list(CONVERSATION_COLUMNS))
    ids = table.filter(pc.equal(kind, "message_id")).select(["message_id", "timestamp"])
    data_from = int(meta["data_from_ns"]) if meta.get("data_from_ns") else None
    return CarriedState(int(meta["cut_ns"]), conv, ids, data_from)
