"""Task executors instead of a bare channel: multiprocessing.Pool and
concurrent.futures.ProcessPoolExecutor running a no-op task on the case's payload.

What most programs pay for IPC is a task round trip through a pool: the payload is
pickled into the pool's task queue, a worker unpickles it, runs the task and the (small)
result comes back the same way. Patterns:
- pingpong: one task at a time (`apply_async(...).get()` / `submit(...).result()`), the
  per-task round trip as seen by the submitter, every task a sample;
- fanout: one submitter `map`s over the repeat's messages with the variant's chunksize
  to `procs` workers, timed from the call to the last result (task throughput).
The pool has `procs` workers and is started (and warmed up with one task per worker) when
the session starts, never inside the timed region. The task returns the payload's length
(every task checked) and, for the last task of a repeat, its CRC-32.

This mechanism brings its own session class (INFO.session): there are no peer processes of
ipcbench's own, the pool's workers are the peers. Their CPU time is read with psutil.

Variant `tpe` is concurrent.futures.ThreadPoolExecutor, the same tasks through threads
of the harness itself: nothing is pickled, but the worker copies a raw payload (bytes, a
numpy array) once as its task starts (task_copied_length), as the thread queues copy a
body at send; by reference alone a 1 MiB "round trip" took 27 µs, a rate of references
that no transfer can reach, and won rankings against channels that move the data. Other
objects are handed over by reference, as between threads. The worker threads are pinned
where the placement puts the pool's workers, and the CPU time is the harness's own
(time.process_time counts all its threads).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import pickle
import signal
import time
import zlib
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import psutil

from ipcbench.core.faults import Fault
from ipcbench.core.patterns import FANOUT, PINGPONG, WORKQUEUE
from ipcbench.core.schema import Case
from ipcbench.mechanisms.base import PeerFailed, RepeatOutcome, Workload
from ipcbench.mechanisms.info import MechanismInfo, Variant
from ipcbench.payload.spec import PayloadSpec
from ipcbench.system.affinity import allowed_cpus, cpus_for_peer
from ipcbench.system.deadlines import CaseTimeout, call_within, kill_processes, seconds_text
from ipcbench.system.heap import steady_heap

STOP_S = 5.0  # bound on stopping a pool at the end of a session
WATCH_S = 0.5  # how often a wait for results looks at the workers

# variant -> (executor kind, map chunksize)
VARIANTS = {
    "pool": ("pool", 1),
    "pool-chunk16": ("pool", 16),
    "ppe": ("ppe", 1),
    "ppe-chunk16": ("ppe", 16),
    "tpe": ("tpe", 1),
}


def task_length(data) -> int:
    """The no-op task: what arrived, as its length (the cheapest honest check)."""
    return len(data) if not hasattr(data, "nbytes") else int(data.nbytes)


def task_copied_length(data) -> int:
    """The thread pool's task: a raw payload copied once (the data moved between threads,
    module doc), then its length; any other object by reference, as task_length."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(memoryview(data).tobytes())
    if hasattr(data, "nbytes") and hasattr(data, "copy"):
        return int(data.copy().nbytes)
    return task_length(data)


def task_checksum(data) -> int:
    raw = data if isinstance(data, (bytes, bytearray)) else pickle.dumps(data, protocol=5)
    return zlib.crc32(raw)


def _thread_setup(cpus: tuple[int, ...]) -> None:
    """ThreadPoolExecutor initializer: pin the worker thread (Linux pins the calling
    thread), nothing process-wide (signals belong to the harness's main thread)."""
    if cpus:
        os.sched_setaffinity(0, cpus)


