"""Busy-polled rings (the `ringN-spin` variants): the latency floor of Python IPC.

Same ring and layout as handoff.py, but no semaphore is ever touched: each side spins on
the slot's sequence word in shared memory. A slot's word says where it is in its cycle:
  0            never written
  k+1          holds message k (written by the sender after the payload)
  (k+1) | BIT  message k was copied out by the receiver: the slot is free again
So the sender of message k waits for slot (k mod N) to read 0 (first lap) or
(k-N+1) | BIT, and the receiver waits for k+1; any other value is a SequenceError.

Why this is correct without fences: x86 keeps stores in program order and never moves a
store before an earlier load (total store order), so the payload is visible before the
word that publishes it, and the copy out is finished before the word that frees the slot.
Python cannot issue a fence, so the matrix runs these variants only on x86 (and only where
every peer has its own CPU: spinning on a shared CPU burns the time its partner needs).

A spinning peer must not outlive its partner: every LIVENESS_SPINS polls it checks that
the partner's process (pid recorded in shared memory at attach) still runs, and raises
PartnerGone otherwise. The harness watches sentinels and deadlines too; this makes the
spinner itself give up instead of burning a CPU until it is killed.
"""

from __future__ import annotations

import os

from ipcbench.mechanisms.handoff import SequenceError, Slot, SlotEndpoint
from ipcbench.system.deadlines import process_ended

FREED_BIT = 1 << 63
# Polls between liveness checks: about a millisecond of spinning in CPython.
LIVENESS_SPINS = 1 << 14
_SENDER, _RECEIVER = 0, 1


class PartnerGone(RuntimeError):
    """The process at the other end of a busy-polled channel has ended."""


class SpinSlot(Slot):
    """A ring plus the pids of its two ends ([sender, receiver], 0 = not attached yet),
    so a spinning peer can tell a slow partner from a dead one."""

    def __init__(self, ctx, storage) -> None:
        super().__init__(ctx, storage)
        self.pids = ctx.RawArray("q", 2)


def sender_states(sent: int, slots: int) -> tuple[int, int]:
    """(free, still busy): the words of the slot message `sent` goes to, when it may be
    written and while the receiver still has to copy out message sent - slots."""
    if sent < slots:
        return 0, 0
    previous = sent - slots + 1
    return previous | FREED_BIT, previous


def receiver_states(received: int, slots: int) -> tuple[int, int]:
    """(ready, not yet): the words of the slot message `received` arrives in."""
    if received < slots:
        return received + 1, 0
    return received + 1, (received - slots + 1) | FREED_BIT


class SpinEndpoint(SlotEndpoint):
    """A SlotEndpoint that busy-polls the sequence words instead of waiting on semaphores."""

    def attach(self) -> None:
        super().attach()
        if self.outbox is not None:
            self.outbox.pids[_SENDER] = os.getpid()
        for slot in self.inboxes:
            slot.pids[_RECEIVER] = os.getpid()
        # memoryview indexing is several times cheaper than numpy's in the polling loop.
        self._out_words = [memoryview(seq) for seq in self._out_seqs]
        self._in_words = [[memoryview(seq) for seq in seqs] for seqs in self._in_seqs]
        self._pidfds: dict[int, int] = {}

    def _send_chunk(self, chunk) -> None:
        ring = len(self._out_words)
        word = self._out_words[self._sent % ring]
        free, busy = sender_states(self._sent, ring)
        spins = 0
        while word[0] != free:
            spins += 1
            if spins == LIVENESS_SPINS:
                spins = 0
                self._check(self.outbox, _RECEIVER, word[0], (free, busy))
        self._write(chunk)  # the payload, then the word that publishes it

    def _recv_chunk(self, wanted: int | None, offset: int) -> int:
        """Poll for the next chunk of channel `wanted` (None: of any channel)."""
        words, received = self._in_words, self._received
        index = self._next if wanted is None else wanted
        count, spins = len(words), 0
        while True:
            ring = words[index]
            if ring[received[index] % len(ring)][0] == received[index] + 1:
                break
            if wanted is None:
                index = index + 1 if index + 1 < count else 0
            spins += 1
            if spins == LIVENESS_SPINS:
                spins = 0
                for i, slot in enumerate(self.inboxes):
                    ring = words[i]
                    word = ring[received[i] % len(ring)][0]
                    self._check(slot, _SENDER, word, receiver_states(received[i], len(ring)))
        # Round-robin start after the last served channel, so no producer is starved.
        self._next = index + 1 if index + 1 < count else 0
        self._read(index, offset)  # checks the sequence and copies out
        position = (received[index] - 1) % len(words[index])
        words[index][position][0] = received[index] | FREED_BIT  # the slot is free again
        return index

    def _check(self, slot: SpinSlot, partner: int, word: int, states: tuple[int, int]) -> None:
        """Between polls: a word no protocol step can produce is an error, and so is a
        partner that has ended."""
        if word not in states:
            raise SequenceError(f"busy-polled slot holds {word:#x}, expected "
                                f"{states[0]:#x} or {states[1]:#x}")
        pid = int(slot.pids[partner])
        if pid and process_ended(pid, self._pidfds):
            role = "receiver" if partner == _RECEIVER else "sender"
            raise PartnerGone(f"the {role} (pid {pid}) ended while this peer was busy-polling")

    def close(self) -> None:
        self._out_words, self._in_words = [], []
        for fd in getattr(self, "_pidfds", {}).values():
            os.close(fd)
        self._pidfds = {}
        super().close()
