"""A realistic synthetic message log, generated with numpy in chunks (any size, flat memory).

Conversation shapes: short chats, broadcasts nobody answers, unanswered bursts, long
conversations (more than 60 business messages, several days), subscriber-only contacts.
Rows carry other message types, images that cannot open a session, a delivery ``status``
(some failed), duplicate rows, and are shuffled within each chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import UsageError
from .writing import atomic_path, output_format

ACCOUNT_NAMES = ["shop", "bank", "taxi", "pharmacy", "airline", "007delivery", "clinic", "cinema", "telecom", "+7bookstore"]
OUT_TYPES = np.array(["text", "image", "video", "file", "text_button", "image_text_button"])
OUT_P = np.array([0.78, 0.14, 0.02, 0.02, 0.02, 0.02])
IN_TYPES = np.array(["text", "image"])
IN_P = np.array([0.88, 0.12])
STATUSES = np.array(["delivered", "read", "failed", "expired"])
STATUS_P = np.array([0.55, 0.435, 0.01, 0.005])
# kind: (share of conversations, mean length, mean gap in seconds, probability a message is inbound)
KINDS = {
    "chat": (0.55, 6, 240, 0.45),
    "broadcast": (0.25, 1.3, 86400, 0.0),
    "burst": (0.08, 12, 60, 0.0),
    "long": (0.04, 150, 1800, 0.25),
    "subscriber_only": (0.05, 2, 3600, 1.0),
    "image_first": (0.03, 4, 300, 0.4),
}
CHUNK = 1_000_000


@dataclass(frozen=True)
class GeneratorOptions:
    rows: int = 50_000
    seed: int = 1
    start: str = "2026-10-01"
    days: int = 31
    accounts: int = 6
    duplicate_share: float = 0.002
    chunk_rows: int = CHUNK
    shape: str = "realistic"


SHAPES = ("realistic", "one_conversation", "one_message_conversations")


def worst_case_chunk(shape: str, n: int, first_id: int, t0: int) -> pa.Table:
    """The benchmark's worst cases. ``one_conversation``: one subscriber writes, the business
    sends 10 unanswered messages, again and again (a session of 11 messages each, closed at
    the unanswered limit: about 90,900 sessions per million rows). ``one_message_conversations``:
    every row its own conversation."""
    k = first_id + np.arange(n, dtype=np.int64)
    if shape == "one_conversation":
        inbound = k % 11 == 0
        subscriber = np.full(n, "+79001234567", dtype=object)
    else:
        inbound = k % 2 == 0
        subscriber = _subscriber_ids(k).astype(object)
    return pa.table({
        "message_id": pa.array(np.char.add("m", k.astype(str))),
        "timestamp": pa.array(t0 + k * 1_000_000_000, pa.timestamp("ns", tz="UTC")).cast(pa.timestamp("s", tz="UTC")),
        "business_id": pa.array(np.full(n, "shop", dtype=object), pa.string()),
        "subscriber_id": pa.array(subscriber, pa.string()),
        "direction": pa.array(np.where(inbound, "inbound", "outbound")),
        "message_type": pa.array(np.full(n, "text", dtype=object), pa.string()),
        "status": pa.array(np.full(n, "delivered", dtype=object), pa.string()),
    })


def _start_ns(text: str) -> int:
    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--start must be a date such as 2026-10-01, not {text!r}") from None
    if day.tzinfo is None:
        day = day.replace(tzinfo=timezone.utc)
    return int(day.timestamp()) * 1_000_000_000


def account_names(k: int) -> list[str]:
    return [ACCOUNT_NAMES[i] if i < len(ACCOUNT_NAMES) else f"acct{i:03d}" for i in range(k)]


def generate_chunk(rng: np.random.Generator, n: int, first_id: int, opts: GeneratorOptions, t0: int,
                   span: int, subscribers_pool: int) -> pa.Table:
    """About ``n`` rows (exactly ``n``) of whole conversations, shuffled, with some duplicates."""
    kinds = list(KINDS.values())
    share = np.array([k[0] for k in kinds])
    share /= share.sum()
    mean_len = np.array([k[1] for k in kinds])
    # draw enough conversations to fill n rows
    expected = float((share * mean_len).sum())
    n_conv = int(n / expected * 1.1) + 10
    kind = rng.choice(len(kinds), size=n_conv, p=share)
    length = np.maximum(1, rng.geometric(1.0 / mean_len[kind]))
    total = np.cumsum(length)
    n_conv = int(np.searchsorted(total, n)) + 1
    kind, length = kind[:n_conv], length[:n_conv]
    length[-1] -= int(length.sum()) - n
    kind, length = kind[length > 0], length[length > 0]
    n_conv = len(kind)

    # conversation attributes
    weights = 1.0 / np.arange(1, opts.accounts + 1)
    business = rng.choice(opts.accounts, size=n_conv, p=weights / weights.sum())
    subscriber = rng.integers(0, subscribers_pool, size=n_conv)
    conv_start = t0 + rng.integers(0, span, size=n_conv)
    gap_mean = np.array([k[2] for k in kinds])[kind]
    p_in = np.array([k[3] for k in kinds])[kind]

    conv_of = np.repeat(np.arange(n_conv), length)
    offsets = np.concatenate([[0], np.cumsum(length)[:-1]])
    pos = np.arange(n) - np.repeat(offsets, length)
    gaps = rng.exponential(gap_mean[conv_of]).astype(np.int64) * 1_000_000_000
    gaps[pos == 0] = 0
    csum = np.cumsum(gaps)
    ts = conv_start[conv_of] + csum - np.repeat(csum[offsets], length)
    inbound = rng.random(n) < p_in[conv_of]
    kind_of = kind[conv_of]
    names = list(KINDS)
    opener = (pos == 0) & np.isin(kind_of, [names.index("chat"), names.index("burst"), names.index("long"),
                                             names.index("image_first")])
    inbound |= opener
    in_type = rng.choice(len(IN_TYPES), size=n, p=IN_P)
    in_type[opener] = 0
    in_type[(pos == 0) & (kind_of == names.index("image_first"))] = 1
    out_type = rng.choice(len(OUT_TYPES), size=n, p=OUT_P)
    mtype = np.where(inbound, IN_TYPES[in_type], OUT_TYPES[out_type])
    status = np.where(inbound, "", STATUSES[rng.choice(len(STATUSES), size=n, p=STATUS_P)])

    ids = np.char.add("m", (first_id + np.arange(n)).astype(str))
    sub_ids = _subscriber_ids(subscriber[conv_of])
    biz = np.array(account_names(opts.accounts))[business[conv_of]]
    direction = np.where(inbound, "inbound", "outbound")

    order = rng.permutation(n)
    k = int(n * opts.duplicate_share)
    if k and n > 2 * k:
        # some rows are sent twice: a copy replaces another row somewhere in the chunk
        picks = rng.choice(n, size=2 * k, replace=False)
        order[picks[:k]] = order[picks[k:]]
    return pa.table({
        "message_id": pa.array(ids[order]),
        "timestamp": pa.array(ts[order], pa.timestamp("ns", tz="UTC")).cast(pa.timestamp("s", tz="UTC"), safe=False),
        "business_id": pa.array(biz[order]),
        "subscriber_id": pa.array(sub_ids[order]),
        "direction": pa.array(direction[order]),
        "message_type": pa.array(mtype[order]),
        "status": pa.array(status[order]),
    })


def _subscriber_ids(numbers: np.ndarray) -> np.ndarray:
    """Phone numbers as strings, in the spellings real logs have: +7..., 007..., viber:..."""
    digits = np.char.zfill((numbers % 10_000_000).astype(str), 7)
    style = numbers % 20
    plus = np.char.add("+7900", digits)
    zeros = np.char.add("007900", digits)
    viber = np.char.add("viber:", np.char.zfill(np.char.mod("%x", numbers), 8))
    return np.where(style == 0, zeros, np.where(style == 1, viber, plus))


def write_log(out: str, opts: GeneratorOptions) -> None:
    """Write ``opts.rows`` rows to ``out`` (.csv, .csv.gz or .parquet), chunk by chunk."""
    kind = output_format(out, ("csv", "parquet"), "OUT")
    rng = np.random.default_rng(opts.seed)
    t0 = _start_ns(opts.start)
    span = opts.days * 86400 * 1_000_000_000
    pool = max(100, opts.rows // 5)
    with atomic_path(out) as tmp:
        writer = None
        sink = None
        try:
            done = 0
            while done < opts.rows:
                n = min(opts.chunk_rows, opts.rows - done)
                if opts.shape == "realistic":
                    table = generate_chunk(rng, n, done, opts, t0, span, pool)
                else:
                    table = worst_case_chunk(opts.shape, n, done, t0)
                if kind == "csv":
                    table = table.set_column(1, "timestamp", _iso(table.column("timestamp")))
                if writer is None:
                    if kind == "parquet":
                        writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                    else:
                        sink = pa.output_stream(tmp, compression="gzip" if out.lower().endswith(".gz") else None)
                        writer = pacsv.CSVWriter(sink, table.schema,
                                                 write_options=pacsv.WriteOptions(quoting_style="needed"))
                writer.write_table(table)
                done += n
        finally:
            if writer is not None:
                writer.close()
            if sink is not None:
                sink.close()


def _iso(col) -> pa.Array:
    import pyarrow.compute as pc
    return pc.strftime(col, "%Y-%m-%dT%H:%M:%SZ")
