"""The reader's notices of a log read in parts (batches of a file, pieces on a cluster), made
exactly those of the in-memory loader (:func:`~.assembly.assemble`).

A part's notices repeat those of the file's other parts (the zone assumed for naive timestamps)
or count only what the part holds (the subscriber ids that are no phone numbers): per file,
equal notices are given once, in the loader's order (the reader's own, then the ids that are no
phone numbers, counted over the file's distinct ids, then the assumed zone); after every file,
the warning that some subscribers appear under more than one spelling, found among the distinct
ids of the whole log.
"""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from .. import phones
from ..errors import Problem
from .assembly import spelling_notice
from .options import LoadOptions
from .typed import Typed, not_phone_numbers

#: Notices :class:`Notices` makes again for the whole file (not taken from the parts).
NOT_PHONE_NUMBERS = "not_phone_numbers"
ASSUMED_INPUT_TZ = "assumed_input_tz"


def distinct_subscribers(t: Typed) -> pa.Array:
    """The distinct subscriber ids of a typed part (as the loader keeps them: normalised with
    e164), in the order the part's dictionary has them (that of first appearance)."""
    arr = t.subscriber_id
    if pa.types.is_dictionary(arr.type):
        values = arr.dictionary
    else:
        values = pc.unique(arr)
    return values.cast(pa.string()) if not pa.types.is_string(values.type) else values


def _union(a: pa.Array | None, b: pa.Array) -> pa.Array:
    """The distinct values of ``a`` then ``b``, in the order of first appearance."""
    if a is None:
        return pc.unique(b)
    if not len(b):
        return a
    return pc.unique(pa.concat_arrays([a, b]))


class _File:
    def __init__(self):
        self.own: dict[Problem, None] = {}
        self.assumed: dict[Problem, None] = {}
        self.subscribers: pa.Array | None = None


class Notices:
    """Gathers the notices of the parts of a log's files (give the parts of each file in input
    order), and gives those of the whole log as :func:`~.assembly.load` does (``result``)."""

    def __init__(self, files: Sequence[str], options: LoadOptions):
        self.files, self.options = list(files), options
        self.per_file = [_File() for _ in self.files]

    def add(self, file_index: int, notices: Sequence[Problem], subscribers: pa.Array | None) -> None:
        """One part of file ``file_index``: its notices and its distinct subscriber ids (see
        :func:`distinct_subscribers`; None: the part has no row)."""
        f = self.per_file[file_index]
        for p in notices:
            if p.code == ASSUMED_INPUT_TZ:
                f.assumed[p] = None
            elif p.code != NOT_PHONE_NUMBERS:
                f.own[p] = None
        if subscribers is not None:
            f.subscribers = _union(f.subscribers, subscribers)

    def add_typed(self, file_index: int, t: Typed) -> None:
        self.add(file_index, t.notices, distinct_subscribers(t))

    def result(self) -> tuple[Problem, ...]:
        out: list[Problem] = []
        everyone = None
        for name, f in zip(self.files, self.per_file):
            out += list(f.own)
            if f.subscribers is not None and len(f.subscribers):
                everyone = _union(everyone, f.subscribers)
                if self.options.subscriber_format == "e164":
                    _, outcome = phones.normalise_values(f.subscribers, self.options.default_region)
                    if outcome.kept:
                        out.append(not_phone_numbers(name, self.options, outcome))
            out += list(f.assumed)
        spelled = spelling_notice(self.files, everyone if everyone is not None else pa.array([], pa.string()),
                                  self.options)
        if spelled is not None:
            out.append(spelled)
        return tuple(dict.fromkeys(out))


def gather(files: Sequence[str], options: LoadOptions, parts: Sequence[dict]) -> tuple[Problem, ...]:
    """The notices of the whole log from its parts in input order, each a mapping with
    ``file_index``, ``notices`` and ``subscribers`` (:func:`distinct_subscribers`; may be absent
    or None)."""
    out = Notices(files, options)
    for part in parts:
        out.add(part["file_index"], part["notices"], part.get("subscribers"))
    return out.result()
