"""Peer-process lifecycle for one case: start, handshake, drive repeats, tear down.

Every wait in here is bounded and also watches every peer's sentinel, so a peer that
dies, raises or hangs ends the case with a reason instead of hanging the harness.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import signal
import time
from dataclasses import replace
from multiprocessing.connection import wait

import numpy as np

from ipcbench.core import patterns
from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.harness.shapes import SHAPES, shape_peers
from ipcbench.mechanisms import REGISTRY, load
from ipcbench.mechanisms.base import PeerFailed, RepeatOutcome, Workload
from ipcbench.payload.framing import SequenceError, Shares
from ipcbench.payload.spec import PayloadSpec
from ipcbench.payload.zerocopy import RegionPool, regions_for
from ipcbench.peer.group import start_group
from ipcbench.peer.main import PeerSpec, peer_main
from ipcbench.system import fdlimit, hygiene
from ipcbench.system.affinity import allowed_cpus, cpus_for_peer
from ipcbench.system.deadlines import (
    CaseTimeout,
    kill_forkserver,
    seconds_text,
    start_process,
)

# Segment names: "ipcb_<harness pid>_<tag>_<case serial>_<n>"; hygiene.py relies on it.
_case_serial = itertools.count()
_TERM_GRACE_S = 1.0  # after SIGTERM, before SIGKILL
_KILL_GRACE_S = 5.0  # after SIGKILL; only a wedged fork server makes this wait run out


def describe_exit(process: multiprocessing.process.BaseProcess) -> str:
    code = process.exitcode
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class CaseSession:
    """Context manager owning the peers and channels of one case."""

    def __init__(
        self, case: Case, workload: Workload, seed: int = 0, fault: Fault | None = None
    ) -> None:
        self.case = case
        self.workload = workload
        self.payload = PayloadSpec(case.size_bytes, seed, case.payload)
        self.fault = fault
        self.name_prefix = f"{hygiene.run_prefix()}{next(_case_serial)}_"
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.specs: list[PeerSpec] = []
        self.conns = []
        self.mechanism = None
        self.counter = None
        self.peer_cpus: list[tuple[int, ...]] = []  # affinity each peer reported
        self.pools: list[RegionPool] = []  # shm-view: one per sending peer
        self._barrier = None
        # workqueue: what the consumers of each repeat must hold between them
        self._shares = Shares(case.procs, workload.messages)

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self) -> CaseSession:
        try:
            self.start()
        except BaseException:
            self.close(graceful=False)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(graceful=exc_type is None)

    def start(self) -> None:
        case = self.case
        fdlimit.check(case.peer_count)  # before anything exists that would need undoing
        ctx = multiprocessing.get_context(case.start_method)
        # The channel moves wire-size messages (a shm-view descriptor is 64 bytes).
        self.mechanism = load(case.mechanism)(
            ctx, case.variant, self.payload.wire_bytes, self.name_prefix, depth=case.depth
        )
        peers = self._peers()
        if self.payload.info.shared_memory:
            peers = self._with_pools(ctx, peers)
        runner = REGISTRY[case.mechanism].in_process
        if runner:  # every peer a thread of one host process, which stands for each here
            self.specs += [spec for spec, _ in peers]
            self.conns += start_group(ctx, peers, runner, case.start_method,
                                      self.workload.start_deadline_s, self.processes)
        else:
            self._start_peers(ctx, peers)
        self.mechanism.after_start()
        self.peer_cpus = [r[0] for r in self._collect("ready", self.workload.start_deadline_s)]

    def _start_peers(self, ctx, peers: list[tuple[PeerSpec, object]]) -> None:
        case = self.case
        # Kept on the session: under spawn a child rebuilds the barrier's semaphores by
        # name after start() returned, and the parent's copy going away unlinks them.
        self._barrier = barrier = ctx.Barrier(len(peers))
        for spec, endpoint in peers:
            parent_end, child_end = ctx.Pipe(duplex=True)
            process = ctx.Process(
                target=peer_main,
                args=(spec, endpoint, child_end, barrier, os.getpid()),
                name=f"ipcbench-{spec.name}",
                daemon=True,  # ended by multiprocessing at a normal harness exit
            )
            # Kept before start: close() must see (and stop) it whether or not it started.
            self.processes.append(process)
            self.specs.append(spec)
            self.conns.append(parent_end)
            try:
                start_process(process, case.start_method, self.workload.start_deadline_s)
            finally:
                child_end.close()

    def _with_pools(self, ctx, peers: list[tuple[PeerSpec, object]]):
        """shm-view: a region pool for every peer that sends (the pattern's sender role,
        and both ends of a round trip), made and later unlinked here; every peer maps
        all of them, so a receiver can read whichever pool a descriptor names."""
        kind, size = self.case.kind, self.payload.size_bytes
        owner = {}
        for i, (spec, _) in enumerate(peers):
            if spec.role == kind.sender or kind.round_trip:
                owner[i] = len(self.pools)
                self.pools.append(RegionPool(ctx, f"{self.name_prefix}view{owner[i]}", size,
                                             regions_for(size)))
        pools = tuple(self.pools)
        return [(replace(spec, pools=pools, pool=owner.get(i, -1)), endpoint)
                for i, (spec, endpoint) in enumerate(peers)]

    def _peers(self) -> list[tuple[PeerSpec, object]]:
        case, checksum = self.case, self.payload.checksum()
        n = self.workload.messages
        cpus = allowed_cpus()
        serial = itertools.count()  # peer order = pinning order (see cpus_for_peer)

        def spec(role: str, index: int, messages: int, ends: int = 0,
                 fan: int = case.procs) -> PeerSpec:
            fault = self.fault.kind if self.fault and self.fault.applies_to(role, index) else ""
            pinned = cpus_for_peer(case.placement, next(serial), cpus)
            sends = role == kind.sender or kind is patterns.BIDIR  # bidir: both ends
            rate = case.rate_per_s if sends else 0
            return PeerSpec(role, index, messages, self.payload, checksum, fault, pinned,
                            fan=fan, rate_per_s=rate, ends=ends,
                            burst=case.burst if rate else 1)

        kind = case.kind
        if kind is patterns.PINGPONG:
            peers = []
            for i, (a, b) in enumerate(self.mechanism.pairs(case.procs)):
                peers += [(spec(kind.sender, i, n), a), (spec(kind.receiver, i, n), b)]
            return peers
        if kind is patterns.STREAM:
            senders, receiver = self.mechanism.stream(case.procs)
            peers = [(spec(kind.sender, i, n), ep) for i, ep in enumerate(senders)]
            return peers + [(spec(kind.receiver, 0, n * case.procs), receiver)]
        if kind is patterns.FANOUT:
            sender, receivers = self.mechanism.fan_out(case.procs)
            peers = [(spec(kind.sender, 0, n * case.procs), sender)]
            return peers + [(spec(kind.receiver, i, n), ep) for i, ep in enumerate(receivers)]
        if kind is patterns.WORKQUEUE:
            producers, consumers = case.procs, self.work_queue_consumers()
            senders, receivers = self.mechanism.work_queue(producers, consumers)
            # Producers: n messages then one END per consumer; consumers: as many
            # messages as they get (0 = not known), until one END per producer.
            peers = [(spec(kind.sender, i, n, ends=consumers), ep)
                     for i, ep in enumerate(senders)]
            return peers + [(spec(kind.receiver, i, 0, ends=producers), ep)
                            for i, ep in enumerate(receivers)]
        if kind in SHAPES:  # broadcast, pipeline, reqrep, bidir
            return shape_peers(kind, self.mechanism, case.procs, n, spec)
        self.counter = self.mechanism.counter()
        return [(spec(kind.sender, i, n), self.counter) for i in range(case.procs)]

    def work_queue_consumers(self) -> int:
        """Consumers of a workqueue case: as many as its procs producers (see
        patterns.WORKQUEUE). The project's tests override it for other shapes (1 x 3)."""
        return self.case.procs

    def close(self, graceful: bool = True) -> None:
        """Stop every peer (politely if `graceful`), escalate terminate -> kill, and free
        the mechanism's resources. Safe to call more than once.

        A signal during the polite part (its joins last up to 5 s) must not skip the
        rest: the segments would outlive the run (seen: an shm-view pool after SIGINT)."""
        try:
            if graceful:
                self._ask_to_stop()
        finally:
            self._release()

    def _ask_to_stop(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("stop",))
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))

    def _release(self) -> None:
        try:
            stuck = [p for p in self.processes if not _stop(p)]
            if stuck and self.case.start_method == "forkserver":
                # Killed, yet never reported dead: only a wedged fork server withholds a
                # child's exit status. It is ours; multiprocessing starts a new one.
                kill_forkserver()
        finally:
            # Names go whatever happened above (a live mapping outlives its name).
            pools, self.pools = self.pools, []
            for pool in pools:
                pool.unlink()
            for conn in self.conns:
                conn.close()
            self.conns = []
            self.processes = []
            if self.mechanism is not None:
                mechanism, self.mechanism = self.mechanism, None
                mechanism.close()

    # -- one repeat ---------------------------------------------------------------
    def run_repeat(self, index: int, messages: int | None = None) -> RepeatOutcome:
        """One repeat of `messages` per timing peer (None: the workload's; fewer for a
        short warm-up, peer/main.py's scaled "go")."""
        whole = self.workload.messages
        messages = whole if messages is None else messages
        if not 1 <= messages <= whole:
            raise ValueError(f"a repeat of {messages} messages: must be 1 to {whole}")
        go = ("go", index) if messages == whole else ("go", index, messages, whole)
        if self.counter is not None:
            with self.counter.get_lock():
                self.counter.value = 0
        for i, conn in enumerate(self.conns):
            try:
                conn.send(go)
            except OSError:  # its end is gone: the reason is the peer, not the pipe
                self._raise_dead(i)
        replies = self._collect("result", self.workload.repeat_deadline_s)
        outcome = self._outcome([r[0] for r in replies], [r[3] for r in replies], messages)
        return replace(
            outcome,
            cpu_s=float(sum(r[1] for r in replies)),
            ctx_switches=int(sum(r[2] for r in replies)),
        )

    def _outcome(self, replies: list[object], go_ns: list[int], each: int) -> RepeatOutcome:
        case, kind = self.case, self.case.kind
        if kind.round_trip:
            timing = [r for s, r in zip(self.specs, replies, strict=True)
                      if s.role == kind.timing_role]
            all_ns = np.concatenate(timing)
            # Pairs run concurrently: the repeat lasts as long as the slowest pair.
            duration_ns = int(max(s.sum() for s in timing))
            return RepeatOutcome(all_ns, int(all_ns.size), duration_ns)
        # One timing peer (the consumer, the distributor, incrementer #0) measured the
        # whole repeat on its own clock; receivers return their messages' latencies.
        timing_index = next(i for i, s in enumerate(self.specs) if s.role == kind.timing_role
                            and s.index == 0)
        messages = each * kind.delivered(case.procs)
        latencies = []
        if kind.open_loop and kind.timing_role == kind.receiver:  # stream, pipeline's sink
            duration_ns, consumer_latencies = replies[timing_index]
            latencies.append(consumer_latencies)
        elif kind is patterns.BIDIR:  # every peer receives; left #0 timed
            duration_ns = replies[timing_index][0]
            latencies += [peer_latencies for _, peer_latencies in replies]
        else:
            duration_ns = replies[timing_index]
            received = [r for s, r in zip(self.specs, replies, strict=True)
                        if s.role == kind.receiver]
            if kind is patterns.WORKQUEUE:
                latencies += self._work_queue_shares(received, messages, each)
            elif kind.open_loop:  # fanout, broadcast: every worker or subscriber
                latencies += received
        # The repeat began when the first peer left the start barrier, not when the timing
        # peer did: on a shared core a producer (or a fellow incrementer) the scheduler
        # ran first had done part of the work before the timing peer's clock started,
        # and sessions landed in two modes up to 2x apart by who ran first.
        duration_ns = int(duration_ns) + head_start_ns(go_ns, timing_index)
        if self.counter is not None:
            final = self.counter.value
            if final != messages:
                raise PeerFailed(f"shared counter ended at {final}, expected exactly {messages}")
        all_latencies = (np.concatenate(latencies).astype(np.int64) if latencies
                         else np.empty(0, dtype=np.int64))
        return RepeatOutcome(np.array([duration_ns / messages]), messages, duration_ns,
                             latencies_ns=all_latencies)

    def _work_queue_shares(self, received: list, messages: int,
                           each: int) -> list[np.ndarray]:
        """Exact accounting of a work queue: every message taken once, by whichever
        consumer got it (the counts add up, and together the consumers hold each
        producer's sequence numbers of this repeat exactly once); their latencies."""
        taken = [int(count) for count, _, _ in received]
        if sum(taken) != messages:
            raise PeerFailed(f"consumers took {sum(taken)} messages "
                             f"({' + '.join(map(str, taken))}), expected exactly {messages}")
        if self.payload.framed:
            try:
                self._shares.check([words for _, words, _ in received], "consumers", each)
            except SequenceError as exc:
                raise PeerFailed(str(exc)) from None
        return [latencies for _, _, latencies in received]

    def _collect(self, expected: str, deadline_s: float) -> list[object]:
        """Wait for one `expected` message from every peer, watching their sentinels."""
        replies: list[object] = [None] * len(self.conns)
        pending = dict(enumerate(self.conns))
        sentinels = {p.sentinel: i for i, p in enumerate(self.processes)}
        end = time.monotonic() + deadline_s
        while pending:
            remaining = end - time.monotonic()
            if remaining <= 0:
                names = ", ".join(self.specs[i].name for i in pending)
                raise CaseTimeout(f"deadline of {seconds_text(deadline_s)} passed waiting "
                                  f"for {names}")
            ready = wait(list(pending.values()) + list(sentinels), timeout=remaining)
            for i in [i for i, c in pending.items() if c in ready]:
                replies[i] = self._receive(i, expected)
                del pending[i]
            for sentinel in ready:
                if sentinel in sentinels:
                    self._raise_dead(sentinels[sentinel])
        return replies

    def _receive(self, i: int, expected: str) -> object:
        try:
            message = self.conns[i].recv()
        except (EOFError, OSError):
            self.processes[i].join(1.0)
            self._raise_dead(i)
        if message[0] == "error":
            raise PeerFailed(f"peer {self.specs[i].name} raised {message[1]}")
        if message[0] != expected:
            raise PeerFailed(
                f"peer {self.specs[i].name} sent {message[0]!r}, expected {expected!r}"
            )
        return message[1:]

    def _raise_dead(self, i: int) -> None:
        process = self.processes[i]
        # Peer i, or every peer of its in-process group (one host stands for them all).
        group = [j for j, p in enumerate(self.processes) if p is process]
        # A peer that raised sends its error just before exiting: prefer that reason.
        for j in group:
            try:
                message = self.conns[j].recv() if self.conns[j].poll() else None
            except (EOFError, OSError):
                continue
            if message and message[0] == "error":
                raise PeerFailed(f"peer {self.specs[j].name} raised {message[1]}")
        process.join(1.0)
        names = [self.specs[j].name for j in group]
        who = f"peer {names[0]}" if len(names) == 1 else f"the host of peers {', '.join(names)}"
        raise PeerFailed(f"{who} (pid {process.pid}) {describe_exit(process)}")


