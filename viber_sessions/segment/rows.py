"""Each row before and after the session kernel: its class (:func:`classes`), how the kernel
reads it (through the order's keys and one byte a row, or through the order and one packed
word a row: :func:`row_inputs`), and its class once its session is known (:func:`finish`)."""

from __future__ import annotations

import numpy as np

from .codes import DUPLICATE, EXCLUDED, OUT_OF_SESSION, R_DUPLICATE, R_EXCLUDED, R_NONE, R_ONE_SIDED, SESSION
from .jit import compiled
from .order import OrderKeys
from .parallel import over_rows, readonly


@compiled(cache=True, nogil=True)
def _classes(first, status, unbilled, plan, business, billing, reason, lo, hi):  # pragma: no cover - compiled
    """Each row's class before the session kernel (rows ``lo:hi``): a duplicate (not ``first``),
    else excluded when its status is unbilled under its account's plan
    (``unbilled[plan[business], status]``; status -1, none given, reads the last column:
    False; no status column: ``status`` is empty), else a session candidate."""
    with_status = status.shape[0] > 0
    for i in range(lo, hi):
        if not first[i]:
            billing[i], reason[i] = DUPLICATE, R_DUPLICATE
        elif with_status and unbilled[plan[business[i]], status[i]]:
            billing[i], reason[i] = EXCLUDED, R_EXCLUDED
        else:
            billing[i], reason[i] = SESSION, R_NONE


def classes(first: np.ndarray, status: np.ndarray | None, unbilled: np.ndarray, plan: np.ndarray,
            business: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(billing class, reason) of each row by :func:`_classes` (``status`` None: no status)."""
    n = len(first)
    billing, reason = np.empty(n, np.int8), np.empty(n, np.int8)
    status = np.zeros(0, np.int32) if status is None else np.ascontiguousarray(status, np.int32)
    over_rows(n, _classes, np.ascontiguousarray(first, np.bool_), status, np.ascontiguousarray(unbilled, np.bool_),
              np.ascontiguousarray(plan, np.int32), np.ascontiguousarray(business, np.int32), billing, reason)
    return billing, reason


@compiled(cache=True, nogil=True)
def _finish(billing, sess, reason, billable, lo, hi):  # pragma: no cover - compiled
    for i in range(lo, hi):
        if billing[i] >= DUPLICATE:
            continue
        k = sess[i]
        if k < 0:
            billing[i] = OUT_OF_SESSION
        elif not billable[k]:
            billing[i] = OUT_OF_SESSION
            reason[i] = R_ONE_SIDED


def finish(billing, sess, reason, billable) -> None:
    """After the kernel, per row: out of session (reason given, or one_sided) unless in a
    billable session."""
    over_rows(len(billing), _finish, billing, sess, reason, billable)


def warm() -> None:
    """Call each compiled function of this module that the kernel's own warm-up does not."""
    codes = readonly(np.zeros(1, np.int32))[0]           # as the log's columns are (Arrow's: read-only)
    billing, flag = classes(np.ones(1, bool), np.zeros(1, np.int32), np.zeros((1, 2), bool), np.zeros(1, np.int32),
                            codes)[0], np.zeros(1, bool)
    finish(billing, np.full(1, -1, np.int64), np.zeros(1, np.int8), flag)


@compiled(cache=True, nogil=True)
def _pack(business, subscriber, inbound, mtype, billing, idle, mbits, sbits, words):  # pragma: no cover - compiled
    """Each row's word (:func:`pack_layout`): whether it takes part, inbound, its message type
    (``mbits`` bits; none when 0), its subscriber (``sbits`` bits) and business code above."""
    for i in range(words.shape[0]):
        w = (np.int64(business[i]) << sbits) | subscriber[i]
        if mbits:
            w = (w << mbits) | mtype[i]
        words[i] = (w << 2) | (np.int64(inbound[i]) << 1) | np.int64(billing[i] < idle)


@compiled(cache=True, nogil=True)
def _flags(mtype, billing, idle, with_type, flags, lo, hi):  # pragma: no cover - compiled
    """Each row's byte when the order gives its key (rows ``lo:hi``): whether it takes part,
    its type above (``with_type``)."""
    for i in range(lo, hi):
        f = np.uint8(billing[i] < idle)
        if with_type:
            f |= np.uint8(mtype[i] << 1)
        flags[i] = f


def pack_layout(business: np.ndarray, subscriber: np.ndarray, mtype: np.ndarray, n_types: int) -> tuple[int, int]:
    """The bits of a row's packed word (:func:`_pack`) that hold its message type (0: the type
    is read from its column; so when a code is -1 or the bits do not fit) and its subscriber.
    From the lowest bit: takes part, inbound, type, subscriber, business (the word stays
    positive: at most 63 bits)."""
    if not len(business):
        return 0, 1
    sbits = max(1, int(subscriber.max()).bit_length())
    used = max(1, int(business.max()).bit_length()) + sbits + 2
    if used > 63:
        raise ValueError(f"{used - 2} bits of business and subscriber codes: more than a row's word holds")
    mbits = max(1, int(n_types - 1).bit_length())
    if used + mbits > 63 or int(mtype.min()) < 0 or int(mtype.max()) >= n_types:
        mbits = 0
    return mbits, sbits


def row_inputs(order, business, subscriber, ts, inbound, mtype, billing, n_types: int, idle: int) -> tuple:
    """The kernel's arguments that say how each row is read, from ``order`` to ``sbits``: by
    the order's keys and one byte a row (an :class:`OrderKeys`), or by a packed word a row.
    Rows whose billing class is ``idle`` or above take no part."""
    none = readonly(np.zeros(0, np.int64))[0]
    if isinstance(order, OrderKeys):
        with_type = bool(len(mtype)) and int(mtype.min()) >= 0 and int(mtype.max()) < min(n_types, 128)
        flags = np.empty(len(mtype), np.uint8)
        over_rows(len(flags), _flags, mtype, billing, np.int8(idle), with_type, flags)
        return (none, none, ts, *readonly(order.words, order.starts, order.frame), np.int64(order.low_bits),
                np.int64(order.row_bits), readonly(flags)[0], mtype, np.int64(with_type), np.int64(1))
    mbits, sbits = pack_layout(business, subscriber, mtype, n_types)
    words = np.empty(len(mtype), dtype=np.int64)
    _pack(business, subscriber, inbound, mtype, billing, np.int8(idle), np.int64(mbits), np.int64(sbits), words)
    return (*readonly(order, words), ts, none, none, none, np.int64(0), np.int64(0),
            readonly(np.zeros(0, np.uint8))[0], mtype, np.int64(mbits), np.int64(sbits))