def _worker_setup(cpus: tuple[int, ...]) -> None:
    """Pool initializer: run the worker where the placement says; a forked worker
    inherits the harness's SIGTERM handler (which ignores signals outside the harness),
    so restore the default, and leave Ctrl-C to the harness as every peer does."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    steady_heap()  # as every peer (heap.py)
    if cpus:
        os.sched_setaffinity(0, cpus)


class ExecutorSession:
    """A pool of `procs` workers for one session of a case (see the module doc)."""

    def __init__(self, case: Case, workload: Workload, seed: int = 0,
                 fault: Fault | None = None) -> None:
        self.case = case
        self.workload = workload
        self.kind, self.chunksize = VARIANTS[case.variant]
        self.spec = PayloadSpec(case.size_bytes, seed, case.payload)
        self.pool = None
        self._saved_cpus: list[int] = []
        self._started: list[psutil.Process] = []  # the workers every repeat must keep

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> ExecutorSession:
        cpus = allowed_cpus()
        here = cpus_for_peer(self.case.placement, 0, cpus)
        workers = cpus_for_peer(self.case.placement, 1, cpus)
        ctx = multiprocessing.get_context(self.case.start_method)
        try:
            if here:
                self._saved_cpus = cpus
                os.sched_setaffinity(0, here)
            if self.kind == "pool":
                self.pool = ctx.Pool(self.case.procs, initializer=_worker_setup,
                                     initargs=(workers,))
            elif self.kind == "tpe":
                self.pool = concurrent.futures.ThreadPoolExecutor(
                    self.case.procs, initializer=_thread_setup, initargs=(workers,))
            else:
                self.pool = concurrent.futures.ProcessPoolExecutor(
                    self.case.procs, mp_context=ctx, initializer=_worker_setup, initargs=(workers,))
            self.value = self.spec.value()
            # map pickles a chunk of tasks as one object, and pickle writes an object it
            # has seen in that pickle as a back-reference: the same payload object 16
            # times would move once per chunk. So every task of a chunk gets its own copy
            # (made here, untimed), as an application's distinct items would be.
            self.copies = [pickle.loads(pickle.dumps(self.value, protocol=5))
                           for _ in range(self.chunksize)]
            # One task per worker before any clock: the workers exist and have imported.
            self._map([self.value] * self.case.procs, self.workload.start_deadline_s)
            self._started = self._workers()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _processes(self) -> list[multiprocessing.process.BaseProcess]:
        """The pool's workers as multiprocessing knows them (its Process objects)."""
        if self.pool is None or self.kind == "tpe":
            return []  # threads of the harness: no processes to watch or kill
        if self.kind == "pool":
            return list(self.pool._pool)
        return list((self.pool._processes or {}).values())

    def _workers(self) -> list[psutil.Process]:
        found = []
        for process in self._processes():
            try:
                found.append(psutil.Process(process.pid))
            except (psutil.Error, AttributeError, ValueError):
                continue
        return found

    def close(self) -> None:
        """Bounded: stop the workers, never wait on a stuck pool for more than STOP_S."""
        if self.pool is not None:
            workers = self._workers()
            processes = self._processes()
            # Pool.terminate() SIGTERMs its workers, then takes the task queue's lock and
            # joins them: a worker killed while holding that lock would block it for
            # good, so it runs as a bounded call; past STOP_S the workers are killed, and
            # survivors of a clean stop are killed too.
            if self.kind == "pool":
                stop = self.pool.terminate
            else:
                def stop() -> None:
                    self.pool.shutdown(wait=True, cancel_futures=True)
            try:
                call_within(stop, STOP_S, "stopping the pool",
                            lambda: _kill_own(processes, STOP_S))
            except CaseTimeout:
                pass  # cleanup: the workers are killed below either way
            _kill_own(processes + self._processes(), STOP_S)
            # psutil only for what multiprocessing could not reap (not a child of ours).
            kill_processes([w for w in workers if _alive(w)], STOP_S)
            # Pool replaces a dead worker from its own thread, which may still be at it
            # while the stop above waits: look again until no worker of it is left.
            end = time.monotonic() + STOP_S
            while (late := [w for w in self._workers() if _alive(w)]) and time.monotonic() < end:
                _kill_own(self._processes(), STOP_S)
                kill_processes([w for w in late if _alive(w)], STOP_S)
            self.pool = None
        if self._saved_cpus:
            os.sched_setaffinity(0, self._saved_cpus)
            self._saved_cpus = []

    # -- one repeat ------------------------------------------------------------------------
    def _map(self, items: list, timeout_s: float) -> list[int]:
        if self.kind == "pool":
            pending = self.pool.map_async(task_length, items, self.chunksize)
            return self._await(pending.get, timeout_s, "the pool")
        # ppe's map is a generator that a timeout closes: one bounded wait, then the
        # workers are looked at (a dead one breaks the pool at once anyway).
        task = task_copied_length if self.kind == "tpe" else task_length
        return self._await(lambda t: list(self.pool.map(task, items, timeout=t,
                                                        chunksize=self.chunksize)),
                           timeout_s, "the pool", watch=False)

    def _one(self, timeout_s: float) -> int:
        if self.kind == "pool":
            return self._await(self.pool.apply_async(task_length, (self.value,)).get,
                               timeout_s, "a task")
        task = task_copied_length if self.kind == "tpe" else task_length
        return self._await(self.pool.submit(task, self.value).result, timeout_s, "a task")

    def _await(self, get, timeout_s: float, what: str, watch: bool = True):
        """get(timeout) within timeout_s. The first wait is the whole cost when the
        result comes in time (as a plain get); after each WATCH_S without it, the
        workers are looked at, so a dead or stopped one is named at once instead of a
        deadline passing (or a silently replaced worker going unnoticed)."""
        end = time.monotonic() + timeout_s
        while True:
            left_s = end - time.monotonic()
            try:
                return get(max(0.0, min(WATCH_S, left_s) if watch else left_s))
            except (multiprocessing.TimeoutError, concurrent.futures.TimeoutError):
                self._check_workers()
                if time.monotonic() >= end:
                    raise CaseTimeout(f"deadline of {seconds_text(timeout_s)} passed "
                                      f"waiting for {what}") from None
            except BrokenProcessPool as exc:
                self._check_workers()  # names the worker when it can
                raise PeerFailed(f"a pool worker died: {exc}") from None

    def run_repeat(self, index: int, messages: int | None = None) -> RepeatOutcome:
        each = self.workload.messages if messages is None else messages  # short: a warm-up
        messages = each * (1 if self.case.kind.round_trip else self.case.procs)
        deadline_s = self.workload.repeat_deadline_s
        workers = self._workers()
        before = _cpu_s(workers) + time.process_time()
        if self.case.kind.round_trip:
            samples = np.empty(messages, dtype=np.int64)
            lengths = []
            for i in range(messages):
                start = time.perf_counter_ns()
                lengths.append(self._one(deadline_s))
                samples[i] = time.perf_counter_ns() - start
            duration_ns = int(samples.sum())
        else:
            start = time.perf_counter_ns()
            items = [self.copies[i % self.chunksize] for i in range(messages)]
            lengths = self._map(items, deadline_s)
            duration_ns = time.perf_counter_ns() - start
            samples = np.array([duration_ns / messages])
        cpu_s = _cpu_s(workers) + time.process_time() - before
        self._verify(lengths, messages, deadline_s)
        self._check_workers()
        return RepeatOutcome(samples, messages, duration_ns, cpu_s=cpu_s)

    def _check_workers(self) -> None:
        """multiprocessing.Pool replaces a worker that dies between tasks without a word,
        and a stopped idle worker leaves its tasks to the others: either way the repeat
        ran with other workers than the case says. Both are failures, named."""
        for worker in self._started:
            try:  # is_running also tells a reused pid from the worker
                status = worker.status() if worker.is_running() else "gone"
            except psutil.NoSuchProcess:
                status = "gone"
            if status in ("gone", psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                raise PeerFailed(f"pool worker (pid {worker.pid}) died during the repeat"
                                 + (" and the pool replaced it" if self.kind == "pool" else ""))
            if status in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP):
                raise PeerFailed(f"pool worker (pid {worker.pid}) is stopped ({status})")

    def _verify(self, lengths: list[int], messages: int, timeout_s: float) -> None:
        expected = task_length(self.value)
        if len(lengths) != messages or any(n != expected for n in lengths):
            raise PeerFailed(f"tasks returned lengths {sorted(set(lengths))} for "
                             f"{len(lengths)} of {messages} tasks, expected {expected} each")
        if self.kind == "pool":
            crc = self.pool.apply_async(task_checksum, (self.value,)).get(timeout_s)
        else:
            crc = self.pool.submit(task_checksum, self.value).result(timeout_s)
        if crc != task_checksum(self.value):
            raise PeerFailed(f"a worker saw checksum {crc:#010x}, expected "
                             f"{task_checksum(self.value):#010x}")


