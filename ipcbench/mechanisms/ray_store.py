"""Ray's object store (optional extra `ipcbench[ray]`): numpy arrays passed between Ray
actors on this node.

A message: the sending actor `ray.put`s its array (serialised into the node's shared
object store), passes the ObjectRef to the receiving actor inside an actor call (the
ref nested in a list, so the receiver resolves it itself), and the receiver `ray.get`s
it (a read-only view of the store) and copies it into its own array (receiver-private
memory, as every mechanism's recv() ends). That is how an ObjectRef travels between
two actors: there is no channel without an actor call.

What is timed, always inside the actors (the harness, Ray's driver, only starts repeats
and collects the results, outside every clock):
- pingpong: on the initiating actor's clock, each round trip: put, the echo call carrying
  the ref, the echo actor's get + copy + put of its copy, the reply carrying that ref,
  get + copy. Every round trip is a sample.
- stream (N producers -> 1 consumer) / fanout (1 -> N, round-robin): from the earliest
  sender's first put to the latest receiver's copy of its last message (both clocks are
  CLOCK_MONOTONIC, one clock for the whole machine). A sender keeps at most `window`
  messages in flight (put, not yet taken), at most RING_SLOTS and a quarter of the store,
  so the store never fills and spills to disk.
Every message's length is checked, every receiver's count is exact, and the last
message of every repeat is checked by CRC-32 in the receiver.

Ray starts once per run, lazily at the first ray case, and stops at the run's end
(INFO.end_run, called by the runner), both bounded (ray_runtime.py): a 256 MB object store, no
dashboard, the node addressed as 127.0.0.1, its session folder named with the run's
prefix. Each session starts fresh actors (Ray worker processes, pinned per the placement;
Ray's own daemons are not pinned) and kills them at its end (bounded). Their CPU time,
and that of Ray's daemons (the object store lives in the raylet), is the row's CPU cost,
and is not counted as other load on the machine (helper_cpu_s).
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import replace

import numpy as np
import psutil

from ipcbench.core import patterns
from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.mechanisms.base import RING_SLOTS, PeerFailed, RepeatOutcome, Workload
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant
from ipcbench.mechanisms.ray_runtime import (
    STOP_S,
    STORE_BYTES,
    cpu_of,
    kill,
    ray_processes,
    remote_class,
    start_runtime,
    stop_runtime,
)
from ipcbench.payload.spec import PayloadMismatch, PayloadSpec, verify
from ipcbench.system.affinity import allowed_cpus, cpus_for_peer
from ipcbench.system.deadlines import CaseTimeout, call_within, seconds_text

_GET_GRACE_S = 5.0  # past Ray's own timeout of a get (which normally ends it)
_PROTOCOL = 5


# -- inside the actors --------------------------------------------------------------------
class Peer:
    """One peer of a case, run as a Ray actor (ray.remote is applied when a session
    starts, so this module imports without Ray)."""

    def __init__(self, cpus: tuple[int, ...], payload: PayloadSpec, checksum: int) -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        self.value = payload.value()
        self.size_bytes = payload.size_bytes
        self.checksum = checksum
        # The receiver's own array, touched now so no page fault lands in a timed repeat.
        self.private = np.zeros_like(self.value)
        self.count = 0
        self.last_ns = 0

    def ready(self) -> tuple[int, tuple[int, ...]]:
        return os.getpid(), tuple(sorted(os.sched_getaffinity(0)))

    def _take(self, array) -> None:
        if array.nbytes != self.private.nbytes:
            raise PayloadMismatch(f"received {array.nbytes} bytes of array, expected "
                                  f"{self.private.nbytes}")
        np.copyto(self.private, array)

    def _check(self, where: str) -> None:
        # The sender's array pickled in-band is the payload (payload/spec.py); our copy is
        # writable like it, so it pickles to the same bytes when it arrived intact.
        # The checksum is of the array's pickle (payload.PayloadSpec.checksum); its length
        # is a few bytes under size_bytes, which counts the message header it has on
        # the other channels.
        data = pickle.dumps(self.private, protocol=_PROTOCOL)
        verify(data, len(data), self.checksum, where)

    # pingpong
    def ping(self, partner, messages: int) -> np.ndarray:
        import ray

        samples_ns = np.empty(messages, dtype=np.int64)
        clock = time.perf_counter_ns
        for i in range(messages):
            start = clock()
            [reply] = ray.get(partner.echo.remote([ray.put(self.value)]))
            self._take(ray.get(reply))
            samples_ns[i] = clock() - start
        self._check("echo")
        return samples_ns

    def echo(self, boxed: list):
        import ray

        self._take(ray.get(boxed[0]))
        return [ray.put(self.private)]

    # stream / fanout
    def send(self, receivers: list, messages: int, window: int) -> int:
        """Send `messages` round-robin to `receivers`; returns the first put's time."""
        import ray

        in_flight = []
        start_ns = time.perf_counter_ns()
        for i in range(messages):
            if len(in_flight) >= window:
                done, in_flight = ray.wait(in_flight, num_returns=1)
                ray.get(done)  # a receiver's error surfaces here
            in_flight.append(receivers[i % len(receivers)].take.remote([ray.put(self.value)]))
        ray.get(in_flight)
        return start_ns

    def expect(self) -> None:
        self.count, self.last_ns = 0, 0

    def take(self, boxed: list) -> None:
        import ray

        self._take(ray.get(boxed[0]))
        self.count += 1
        self.last_ns = time.perf_counter_ns()

    def finish(self) -> tuple[int, int]:
        if self.count:
            self._check("last message")
        return self.count, self.last_ns


