"""Subscribers as phone numbers: E.164 normalisation and the spellings check.

With ``subscriber_format = "e164"`` the subscriber ids are read as phone numbers with
`phonenumbers` (the maintained port of Google's libphonenumber; no number rule is written
here): ``+7 (900) 000-68-85``, ``8 900 000 68 85`` and ``79000006885`` (region RU) all become
``+79000006885``. The work is done once per *distinct* value (the ids are dictionary-encoded):

- a value already in the canonical ``+digits`` form is kept without parsing;
- a value made of phone characters only (digits, spaces, ``+ - ( ) .``) is parsed once and
  replaced when the result is a valid number;
- anything else (``viber:0a1b2c``, an invalid number) stays exactly as written, and is counted.

A parse is pure Python (~10-20 us, the GIL held): on a big log :class:`Normalising` starts the
parses on a thread as soon as the column's dictionaries are read, while the caller types the
other columns, and gives the same results as doing them in line.

Without the option, :func:`subscriber_spellings` finds the subscribers that appear under more
than one spelling with a cheap vectorised digit key (the digits of a phone-like value, leading
zeros dropped), without parsing anything.
"""

from __future__ import annotations

import functools
import sys
import threading
from dataclasses import dataclass
from typing import Sequence

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


@dataclass(frozen=True)
class _Work:
    """What normalising distinct ``values`` takes: the positions of the values that are not
    canonical (``todo``), their texts, and which of those are worth a parse (``phone_like``);
    ``targets`` are the trimmed texts to parse, in that order."""

    values: pa.Array
    todo: np.ndarray
    texts: list
    phone_like: np.ndarray
    targets: list


def _prepare(values: pa.Array) -> _Work:
    """Everything but the parses (vectorised: the canonical values are never looked at one by one)."""
    values = _as_strings(values)
    none = np.zeros(0, dtype=np.int64)
    if not len(values):
        return _Work(values, none, [], np.zeros(0, dtype=bool), [])
    canonical = pc.fill_null(pc.match_substring_regex(values, CANONICAL_E164), True).to_numpy(zero_copy_only=False)
    if canonical.all():
        return _Work(values, none, [], np.zeros(0, dtype=bool), [])
    todo = np.flatnonzero(~canonical)
    candidates = values.take(pa.array(todo))
    phone_like = pc.fill_null(pc.match_substring_regex(pc.utf8_trim_whitespace(candidates), PHONE_LIKE),
                              False).to_numpy(zero_copy_only=False)
    texts = candidates.to_pylist()
    targets = [t.strip() for t, like in zip(texts, phone_like.tolist()) if like and t]
    return _Work(values, todo, texts, phone_like, targets)


def _parse(targets: list, region: str | None, stop: threading.Event | None = None) -> list | None:
    """The E.164 form (or None) of each target; None as a whole when ``stop`` was set."""
    out = []
    for text in targets:
        if stop is not None and stop.is_set():
            return None
        out.append(to_e164(text, region))
    return out


def _finish(work: _Work, results: list) -> tuple[pa.Array, Normalised]:
    """The values with the valid numbers in E.164 form, and the counts."""
    values = work.values
    changed_at: list[int] = []
    changed_to: list[str] = []
    kept: list[str] = []
    n_kept = 0
    parsed = iter(results)
    for i, text, like in zip(work.todo.tolist(), work.texts, work.phone_like.tolist()):
        if text is None or text == "":
            continue
        normal = next(parsed) if like else None
        if normal is None:
            n_kept += 1
            if len(kept) < EXAMPLES:
                kept.append(text)
        elif normal != text:
            changed_at.append(i)
            changed_to.append(normal)
    if not changed_at:
        return values, Normalised(0, n_kept, tuple(kept))
    mask = np.zeros(len(values), dtype=bool)
    mask[changed_at] = True
    result = pc.replace_with_mask(values, pa.array(mask), pa.array(changed_to, pa.string()))
    return result, Normalised(len(changed_at), n_kept, tuple(kept))


def normalise_values(values: pa.Array, region: str | None) -> tuple[pa.Array, Normalised]:
    """E.164 forms of distinct ``values`` (a string array, e.g. a dictionary), same length;
    values that are no valid phone number stay as written."""
    work = _prepare(values)
    return _finish(work, _parse(work.targets, region))


def normalise_ids(arr: pa.Array, region: str | None) -> tuple[pa.Array, Normalised]:
    """An id column (strings or a dictionary of strings) with each distinct value normalised
    once; the result is dictionary-encoded with distinct values (two spellings of one number
    share one code)."""
    return Normalising(region).result(arr)


