"""One MPI rank of an `mpi` case: `mpiexec -n N python -m ipcbench.peer.mpi_rank SPEC`,
started by the harness's MpiSession (mechanisms/mpi.py), never by hand.

Rank 0 is the timing rank (the first ping, or the stream's consumer) and the only one
that talks to the harness: it connects back over the unix socket the session listens
on (authenticated with the per-case key in IPCBENCH_MPI_KEY), says ready once every
rank has pinned itself, built its buffers and passed a barrier, and then, for every
("go", index, messages) from the harness, broadcasts it to all ranks, runs the repeat
and sends back the timings; ("stop",) or EOF on that socket ends every rank (a harness
that died leaves no rank behind: EOF, then MPI_Abort).

Patterns (SPEC's JSON: pattern, variant, size_bytes, procs, cpus per rank, seed, fault):
- pingpong, ranks 2i <-> 2i+1: the even rank sends, the odd one echoes what it got,
  every round trip timed at the even rank (osu_latency's loop, whose one-way figure is
  half this round trip);
- stream, ranks 1..N -> rank 0: the consumer times from a barrier to its last message
  (osu_bw's direction, without its window of nonblocking sends).
Variants: `buffer` = Send/Recv of a numpy buffer (no pickling), `pickle` = send/recv of
a bytes object (pickled by mpi4py), `window` = the message written into the sender's
slice of a shared-memory window (Win.Allocate_shared) and copied out by the receiver,
a zero-byte Send/Recv saying it is there (Win.Sync either side for memory order).

Verification, every message: the first 8 bytes carry its sequence number (messages of
8 bytes or more), its length is checked, and the last message of a repeat is compared
whole (CRC-32) with what the sender built.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
import zlib
from multiprocessing.connection import Client

import numpy as np

KEY_ENV = "IPCBENCH_MPI_KEY"
ADDRESS_ENV = "IPCBENCH_MPI_ADDRESS"
_SEQ_BYTES = 8
# Window notifications: "your message is in my slice" and, for a stream, "I copied it
# out, you may write the next" (a sender must not overwrite a slice still being read).
_TAG_DATA, _TAG_ACK = 1, 2


def _parent_death_guard() -> None:
    """SIGKILL this rank when its parent (mpiexec's proxy) dies."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class Rank:
    def __init__(self, spec: dict) -> None:
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.spec = spec
        self.size = int(spec["size_bytes"])
        self.variant = spec["variant"]
        self.pattern = spec["pattern"]
        rng = np.random.default_rng(int(spec["seed"]))
        self.payload = rng.integers(0, 256, self.size, dtype=np.uint8)
        self.inbox = np.empty(self.size, dtype=np.uint8)
        self.fault = spec["fault"] if spec.get("fault_rank") == self.rank else ""
        self.win = None
        self.acks = self.pattern == "stream"  # window: a slice per sender, one message
        self._unacked: set[int] = set()
        if self.variant == "window":
            self._make_window()

    # -- the shared window (variant `window`) ------------------------------------------
    def _make_window(self) -> None:
        MPI = self.MPI
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        if node.Get_size() != self.comm.Get_size():
            raise RuntimeError("window: every rank must share one node's memory")
        self.win = MPI.Win.Allocate_shared(self.size, 1, comm=node)
        self.win.Lock_all()  # passive target for the whole run; Sync orders the copies

    def _slice(self, rank: int) -> np.ndarray:
        buffer, _ = self.win.Shared_query(rank)
        return np.frombuffer(buffer, dtype=np.uint8, count=self.size)

    # -- one message -----------------------------------------------------------------
    def _stamp(self, seq: int) -> np.ndarray:
        if self.size >= _SEQ_BYTES:
            self.payload[:_SEQ_BYTES] = np.frombuffer(seq.to_bytes(8, "little"), np.uint8)
        return self.payload

    def _check(self, message: np.ndarray, seq: int, source: int) -> None:
        if message.size != self.size:
            raise RuntimeError(f"rank {self.rank}: message of {message.size} bytes from "
                               f"rank {source}, expected {self.size}")
        if self.size >= _SEQ_BYTES:
            got = int.from_bytes(message[:_SEQ_BYTES].tobytes(), "little")
            if got != seq:
                raise RuntimeError(f"rank {self.rank}: message {got} from rank {source}, "
                                   f"expected {seq} (lost, duplicated or reordered)")

    def send(self, data: np.ndarray, dest: int) -> None:
        if self.fault == "corrupt":
            data = data.copy()
            data[-1] ^= 0xFF
        if self.variant == "buffer":
            self.comm.Send([data, self.MPI.BYTE], dest=dest, tag=_TAG_DATA)
        elif self.variant == "pickle":
            self.comm.send(data.tobytes(), dest=dest, tag=_TAG_DATA)  # bytes, pickled
        else:
            if dest in self._unacked:  # the receiver still reads the previous one
                self.comm.Recv([bytearray(0), self.MPI.BYTE], source=dest, tag=_TAG_ACK)
            np.copyto(self._slice(self.rank), data)
            self.win.Sync()
            self.comm.Send([b"", self.MPI.BYTE], dest=dest, tag=_TAG_DATA)
            if self.acks:
                self._unacked.add(dest)

    def recv(self, source: int) -> tuple[np.ndarray, int]:
        """The message, in this rank's own buffer, and the rank it came from."""
        MPI = self.MPI
        status = MPI.Status()
        if self.variant == "buffer":
            self.comm.Recv([self.inbox, MPI.BYTE], source=source, tag=_TAG_DATA, status=status)
            return self.inbox[:status.Get_count(MPI.BYTE)], status.Get_source()
        if self.variant == "pickle":
            data = self.comm.recv(source=source, tag=_TAG_DATA, status=status)
            return np.frombuffer(data, dtype=np.uint8), status.Get_source()
        self.comm.Recv([bytearray(0), MPI.BYTE], source=source, tag=_TAG_DATA, status=status)
        sender = status.Get_source()
        self.win.Sync()
        np.copyto(self.inbox, self._slice(sender))
        if self.acks:
            self.win.Sync()  # the copy is done before the sender may write again
            self.comm.Send([b"", MPI.BYTE], dest=sender, tag=_TAG_ACK)
        return self.inbox, sender

    # -- one repeat ----------------------------------------------------------------------
    def repeat(self, messages: int, first_seq: int):
        """This rank's part of a repeat: (per round trip ns) for a ping, (duration ns,)
        for the consumer, () for the others; CPU seconds beside it."""
        kill_at = messages // 2 if self.fault == "kill" else -1
        cpu_before = time.process_time()
        self.comm.Barrier()
        if self.pattern == "pingpong":
            result = self._pingpong(messages, first_seq, kill_at)
        else:
            result = self._stream(messages, first_seq, kill_at)
        return result, time.process_time() - cpu_before

    def _maybe_die(self, i: int, kill_at: int) -> None:
        if i == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def _pingpong(self, messages: int, first_seq: int, kill_at: int):
        partner = self.rank ^ 1
        if self.rank % 2:  # the echo
            for i in range(messages):
                self._maybe_die(i, kill_at)
                message, _ = self.recv(partner)
                self._check(message, first_seq + i, partner)
                self.send(message, partner)
            return np.empty(0, dtype=np.int64)
        samples = np.empty(messages, dtype=np.int64)
        for i in range(messages):
            self._maybe_die(i, kill_at)
            seq = first_seq + i
            start = time.perf_counter_ns()
            self.send(self._stamp(seq), partner)
            message, _ = self.recv(partner)
            samples[i] = time.perf_counter_ns() - start
            self._check(message, seq, partner)
        self._check_whole(message)
        return samples

    def _stream(self, messages: int, first_seq: int, kill_at: int):
        if self.rank:  # a producer
            for i in range(messages):
                self._maybe_die(i, kill_at)
                self.send(self._stamp(first_seq + i), 0)
            return np.empty(0, dtype=np.int64)
        producers = self.comm.Get_size() - 1
        next_seq = dict.fromkeys(range(1, producers + 1), first_seq)
        start = time.perf_counter_ns()
        for _ in range(messages * producers):
            message, source = self.recv(self.MPI.ANY_SOURCE)
            self._check(message, next_seq[source], source)
            next_seq[source] += 1
        duration_ns = time.perf_counter_ns() - start
        self._check_whole(message)
        return np.array([duration_ns], dtype=np.int64)

    def _check_whole(self, message: np.ndarray) -> None:
        """The last message, byte for byte (CRC-32), against the payload as built with
        its sequence number: every sender's buffer holds the same bytes."""
        expected = self.payload.copy()
        if self.size >= _SEQ_BYTES:
            expected[:_SEQ_BYTES] = message[:_SEQ_BYTES]
        if zlib.crc32(message) != zlib.crc32(expected):
            raise RuntimeError(f"rank {self.rank}: PayloadMismatch: checksum "
                               f"{zlib.crc32(message):#010x}, expected "
                               f"{zlib.crc32(expected):#010x}")

    def close(self) -> None:
        if self.win is not None:
            self.win.Unlock_all()
            self.win.Free()


def _serve(rank: Rank, conn) -> None:
    comm = rank.comm
    seq = 0
    while True:
        command = None
        if rank.rank == 0:
            command = conn.recv() if conn.poll(None) else ("stop",)
        command = comm.bcast(command, root=0)
        if command[0] != "go":
            return
        _, _index, messages = command
        result, cpu_s = rank.repeat(messages, seq)
        seq += messages
        gathered = comm.gather((rank.rank, result, cpu_s), root=0)
        if rank.rank == 0:
            conn.send(("result", [(r, a.tobytes()) for r, a, _ in gathered],
                       sum(c for _, _, c in gathered)))


def main(argv: list[str]) -> int:
    _parent_death_guard()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    spec = json.loads(argv[0])
    rank_number = int(os.environ.get("PMI_RANK", "0"))
    cpus = spec["cpus"][rank_number] if spec["cpus"] else []
    if cpus:
        os.sched_setaffinity(0, cpus)
    conn = None
    try:
        rank = Rank(spec)
        if rank.rank == 0:
            conn = Client(os.environ[ADDRESS_ENV], family="AF_UNIX",
                          authkey=bytes.fromhex(os.environ[KEY_ENV]))
        rank.comm.Barrier()  # every rank pinned, built and connected: the handshake
        if conn is not None:
            conn.send(("ready", os.getpid()))
        _serve(rank, conn)
        rank.close()
        return 0
    except EOFError:  # the harness went away: take every rank down with this one
        from mpi4py import MPI

        MPI.COMM_WORLD.Abort(3)
        return 3
    except Exception as exc:  # named to the harness, then every rank is taken down
        if conn is not None:
            try:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
            except OSError:
                pass
        print(f"ipcbench mpi rank {rank_number}: {type(exc).__name__}: {exc}", file=sys.stderr)
        from mpi4py import MPI

        MPI.COMM_WORLD.Abort(2)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
