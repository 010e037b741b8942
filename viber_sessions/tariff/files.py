"""Reading a tariff file: the text (bounded, UTF-8, one-line errors) and the TOML in it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import TariffError
from .model import Tariff
from .parse import parse_tariff

MAX_TARIFF_BYTES = 16 * 1024 * 1024        # a tariff is a small text; /dev/zero is not one


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _display(path: str | Path) -> str:
    """The file name for messages: as given, or its ``repr`` when it holds a line break or
    another unprintable character (a message is one line)."""
    name = str(path)
    return name if name.isprintable() else repr(name)


def read_tariff_text(path: str | Path) -> str:
    """The text of a tariff file; every failure is a one-line :class:`TariffError` naming it."""
    name = _display(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_TARIFF_BYTES + 1)
    except FileNotFoundError:
        raise TariffError(name, None, "no such tariff file") from None
    except IsADirectoryError:
        raise TariffError(name, None, "is a directory, not a tariff file") from None
    except PermissionError:
        raise TariffError(name, None, "cannot read the tariff file (permission denied)") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
        raise TariffError(name, None, f"cannot read the tariff file ({reason})") from None
    if len(raw) > MAX_TARIFF_BYTES:
        size = (f"{MAX_TARIFF_BYTES // 2**20} MiB" if MAX_TARIFF_BYTES % 2**20 == 0 else f"{MAX_TARIFF_BYTES} bytes")
        raise TariffError(name, None, f"is larger than {size}: not a tariff file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TariffError(name, None, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "save it as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text   # a byte order mark is not content


def load_tariff(path: str | Path) -> Tariff:
    """Read and validate a tariff TOML file."""
    name = _display(path)
    text = read_tariff_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(name, None, f"not valid TOML ({_one_line(exc)})") from None
    except RecursionError:
        raise TariffError(name, None, "not valid TOML (arrays or tables nested too deeply)") from None
    except ValueError as exc:     # e.g. an integer of more than 4300 digits
        reason = "a number with too many digits" if "digits" in str(exc) else _one_line(exc)
        raise TariffError(name, None, f"not valid TOML ({reason})") from None
    return parse_tariff(data, name)
