"""Message sizes: parse human input ("64", "4KiB", "1MiB") and format bytes for people."""

from __future__ import annotations

import re

# Binary units only: IPC buffers are sized in powers of two, and "1MB" meaning
# 10**6 or 2**20 is a classic source of off-by-5% throughput figures.
_UNITS_BYTES = {
    "": 1,
    "B": 1,
    "KIB": 1 << 10,
    "MIB": 1 << 20,
    "GIB": 1 << 30,
    "K": 1 << 10,
    "M": 1 << 20,
    "G": 1 << 30,
}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([A-Za-z]*)\s*$")

# Above this a single message is no longer an IPC benchmark but a memory test.
MAX_SIZE_BYTES = 1 << 30


def parse_size(text: str | int) -> int:
    """Return the size in bytes, or raise ValueError with a one-line message naming `text`."""
    if isinstance(text, bool):  # bool is an int subclass; True is not a size
        raise ValueError(f"invalid size {text!r}: expected a number of bytes")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE_RE.match(str(text))
        if not match:
            raise ValueError(
                f"invalid size {text!r}: expected a positive whole number with an optional "
                "unit B, KiB, MiB or GiB (e.g. 64, 4KiB, 1MiB)"
            )
        number, unit = match.groups()
        factor = _UNITS_BYTES.get(unit.upper())
        if factor is None:
            raise ValueError(f"invalid size {text!r}: unknown unit {unit!r} (use B, KiB, MiB, GiB)")
        value = int(number) * factor
    if value <= 0:
        raise ValueError(f"invalid size {text!r}: must be at least 1 byte")
    if value > MAX_SIZE_BYTES:
        raise ValueError(f"invalid size {text!r}: larger than the 1GiB limit")
    return value


def format_size(size_bytes: int) -> str:
    """64 -> '64B', 4096 -> '4KiB', 1572864 -> '1.5MiB'."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size_bytes >= factor:
            value = size_bytes / factor
            return f"{value:g}{unit}" if value != int(value) else f"{int(value)}{unit}"
    return f"{size_bytes}B"
