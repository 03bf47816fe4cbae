"""The 8-byte header every message carries: who sent it, its number, when it left.

Word 0 is `sender << 24 | sequence mod 2**24`, word 1 the send time in ns mod 2**32
(little-endian uint32 each). `time.perf_counter_ns` is CLOCK_MONOTONIC on Linux, one
clock for every process of the machine, so a receiver subtracts the sender's stamp from
its own clock and gets the one-way latency (valid while it stays below 2**32 ns = 4.3 s,
far beyond any deadline of a case).

The sequence makes every receiver check that it got exactly its messages, each once, in
order: a foreign, lost, duplicated or reordered message fails the case. Sequences run on
over the repeats of a session (the Wire keeps the count), so a stale message from an
earlier repeat cannot pass for a new one.

Pure: no clocks, no I/O. The timed loops in roles.py only pack and unpack.
"""

from __future__ import annotations

import struct

import numpy as np

HEADER = struct.Struct("<II")
HEADER_BYTES = HEADER.size
SEQUENCE_BITS = 24
SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1
STAMP_MASK = (1 << 32) - 1
MAX_SENDERS = 1 << (32 - SEQUENCE_BITS)


class SequenceError(RuntimeError):
    """A receiver got a message that is not the next one it expected."""


def tag(sender: int, sequence: int) -> int:
    """Header word 0 for message `sequence` of `sender`."""
    return (sender << SEQUENCE_BITS) | (sequence & SEQUENCE_MASK)


def one_way_ns(stamps: np.ndarray, arrived_ns: np.ndarray) -> np.ndarray:
    """Per-message latency: arrival (full ns) minus the 32-bit send stamp, mod 2**32."""
    arrived = np.asarray(arrived_ns, dtype=np.int64) & STAMP_MASK
    return (arrived - np.asarray(stamps, dtype=np.int64)) & STAMP_MASK


class Expected:
    """What one receiver must see: from each sender, sequences start, start+stride, ...

    A stream consumer expects every producer 0..n-1 from 0 with stride 1; fanout worker
    k expects the distributor (sender 0) from k with stride n (round-robin). `check`
    verifies one repeat's header words and advances the expectation."""

    def __init__(self, starts: dict[int, int], stride: int = 1) -> None:
        self.next = dict(starts)
        self.stride = stride

    def check(self, words: np.ndarray, where: str, each: int | None = None) -> None:
        """`each`: how many messages every sender must have sent in this repeat."""
        words = np.asarray(words, dtype=np.int64)
        senders = words >> SEQUENCE_BITS
        sequences = words & SEQUENCE_MASK
        foreign = sorted(set(np.unique(senders).tolist()) - self.next.keys())
        if foreign:
            raise SequenceError(f"{where}: message from unknown sender {foreign[0]} "
                                "(foreign data on the channel)")
        for sender, start in self.next.items():
            got = sequences[senders == sender]
            if each is not None and got.size != each:
                raise SequenceError(f"{where}: {got.size} messages from sender {sender}, "
                                    f"expected exactly {each}")
            want = (start + self.stride * np.arange(got.size)) & SEQUENCE_MASK
            bad = np.flatnonzero(got != want)
            if bad.size:
                i = int(bad[0])
                raise SequenceError(
                    f"{where}: from sender {sender} message {int(got[i])} where "
                    f"{int(want[i])} was due (lost, duplicated or reordered)")
            self.next[sender] = (start + self.stride * got.size) & SEQUENCE_MASK


class Shares:
    """A work queue's sequences: several consumers take whichever message is next, so
    each sees every producer's messages in increasing order with gaps, and together
    they hold each producer's messages of the repeat exactly once. `check` verifies one
    repeat (every consumer's header words) and moves on to the next."""

    def __init__(self, senders: int, each: int) -> None:
        self.next = dict.fromkeys(range(senders), 0)
        self.each = each

    def check(self, words_by_receiver: list[np.ndarray], where: str,
              each: int | None = None) -> None:
        """`each`: every producer's messages in this repeat (a short warm-up moves
        fewer); None = the count the Shares were made with."""
        each = self.each if each is None else each
        union: dict[int, list[np.ndarray]] = {sender: [] for sender in self.next}
        for words in words_by_receiver:
            words = np.asarray(words, dtype=np.int64)
            senders = words >> SEQUENCE_BITS
            foreign = sorted(set(np.unique(senders).tolist()) - self.next.keys())
            if foreign:
                raise SequenceError(f"{where}: message from unknown sender {foreign[0]} "
                                    "(foreign data on the channel)")
            for sender, start in self.next.items():
                offsets = ((words[senders == sender] & SEQUENCE_MASK) - start) & SEQUENCE_MASK
                if np.any(np.diff(offsets) <= 0):
                    raise SequenceError(f"{where}: messages of sender {sender} out of order "
                                        "for one consumer (duplicated or reordered)")
                union[sender].append(offsets)
        for sender, parts in union.items():
            got = np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
            if got.size != each or np.any(got != np.arange(each)):
                raise SequenceError(f"{where}: sender {sender}'s messages were not each taken "
                                    f"exactly once ({got.size} of {each}: lost or "
                                    "duplicated)")
            self.next[sender] = (self.next[sender] + each) & SEQUENCE_MASK