def _encoded(arr: pa.Array) -> pa.DictionaryArray:
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(_as_strings(arr))
    return pa.DictionaryArray.from_arrays(arr.indices, _as_strings(arr.dictionary))


def _recoded(arr: pa.DictionaryArray, normal: pa.Array) -> pa.DictionaryArray:
    """``arr`` on the dictionary ``normal`` (its dictionary normalised), equal values sharing a code."""
    encoded = pc.dictionary_encode(normal)
    remap = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    indices = arr.indices
    if indices.null_count:
        idx = indices.fill_null(0).to_numpy(zero_copy_only=False)
        new = pa.array(remap[idx], mask=indices.is_null().to_numpy(zero_copy_only=False))
    else:
        new = pa.array(remap[indices.to_numpy(zero_copy_only=False)])
    return pa.DictionaryArray.from_arrays(new, encoded.dictionary)


#: Dictionaries with fewer distinct values than this in all are normalised without a thread.
BACKGROUND_MIN_VALUES = 20_000
#: The GIL switch interval while the thread parses (restored after): the caller's thread, whose
#: Arrow and NumPy calls each release the GIL and take it back, then waits at most this long
#: for it instead of the default 5 ms, and so keeps its pace next to the parses.
SWITCH_INTERVAL = 0.001


class Normalising:
    """:func:`normalise_ids` of one id column, the parses started early on a thread of their own.

    Made with the column's distinct dictionaries as read (each chunk's, before they are put on
    one), it parses their values that need a parse from that moment, while the caller goes on
    (putting the chunks on one dictionary, typing the other columns: Arrow and NumPy work that
    mostly releases the GIL). :meth:`result` takes the whole column and waits for the parses; a
    value the thread did not see is parsed then. An error inside the parses is raised by
    :meth:`result`: the same exception as without the thread.

    Use it as a context manager (or call :meth:`close`): leaving the block stops the parses and
    waits for the thread, so an error or Ctrl-C elsewhere never leaves it running. Without
    dictionaries, or with few values, no thread is started and :meth:`result` does it all."""

    def __init__(self, region: str | None, dictionaries: Sequence[pa.Array] = ()):
        self._region = region
        self._parsed: dict = {}
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = None
        self._interval = None
        if sum(len(d) for d in dictionaries) >= BACKGROUND_MIN_VALUES:
            self._thread = threading.Thread(target=self._run, args=(list(dictionaries),),
                                            name="viber-sessions-e164", daemon=True)
            if sys.getswitchinterval() > SWITCH_INTERVAL:
                self._interval = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)
            self._thread.start()

    def _run(self, dictionaries: list) -> None:
        try:
            targets = dict.fromkeys(t for d in dictionaries for t in _prepare(d).targets)
            results = _parse(list(targets), self._region, self._stop)
            if results is not None:
                self._parsed = dict(zip(targets, results))
        except BaseException as exc:      # handed to the caller's thread by result()
            self._error = exc
        finally:
            self._done.set()

    def _join(self) -> None:
        try:
            if self._thread is not None:
                # the thread's own end, not only join(): on Python 3.11 a join() interrupted by
                # Ctrl-C marks the thread ended while it still runs, and a second one returns at once
                self._done.wait()
                self._thread.join()
        finally:
            if self._interval is not None:
                sys.setswitchinterval(self._interval)
                self._interval = None

    def result(self, arr: pa.Array) -> tuple[pa.Array, Normalised]:
        """The column ``arr`` (strings or a dictionary of strings) normalised, as a dictionary
        of distinct values, and the counts (waits for the parses)."""
        arr = _encoded(arr)
        work = _prepare(arr.dictionary)
        self._join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        parsed = self._parsed
        missing = [t for t in work.targets if t not in parsed] if parsed else work.targets
        if missing:
            parsed = {**parsed, **dict(zip(missing, _parse(missing, self._region)))}
        normal, outcome = _finish(work, [parsed[t] for t in work.targets])
        return (arr if not outcome.changed else _recoded(arr, normal)), outcome

    def close(self) -> None:
        """Stop the parses and wait for the thread to end (at once if it is done)."""
        self._stop.set()
        self._join()

    def __enter__(self) -> "Normalising":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
    # the canonical values whose key is one of those: "+" and the key, looked up as written
    plus = pc.binary_join_element_wise(pa.scalar("+"), okeys, pa.scalar(""))
    shared = np.flatnonzero(pc.is_in(values, value_set=plus).to_numpy(zero_copy_only=False) & canonical)
    idx = np.concatenate([other, shared])
    keys = pa.concat_arrays([okeys, pc.utf8_slice_codeunits(values.take(pa.array(shared)), 1)])
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
