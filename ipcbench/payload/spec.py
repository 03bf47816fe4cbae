"""Payloads: what a sender has, how it goes on the wire, and how arrival is verified.

Payload kinds split serialisation cost from transport cost (each is a PayloadKind record,
core/payload_kinds.py; the tables below build and check a kind by its record's `value`
and `encoding`):
- `bytes`: raw bytes; the wire message is the payload.
- `object`: a dict of (int, str, float) tuples, pickled (protocol 5) by the sender and
  unpickled by the receiver on every message.
- `numpy`: a numpy array, pickled with protocol 5 (in-band buffer) on every message.
- `msgpack`: the `object` kind's structure, packed with msgpack (codecs.py).
- `dataframe`: a pandas DataFrame of numeric columns, pickled (protocol 5) on every
  message; `arrow`: the same DataFrame as an Arrow IPC stream, read zero-copy by the
  receiver (codecs.py). Both carry the same rows at every size.
- `shm-view`: the sender writes each message into a region of shared memory it owns
  (one copy in, a sequence stamp in its first 8 bytes), the message on the channel is a
  fixed 64-byte descriptor, and the receiver reads every byte in place (no copy out) and
  releases the region (zerocopy.py). It replaced `numpy-shm`, whose array never changed
  and was never read: old rows load as `numpy-shm-v3` (payload_kinds.RENAMED_PAYLOADS).
Every message carries the 8-byte header of framing.py (sender, sequence, send time):
- `bytes`: the header overwrites the payload's first 8 bytes (the message stays
  `size_bytes` long); below 8 bytes there is no room and no header (no one-way latency,
  no sequence check: the count and checksum still apply).
- `object`, `numpy`, `dataframe`: the message is the pair (header bytes, value), pickled as one;
  the value is padded so that the pickle of that pair is exactly `size_bytes` long, so
  every channel moves the same byte count as with `bytes`. Channels that pickle by
  themselves (Queue, Pipe send/recv, ...) are given the pair as users would give their
  object (and, for `bytes`, the pair (header, the other size-8 bytes)). The DataFrame
  of `dataframe` is padded through its `attrs` (pickled with it).
- `msgpack`, `arrow`: encoded by the sender into exactly `size_bytes` with the header
  (codecs.py), on every channel, including those that pickle by themselves.
- `shm-view`: the header travels in the descriptor.

Verification: length of every wire message, sequence of every message, CRC-32 of the
last one's body (the payload less its header) against the sender's, so a corrupted or
stale transfer fails the case (shm-view: stamp and word sum of every message, in place;
msgpack: the re-packed value; arrow: the DataFrame's column values).
"""

from __future__ import annotations

import pickle
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ipcbench.core import payload_kinds
from ipcbench.core.payload_kinds import Encoding, PayloadKind, Value
from ipcbench.payload import codecs
from ipcbench.payload.framing import HEADER_BYTES

_STAMP_BYTES = 8  # shm-view: the per-message sequence stamp (zerocopy.STAMP_BYTES)
_PROTOCOL = 5

# Random bytes up to this size are built once per process and kept (a few, by size and
# seed): the harness builds them for the checksum before it forks a session's peers, so
# forked peers find them made. Building them was a peer's start-up work in every session
# (1 MiB: 3-12 ms a peer on a shared core) and the harness's on every session too (1.4 s
# of a quick run). Bytes are immutable: sharing them changes nothing a peer does with
# them. Larger payloads are built fresh (kept, they would grow every fork's page tables).
CACHED_RAW_MAX_BYTES = 1 << 20


class PayloadMismatch(RuntimeError):
    """What arrived is not what was sent."""


class PayloadTooSmall(ValueError):
    """The kind's structure cannot be made this small."""


def _object(size_bytes: int, items: int, pad: int) -> dict:
    return {
        "items": [(i, f"k{i}", i * 0.5) for i in range(items)],
        "pad": b"\x5a" * pad,
    }


def _framed_pickle_length(value) -> int:
    return len(framed_pickle(bytes(HEADER_BYTES), value))


def framed_pickle(header: bytes, value) -> bytes:
    """The wire form of an object message: (header, value), pickled as one."""
    return pickle.dumps((header, value), protocol=_PROTOCOL)


