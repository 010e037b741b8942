"""Subscribers as phone numbers: E.164 normalisation and the spellings check.

With ``subscriber_format = "e164"`` the subscriber ids are read as phone numbers with
`phonenumbers` (the maintained port of Google's libphonenumber; no number rule is written
here): ``+7 (900) 000-68-85``, ``8 900 000 68 85`` and ``79000006885`` (region RU) all become
``+79000006885``. The work is done once per *distinct* value (the ids are dictionary-encoded):

- a value already in the canonical ``+digits`` form is kept without parsing;
- a value made of phone characters only (digits, spaces, ``+ - ( ) .``) is parsed once and
  replaced when the result is a valid number;
- anything else (``viber:0a1b2c``, an invalid number) stays exactly as written, and is counted.

Without the option, :func:`subscriber_spellings` finds the subscribers that appear under more
than one spelling with a cheap vectorised digit key (the digits of a phone-like value, leading
zeros dropped), without parsing anything.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import UsageError

#: Already canonical: kept as written, never parsed.
CANONICAL_E164 = r"^\+[1-9][0-9]{5,14}$"
#: Written with phone characters only, and at least five digits: worth a parse.
PHONE_LIKE = r"^[+(]?[0-9][0-9 ()\-.\t]*[0-9]$"
#: Examples kept for messages.
EXAMPLES = 3


def check_region(region: str) -> str:
    """A two-letter region code phonenumbers knows (``RU``), upper-cased; else a UsageError."""
    import phonenumbers

    code = str(region).strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(f"--default-region must be a two-letter region code such as RU or DE, not {region!r}")
    return code


def phonenumbers_version() -> str:
    import phonenumbers

    return phonenumbers.__version__


@functools.lru_cache(maxsize=1 << 20)
def to_e164(value: str, region: str | None) -> str | None:
    """The E.164 form of one spelling, or None when it is not a valid phone number."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Normalised:
    """The outcome of normalising a dictionary of ids: how many distinct values were changed,
    how many were kept because they are no phone number, and examples of those."""

    changed: int
    kept: int
    kept_examples: tuple[str, ...]


def _as_strings(values: pa.Array) -> pa.Array:
    if pa.types.is_large_string(values.type):
        return values.cast(pa.string())
    return values


def normalise_values(values: pa.Array, region: str | None) -> tuple[pa.Array, Normalised]:
    """E.164 forms of distinct ``values`` (a string array, e.g. a dictionary), same length;
    values that are no valid phone number stay as written."""
    values = _as_strings(values)
    if not len(values):
        return values, Normalised(0, 0, ())
    canonical = pc.fill_null(pc.match_substring_regex(values, CANONICAL_E164), True).to_numpy(zero_copy_only=False)
    if canonical.all():
        return values, Normalised(0, 0, ())
    todo = np.flatnonzero(~canonical)
    candidates = values.take(pa.array(todo))
    phone_like = pc.fill_null(pc.match_substring_regex(pc.utf8_trim_whitespace(candidates), PHONE_LIKE),
                              False).to_numpy(zero_copy_only=False)
    out = values.to_pylist() if phone_like.any() else None
    changed = 0
    kept: list[str] = []
    n_kept = 0
    texts = candidates.to_pylist()
    for k, (i, text) in enumerate(zip(todo.tolist(), texts)):
        if text is None or text == "":
            continue
        normal = to_e164(text.strip(), region) if phone_like[k] else None
        if normal is None:
            n_kept += 1
            if len(kept) < EXAMPLES:
                kept.append(text)
        elif normal != text:
            out[i] = normal
            changed += 1
    result = pa.array(out, pa.string()) if changed else values
    return result, Normalised(changed, n_kept, tuple(kept))


