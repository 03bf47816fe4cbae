"""The codec payload kinds (`msgpack`, `arrow`) and the DataFrame of the frame kinds.

These kinds measure a serializer against pickle on the same data:
- `msgpack` encodes the structure the `object` kind pickles (a dict of (int, str, float)
  tuples and a padding bytes value): `object` vs `msgpack` is pickle vs msgpack.
- `dataframe` (a pickled kind: spec.py) and `arrow` carry one pandas DataFrame of
  `frame_rows(size)` rows (int64 `id`, float64 `x` and `y`, int32 `k`: 28 bytes a row),
  the same rows for both at every size: `dataframe` vs `arrow` is pickle (protocol 5) vs
  an Arrow IPC stream.

A codec kind always travels as bytes, also on channels that pickle by themselves (Queue,
Pipe.send, ...): the point is the serializer, so the sender encodes and the channel
moves the encoded bytes (pickling a bytes object is one copy). Every message is exactly
`size_bytes` long and carries the 8-byte header of framing.py:
- msgpack: the pair (header bytes, value) packed as one, its padding fitted so that the
  packing is exactly `size_bytes` (as payload._fit does for pickle).
- arrow: the header in bytes 0..7, then an Arrow IPC stream (schema, one record batch,
  end-of-stream marker) written in place into the message; the schema metadata carries
  a padding entry fitted so that the stream fills the message up to 8-byte alignment
  (IPC streams grow in steps of 8 bytes): the last (size_bytes - 8) mod 8 bytes are
  zero and never read.

What each side does per message (all of it inside the one-way latency: the sender
stamps before it encodes, the receiver reads its clock after decoding):
- msgpack: `packb((header, value))` / `unpackb(message)` (lists for tuples).
- arrow: the sender converts its DataFrame (`RecordBatch.from_pandas`) and writes the
  stream into a fresh message buffer (one copy of the values); the receiver opens the
  stream on the message without copying (`open_stream(py_buffer(view))`, `read_all`) and
  turns it into a DataFrame whose columns are read-only views of the message
  (`to_pandas(split_blocks=True, zero_copy_only=True)`: it fails rather than copy).
Verification of the last message of a repeat (outside the timed loop): msgpack re-packs
the decoded value, arrow takes a CRC-32 of every column's values (frame_checksum); both
against the sender's value.

pyarrow and msgpack are optional (`pip install 'ipcbench[arrow]'`, `'ipcbench[msgpack]'`):
they are imported only when a codec is built, and the matrix turns cases of a kind whose
module is missing into skipped rows (PayloadKind.unavailable_reason, core/payload_kinds.py).
"""

from __future__ import annotations

import sys
import zlib
from typing import TYPE_CHECKING

import numpy as np

from ipcbench.core.payload_kinds import PAYLOADS, Encoding, Value
from ipcbench.payload.framing import HEADER, HEADER_BYTES

if TYPE_CHECKING:  # pandas is imported where a DataFrame is built, not by every peer
    import pandas as pd

# The kinds carrying the DataFrame below (dataframe, arrow), read off their records.
FRAME_KINDS = tuple(k.name for k in PAYLOADS.values() if k.value is Value.FRAME)
FRAME_ROW_BYTES = 28  # int64 + 2 x float64 + int32
# Room a DataFrame needs besides its values, with margin: about 1.4 KiB for an Arrow
# stream (pandas metadata, schema, batch header), about 1.0 KiB for a pickle.
FRAME_RESERVE_BYTES = 1536
ARROW_PAD_KEY = b"ipcbench_pad"
_PAD_BYTE = b"\x5a"


class CodecTooSmall(ValueError):
    """The encoding cannot be made exactly this size."""


def frame_rows(size_bytes: int) -> int:
    """Rows of the frame kinds' DataFrame at this message size (< 1: cannot be built)."""
    return (size_bytes - FRAME_RESERVE_BYTES) // FRAME_ROW_BYTES


