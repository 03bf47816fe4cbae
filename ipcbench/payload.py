"""Deterministic payloads and their verification (length + CRC-32)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PayloadSpec:
    size_bytes: int
    seed: int = 0

    def build(self) -> bytes:
        # Random, not zeros: a zero page can be shared or compressed away somewhere
        # along the path and make a copy look free.
        rng = np.random.default_rng(self.seed)
        return rng.integers(0, 256, self.size_bytes, dtype=np.uint8).tobytes()

    def checksum(self) -> int:
        return zlib.crc32(self.build())


class PayloadMismatch(RuntimeError):
    """What arrived is not what was sent."""


def verify(data, size_bytes: int, checksum: int, where: str) -> None:
    """Raise PayloadMismatch naming `where` when length or CRC-32 differ."""
    length = len(data) if not isinstance(data, memoryview) else data.nbytes
    if length != size_bytes:
        raise PayloadMismatch(f"{where}: received {length} bytes, expected {size_bytes}")
    actual = zlib.crc32(data)
    if actual != checksum:
        raise PayloadMismatch(f"{where}: checksum {actual:#010x}, expected {checksum:#010x}")


def corrupted(payload: bytes) -> bytes:
    """The payload with its last byte flipped (fault injection for tests)."""
    return payload[:-1] + bytes([payload[-1] ^ 0xFF])