def normalise_ids(arr: pa.Array, region: str | None) -> tuple[pa.Array, Normalised]:
    """An id column (strings or a dictionary of strings) with each distinct value normalised
    once; the result is dictionary-encoded with distinct values (two spellings of one number
    share one code)."""
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(_as_strings(arr))
    dictionary = _as_strings(arr.dictionary)
    normal, outcome = normalise_values(dictionary, region)
    if not outcome.changed:
        return pa.DictionaryArray.from_arrays(arr.indices, dictionary), outcome
    encoded = pc.dictionary_encode(normal)
    remap = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    indices = arr.indices
    if indices.null_count:
        idx = indices.fill_null(0).to_numpy(zero_copy_only=False)
        new = pa.array(remap[idx], mask=indices.is_null().to_numpy(zero_copy_only=False))
    else:
        new = pa.array(remap[indices.to_numpy(zero_copy_only=False)])
    return pa.DictionaryArray.from_arrays(new, encoded.dictionary), outcome


@dataclass(frozen=True)
class Spellings:
    """Subscribers written in more than one way: how many numbers, and some of them with
    their spellings (each a tuple, in dictionary order)."""

    count: int
    examples: tuple[tuple[str, ...], ...]

    def describe(self) -> str:
        shown = "; ".join(" and ".join(repr(s) for s in group[:3]) for group in self.examples)
        return (f"{self.count} subscriber{'s' if self.count != 1 else ''} appear{'s' if self.count == 1 else ''} "
                f"under more than one spelling (e.g. {shown})")


def digit_key(values: pa.Array) -> pa.Array:
    """A cheap vectorised key: the digits of phone-like values without leading zeros (null for
    anything else), so ``+7 (900) 000-68-85`` and ``79000006885`` share one."""
    values = _as_strings(values)
    trimmed = pc.utf8_trim_whitespace(values)
    phone = pc.fill_null(pc.match_substring_regex(trimmed, PHONE_LIKE), False)
    digits = pc.replace_substring_regex(trimmed, r"^[^0-9]*0*|[^0-9]", "")
    return pc.if_else(phone, digits, pa.scalar(None, pa.string()))


def subscriber_spellings(values: pa.Array, limit: int = EXAMPLES) -> Spellings:
    """How many subscribers appear under more than one spelling among distinct ``values`` (a
    log's subscriber dictionary), with up to ``limit`` examples.

    Distinct values in the canonical ``+digits`` form cannot share a key with one another, so
    only the keys of the other phone-like values are computed (a regular expression over what
    is not canonical) and looked up among the canonical ones (the canonical key is the value
    without its ``+``)."""
    values = _as_strings(values.dictionary if pa.types.is_dictionary(values.type) else values)
    if len(values) < 2:
        return Spellings(0, ())
    canonical = pc.fill_null(pc.match_substring_regex(values, CANONICAL_E164), False).to_numpy(zero_copy_only=False)
    other = np.flatnonzero(~canonical)
    if not len(other):
        return Spellings(0, ())
    okeys = digit_key(values.take(pa.array(other)))
    present = pc.fill_null(pc.greater_equal(pc.utf8_length(okeys), 5), False).to_numpy(zero_copy_only=False)
    if not present.any():
        return Spellings(0, ())
    other, okeys = other[present], okeys.filter(pa.array(present))
    cidx = np.flatnonzero(canonical)
    ckeys = pc.utf8_slice_codeunits(values.take(pa.array(cidx)), 1)
    shared = pc.is_in(ckeys, value_set=okeys).to_numpy(zero_copy_only=False)
    idx = np.concatenate([other, cidx[shared]])
    keys = pa.concat_arrays([okeys, ckeys.filter(pa.array(shared))])
    codes = pc.dictionary_encode(keys).indices.to_numpy(zero_copy_only=False)
    counts = np.bincount(codes)
    groups = np.flatnonzero(counts > 1)
    if not len(groups):
        return Spellings(0, ())
    order = np.argsort(idx, kind="stable")                       # examples in dictionary order
    idx, codes = idx[order], codes[order]
    first = {int(c): i for i, c in reversed(list(enumerate(codes.tolist()))) if counts[c] > 1}
    examples = []
    for code in sorted(first, key=first.get)[:limit]:
        examples.append(tuple(values.take(pa.array(idx[codes == code])).to_pylist()))
    return Spellings(len(groups), tuple(examples))
