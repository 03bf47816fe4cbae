"""multiprocessing.shared_memory.ShareableList as a one-slot mailbox: a list of two items,
[sequence number (int), message (bytes of the message size)], written and read through
the list's own item API (`items[1] = payload`, `items[1]`), the handoff signalled by
semaphores as in the other one-slot mechanisms (handoff.py). It measures what a program
using ShareableList pays: each get/set packs or unpacks the item with `struct` and reads
its format from the list's header; a get returns a new bytes object (the receiver's own
memory).

Two properties of ShareableList shape this mechanism:
- An item's size is fixed when the list is made (the message size, rounded up to 8
  bytes plus 8), and described by a struct format ("<n>s") that must fit 8 characters:
  items of more than MAX_ITEM_BYTES (9,999,991) bytes cannot exist, so larger messages
  are skipped rows (limit_reason).
- Reading a bytes item strips its trailing NUL bytes (CPython issue 96779): a message
  that ends in zeros comes back short. The slot always holds exactly the message size,
  so the receiver restores the stripped zeros to that length (`exact`); the checksum is
  then computed over exactly the bytes that were sent, never over a shorter message.

Segment hygiene as for `shm`: the parent creates each list (named with the case's
prefix, in /dev/shm, swept after a killed run) and unlinks it; peers attach by name.
"""

from __future__ import annotations

from multiprocessing.shared_memory import ShareableList

import numpy as np

from ipcbench.core.schema import Case
from ipcbench.mechanisms.handoff import (
    WHY_NOT_SHARED,
    SequenceError,
    SlotEndpoint,
    SlotMechanism,
)
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant
from ipcbench.payload.spec import PayloadSpec

SEQUENCE, MESSAGE = 0, 1
_ALIGNMENT = 8  # ShareableList._alignment
# The largest item whose allocation, 8 * (n // 8 + 1) bytes, has a format "<bytes>s" of
# at most 8 characters (larger ones fail an assertion when the list is made).
MAX_ITEM_BYTES = (9_999_999 // _ALIGNMENT - 1) * _ALIGNMENT + _ALIGNMENT - 1
_PAGE_BYTES = 4096
VARIANTS = (Variant("mailbox", STREAMS),)


def limit_reason(case: Case) -> str:
    message = PayloadSpec(case.size_bytes, kind=case.payload).wire_bytes
    if message > MAX_ITEM_BYTES:
        return (f"shareable-list: the message exceeds ShareableList's largest item, "
                f"{MAX_ITEM_BYTES} bytes (an item's struct format must fit 8 characters)")
    return ""


def exact(message: bytes, size_bytes: int) -> bytes:
    """The message as sent: ShareableList strips trailing NULs on read, and the slot holds
    exactly `size_bytes`, so what is missing was zeros."""
    if len(message) < size_bytes:
        return message + bytes(size_bytes - len(message))
    if len(message) > size_bytes:  # a version that returns the whole allocation
        return message[:size_bytes]
    return message


class ListStorage:
    """One ShareableList made (and unlinked) by the parent, attached by name in peers."""

    slots = 1

    def __init__(self, name: str, size_bytes: int) -> None:
        self.name = name
        self.size_bytes = size_bytes
        self.items: ShareableList | None = ShareableList([0, bytes(size_bytes)], name=name)
        self._owner = True

    def __getstate__(self) -> dict:
        return {**self.__dict__, "items": None, "_owner": False}

    def attach(self) -> None:
        if self.items is None:
            # Tracked like shm's attach before 3.13: the peers share the parent's
            # resource tracker, where a second registration of the name is a no-op.
            self.items = ShareableList(name=self.name)
        # Touch every page now, not inside the timed repeats (see SlotEndpoint._prefault).
        view = np.frombuffer(self.items.shm.buf, np.uint8)
        int(view[::_PAGE_BYTES].sum())
        del view

    def close(self) -> None:
        if self.items is not None:
            self.items.shm.close()
            if not self._owner:
                self.items = None

    def unlink(self) -> None:
        """Owner (the harness) only, after every peer ended."""
        if self._owner and self.items is not None:
            self.items.shm.close()
            try:
                self.items.shm.unlink()
            except FileNotFoundError:
                pass
            self.items = None


class ListEndpoint(SlotEndpoint):
    """handoff.SlotEndpoint's protocol (semaphores, sequence check, fan-in) over
    ShareableList items instead of numpy views."""

    def attach(self) -> None:
        for slot in self._slots():
            slot.storage.attach()
        self._sent = 0
        self._received = [0] * len(self.inboxes)
        self._last = None

    def _write(self, payload) -> None:
        items = self.outbox.storage.items
        self._sent += 1
        # ShareableList stores str/bytes only (a pong echoes what recv gave it: bytes).
        items[MESSAGE] = payload if type(payload) is bytes else bytes(payload)
        items[SEQUENCE] = self._sent

    def _read(self, index: int, offset: int = 0) -> None:
        storage = self.inboxes[index].storage
        expected = self._received[index] + 1
        seq = storage.items[SEQUENCE]
        if seq != expected:
            raise SequenceError(f"channel {index}: expected sequence {expected}, got {seq}")
        self._received[index] = seq
        self._last = exact(storage.items[MESSAGE], storage.size_bytes)

    def _message(self) -> bytes:
        return self._last

    # One slot holds the whole message (no ring, no chunks): the item API takes it as is.
    def send(self, payload) -> None:
        self._send_chunk(payload)

    def recv(self) -> bytes:
        self._recv_chunk(None, 0)
        return self._message()

    def close(self) -> None:
        self._last = None
        for slot in self._slots():
            slot.storage.close()


class ShareableListMechanism(SlotMechanism):
    variants = VARIANTS
    slot_endpoint = ListEndpoint

    def _storage(self, name: str) -> ListStorage:
        return ListStorage(name, self.size_bytes)


INFO = MechanismInfo(
    name="shareable-list",
    description="multiprocessing.shared_memory.ShareableList as a one-slot mailbox [sequence, "
                "message bytes], item get/set through its own API, semaphores signal; items "
                "up to 9,999,991 bytes",
    variants=VARIANTS,
    mechanism=ShareableListMechanism,
    why_not=WHY_NOT_SHARED,
    limit_reason=limit_reason,
)
