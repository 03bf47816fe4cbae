"""The `shm-view` payload: zero-copy on the receiving side, with new data every message.

Every peer that sends owns a RegionPool: a ring of regions in one shared segment, created
and unlinked by the harness, one semaphore per region saying it is free. For message k a
sender waits for region (k mod R), writes the message into it (a memcpy of the payload,
as a producer that builds its array in shared memory would) and stamps k into its first 8
bytes, so no two messages in a row are alike. The channel then carries only a 64-byte
descriptor (sequence, pool, region). The receiver reads every byte of the region in place
(a 64-bit word sum, not a copy), checks stamp and sum, and releases the region.

So per message one payload copy goes in and none comes out, and `bytes_per_s` means
payload made available to the receiver, read once: it is bounded by the memory system
(compare with the run's memcpy at the same size), never a descriptor rate dressed as
bandwidth. A receiver may release regions in any order (fanout workers do), hence a
semaphore per region rather than one counting semaphore per pool.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from ipcbench.core.payload_kinds import DESCRIPTOR_BYTES
from ipcbench.payload.spec import PayloadMismatch
from ipcbench.system.segments import OwnedSegment

REGIONS = 8
# Pools stay below this, so big messages get fewer regions (never fewer than 2, or the
# sender could not write while the receiver reads).
POOL_CAP_BYTES = 64 << 20
STAMP_BYTES = 8
_ALIGN_BYTES = 64  # regions start on cache lines (and 8-byte words for the sum)
# sequence, pool, region, then the message header words (framing.py)
_DESCRIPTOR = struct.Struct(f"<QIIII{DESCRIPTOR_BYTES - 24}x")
_WORD_MASK = (1 << 64) - 1


def regions_for(size_bytes: int) -> int:
    return max(2, min(REGIONS, POOL_CAP_BYTES // max(size_bytes, 1)))


def word_sum(data: np.ndarray) -> int:
    """Sum mod 2**64 of the little-endian 64-bit words of `data` plus its tail bytes:
    reads every byte at memory speed (a CRC-32 here would measure the CRC, not the
    transfer)."""
    whole = data.size // 8 * 8
    total = int(np.add.reduce(data[:whole].view(np.uint64), dtype=np.uint64))
    return (total + int(data[whole:].sum(dtype=np.uint64))) & _WORD_MASK


class RegionPool:
    """One sender's ring of shared regions (see the module doc)."""

    def __init__(self, ctx, name: str, size_bytes: int, regions: int) -> None:
        self.name = name
        self.size_bytes = size_bytes
        self.regions = regions
        self.stride_bytes = -(-size_bytes // _ALIGN_BYTES) * _ALIGN_BYTES
        self.free = [ctx.Semaphore(1) for _ in range(regions)]
        self.segment = OwnedSegment(name, self.stride_bytes * regions)

    def attach(self) -> None:
        self.segment.attach()

    def views(self) -> list[np.ndarray]:
        buffer = self.segment.buf
        return [np.ndarray(self.size_bytes, np.uint8, buffer=buffer,
                           offset=i * self.stride_bytes) for i in range(self.regions)]

    def close(self) -> None:
        self.segment.close()

    def unlink(self) -> None:
        """Owner (the harness) only, after every peer ended."""
        self.segment.unlink()


class InPlace:
    """A peer's side of shm-view: writes its messages into its own pool (`own`, -1 for a
    peer that only receives) and reads everyone else's in place."""

    def __init__(self, pools: Sequence[RegionPool], own: int, content: bytes) -> None:
        if len(content) < STAMP_BYTES:
            raise ValueError(f"shm-view needs at least {STAMP_BYTES} bytes per message")
        self.pools = list(pools)
        self.own = own
        for pool in self.pools:
            pool.attach()
        self._views = [pool.views() for pool in self.pools]
        self._content = np.frombuffer(content, dtype=np.uint8)
        # The sum every message must have, less its stamp (which replaces word 0).
        first = int.from_bytes(content[:STAMP_BYTES], "little")
        self._sum_without_stamp = (word_sum(self._content) - first) & _WORD_MASK
        self._sent = 0
        self.received = 0
        # Last sequence read from each pool: a pool's messages reach any one receiver in
        # increasing order (with gaps under fanout), so a repeat or step back is an error.
        self._last = [0] * len(self.pools)

    def write(self, word: int = 0, stamp: int = 0) -> bytes:
        """Fill the next region with a new message; return its descriptor, which carries
        the message header (`word`, `stamp`)."""
        pool, views = self.pools[self.own], self._views[self.own]
        region = self._sent % pool.regions
        self._sent += 1
        pool.free[region].acquire()  # its last reader has released it
        view = views[region]
        np.copyto(view, self._content)
        view[:STAMP_BYTES].view(np.uint64)[0] = self._sent
        return _DESCRIPTOR.pack(self._sent, self.own, region, word, stamp)

    def read(self, message) -> tuple[int, int]:
        """Read the described region in place, check stamp and sum, release it; return
        the message header the descriptor carries."""
        sequence, pool, region, word, stamp_ns = _DESCRIPTOR.unpack_from(message)
        if sequence <= self._last[pool]:
            raise PayloadMismatch(f"pool {pool}: message {sequence} after {self._last[pool]} "
                                  "(duplicated or reordered)")
        self._last[pool] = sequence
        view = self._views[pool][region]
        stamp = int(view[:STAMP_BYTES].view(np.uint64)[0])
        total = word_sum(view)
        self.pools[pool].free[region].release()
        if stamp != sequence:
            raise PayloadMismatch(f"region {pool}/{region}: stamp {stamp}, descriptor says "
                                  f"message {sequence} (stale or foreign data)")
        if total != (self._sum_without_stamp + sequence) & _WORD_MASK:
            raise PayloadMismatch(f"region {pool}/{region}: message {sequence} has the "
                                  "wrong content (word sum differs)")
        self.received += 1
        return word, stamp_ns

    def close(self) -> None:
        self._views = []  # views go before the mappings (BufferError otherwise)
        for pool in self.pools:
            pool.close()
