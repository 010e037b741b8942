"""Identifiers that look like another one: spaces at the ends, control or invisible characters.

``"shop "`` and ``"sh\\u200bop"`` are different accounts from ``"shop"``: each pays its own
monthly fee, yet a reader of the invoice cannot tell them apart. Identifiers stay exactly as
written everywhere (they are opaque strings); this module only *reports* them, for ``validate``
(finding ``suspicious_id``) and for the invoice warnings.

What counts as suspicious, character by character (Python's :mod:`unicodedata`):

- whitespace at the start or the end (anything ``str.strip`` removes);
- control characters (category Cc), format characters (Cf: zero-width space, joiners,
  U+FEFF, U+2060, bidi marks and embeddings, soft hyphen, ...), private-use (Co), surrogate
  (Cs) and unassigned (Cn) code points (unassigned in Python's Unicode tables *and* in those of
  the vectorised prefilter, so that a character added to Unicode since is no suspect);
- any space other than the ASCII space (Zs, e.g. U+00A0), line and paragraph separators (Zl, Zp);
- characters that draw nothing though their category says otherwise: combining grapheme
  joiner, Hangul fillers, variation selectors, Braille blank (:data:`INVISIBLE`).

An ASCII space inside an identifier (``"my shop"``) is not suspicious.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

#: Characters outside the C and Z categories that render as nothing.
INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800, 0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10)) + list(range(0xE0100, 0xE01F0)))

_KINDS = {
    "Cc": "a control character", "Cf": "an invisible format character", "Co": "a private-use character",
    "Cs": "a surrogate code point", "Cn": "an unassigned code point", "Zs": "an unusual space",
    "Zl": "a line separator", "Zp": "a paragraph separator",
}
#: Names of the control characters (``unicodedata.name`` has none for them).
_CONTROL_NAMES = {0x00: "NULL", 0x09: "TAB", 0x0A: "LINE FEED", 0x0B: "VERTICAL TAB", 0x0C: "FORM FEED",
                  0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE", 0x85: "NEXT LINE"}

# The vectorised prefilter (RE2): a superset of what :func:`suspicious` reports. The negated
# class matches every C and Z character except the ASCII space (RE2 cannot name Cn, but a
# code point outside L, M, N, P, S is in C or Z whatever the Unicode version).
_PREFILTER = ("^ | $|[^\\p{L}\\p{M}\\p{N}\\p{P}\\p{S} ]|["
              + "".join(f"\\x{{{c:X}}}" for c in sorted(c for c in INVISIBLE if not 0xE0100 <= c < 0xE01F0
                                                          and not 0xFE00 <= c < 0xFE10))
              + "\\x{FE00}-\\x{FE0F}\\x{E0100}-\\x{E01EF}]")
_MAX_REASONS = 3


def describe(ch: str) -> str:
    """``U+200B ZERO WIDTH SPACE``: a character by code point and name."""
    code = ord(ch)
    name = unicodedata.name(ch, "") or _CONTROL_NAMES.get(code, "")
    return f"U+{code:04X}" + (f" {name}" if name else "")


def _kind(ch: str) -> str | None:
    if ord(ch) in INVISIBLE:
        return "an invisible character"
    if ch == " ":
        return None
    category = unicodedata.category(ch)
    if category == "Cn" and not _unassigned_for_re2(ch):
        return None
    return _KINDS.get(category)


@functools.lru_cache(maxsize=8192)
def _unassigned_for_re2(ch: str) -> bool:
    """A code point unassigned in Python's Unicode tables may be assigned in the newer ones of
    the regular-expression engine (a character added since): then it is no suspect, and
    :func:`suspicious` and the vectorised prefilter agree on it."""
    return bool(pc.match_substring_regex(pa.array([ch]), _PREFILTER)[0].as_py())


def _run(chars: str) -> str:
    seen = list(dict.fromkeys(chars))
    text = ", ".join(describe(c) for c in seen[:_MAX_REASONS])
    if len(seen) > _MAX_REASONS:
        text += ", ..."
    return text


def suspicious(value: str) -> str | None:
    """A short reason when ``value`` has whitespace at an end or a control or invisible
    character, else None: ``"trailing whitespace (U+0020 SPACE)"``,
    ``"an invisible format character U+200B ZERO WIDTH SPACE at position 3"`` (positions
    count characters from 1)."""
    if not isinstance(value, str) or not value:
        return None
    reasons: list[str] = []
    stripped_left = value.lstrip()
    lead = len(value) - len(stripped_left)
    if lead:
        reasons.append(f"leading whitespace ({_run(value[:lead])})")
    body = stripped_left.rstrip()
    trail = len(stripped_left) - len(body)
    if trail and body:
        reasons.append(f"trailing whitespace ({_run(stripped_left[len(body):])})")
    for i, ch in enumerate(body, start=lead + 1):
        kind = _kind(ch)
        if kind is not None:
            reasons.append(f"{kind} {describe(ch)} at position {i}")
    if not reasons:
        return None
    if len(reasons) > _MAX_REASONS:
        more = len(reasons) - _MAX_REASONS
        reasons = reasons[:_MAX_REASONS] + [f"and {more} more"]
    return "; ".join(reasons)


def cleaned(value: str) -> str:
    """``value`` without whitespace at its ends and without control or invisible characters:
    the identifier a reader would think they see (for "looks like ..." hints only)."""
    out = []
    for ch in value.strip():
        if _kind(ch) is None:
            out.append(ch)
        elif ch.isspace():          # an unusual space or a tab inside: it looks like a space
            out.append(" ")
    return "".join(out)


def prefilter(values: pa.Array) -> pa.Array:
    """Boolean array: which values may be suspicious (cheap, vectorised; null: False)."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    return pc.fill_null(pc.match_substring_regex(values, _PREFILTER), False)


def suspicious_values(values: Iterable[str] | pa.Array | pa.ChunkedArray) -> list[tuple[str, str]]:
    """``(value, reason)`` of each distinct suspicious value, in the order first given.

    ``values`` is typically a dictionary of distinct names (``log.businesses``); a regular
    expression over the whole array picks the candidates, and Python looks at those only.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(list(values), pa.string())
    if not len(values):
        return []
    hits = pc.filter(values, prefilter(values))
    if pa.types.is_dictionary(hits.type):
        hits = hits.dictionary_decode()
    out: dict[str, str] = {}
    for value in hits.to_pylist():
        if value in out:
            continue
        reason = suspicious(value)
        if reason is not None:
            out[value] = reason
    return list(out.items())


def warning_lines(account_names: Sequence[str] | Iterable[str]) -> list[str]:
    """One invoice warning per suspicious account id among ``account_names`` (the accounts
    on an invoice), in the order given, e.g.::

        account 'shop ': the id has trailing whitespace (U+0020 SPACE); it is billed as written,
        as an account of its own with its own monthly fee, apart from 'shop' (if both are one
        account, correct business_id in the log)
    """
    names = list(dict.fromkeys(account_names))
    present = set(names)
    out = []
    for name, reason in suspicious_values(names):
        twin = cleaned(name)
        apart = f", apart from {twin!r}" if twin != name and twin in present else ""
        fix = "if both are one account" if apart else "if that is a mistake"
        out.append(f"account {name!r}: the id has {reason}; it is billed as written, as an account of its own "
                   f"with its own monthly fee{apart} ({fix}, correct business_id in the log)")
    return out
