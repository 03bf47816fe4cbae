"""Code that runs inside peer processes: one loop per role, driven by the harness.

Protocol on each peer's control pipe (harness <-> peer):
  peer -> ("ready", cpus)                 after attach(), once; cpus = affinity read back
  harness -> ("go", repeat_index)         start one repeat
  harness -> ("go", repeat_index, part, whole)
                                          start a shorter one (a warm-up): every peer
                                          moves part/whole of its messages (its count
                                          is a multiple of `whole`, so exactly)
  peer -> ("result", value, cpu_s, csw, go_ns)
                                          after the repeat (every peer answers), with
                                          the CPU seconds and context switches it cost
                                          and when it left the start barrier
  harness -> ("stop",)                    leave the loop, release, exit 0
  peer -> ("error", "Type: message")      an exception in the peer; it then exits 1

Within a repeat all peers meet at a barrier, so no clock starts until every peer is
awake and attached; the timing peer (pingpong initiator, stream consumer, fanout
distributor, workqueue producer 0, counter peer 0) takes every timestamp in its own
process. Every peer also reports when it left the barrier (`go_ns`, CLOCK_MONOTONIC, one
clock for every process): on a shared core the scheduler may run another peer first (a
producer filling the pipe, a fellow incrementer doing all its increments) before the
timing peer's clock starts, and the harness starts the repeat at the earliest of them.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace

from ipcbench.core.faults import BURN_CPU_S, SLOW_NS
from ipcbench.mechanisms.base import Endpoint
from ipcbench.payload.spec import PayloadSpec
from ipcbench.payload.wire import Wire
from ipcbench.peer.roles import BARRIER_TIMEOUT_S, ROLES
from ipcbench.system import heap


@dataclass(frozen=True)
class PeerSpec:
    role: str  # a key of roles.ROLES
    index: int
    messages: int  # per repeat: round trips, messages sent or received, increments
    payload: PayloadSpec
    checksum: int
    # Fault injection for the project's tests: what this peer does wrong (faults.FAULTS).
    fault: str = ""
    # CPUs to pin this peer to (placement); () = leave it to the scheduler.
    cpus: tuple[int, ...] = ()
    # shm-view payload: every sender's region pool (zerocopy.RegionPool), and which one
    # is this peer's own (-1: it only receives).
    pools: tuple = ()
    pool: int = -1
    # Peers on the other side: a stream consumer's producers, a fanout worker's fellow
    # workers (its share is every fan-th message). Sequence checks need it.
    fan: int = 1
    # Open loop: messages per second this sender keeps to (0: as fast as it can).
    rate_per_s: float = 0.0
    burst: int = 1  # open loop: messages per tick of the schedule
    # workqueue: END markers to send after the messages (enqueuer: one per consumer) or
    # to wait for (dequeuer: one per producer); 0 for every other role.
    ends: int = 0

    @property
    def name(self) -> str:
        return f"{self.role}#{self.index}"


def _linux_setup(spec: PeerSpec) -> None:
    """Ask Linux to SIGKILL this peer when the harness dies, so none outlives it, name
    the process after its role so `ps`/`top` show what each peer is, and keep its heap
    steady (heap.py)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            heap.set_steady(libc)
            pr_set_pdeathsig, pr_set_name = 1, 15
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
            libc.prctl(pr_set_name, f"ipcb-{spec.role[:5]}{spec.index}".encode()[:15], 0, 0, 0)
            if spec.rate_per_s > 0:
                # A sender on a schedule sleeps between messages; the default 50 µs
                # timer slack would make every wake-up late by up to that much.
                pr_set_timerslack = 29
                libc.prctl(pr_set_timerslack, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass


class _FaultyEndpoint:
    """An endpoint that misbehaves on send (the faults below); receives are the real
    endpoint's."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def recv(self):
        return self.endpoint.recv()

    @property
    def carries_objects(self) -> bool:
        return getattr(self.endpoint, "carries_objects", False)


class _KillMidway(_FaultyEndpoint):
    """The 'kill' fault: SIGKILL this peer after `after` sends."""

    def __init__(self, endpoint: Endpoint, after: int) -> None:
        super().__init__(endpoint)
        self.left = after

    def send(self, payload) -> None:
        self.endpoint.send(payload)
        self.left -= 1
        if self.left <= 0:
            os.kill(os.getpid(), signal.SIGKILL)


class _Misdeliver(_FaultyEndpoint):
    """The 'duplicate' and 'drop' faults: the peer's message `at` (in its first repeat)
    is sent twice, or silently not at all; the receiver's sequence check (or, for a
    drop, the deadline) must end the case."""

    def __init__(self, endpoint: Endpoint, at: int, copies: int) -> None:
        super().__init__(endpoint)
        self.at = at
        self.copies = copies
        self.count = 0

    def send(self, payload) -> None:
        copies = self.copies if self.count == self.at else 1
        self.count += 1
        for _ in range(copies):
            self.endpoint.send(payload)


class _Slow(_FaultyEndpoint):
    """The 'slow' fault: spin SLOW_NS before every send, a fixed cost per message (a
    ping-pong round trip of 15 us becomes 20 us)."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.spun = 0  # sends delayed, for the tests

    def send(self, payload) -> None:
        until = time.perf_counter_ns() + SLOW_NS
        while time.perf_counter_ns() < until:
            pass
        self.spun += 1
        self.endpoint.send(payload)