def window_for(senders: int, size_bytes: int) -> int:
    """Messages a sender keeps in flight: up to RING_SLOTS, all senders' together within
    a quarter of the object store."""
    return max(1, min(RING_SLOTS, STORE_BYTES // 4 // max(1, senders * size_bytes)))


# -- one session of a case -----------------------------------------------------------------
class RaySession:
    """Fresh actors for one session of a case (the harness is Ray's driver)."""

    def __init__(self, case: Case, workload: Workload, seed: int = 0,
                 fault: Fault | None = None) -> None:
        self.case = case
        self.workload = workload
        self.payload = PayloadSpec(case.size_bytes, seed, case.payload)
        self.senders: list = []
        self.receivers: list = []
        self.pids: list[int] = []
        # CPU seconds of Ray's processes during the session: the runner counts them as
        # this case's, not as other load on the machine.
        self.helper_cpu_s = 0.0
        self._cpu_start_s = 0.0

    def __enter__(self) -> RaySession:
        try:
            start_runtime()
            self._cpu_start_s = cpu_of(ray_processes())[0]
            self._start_actors()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start_actors(self) -> None:
        # num_cpus=0: actors are never held back by Ray's CPU accounting (the placement
        # decides where they run); no restarts: a dead actor fails the case.
        peer = remote_class(Peer, num_cpus=0, max_restarts=0)
        cpus, checksum = allowed_cpus(), self.payload.checksum()
        case, kind = self.case, self.case.kind
        order = iter(range(case.peer_count))  # peer order = pinning order, as in session.py

        def make():
            return peer.remote(cpus_for_peer(case.placement, next(order), cpus),
                               self.payload, checksum)

        def create() -> list:
            if kind.round_trip:
                for _ in range(case.procs):
                    self.senders.append(make())
                    self.receivers.append(make())
            elif kind is patterns.STREAM:  # N producers -> 1 consumer
                self.senders = [make() for _ in range(case.procs)]
                self.receivers = [make()]
            else:  # fanout: 1 distributor -> N workers
                self.senders = [make()]
                self.receivers = [make() for _ in range(case.procs)]
            return [a.ready.remote() for a in self.senders + self.receivers]

        ready = self._call(create, self.workload.start_deadline_s, "Ray actors to start")
        self.pids = [pid for pid, _ in ready]

    def _call(self, submit, timeout_s: float, what: str):
        """ray.get(submit()), bounded by Ray's own timeout, in the harness's bounded-call
        thread: submitting can wait on Ray's daemons (registering an actor), and Ray runs
        Python's signal handlers from inside its C++ wait, where the harness's
        Ctrl-C/SIGTERM exception turns into a SystemError; the main thread only waits on
        an Event, which a signal interrupts cleanly."""
        import ray

        try:
            return call_within(lambda: ray.get(submit(), timeout=timeout_s),
                               timeout_s + _GET_GRACE_S, what)
        except ray.exceptions.GetTimeoutError:
            raise CaseTimeout(f"deadline of {seconds_text(timeout_s)} passed waiting for "
                              f"{what}") from None
        except ray.exceptions.RayError as exc:
            reason = str(exc).strip().splitlines()
            raise PeerFailed(f"{what}: {type(exc).__name__}: "
                             f"{reason[-1] if reason else ''}") from None

    def run_repeat(self, index: int, messages: int | None = None) -> RepeatOutcome:
        each = self.workload.messages if messages is None else messages  # short: a warm-up
        processes = ray_processes()
        cpu_before = cpu_of(processes)
        if self.case.kind.round_trip:
            outcome = self._pingpong(each)
        else:
            outcome = self._flow(each)
        cpu_after = cpu_of(processes)
        return replace(outcome, cpu_s=cpu_after[0] - cpu_before[0],
                       ctx_switches=cpu_after[1] - cpu_before[1])

    def _pingpong(self, messages: int) -> RepeatOutcome:
        pairs = list(zip(self.senders, self.receivers, strict=True))
        timing = self._call(lambda: [ping.ping.remote(pong, messages) for ping, pong in pairs],
                            self.workload.repeat_deadline_s, "the round trips")
        samples = np.concatenate(timing)
        # Pairs run side by side: the repeat lasts as long as the slowest pair.
        return RepeatOutcome(samples, int(samples.size), int(max(s.sum() for s in timing)))

    def _flow(self, each: int) -> RepeatOutcome:
        case, deadline_s = self.case, self.workload.repeat_deadline_s
        total = each * case.procs
        per_sender = total // len(self.senders)
        per_receiver = total // len(self.receivers)
        # Counters reset before any sender starts (calls from different callers are
        # not ordered among themselves).
        receivers, senders = self.receivers, self.senders
        self._call(lambda: [r.expect.remote() for r in receivers], deadline_s, "the receivers")
        window = window_for(len(senders), self.payload.wire_bytes)
        starts = self._call(lambda: [s.send.remote(receivers, per_sender, window)
                                     for s in senders], deadline_s, "the senders")
        ends = self._call(lambda: [r.finish.remote() for r in receivers], deadline_s,
                          "the receivers")
        counts = [count for count, _ in ends]
        if any(count != per_receiver for count in counts):
            raise PeerFailed(f"receivers got {counts} messages, expected {per_receiver} each")
        duration_ns = max(end for _, end in ends) - min(starts)
        return RepeatOutcome(np.array([duration_ns / total]), total, int(duration_ns))

    def close(self) -> None:
        """Bounded: kill this session's actors and wait (at most STOP_S) for them to go."""
        actors = self.senders + self.receivers
        if not actors:
            return
        import ray

        self.helper_cpu_s = max(0.0, cpu_of(ray_processes())[0] - self._cpu_start_s)
        processes = []
        for pid in self.pids:
            try:
                processes.append(psutil.Process(pid))
            except psutil.Error:
                continue

        def kill_actors() -> None:
            for actor in actors:
                ray.kill(actor, no_restart=True)

        try:
            call_within(kill_actors, STOP_S, "stopping Ray actors", lambda: kill(processes))
        except Exception:  # noqa: BLE001 - cleanup: the processes are killed below
            pass
        _, alive = psutil.wait_procs(processes, timeout=STOP_S)
        kill(alive)
        self.senders, self.receivers, self.pids = [], [], []


# No Mechanism class: Ray's object store and actor calls are the channel, so the
# mechanism brings its session.
INFO = MechanismInfo(
    name="ray",
    description="Ray's object store (optional): an actor ray.puts a numpy array and passes "
                "its ObjectRef in an actor call, the receiving actor ray.gets it and copies it "
                "out; Ray starts once per run (256 MB store, no dashboard)",
    variants=(Variant("actors", STREAMS),),
    session=RaySession,
    requires="ray",
    payloads=("numpy",),
    why_not={patterns.WORKQUEUE.name: "Ray schedules its own tasks: a work queue of actors "
                                      "would measure Ray's scheduler, not a channel"},
    end_run=stop_runtime,
    runs_last=True,
)
