"""Which format a file is in (by suffix, then by its first bytes), and its text opened as UTF-8.

Supported: CSV (any suffix that is not another format's, ``.tsv`` for tab-separated), Parquet,
JSON Lines (``.jsonl``, ``.ndjson``), Excel ``.xlsx``; ``.gz`` around the text formats. A file
whose first bytes are those of another kind of file (a ZIP archive, a PDF, an old ``.xls``, ...)
is refused with one line saying what it looks like and which option or name reads it.
Standard input is CSV or JSON Lines (told apart by the first character).
"""

from __future__ import annotations

import codecs
import sys

import pyarrow as pa

from ..errors import InputError, Problem

CSV, TSV, PARQUET, JSONL, XLSX = "csv", "tsv", "parquet", "jsonl", "xlsx"
SUFFIXES = {
    ".csv": CSV, ".csv.gz": CSV, ".tsv": TSV, ".tsv.gz": TSV, ".parquet": PARQUET, ".pq": PARQUET,
    ".jsonl": JSONL, ".jsonl.gz": JSONL, ".ndjson": JSONL, ".ndjson.gz": JSONL, ".xlsx": XLSX,
}

#: First bytes of files that are none of the text formats -> what the file looks like.
MAGIC = (
    (b"PAR1", "a Parquet file (name it .parquet)"),
    (b"PK\x03\x04", "a ZIP archive (an Excel workbook? name it .xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls or other Office file (save it as .xlsx or CSV)"),
    (b"\x1f\x8b", "a gzip-compressed file (name it .csv.gz or .jsonl.gz)"),
    (b"BZh", "a bzip2-compressed file (decompress it first)"),
    (b"\xfd7zXZ\x00", "an xz-compressed file (decompress it first)"),
    (b"(\xb5/\xfd", "a zstd-compressed file (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (extract it first)"),
    (b"%PDF", "a PDF document"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"ARROW1", "an Arrow IPC file"),
    (b"Obj\x01", "an Avro file"),
    (b"ORC", "an ORC file"),
)
#: Byte order marks: they always win over --encoding.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
SNIFF = 4096


