"""The compiled CSV line scanner (see "CSV lines" in :mod:`.csvscan`)."""

from __future__ import annotations

import numba
import numpy as np

from ..compiling import guard

guard()        # numba compiles here: no cycle collection meanwhile (viber_sessions.compiling)



@numba.njit(cache=True, nogil=True)
def _utf8_width(b, i, n):  # pragma: no cover - compiled
    """Bytes of the valid UTF-8 sequence that starts at b[i] (a byte >= 0x80), or 0."""
    c = b[i]
    if c < 0xC2 or c > 0xF4:
        return 0
    if c < 0xE0:
        need, lo, hi = 1, 0x80, 0xBF
    elif c < 0xF0:
        need, lo, hi = 2, (0xA0 if c == 0xE0 else 0x80), (0x9F if c == 0xED else 0xBF)
    else:
        need, lo, hi = 3, (0x90 if c == 0xF0 else 0x80), (0x8F if c == 0xF4 else 0xBF)
    if i + need >= n or b[i + 1] < lo or b[i + 1] > hi:
        return 0
    for k in range(2, need + 1):
        if (b[i + k] & 0xC0) != 0x80:
            return 0
    return need + 1


@numba.njit(cache=True, nogil=True)
def _char_width(b, i, n, chk):  # pragma: no cover - compiled
    """(bytes of the character at b[i], whether it is invalid UTF-8); an invalid byte counts as
    one, so scanning goes on; unchecked fields step byte by byte."""
    if b[i] < 128 or not chk:
        return 1, False
    w = _utf8_width(b, i, n)
    return (1, True) if w == 0 else (w, False)


@numba.njit(cache=True, nogil=True)
def _scan_field(b, i, n, delim, quote, chk):  # pragma: no cover - compiled
    """Read one field from b[i] as Arrow does: (end, has content, has a byte other than space
    or tab, quote left open at the line end, invalid UTF-8 met)."""
    content = False
    other = False
    bad_text = False
    if i < n and b[i] == quote:
        other = True
        i += 1
        while True:
            if i >= n or b[i] == 10 or b[i] == 13:
                return i, content, other, True, bad_text
            c = b[i]
            if c == quote:
                if i + 1 < n and b[i + 1] == quote:
                    content = True
                    i += 2
                    continue
                i += 1
                break
            content = True
            w, bad = _char_width(b, i, n, chk)
            bad_text |= bad
            i += w
    while i < n:
        c = b[i]
        if c == delim or c == 10 or c == 13:
            break
        content = True
        if c != 32 and c != 9:
            other = True
        w, bad = _char_width(b, i, n, chk)
        bad_text |= bad
        i += w
    return i, content, other, False, bad_text


@numba.njit(cache=True, nogil=True)
def scan_lines(b, delim, quote, check, out, rec):  # pragma: no cover - compiled
    """Classify the lines of ``b`` (whole lines; the last may lack its line end).

    ``check[k]``: validate UTF-8 in field k (the header has ``len(check)`` fields). With a
    non-empty ``out`` (``len(b) + 1`` bytes) every readable data line is copied there, each
    ended by a line feed; ``rec`` ((k, 4)) receives (data line index, start, end, kind) of the
    first k invalid data lines. Returns (data lines, blank lines, invalid data lines, bytes
    written, the last line is a data line).
    """
    n = b.shape[0]
    nf = check.shape[0]
    write = out.shape[0] > 0
    n_data = n_blank = n_bad = o = 0
    last_data = False
    i = 0
    while i < n:
        start = i
        if b[i] == 10 or b[i] == 13:                     # an empty line
            i += 2 if (b[i] == 13 and i + 1 < n and b[i + 1] == 10) else 1
            n_blank += 1
            last_data = False
            continue
        fields = 0
        content = other = open_quote = bad_text = False
        while True:
            i, c1, o1, open_quote, t1 = _scan_field(b, i, n, delim, quote, fields < nf and check[fields])
            content |= c1
            other |= o1
            bad_text |= t1
            fields += 1
            if open_quote or i >= n or b[i] != delim:
                break
            other = True
            i += 1
        end = i
        if i < n:                                        # the line end
            i += 2 if (b[i] == 13 and i + 1 < n and b[i + 1] == 10) else 1
        if not open_quote and (not content or not other):
            n_blank += 1
            last_data = False
            continue
        kind = 1 if open_quote else (2 if fields != nf else (3 if bad_text else 0))
        if kind:
            if n_bad < rec.shape[0]:
                rec[n_bad, 0], rec[n_bad, 1], rec[n_bad, 2], rec[n_bad, 3] = n_data, start, end, kind
            n_bad += 1
        elif write:
            out[o:o + end - start] = b[start:end]
            o += end - start
            out[o] = 10
            o += 1
        n_data += 1
        last_data = True
    return n_data, n_blank, n_bad, o, last_data


@numba.njit(cache=True, nogil=True)
def count_lf(b):  # pragma: no cover - compiled
    """The line feeds in ``b``, eight bytes at a time (the bytes equal to 10 become 0x80 in a
    word, exactly; their number is a multiply away): two to three times a byte loop's speed."""
    m = b.shape[0] // 8
    words = b[:m * 8].view(np.uint64)
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    lf = np.uint64(0x0A0A0A0A0A0A0A0A)
    ones = np.uint64(0x0101010101010101)
    n = 0
    for i in range(m):
        t = words[i] ^ lf                        # zero bytes where b == 10
        y = ~(((t & low7) + low7) | t | low7)    # 0x80 in exactly those bytes
        n += ((y >> np.uint64(7)) * ones) >> np.uint64(56)
    for i in range(m * 8, b.shape[0]):
        n += b[i] == 10
    return n


@numba.njit(cache=True, nogil=True)
def has_lone_cr(b):  # pragma: no cover - compiled
    """Whether some carriage return inside ``b`` is not followed by a line feed."""
    for i in range(b.shape[0] - 1):
        if b[i] == 13 and b[i + 1] != 10:
            return True
    return False