def _watch_harness(harness_pid: int) -> None:
    """Under forkserver our parent is the fork server, not the harness: poll instead."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(harness_pid, 0)
            except ProcessLookupError:
                os._exit(1)

    threading.Thread(target=watch, name="ipcbench-harness-watch", daemon=True).start()


def peer_main(spec: PeerSpec, endpoint, control, barrier, harness_pid: int) -> None:
    _linux_setup(spec)
    if os.getppid() != harness_pid:
        _watch_harness(harness_pid)
    if spec.cpus:
        os.sched_setaffinity(0, spec.cpus)
    # Ctrl-C goes to the whole process group; the harness decides what happens,
    # a peer must not die half-way through a message on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(spec, endpoint, control, barrier)


def serve(spec: PeerSpec, endpoint, control, barrier, usage=None, role=None) -> None:
    """The peer's protocol (module doc) from attach to release, in whatever runs it: a
    peer process (peer_main), or a thread of an in-process group (group.py), which
    passes `usage` measuring its own thread and, for a peer that runs in a
    subinterpreter, `role` in place of its ROLES entry (mechanisms/interp_queue.py). Any
    exception is reported on `control`, then the whole process exits 1 (a group fails as
    one, as a peer would)."""
    usage, role = usage or _usage, role or ROLES[spec.role]
    try:
        carries_objects = getattr(endpoint, "carries_objects", False)
        wire = Wire(spec.payload, spec.checksum, carries_objects, spec.pools, spec.pool,
                    corrupt=spec.fault == "corrupt", sender=spec.index)
        if isinstance(endpoint, Endpoint):
            endpoint.attach()
        channel = endpoint
        if spec.fault == "kill" and isinstance(endpoint, Endpoint):
            channel = _KillMidway(endpoint, max(1, spec.messages // 2))
        if spec.fault in ("duplicate", "drop") and isinstance(endpoint, Endpoint):
            copies = 2 if spec.fault == "duplicate" else 0
            channel = _Misdeliver(endpoint, max(1, spec.messages // 2), copies)
        if spec.fault == "slow" and isinstance(endpoint, Endpoint):
            channel = _Slow(endpoint)
        # Report the affinity actually in force, read back, not the one requested.
        control.send(("ready", _affinity()))
        while True:
            command = control.recv()
            if command[0] == "stop":
                break
            repeat_spec = spec if len(command) < 4 else _scaled(spec, *command[2:4])
            barrier.wait(BARRIER_TIMEOUT_S)
            go_ns = time.perf_counter_ns()
            before = usage()
            _inject(spec.fault)
            value = role(repeat_spec, channel, wire, barrier)
            cpu_s, switches = (a - b for a, b in zip(usage(), before, strict=True))
            control.send(("result", value, cpu_s, switches, go_ns))
        wire.close()
        if isinstance(endpoint, Endpoint):
            endpoint.close()
    except BaseException as exc:  # report anything, then exit non-zero
        try:
            control.send(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            os._exit(1)


def _scaled(spec: PeerSpec, part: int, whole: int) -> PeerSpec:
    """This peer's spec for a repeat of `part` messages where a timed repeat has
    `whole` (per timing peer): every peer's count is a multiple of the workload's (a
    stream consumer takes every producer's, a fan-out distributor sends every
    worker's; 0 = until the END markers), so each scales exactly and the peers agree."""
    if spec.messages % whole:
        raise ValueError(f"{spec.name}: {spec.messages} messages a repeat is not a "
                         f"multiple of {whole}")
    return replace(spec, messages=spec.messages // whole * part)


def _affinity() -> tuple[int, ...]:
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return ()


def _usage(who: int = resource.RUSAGE_SELF) -> tuple[float, int]:
    """CPU seconds (user + system, all threads: a Queue's feeder thread counts) and
    context switches (voluntary + involuntary) of this process so far (or of the
    calling thread only, with RUSAGE_THREAD)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime, usage.ru_nvcsw + usage.ru_nivcsw


def _inject(fault: str) -> None:
    if fault == "raise":
        raise RuntimeError("injected fault")
    if fault == "hang":
        while True:
            time.sleep(3600)
    if fault == "exit":
        os._exit(3)
    if fault == "burn":
        end = time.process_time() + BURN_CPU_S
        while time.process_time() < end:
            pass