def suffix_format(name: str) -> str | None:
    """The format a file's name says, or None (read as CSV after a look at its bytes)."""
    lower = name.lower()
    for suffix, kind in sorted(SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if lower.endswith(suffix):
            return kind
    return None


def looks_like(head: bytes, codec: str | None = None) -> str | None:
    """What the first bytes say the data is, when it is none of the text formats. With
    ``codec`` (the encoding the text is read with), NUL characters are looked for in the text it
    decodes (UTF-16 without a byte order mark is full of NUL bytes)."""
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    if any(head.startswith(bom) for bom, _ in BOMS):
        return None
    head = head[:SNIFF]
    if codec is not None:
        try:
            text = codecs.decode(head, codec, "replace")
        except (UnicodeError, ValueError, TypeError, LookupError):
            return None                  # the decoding says what is wrong, in one line
        if len(text) >= 16 and text.count("\x00") * 4 > len(text):
            return "binary data (it holds NUL characters in " + codec + ")"
        return None
    if len(head) >= 16 and head.count(b"\x00") * 4 > len(head):   # a stray NUL in a text is a bad row, not this
        return "binary data (it holds NUL bytes; a UTF-16 export needs its byte order mark or --encoding utf-16)"
    return None


def single_byte(codec: str) -> bool:
    """Whether ``codec`` reads every byte as one character (cp1251, latin-1, koi8-r, ...)."""
    if codecs.lookup(codec).name.startswith("utf"):
        return False
    try:
        return len(bytes(range(128, 256)).decode(codec, "replace")) == 128
    except (UnicodeError, ValueError, TypeError, LookupError):
        return False


def utf8_with_non_ascii(data: bytes, final: bool) -> bool:
    """Whether ``data`` is valid UTF-8 holding some non-ASCII text (``final``: the whole text;
    else a start, which may end inside a character)."""
    if data.isascii():
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def not_this_encoding(name: str, codec: str) -> InputError:
    """The error for a UTF-8 text with non-ASCII characters read with a single-byte ``codec``:
    every such character would be read as two or three others, and ids written in it would
    become other ids (an account split in two)."""
    return InputError(Problem(name, None, None, "encoding_mismatch",
                              f"the file is UTF-8 text with non-ASCII characters but is read as {codec} "
                              "(--encoding or the profile): each would become other characters and its ids other "
                              f"ids; read it as UTF-8 (in a run without --encoding) or convert it to {codec}"))


def encoding_of(head: bytes, encoding: str | None) -> str | None:
    """The codec to decode a text with (None: UTF-8 as it is, checked line by line): a byte
    order mark wins, then ``encoding``."""
    for bom, codec in BOMS:
        if head.startswith(bom):
            return None if codec == "utf-8-sig" else codec
    if encoding is None or codecs.lookup(encoding).name == "utf-8":
        return None
    return encoding


def refuse(name: str, what: str, kind: str = "a CSV or JSON Lines file") -> InputError:
    return InputError(Problem(name, None, None, "unsupported_format", f"not {kind}: it looks like {what}"))


class _Transcoded:
    """A file-like object: ``stream``'s text decoded with ``codec`` and given out as UTF-8.
    An undecodable byte is one line naming the encoding. ``guard``: refuse, at the end, a text
    that is valid UTF-8 with non-ASCII characters (see :func:`not_this_encoding`)."""

    closed = False

    def __init__(self, name: str, stream, codec: str, guard: bool = False):
        self.name, self.stream, self.codec = name, stream, codec
        self.decoder = codecs.getincrementaldecoder(codec)("strict")
        self.offset = 0
        self.done = False
        self.utf8 = codecs.getincrementaldecoder("utf-8")() if guard else None
        self.non_ascii = False

    def readable(self) -> bool:
        return True

    def read(self, nbytes: int = -1) -> bytes:
        while not self.done:
            chunk = bytes(self.stream.read(nbytes if nbytes and nbytes > 0 else 1 << 20))
            final = not chunk
            try:
                text = self.decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                at = self.offset + exc.start
                raise InputError(Problem(self.name, None, None, "bad_encoding",
                                         f"the text is not valid {self.codec} (byte 0x{exc.object[exc.start]:02x} at "
                                         f"offset {at}); give the file's encoding with --encoding")) from None
            except (UnicodeError, ValueError, TypeError) as exc:
                raise InputError(Problem(self.name, None, None, "bad_encoding", _decode_failure(self.codec, exc))) \
                    from None
            self._guard(chunk, final)
            self.offset += len(chunk)
            self.done = final
            if text:
                return text.encode("utf-8")
        return b""

    def _guard(self, chunk: bytes, final: bool) -> None:
        if self.utf8 is None:
            return
        self.non_ascii = self.non_ascii or not chunk.isascii()
        try:
            self.utf8.decode(chunk, final=final)
        except UnicodeDecodeError:
            self.utf8 = None             # not UTF-8: the encoding given may well be right
            return
        if final and self.non_ascii:
            raise not_this_encoding(self.name, self.codec)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _decode_failure(codec: str, exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    hint = "; a file without a byte order mark needs utf-16-le or utf-16-be" if "BOM" in text else \
        "; give the file's encoding with --encoding"
    return f"the text cannot be read as {codec} ({text}){hint}"


def text_opener(name: str, stdin=None, encoding: str | None = None, kind: str = "a CSV file"):
    """A function that opens the text of a CSV or JSON Lines file afresh each call, as UTF-8
    (stdin is read once and kept). Refuses binary data in one line, and a UTF-8 text with
    non-ASCII characters given a single-byte encoding (:func:`not_this_encoding`)."""
    if name == "-":
        data = (stdin or sys.stdin.buffer).read()
        shown, head = "<stdin>", data[:SNIFF]

        def raw():
            return pa.BufferReader(data)
    else:
        shown = name

        def raw():
            return pa.input_stream(name, compression="detect")

        with raw() as stream:
            head = stream.read(SNIFF)
    codec = encoding_of(head[:4], encoding)
    given = codec is not None and not any(head.startswith(bom) for bom, _ in BOMS)
    what = looks_like(head, codec if given else None)
    if what is not None:
        if name == "-":
            raise InputError(Problem(shown, None, None, "unsupported_format",
                                     f"standard input is not CSV or JSON Lines: it looks like {what}; "
                                     "give the file's name instead of -"))
        raise refuse(name, what, kind)
    if codec is None:
        return raw
    guard = given and single_byte(codec)
    if guard and utf8_with_non_ascii(head, final=len(head) < SNIFF):
        raise not_this_encoding(shown, codec)
    return lambda: _Transcoded(shown, raw(), codec, guard)


def stdin_format(data: bytes) -> str:
    """JSON Lines when the first non-blank character is ``{``, else CSV."""
    stripped = data.lstrip(b" \t\r\n\xef\xbb\xbf")
    return JSONL if stripped[:1] == b"{" else CSV


def file_format(name: str) -> str:
    """The format of an input file (never Parquet's or xlsx's for a file that is something
    else: those are checked by their own readers)."""
    kind = suffix_format(name)
    if kind is not None:
        return kind
    with pa.input_stream(name, compression="detect") as stream:
        head = stream.read(SNIFF)
    if head.startswith(b"PAR1"):
        return PARQUET
    return JSONL if head.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"{" else CSV
