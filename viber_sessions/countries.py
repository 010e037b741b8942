"""The country of a subscriber, for zone prices (README, "The tariff file": zones).

A subscriber id is a number when it is written in canonical E.164 form: ``+`` and ASCII digits
(no spaces, no ``00``, no ``viber:``); any other id has no country. Its country is what
``phonenumbers.region_code_for_number(phonenumbers.parse(id))`` says (None when the parse
fails), computed without a parse for almost every number:

- the calling code is found with phonenumbers' own table (``COUNTRY_CODE_TO_REGION_CODE``):
  a code of one region (``+998`` is UZ) gives that region, whatever the digits after it;
- a code shared by several regions (``+7``: RU and KZ; ``+1``: US, CA and the Caribbean) is
  decided as phonenumbers decides it, region by region in its order, by the region's
  ``leading_digits`` or else by its number patterns, with the same regular expressions, run
  vectorised (RE2, through pyarrow) over the national numbers;
- only the numbers whose parse could take another path (a national prefix that phonenumbers
  may strip, lengths at the edges of what it accepts) are parsed, one by one.

``tests/test_plans.py`` holds the result equal to phonenumbers on numbers of every calling code.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CANONICAL = r"^\+[0-9]{3,249}$"       # parse wants more than 2 digits after "+" and 250 characters at most
_MIN_NSN, _MAX_NSN = 2, 17             # phonenumbers' _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN
_SAFE_NSN = 15                         # a stripped or transformed national prefix keeps these lengths parseable


@functools.lru_cache(maxsize=1)
def _tables():
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    regions = ("",) + tuple(sorted({r for rs in COUNTRY_CODE_TO_REGION_CODE.values() for r in rs}))
    is_code = np.zeros(1000, dtype=bool)
    for code in COUNTRY_CODE_TO_REGION_CODE:
        is_code[code] = True
    return regions, {r: i for i, r in enumerate(regions)}, is_code, COUNTRY_CODE_TO_REGION_CODE


def region_names() -> tuple[str, ...]:
    """Region codes by index: 0 is "no country" (an empty string)."""
    return _tables()[0]


def region_of(value: str) -> str | None:
    """The country of one id, by phonenumbers itself (the reference; slow): canonical ``+digits``
    only, None when it is not a number phonenumbers can place."""
    import phonenumbers

    if not isinstance(value, str) or re.fullmatch(_CANONICAL, value, re.ASCII) is None:
        return None
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return None


def _np(arr) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def _matches(values: pa.Array, pattern: str, whole: bool) -> np.ndarray:
    """Python ``re.match`` (prefix) or ``fullmatch`` of ``pattern`` on digit strings, vectorised."""
    if not len(values):
        return np.zeros(0, dtype=bool)
    anchored = f"^(?:{pattern})" + ("$" if whole else "")
    try:
        return _np(pc.fill_null(pc.match_substring_regex(values, anchored), False)).astype(bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):     # pragma: no cover - every pattern compiles in RE2 today
        rx = re.compile(pattern)
        test = rx.fullmatch if whole else rx.match
        return np.array([test(v) is not None for v in values.to_pylist()], dtype=bool)


def _desc_matches(values: pa.Array, lengths: np.ndarray, desc) -> np.ndarray:
    """phonenumbers' ``_is_number_matching_desc``: a possible length, and the whole pattern."""
    out = np.zeros(len(values), dtype=bool)
    if desc is None or not desc.national_number_pattern:
        return out
    ok = np.isin(lengths, list(desc.possible_length)) if len(desc.possible_length) else np.ones(len(values), bool)
    at = np.flatnonzero(ok)
    if len(at):
        out[at] = _matches(values.take(pa.array(at)), desc.national_number_pattern, True)
    return out


_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
          "fixed_line", "mobile")