def head_start_ns(go_ns: list[int], timing_index: int) -> int:
    """Pure: how long before the timing peer the first peer left the start barrier (0
    when the timing peer was first)."""
    return max(0, int(go_ns[timing_index]) - int(min(go_ns)))


def _stop(process: multiprocessing.process.BaseProcess) -> bool:
    """Terminate -> kill escalation, every wait bounded; True once the process is known
    to have ended. Under forkserver the exit status comes from the fork server, so a
    wedged server makes is_alive() stay True: give up after the bounded waits."""
    try:
        if process.pid is None:
            return True  # its start failed: there is nothing to stop
        if process.is_alive():
            process.terminate()
        process.join(_TERM_GRACE_S)
        if process.is_alive():
            process.kill()  # also ends a SIGSTOPped peer
            process.join(_KILL_GRACE_S)
        return not process.is_alive()
    except (OSError, ValueError, EOFError):
        return False


# Peers build their message before they report ready: the start deadline grows with it.
START_BYTES_PER_S = 20e6


def derive_workload(case: Case, messages: int, deadline_s: float | None) -> Workload:
    """Deadlines grow with the work: generous enough for a slow, oversubscribed machine
    (1 ms per message, 10 MB/s), tight enough that a hang ends the case in seconds. A
    derived deadline is rounded up to whole seconds; a --deadline is kept as given (the
    CLI refuses one below the clock's resolution), never silently rounded."""
    given_s = deadline_s
    if deadline_s is None:
        per_repeat_messages = messages * case.procs
        volume_bytes = per_repeat_messages * case.kind.bytes_per_message(case.size_bytes)
        deadline_s = 10.0 + per_repeat_messages * 1e-3 + volume_bytes / 10e6
        if case.rate_per_s:  # a sender on a schedule takes messages / rate at least
            deadline_s += 2.0 * messages / case.rate_per_s
        deadline_s = math.ceil(deadline_s)
    start_s = (
        30.0 + 2.0 * case.peer_count if case.start_method != "fork" else 10.0 + case.peer_count
    )
    # Before "ready" every peer builds its message (random bytes, checksum; ~1 s per
    # GiB, several on a loaded machine): 20 MB/s per peer, one after another at worst.
    start_s += case.peer_count * case.size_bytes / START_BYTES_PER_S
    if given_s is not None:  # the user's bound governs every wait, the start too
        start_s = max(start_s, float(given_s))
    return Workload(messages, float(deadline_s), start_s)
