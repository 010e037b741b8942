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


def looks_like(head: bytes) -> str | None:
    """What the first bytes say the data is, when it is none of the text formats."""
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    if any(head.startswith(bom) for bom, _ in BOMS):
        return None
    head = head[:SNIFF]
    if len(head) >= 16 and head.count(b"\x00") * 4 > len(head):   # a stray NUL in a text is a bad row, not this
        return "binary data (it holds NUL bytes; a UTF-16 export needs its byte order mark or --encoding utf-16)"
    return None


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
    An undecodable byte is one line naming the encoding."""

    closed = False

    def __init__(self, name: str, stream, codec: str):
        self.name, self.stream, self.codec = name, stream, codec
        self.decoder = codecs.getincrementaldecoder(codec)("strict")
        self.offset = 0
        self.done = False

    def readable(self) -> bool:
        return True

    def read(self, nbytes: int = -1) -> bytes:
        while not self.done:
            chunk = self.stream.read(nbytes if nbytes and nbytes > 0 else 1 << 20)
            final = not chunk
            try:
                text = self.decoder.decode(bytes(chunk), final=final)
            except UnicodeDecodeError as exc:
                at = self.offset + exc.start
                raise InputError(Problem(self.name, None, None, "bad_encoding",
                                         f"the text is not valid {self.codec} (byte 0x{exc.object[exc.start]:02x} at "
                                         f"offset {at}); give the file's encoding with --encoding")) from None
            self.offset += len(chunk)
            self.done = final
            if text:
                return text.encode("utf-8")
        return b""

    def close(self) -> None:
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def text_opener(name: str, stdin=None, encoding: str | None = None, kind: str = "a CSV file"):
    """A function that opens the text of a CSV or JSON Lines file afresh each call, as UTF-8
    (stdin is read once and kept). Refuses binary data in one line."""
    if name == "-":
        data = (stdin or sys.stdin.buffer).read()
        what = looks_like(data[:SNIFF])
        if what is not None:
            raise InputError(Problem("<stdin>", None, None, "unsupported_format",
                                     f"standard input is not CSV or JSON Lines: it looks like {what}; "
                                     "give the file's name instead of -"))
        codec = encoding_of(data[:4], encoding)
        if codec is not None:
            return lambda: _Transcoded("<stdin>", pa.BufferReader(data), codec)
        return lambda: pa.BufferReader(data)

    def raw():
        return pa.input_stream(name, compression="detect")

    with raw() as stream:
        head = stream.read(SNIFF)
    what = looks_like(head)
    if what is not None:
        raise refuse(name, what, kind)
    codec = encoding_of(head[:4], encoding)
    if codec is None:
        return raw
    return lambda: _Transcoded(name, raw(), codec)


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