def _fit(size_bytes: int, build, length_of=_framed_pickle_length, what: str = "pickle"):
    """Find the padding that makes the framed encoding (pickle, or msgpack with
    `length_of=codecs.packed_length`) of build(pad) exactly size_bytes."""
    pad = 0
    for _ in range(8):  # length field widths change at 256 B, 64 KiB, 4 GiB: a few steps
        length = length_of(build(pad))
        if length == size_bytes:
            return build(pad)
        pad += size_bytes - length
        if pad < 0:
            break
    raise PayloadTooSmall(f"cannot build an exact {size_bytes}-byte {what}")


def _fit_items(size_bytes: int, length_of, what: str) -> dict:
    """The object structure fitted to size_bytes. A size that falls in the gap where the
    pad's length field widens (msgpack: bin8 -> bin16 at 256 bytes) takes one item less."""
    items = max(0, size_bytes // 96)  # about half structure, half padding
    for count in range(items, max(-1, items - 3), -1):
        try:
            return _fit(size_bytes, lambda pad, n=count: _object(size_bytes, n, pad),
                        length_of, what)
        except PayloadTooSmall:
            continue
    raise PayloadTooSmall(f"cannot build an exact {size_bytes}-byte {what}")


def _padded_frame(data, pad: int):
    """The `dataframe` kind's DataFrame, padded in its attrs (which pickle with it)."""
    data.attrs = {"pad": b"\x5a" * pad}
    return data


def _frame_too_small(kind: str) -> str:
    return (f"payload {kind} needs at least {codecs.min_frame_bytes()} bytes "
            "(a DataFrame's own overhead, and one row)")


# What the sending application holds, by the record's `value`: built from the spec and,
# for an encoding whose value is padded to the message size, its (length_of, what).
def _bytes_value(spec: PayloadSpec, fitted):
    return spec.raw()


def _items_value(spec: PayloadSpec, fitted) -> dict:
    return _fit_items(spec.size_bytes, *fitted)


def _array_value(spec: PayloadSpec, fitted):
    return _fit(spec.size_bytes, lambda pad: np.random.default_rng(spec.seed).integers(
        0, 256, max(pad, 0), dtype=np.uint8), *fitted)


def _frame_value(spec: PayloadSpec, fitted):
    rows = codecs.frame_rows(spec.size_bytes)
    if rows < 1:
        raise PayloadTooSmall(_frame_too_small(spec.kind))
    data = codecs.frame(rows, spec.seed)
    if fitted is None:
        return data  # the sender converts it for every message (codecs.ArrowCodec)
    return _fit(spec.size_bytes, lambda pad: _padded_frame(data, pad), *fitted)


_VALUES = {Value.BYTES: _bytes_value, Value.ITEMS: _items_value, Value.ARRAY: _array_value,
           Value.FRAME: _frame_value}
# Encodings whose value is padded until its framed encoding is exactly the message size:
# that encoding's length, and its name in the too-small error. The others send the raw
# bytes as they are, or fit the message themselves (the Arrow codec pads its stream).
_FITTED = {Encoding.PICKLE: (_framed_pickle_length, "pickle"),
           Encoding.MSGPACK: (codecs.packed_length, "msgpack message")}


# CRC-32 of the body as it must arrive, by the record's `encoding`.
def _raw_checksum(spec: PayloadSpec, value) -> int:
    return zlib.crc32(value[HEADER_BYTES:] if spec.framed else value)


def _pickle_checksum(spec: PayloadSpec, value) -> int:
    return zlib.crc32(pickle.dumps(value, protocol=_PROTOCOL))


def _msgpack_checksum(spec: PayloadSpec, value) -> int:
    return codecs.msgpack_checksum(value)


def _frame_checksum(spec: PayloadSpec, value) -> int:
    return codecs.frame_checksum(value)


def _view_checksum(spec: PayloadSpec, value) -> int:
    return zlib.crc32(value)  # the stamp goes into shared memory, not into these bytes


_CHECKSUMS = {Encoding.RAW: _raw_checksum, Encoding.PICKLE: _pickle_checksum,
              Encoding.MSGPACK: _msgpack_checksum, Encoding.ARROW: _frame_checksum,
              Encoding.SHARED_MEMORY: _view_checksum}


@dataclass(frozen=True)
class PayloadSpec:
    size_bytes: int
    seed: int = 0
    kind: str = payload_kinds.BYTES.name

    def __post_init__(self) -> None:
        payload_kinds.get(self.kind)

    @property
    def info(self) -> PayloadKind:
        """The PayloadKind record of this spec's kind."""
        return payload_kinds.PAYLOADS[self.kind]

    @property
    def framed(self) -> bool:
        """Whether messages carry the header (a raw message below 8 bytes cannot: there
        the header takes the payload's own first 8 bytes)."""
        return self.info.encoding is not Encoding.RAW or self.size_bytes >= HEADER_BYTES

    @property
    def wire_bytes(self) -> int:
        """Length of every message on the channel."""
        return self.info.wire_bytes(self.size_bytes)

    def raw(self) -> bytes:
        # Random, not zeros: a zero page can be shared or compressed away somewhere
        # along the path and make a copy look free.
        if self.size_bytes <= CACHED_RAW_MAX_BYTES:
            return _kept_random_bytes(self.size_bytes, self.seed)
        return _random_bytes(self.size_bytes, self.seed)

    def value(self):
        """What the sending application holds (shm-view: the bytes it writes into shared
        memory for every message)."""
        info = self.info
        return _VALUES[info.value](self, _FITTED.get(info.encoding))

    def checksum(self) -> int:
        """CRC-32 of the body as it must arrive: bytes less the header, the pickle of
        an object's value, the msgpack packing of msgpack's, the column values of
        arrow's DataFrame, shm-view's unstamped bytes (computed once per spec and
        process: a session's harness asks for it every session)."""
        return _checksum_of(self)

    def check_buildable(self) -> str:
        """'' when this kind can be built at this size, else the reason it cannot."""
        info = self.info
        if info.shared_memory and self.size_bytes < _STAMP_BYTES:
            return f"payload {self.kind} needs at least {_STAMP_BYTES} bytes (its stamp)"
        if info.value is Value.FRAME:
            return _frame_too_small(self.kind) if codecs.frame_rows(self.size_bytes) < 1 else ""
        if info.value is Value.BYTES or self.size_bytes >= 1024:
            return ""  # structures need < 200 bytes of overhead: only tiny sizes can fail
        try:
            self.checksum()
        except PayloadTooSmall:
            return f"payload {self.kind} needs more than {self.size_bytes} bytes"
        return ""


def _random_bytes(size_bytes: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size_bytes, dtype=np.uint8).tobytes()


_kept_random_bytes = lru_cache(maxsize=8)(_random_bytes)


@lru_cache(maxsize=64)
def _checksum_of(spec: PayloadSpec) -> int:
    return _CHECKSUMS[spec.info.encoding](spec, spec.value())


def verify(data, size_bytes: int, checksum: int, where: str) -> None:
    """Raise PayloadMismatch naming `where` when length or CRC-32 differ."""
    length = data.nbytes if isinstance(data, (memoryview, np.ndarray)) else len(data)
    if length != size_bytes:
        raise PayloadMismatch(f"{where}: received {length} bytes, expected {size_bytes}")
    actual = zlib.crc32(data)
    if actual != checksum:
        raise PayloadMismatch(f"{where}: checksum {actual:#010x}, expected {checksum:#010x}")


def corrupted(payload: bytes) -> bytes:
    """The payload with its last byte flipped (fault injection for tests)."""
    return payload[:-1] + bytes([payload[-1] ^ 0xFF])


def corrupted_value(value):
    """A value of the same encoded size with one byte of its data changed (fault
    injection for tests): bytes and arrays flip their last byte, an object its padding
    (or last item), a DataFrame its last `x` (keeping attrs)."""
    if isinstance(value, (bytes, bytearray)):
        return corrupted(bytes(value))
    if isinstance(value, np.ndarray):
        changed = value.copy()
        changed.view(np.uint8)[-1] ^= 0xFF
        return changed
    if codecs.is_frame(value):
        changed = value.copy()
        changed.attrs = dict(value.attrs)
        changed.loc[changed.index[-1], "x"] = -changed["x"].iloc[-1] - 1.0
        return changed
    changed = dict(value)
    if changed["pad"]:
        changed["pad"] = corrupted(changed["pad"])
    else:
        i, key, number = changed["items"][-1]
        changed["items"] = [*changed["items"][:-1], (i, key, -number - 1.0)]
    return changed