def _known_type(values: pa.Array, lengths: np.ndarray, metadata) -> np.ndarray:
    """phonenumbers' ``_number_type_helper(...) != UNKNOWN``: the general pattern and one of the
    type patterns (fixed line and mobile first: most numbers are one of them)."""
    known = np.zeros(len(values), dtype=bool)
    general = _desc_matches(values, lengths, metadata.general_desc)
    for name in ("fixed_line", "mobile") + _TYPES[:-2]:
        rest = np.flatnonzero(general & ~known)
        if not len(rest):
            break
        known[rest] = _desc_matches(values.take(pa.array(rest)), lengths[rest], getattr(metadata, name))
    return known


def _shared_code(nsn: pa.Array, lengths: np.ndarray, regions: tuple[str, ...], index: dict) -> np.ndarray:
    """phonenumbers' ``_region_code_for_number_from_list`` over many national numbers."""
    from phonenumbers import PhoneMetadata

    out = np.zeros(len(nsn), dtype=np.int16)
    open_ = np.ones(len(nsn), dtype=bool)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        at = np.flatnonzero(open_)
        if not len(at):
            break
        sub = nsn.take(pa.array(at))
        if metadata.leading_digits is not None:
            hit = _matches(sub, metadata.leading_digits, False)
        else:
            hit = _known_type(sub, lengths[at], metadata)
        out[at[hit]] = index[region]
        open_[at[hit]] = False
    return out


def classify(values) -> np.ndarray:
    """Region index (see :func:`region_names`; 0: none) of each id of ``values`` (strings,
    typically the distinct subscriber ids of a log)."""
    from phonenumbers import PhoneMetadata

    names, index, is_code, code_regions = _tables()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(list(values), pa.string())
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    out = np.zeros(len(values), dtype=np.int16)
    if not len(values):
        return out
    numbers = np.flatnonzero(_np(pc.fill_null(pc.match_substring_regex(values, _CANONICAL), False)).astype(bool))
    if not len(numbers):
        return out
    digits = pc.utf8_slice_codeunits(values.take(pa.array(numbers)), 1)
    code = np.zeros(len(numbers), dtype=np.int64)
    for width in (1, 2, 3):                    # calling codes are prefix-free; phonenumbers tries 1, 2, 3 digits
        head = _np(pc.cast(pc.utf8_slice_codeunits(digits, 0, width), pa.int64())).astype(np.int64)
        hit = (code == 0) & (head >= 10 ** (width - 1)) & (head < 10 ** width)
        hit[hit] = is_code[head[hit]]
        code[hit] = head[hit]
    total = _np(pc.utf8_length(digits)).astype(np.int64)
    slow: list[int] = []
    for c in np.unique(code[code > 0]).tolist():
        at = np.flatnonzero(code == c)
        regions = code_regions[c]
        width = len(str(c))
        lengths = total[at] - width
        nsn = pc.utf8_slice_codeunits(digits.take(pa.array(at)), width)
        main = PhoneMetadata.metadata_for_region_or_calling_code(c, regions[0])
        prefix = main.national_prefix_for_parsing if main is not None else None
        strips = _matches(nsn, prefix, False) if prefix else np.zeros(len(at), dtype=bool)
        fits = (lengths >= _MIN_NSN) & (lengths <= _MAX_NSN)
        if len(regions) == 1:
            fast = fits & ((lengths <= _SAFE_NSN) | ~strips)
            out[numbers[at[fast]]] = index[regions[0]]
        else:
            fast = fits & ~strips
            sel = np.flatnonzero(fast)
            if len(sel):
                out[numbers[at[sel]]] = _shared_code(nsn.take(pa.array(sel)), lengths[sel], regions, index)
        slow += numbers[at[~fast & (lengths >= _MIN_NSN) & ((lengths <= _MAX_NSN) | strips)]].tolist()
    if slow:
        for i, value in zip(slow, values.take(pa.array(slow, pa.int64())).to_pylist()):
            region = region_of(value)
            out[i] = index.get(region, 0) if region else 0
    return out
