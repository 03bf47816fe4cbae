"""The Wire: how one peer puts the payload kind on its channel, with the header of
framing.py, and opens what arrives (spec.py says what each kind means on the wire,
codecs.py the msgpack and Arrow encodings; a kind's record, core/payload_kinds.py, names
the encoding whose send and open paths it takes)."""

from __future__ import annotations

import pickle

from ipcbench.core.payload_kinds import Encoding
from ipcbench.payload import codecs
from ipcbench.payload.framing import HEADER, HEADER_BYTES, SEQUENCE_MASK, STAMP_MASK, Expected, tag
from ipcbench.payload.spec import (
    PayloadMismatch,
    PayloadSpec,
    corrupted,
    corrupted_value,
    framed_pickle,
    verify,
)
from ipcbench.payload.zerocopy import InPlace

_pack_into, _unpack_from = HEADER.pack_into, HEADER.unpack_from


class Wire:
    """How one peer frames the payload for its channel, and opens what arrives.

    - message(stamp_ns): the next message to send, carrying the header (framing.py) with
      this peer's sender index, its next sequence number and `stamp_ns`.
    - open(message): decode one received message (unpickle, unpack; arrow: open the
      stream in place and make a DataFrame of it; shm-view: read and check the region in
      place) and return its header words (word, stamp); the body of the last one stays
      in `last_body` for `check`.
    An unframed wire (raw bytes below 8 bytes) sends the payload as is; open() then
    returns (0, 0) and there is no one-way latency to report.
    """

    def __init__(self, payload: PayloadSpec, checksum: int, carries_objects: bool,
                 pools=(), pool: int = -1, corrupt: bool = False, sender: int = 0) -> None:
        self.payload = payload
        self.checksum = checksum
        self.kind = payload.kind
        self.framed = payload.framed
        self.sender = sender
        self._word_base = tag(sender, 0)
        self.sent = 0  # sequence numbers run on over the repeats of a session
        self.expected: Expected | None = None  # a receiver's, set by its role
        self.last_body = None
        self._views = None
        self._pickles = False
        self._codec = None
        # Length of the body `check` verifies (None: objects, whose pickle is checked).
        self._body_bytes = payload.size_bytes - (HEADER_BYTES if payload.framed else 0)
        # Length of every message on the channel (None: handed over as objects).
        self.wire_bytes: int | None = None
        info = payload.info
        # The channel pickles what it is given, and this kind is handed over as an object
        # there (a codec kind goes as its encoded bytes on every channel).
        objects = carries_objects and info.as_object
        # The send and open paths are picked here, once: never per message.
        _SETUPS[info.encoding](self, objects, corrupt, pools, pool)

    def _setup_view(self, objects: bool, corrupt: bool, pools, pool: int) -> None:
        if corrupt:
            raise ValueError(f"the corrupt fault does not apply to the {self.kind} payload")
        self._views = InPlace(pools, pool, self.payload.raw())
        self.wire_bytes = self.payload.wire_bytes
        self.message, self.open = self._view_message, self._view_open

    def _setup_raw(self, objects: bool, corrupt: bool, pools, pool: int) -> None:
        value = self.payload.value()
        raw = corrupted(value) if corrupt else value
        if not self.framed:
            self.wire_bytes = None if objects else self.payload.size_bytes
            self._raw = raw
            self.message, self.open = self._raw_message, self._raw_open
        elif objects:
            self.wire_bytes = None
            self._body = raw[HEADER_BYTES:]
            self.message, self.open = self._pair_message, self._pair_open
        else:
            self.wire_bytes = self.payload.size_bytes
            # Reused: every byte channel copies the message before send() returns.
            self._buffer = bytearray(raw)
            self.message, self.open = self._bytes_message, self._bytes_open

    def _setup_pickled(self, objects: bool, corrupt: bool, pools, pool: int) -> None:
        value = self.payload.value()
        self._body = corrupted_value(value) if corrupt else value
        self._body_bytes = None
        if objects:
            self.wire_bytes = None
            self.message, self.open = self._pair_message, self._pair_open
        else:
            self._pickles = True
            self.wire_bytes = self.payload.size_bytes
            self.message, self.open = self._pickled_message, self._pickled_open

    def _setup_codec(self, objects: bool, corrupt: bool, pools, pool: int) -> None:
        # Encoded by the sender on every channel, also those that pickle by themselves:
        # they are given (and move) the encoded bytes (a codec kind is never `as_object`).
        value = self.payload.value()
        self._body = corrupted_value(value) if corrupt else value
        self._body_bytes = None
        self._codec = codecs.CODECS[self.payload.info.encoding](self.payload.size_bytes, value)
        self.wire_bytes = self.payload.size_bytes
        self.message, self.open = self._codec_message, self._codec_open

    def _next_word(self) -> int:
        word = tag(self.sender, self.sent)
        self.sent += 1
        return word

    # raw bytes below the header size: the payload as is
    def _raw_message(self, stamp_ns: int):
        self.sent += 1
        return self._raw

    def _raw_open(self, message) -> tuple[int, int]:
        self.last_body = message
        return 0, 0

    # bytes on a byte channel: the header in the message's first 8 bytes (tag() inlined:
    # at 1 µs per message on the fastest channels every call shows)
    def _bytes_message(self, stamp_ns: int):
        sent = self.sent
        self.sent = sent + 1
        _pack_into(self._buffer, 0, self._word_base | (sent & SEQUENCE_MASK),
                   stamp_ns & STAMP_MASK)
        return self._buffer

    def _bytes_open(self, message) -> tuple[int, int]:
        self.last_body = message
        return _unpack_from(message)

    # channels that pickle by themselves: the pair (header, body)
    def _pair_message(self, stamp_ns: int):
        return HEADER.pack(self._next_word(), stamp_ns & STAMP_MASK), self._body

    def _pair_open(self, message) -> tuple[int, int]:
        header, self.last_body = message
        return HEADER.unpack(header)

    # object kinds on a byte channel: the pair, pickled here (the sender's own work)
    def _pickled_message(self, stamp_ns: int):
        return framed_pickle(HEADER.pack(self._next_word(), stamp_ns & STAMP_MASK), self._body)

    def _pickled_open(self, message) -> tuple[int, int]:
        header, self.last_body = pickle.loads(message)
        return HEADER.unpack(header)

    # codec kinds (msgpack, arrow): encoded here into exactly size_bytes, header inside
    def _codec_message(self, stamp_ns: int):
        return self._codec.encode(self._next_word(), stamp_ns & STAMP_MASK, self._body)

    def _codec_open(self, message) -> tuple[int, int]:
        word, stamp, self.last_body = self._codec.decode(message)
        return word, stamp

    # shm-view: the message goes into shared memory, the header into the descriptor
    def _view_message(self, stamp_ns: int):
        return self._views.write(self._next_word(), stamp_ns & STAMP_MASK)

    def _view_open(self, message) -> tuple[int, int]:
        return self._views.read(message)

    def echo(self, message):
        """A pong's reply: the request opened as an RPC server would (unpickled, or read
        in place), then sent back with the same header."""
        return self.answer(message)[1]

    def answer(self, message):
        """A server's reply to `message` (as echo) and the request's header word, which
        names the client that sent it."""
        word, stamp = self.open(message)
        if self._views is not None:
            return word, self._views.write(word, stamp)
        if self._pickles:
            return word, framed_pickle(HEADER.pack(word, stamp), self.last_body)
        if self._codec is not None:
            return word, self._codec.encode(word, stamp, self.last_body)
        return word, message

    def check(self, where: str) -> None:
        """Verify the body of the last message opened, as the sender produced it."""
        if self._views is not None:
            # Every message was checked in place by open (its region is released and
            # may hold a newer message by now): there is nothing left to look at.
            if self._views.received == 0:
                raise ValueError(f"{where}: no {self.kind} message was read")
            return
        body = self.last_body
        if self._codec is not None:
            actual = self._codec.checksum(body)
            if actual != self.checksum:
                raise PayloadMismatch(f"{where}: checksum {actual:#010x}, expected "
                                      f"{self.checksum:#010x} ({self.kind} value)")
            return
        if self._body_bytes is None:
            data = pickle.dumps(body, protocol=5)
        elif self.framed and self.wire_bytes is not None:  # the header is still in front
            data = memoryview(body)[HEADER_BYTES:]
        else:
            data = body
        size = len(data) if self._body_bytes is None else self._body_bytes
        verify(data, size, self.checksum, where)

    def close(self) -> None:
        # An arrow body holds views of the last message (the channel's receive buffer,
        # maybe in shared memory): let it go before the endpoint releases that memory.
        self.last_body = None
        if self._views is not None:
            self._views.close()


# How each encoding sends and opens (core/payload_kinds.py says which a kind has).
_SETUPS = {Encoding.RAW: Wire._setup_raw, Encoding.PICKLE: Wire._setup_pickled,
           Encoding.MSGPACK: Wire._setup_codec, Encoding.ARROW: Wire._setup_codec,
           Encoding.SHARED_MEMORY: Wire._setup_view}