def _kill_own(processes: list[multiprocessing.process.BaseProcess], timeout_s: float) -> None:
    """Kill and join workers through their Process objects, so multiprocessing reaps
    them itself. A worker psutil reaps behind its back stays "alive" to it for ever
    (its waitpid fails, the exit code never arrives): Pool lists it in active_children,
    and ProcessPoolExecutor's manager thread spins waiting for it, hanging the
    interpreter's exit."""
    end = time.monotonic() + timeout_s
    for process in processes:
        try:
            if process.is_alive():
                process.kill()
        except (OSError, ValueError, AssertionError):
            continue  # already closed, or not started: nothing of ours to reap
    for process in processes:
        try:
            process.join(max(0.0, end - time.monotonic()))
        except (OSError, ValueError, AssertionError):
            continue


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cpu_s(workers: list[psutil.Process]) -> float:
    total = 0.0
    for worker in workers:
        try:
            times = worker.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


# A pool: one task's round trip, and one submitter mapping over N workers (1 -> N).
_TASKS = (PINGPONG.name, FANOUT.name)

# No Mechanism class: the pool is the channel, so the mechanism brings its session.
INFO = MechanismInfo(
    name="executor",
    description="a no-op task through multiprocessing.Pool ('pool': apply_async / map), "
                "concurrent.futures.ProcessPoolExecutor ('ppe': submit / map) or "
                "ThreadPoolExecutor ('tpe': threads of the harness, nothing pickled); "
                "pingpong = one task's round trip, fanout = map over procs workers; "
                "'-chunk16' = chunksize 16",
    variants=(Variant("pool", _TASKS), Variant("pool-chunk16", (FANOUT.name,)),
              Variant("ppe", _TASKS), Variant("ppe-chunk16", (FANOUT.name,)),
              Variant("tpe", _TASKS, peer_kind="threads")),
    session=ExecutorSession,
    payloads=("bytes", "object", "numpy"),
    why_not={WORKQUEUE.name: "a pool has one submitter; its map over procs workers is the "
                             "fanout pattern"},
    # One submitter, one task in flight: more workers add no concurrent round trips.
    procs_meaning={PINGPONG.name: "pool workers, one request in flight"},
)
