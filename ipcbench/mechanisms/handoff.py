"""A one-message mailbox in shared memory, shared by the `value` and `shm` mechanisms.

Protocol per slot: the sender waits on `empty`, copies the payload in, bumps the
sequence counter, then posts `filled` (and the receiver's shared `notify`, for N -> 1).
The receiver waits, checks the sequence number is exactly the next one (a skipped or
repeated message is an error, not a result), copies the payload out, posts `empty`.
Semaphores block in the kernel (futex), so oversubscribed runs never busy-wait.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ipcbench.mechanisms.base import Endpoint, Mechanism


class SequenceError(RuntimeError):
    """The receiver saw a sequence number other than the next one."""


class SlotStorage(ABC):
    """Where a slot's bytes and sequence counter live (a RawArray, a segment, ...)."""

    def attach(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Map the storage in a peer (no-op when it was inherited by fork)."""

    @abstractmethod
    def payload(self) -> np.ndarray:
        """uint8 view of the payload region (valid after attach)."""

    @abstractmethod
    def sequence(self) -> np.ndarray:
        """uint64 view of length 1 holding the sequence counter."""

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Drop views and mappings taken by attach()."""

    def unlink(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Owner only (the parent, after every peer ended): remove any system-wide name."""


class Slot:
    def __init__(self, ctx, storage: SlotStorage) -> None:
        self.storage = storage
        self.filled = ctx.Semaphore(0)
        self.empty = ctx.Semaphore(1)


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
        self._out_view = self.outbox.storage.payload() if self.outbox else None
        self._out_seq = self.outbox.storage.sequence() if self.outbox else None
        self._in_views = [s.storage.payload() for s in self.inboxes]
        self._in_seqs = [s.storage.sequence() for s in self.inboxes]
        self._expected = [int(seq[0]) + 1 for seq in self._in_seqs]
        # The receiver's private buffer, allocated once: copying into memory you already
        # own is how shared memory is used in practice; a fresh allocation per message
        # would measure page faults, not the channel.
        self._private = np.empty(self._in_views[0].size if self.inboxes else 0, dtype=np.uint8)

    def _slots(self) -> list[Slot]:
        return ([self.outbox] if self.outbox else []) + self.inboxes

    def send(self, payload: bytes) -> None:
        slot = self.outbox
        slot.empty.acquire()
        self._write(payload)
        slot.filled.release()
        if self.notify is not None:
            self.notify.release()

    def recv(self) -> memoryview:
        if self.notify is None:
            index = 0
            self.inboxes[0].filled.acquire()
        else:
            self.notify.acquire()
            index = self._take_filled()
        self._read(index)
        self.inboxes[index].empty.release()
        return memoryview(self._private)

    # The two copies are hooks so a storage with its own lock (a synchronized Array)
    # can hold it around exactly the shared-memory accesses, never around a wait.
    def _write(self, payload) -> None:
        self._out_view[:] = np.frombuffer(payload, dtype=np.uint8)
        self._out_seq[0] += 1

    def _read(self, index: int) -> None:
        seq = int(self._in_seqs[index][0])
        if seq != self._expected[index]:
            raise SequenceError(
                f"slot {index}: expected sequence {self._expected[index]}, got {seq}"
            )
        self._expected[index] = seq + 1
        np.copyto(self._private, self._in_views[index])

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
        self._out_view = self._out_seq = None
        self._in_views, self._in_seqs, self._private = [], [], None
        for slot in self._slots():
            slot.storage.close()


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
    """Mechanisms built from one-message mailboxes: a pingpong pair is two slots, a
    stream one slot per producer. Subclasses say how a slot's storage is made
    (`_storage`, given a run-unique name for anything system-wide) and may swap the
    endpoint class (e.g. to take a lock around each copy). Every storage is unlinked
    in close()."""

    slot_endpoint: type[SlotEndpoint] = SlotEndpoint

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._storages: list[SlotStorage] = []

    def _storage(self, name: str) -> SlotStorage:
        raise NotImplementedError

    def _slot(self) -> Slot:
        storage = self._storage(f"{self.name_prefix}{len(self._storages)}")
        self._storages.append(storage)
        return Slot(self.ctx, storage)

    def close(self) -> None:
        for storage in self._storages:
            storage.unlink()
        self._storages.clear()

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        return [pair_endpoints(self._slot, self.slot_endpoint) for _ in range(count)]

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        return fan_in_endpoints(self.ctx, self._slot, producers, self.slot_endpoint)