def min_frame_bytes() -> int:
    return FRAME_RESERVE_BYTES + FRAME_ROW_BYTES


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """The DataFrame both frame kinds carry: numeric columns (no nulls), random values."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(rows, dtype=np.int64),
        "x": rng.random(rows),
        "y": rng.random(rows),
        "k": rng.integers(0, 1 << 30, rows, dtype=np.int32),
    })


def is_frame(value) -> bool:
    """Whether `value` is a pandas DataFrame (without importing pandas for other kinds)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def frame_checksum(data: pd.DataFrame) -> int:
    """CRC-32 of a DataFrame's column names and values, column by column (reads every
    value once; no pickle, so both frame kinds' receivers can be checked alike)."""
    crc = 0
    for name in data.columns:
        crc = zlib.crc32(str(name).encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(data[name].to_numpy()), crc)
    return crc


def _msgpack():
    import msgpack

    return msgpack


def packed_length(value) -> int:
    """Length of the msgpack message (header, value), for fitting the padding."""
    return len(_msgpack().packb((bytes(HEADER_BYTES), value)))


def msgpack_checksum(value) -> int:
    return zlib.crc32(_msgpack().packb(value))


class MsgpackCodec:
    """msgpack on the wire: the pair (header bytes, value), packed as one."""

    def __init__(self, size_bytes: int, value) -> None:
        msgpack = _msgpack()
        self._packb, self._unpackb = msgpack.packb, msgpack.unpackb
        if packed_length(value) != size_bytes:
            raise CodecTooSmall(f"the msgpack value is not {size_bytes} bytes packed")

    def encode(self, word: int, stamp: int, value) -> bytes:
        return self._packb((HEADER.pack(word, stamp), value))

    def decode(self, message) -> tuple[int, int, object]:
        header, value = self._unpackb(message)
        word, stamp = HEADER.unpack(header)
        return word, stamp, value

    def checksum(self, value) -> int:
        return zlib.crc32(self._packb(value))


class ArrowCodec:
    """Arrow IPC on the wire: header, then a one-batch stream filling the message."""

    def __init__(self, size_bytes: int, data: pd.DataFrame) -> None:
        import pyarrow as pa

        self._pa = pa
        self.size_bytes = size_bytes
        # The stream ends on an 8-byte boundary: it fills the message up to that.
        self.stream_bytes = (size_bytes - HEADER_BYTES) // 8 * 8
        self.metadata = self._fit(pa.RecordBatch.from_pandas(data))

    def _stream_length(self, batch) -> int:
        sink = self._pa.MockOutputStream()
        with self._pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        return sink.size()

    def _fit(self, batch) -> dict:
        """Schema metadata (pandas' own, plus a padding entry) that makes the stream
        exactly stream_bytes long. Its length grows in steps of 8 with the padding."""
        base = dict(batch.schema.metadata or {})
        target, pad = self.stream_bytes, 0
        for _ in range(64):
            metadata = {**base, ARROW_PAD_KEY: _PAD_BYTE * pad}
            length = self._stream_length(batch.replace_schema_metadata(metadata))
            if length == target:
                return metadata
            pad += target - length if length < target else -1
            if pad < 0:
                break
        raise CodecTooSmall(f"cannot build an exact {self.size_bytes}-byte Arrow stream")

    def encode(self, word: int, stamp: int, data: pd.DataFrame) -> bytearray:
        pa = self._pa
        message = bytearray(self.size_bytes)
        HEADER.pack_into(message, 0, word, stamp)
        batch = pa.RecordBatch.from_pandas(data).replace_schema_metadata(self.metadata)
        sink = pa.FixedSizeBufferWriter(pa.py_buffer(memoryview(message)[HEADER_BYTES:]))
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        return message

    def decode(self, message) -> tuple[int, int, pd.DataFrame]:
        view = memoryview(message)
        word, stamp = HEADER.unpack_from(view)
        stream = self._pa.py_buffer(view[HEADER_BYTES:HEADER_BYTES + self.stream_bytes])
        table = self._pa.ipc.open_stream(stream).read_all()
        return word, stamp, table.to_pandas(split_blocks=True, zero_copy_only=True)

    def checksum(self, data: pd.DataFrame) -> int:
        return frame_checksum(data)


# The codec of each codec encoding (the Wire builds one per peer).
CODECS = {Encoding.MSGPACK: MsgpackCodec, Encoding.ARROW: ArrowCodec}
