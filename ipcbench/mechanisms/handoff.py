"""Mailboxes in shared memory, shared by the `value`, `array`, `shm` and `mmap` mechanisms:
one slot (the default variants) or a ring of N slots (the `ringN` variants).

Protocol per channel (one sender, one receiver): `empty` and `filled` are counting
semaphores, `empty` starting at the slot count N and `filled` at 0. The sender waits on
`empty`, copies the payload into slot (k mod N) for its k-th message, writes k+1 into
that slot's sequence counter, then posts `filled` (and the receiver's shared `notify`,
for N -> 1). The receiver waits, checks the slot's sequence number is exactly the next
one (a skipped, repeated or stale message is an error, not a result), copies the payload
out into its own buffer, posts `empty`. With one slot every message waits for the other
side to wake up; with N slots the sender runs up to N messages ahead, so the two overlap.
Semaphores block in the kernel (futex), so oversubscribed runs never busy-wait.

A ring's slots hold at most CHUNK_BYTES: a larger message goes through in chunks, one
slot each, and the receiver copies each into its place in its own buffer. So the ring
stays small enough to live in the CPU caches, and while the sender fills chunk k+1 the
receiver copies chunk k out of cache: a 16 MiB message then costs about one trip through
memory instead of two (a ring of 8 whole 16 MiB slots is 128 MiB, far out of cache).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ipcbench.core.patterns import WORKQUEUE
from ipcbench.mechanisms.base import Endpoint, Mechanism
from ipcbench.mechanisms.info import Variant, find_variant

# Why none of these channels is a work queue (the skipped rows say so): MechanismInfo.why_not.
WHY_NOT_SHARED = {WORKQUEUE.name: "each of its channels is a mailbox or ring with exactly one "
                                  "reader, handed over by that reader's semaphores"}


class SequenceError(RuntimeError):
    """The receiver saw a sequence number other than the next one."""


# A ring's slots start on cache-line boundaries so neighbouring slots never share a line
# (the sender filling slot k+1 must not invalidate the line the receiver reads from k).
CACHE_LINE_BYTES = 64
SEQUENCE_BYTES = 8  # the uint64 counter in front of each slot's payload
# Largest slot of a ring. Measured on the 2-core EPYC VM (stream, 16 MiB messages,
# cross-core, against memcpy at 16 MiB in the same run): 256 KiB chunks 0.60 (the
# semaphore and call work of 64 chunks per message shows), 1 MiB 0.86, 2 MiB 0.74 (a
# ring of 16 MiB no longer stays in cache). 8 x 1 MiB = 8 MiB of ring.
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class RingLayout:
    """Byte layout of `slots` slots in one mapping: [sequence | payload] per slot, each
    slot cache-line aligned. One slot is [8-byte sequence | payload], as it always was;
    a ring's slots hold min(message, CHUNK_BYTES)."""

    size_bytes: int  # of a message
    slots: int = 1

    @property
    def slot_bytes(self) -> int:
        return self.size_bytes if self.slots == 1 else min(self.size_bytes, CHUNK_BYTES)

    @property
    def stride_bytes(self) -> int:
        used = SEQUENCE_BYTES + self.slot_bytes
        return -(-used // CACHE_LINE_BYTES) * CACHE_LINE_BYTES

    @property
    def total_bytes(self) -> int:
        if self.slots == 1:
            return SEQUENCE_BYTES + self.slot_bytes
        return self.slots * self.stride_bytes

    def sequence_offset(self, position: int) -> int:
        return position * self.stride_bytes

    def payload_offset(self, position: int) -> int:
        return position * self.stride_bytes + SEQUENCE_BYTES


class SlotStorage(ABC):
    """Where a channel's slots (bytes + sequence counter each) live (a RawArray, a
    segment, ...). Storages that hold one slot ignore `position` (always 0)."""

    slots = 1

    def attach(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Map the storage in a peer (no-op when it was inherited by fork)."""

    @abstractmethod
    def payload(self, position: int = 0) -> np.ndarray:
        """uint8 view of slot `position`'s payload (valid after attach)."""

    def message_bytes(self) -> int:
        """Length of one message (a ring's slot may hold only a chunk of it)."""
        return int(self.payload(0).size)

    @abstractmethod
    def sequence(self, position: int = 0) -> np.ndarray:
        """uint64 view of length 1 holding slot `position`'s sequence counter."""

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Drop views and mappings taken by attach()."""

    def unlink(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Owner only (the parent, after every peer ended): remove any system-wide name."""


class Slot:
    """One channel: its storage (one slot or a ring) and the two counting semaphores."""

    def __init__(self, ctx, storage: SlotStorage) -> None:
        self.storage = storage
        self.filled = ctx.Semaphore(0)
        self.empty = ctx.Semaphore(storage.slots)


class SlotEndpoint(Endpoint):
    """Sends into `outbox` and/or receives from `inboxes` (several for N -> 1)."""

    def __init__(self, outbox: Slot | None, inboxes: list[Slot], notify=None) -> None:
        self.outbox = outbox
        self.inboxes = inboxes
        # Posted by every sender of a fan-in so the receiver can sleep on one thing.
        self.notify = notify
        self._next = 0

    def attach(self) -> None:
        for slot in self._slots():
            slot.storage.attach()
        # Per channel, the views of every slot of its ring (one for a mailbox).
        self._out_views = _views(self.outbox.storage, "payload") if self.outbox else []
        self._out_seqs = _views(self.outbox.storage, "sequence") if self.outbox else []
        self._in_views = [_views(s.storage, "payload") for s in self.inboxes]
        self._in_seqs = [_views(s.storage, "sequence") for s in self.inboxes]
        # Messages sent / received so far on each channel: the k-th message goes to slot
        # k mod N and carries sequence k+1. Each channel has one sender and one
        # receiver, so these counters are private to them; storages are fresh (zeroed)
        # for every session.
        self._sent = 0
        self._received = [0] * len(self.inboxes)
        # The receiver's private buffer, allocated once: copying into memory you already
        # own is how shared memory is used in practice; a fresh allocation per message
        # would measure page faults, not the channel.
        size = self.inboxes[0].storage.message_bytes() if self.inboxes else 0
        self._private = np.empty(size, dtype=np.uint8)
        self._in_chunk = self._in_views[0][0].size if self.inboxes else 0
        self._out_chunk = self._out_views[0].size if self.outbox else 0
        self._prefault()

    def _prefault(self) -> None:
        """Touch every page of every slot (and of the private buffer) now, before any
        clock: a ring of 8 x 16 MiB slots is otherwise first touched inside the timed
        repeats, which then measure page faults (4096 per slot), not the channel. The
        sender writes its (still empty) outbox; the receiver only reads its inboxes."""
        page = 4096
        for view in self._out_views:
            view[::page] = 0
        for views in self._in_views:
            for view in views:
                int(view[::page].sum())
        self._private.fill(0)

    def _slots(self) -> list[Slot]:
        return ([self.outbox] if self.outbox else []) + self.inboxes

    def send(self, payload: bytes) -> None:
        step = self._out_chunk
        if len(payload) <= step:  # the common case: the message fits one slot
            self._send_chunk(payload)
            return
        data = np.frombuffer(payload, dtype=np.uint8)
        for start in range(0, data.size, step):
            self._send_chunk(data[start:start + step])

    def recv(self) -> memoryview:
        index = self._recv_chunk(None, 0)  # whichever channel is ready first
        if self._private.size > self._in_chunk:
            for offset in range(self._in_chunk, self._private.size, self._in_chunk):
                self._recv_chunk(index, offset)  # the rest of that message, in order
        return self._message()

    def _send_chunk(self, chunk: np.ndarray) -> None:
        slot = self.outbox
        slot.empty.acquire()
        self._write(chunk)
        slot.filled.release()
        if self.notify is not None:
            self.notify.release()

    def _recv_chunk(self, index: int | None, offset: int) -> int:
        """Wait for the next chunk of channel `index` (None: of any ready channel), copy it
        to `offset` of the private buffer, free its slot; return the channel."""
        if self.notify is None:
            index = 0
            self.inboxes[0].filled.acquire()
        else:
            self.notify.acquire()  # one post per chunk sent, whoever sent it
            if index is None:
                index = self._take_filled()
            else:
                self.inboxes[index].filled.acquire()
        self._read(index, offset)
        self.inboxes[index].empty.release()
        return index

    def _message(self):
        """What recv() hands out once the slot is released: the private copy."""
        return memoryview(self._private)

    # The two copies are hooks so a storage with its own lock (a synchronized Array)
    # can hold it around exactly the shared-memory accesses, never around a wait.
    def _write(self, chunk) -> None:
        position = self._sent % len(self._out_views)
        view = self._out_views[position]
        if len(chunk) == view.size:
            view[:] = np.frombuffer(chunk, dtype=np.uint8)
        else:  # the last, shorter chunk of a message
            view[:len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        self._sent += 1
        self._out_seqs[position][0] = self._sent

    def _read(self, index: int, offset: int = 0) -> None:
        received = self._received[index]
        position = received % len(self._in_views[index])
        seq = int(self._in_seqs[index][position][0])
        if seq != received + 1:
            raise SequenceError(
                f"channel {index} slot {position}: expected sequence {received + 1}, got {seq}"
            )
        self._received[index] = seq
        view = self._in_views[index][position]
        if offset == 0 and view.size == self._private.size:  # a whole message
            np.copyto(self._private, view)
            return
        length = min(view.size, self._private.size - offset)
        np.copyto(self._private[offset:offset + length], view[:length])

    def _take_filled(self) -> int:
        # notify was posted after some slot's `filled`, so one scan always finds one;
        # start after the last served slot so no producer is starved.
        count = len(self.inboxes)
        for step in range(count):
            index = (self._next + step) % count
            if self.inboxes[index].filled.acquire(False):
                self._next = index + 1
                return index
        raise RuntimeError("notified, but no slot was filled")

    def close(self) -> None:
        # Views must go before the mapping can be closed (BufferError otherwise).
        self._out_views, self._out_seqs = [], []
        self._in_views, self._in_seqs, self._private = [], [], None
        for slot in self._slots():
            slot.storage.close()


def _views(storage: SlotStorage, kind: str) -> list[np.ndarray]:
    return [getattr(storage, kind)(position) for position in range(storage.slots)]


def pair_endpoints(make_slot, endpoint=SlotEndpoint) -> tuple[SlotEndpoint, SlotEndpoint]:
    there, back = make_slot(), make_slot()
    return endpoint(there, [back]), endpoint(back, [there])


def fan_in_endpoints(
    ctx, make_slot, producers: int, endpoint=SlotEndpoint
) -> tuple[list[SlotEndpoint], SlotEndpoint]:
    slots = [make_slot() for _ in range(producers)]
    if producers == 1:
        return [endpoint(slots[0], [])], endpoint(None, slots)
    notify = ctx.Semaphore(0)
    senders = [endpoint(slot, [], notify) for slot in slots]
    return senders, endpoint(None, slots, notify)


class SlotMechanism(Mechanism):
    """Mechanisms built from mailboxes or rings: a pingpong pair is two channels (one
    per direction), a stream one channel per producer. Subclasses say how a channel's
    storage is made (`_storage`, given a run-unique name for anything system-wide and
    `self.layout`, whose slot count is the variant's ring_slots) and may swap the
    endpoint class (e.g. to take a lock around each copy, or to busy-poll). Every
    storage is unlinked in close()."""

    # The records of the variants the subclass builds (the same tuple as its module's
    # INFO.variants): ring slots and busy-polling are read from them, not from names.
    variants: tuple[Variant, ...] = ()
    slot_endpoint: type[SlotEndpoint] = SlotEndpoint
    slot_class: type[Slot] = Slot

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spec = find_variant(self.variants, self.variant)
        # --depth sets a ring's slot count (Variant.depth); a mailbox keeps its one slot.
        slots = self.depth if self.depth and self.spec.depth else self.spec.ring_slots
        self.layout = RingLayout(self.size_bytes, slots)
        self._storages: list[SlotStorage] = []

    def _storage(self, name: str) -> SlotStorage:
        raise NotImplementedError

    def _slot(self) -> Slot:
        storage = self._storage(f"{self.name_prefix}{len(self._storages)}")
        self._storages.append(storage)
        return self.slot_class(self.ctx, storage)

    def close(self) -> None:
        for storage in self._storages:
            storage.unlink()
        self._storages.clear()

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        return [pair_endpoints(self._slot, self.slot_endpoint) for _ in range(count)]

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        return fan_in_endpoints(self.ctx, self._slot, producers, self.slot_endpoint)
