"""Start workers of one kind and time them to their first replies: the body of the
start-up launcher (launcher.py), run in a lean process of its own.

One `measure(order)` is one repeat of a start-up case:
- untimed, the channels the workers will answer on (Pipes, queues) are made;
- timed, `procs` workers are started at once with the order's start method, each is sent
  its first message, and the clock stops when the last reply is back;
- untimed, the workers are stopped and reaped (bounded).
Every reply must be the message sent, byte for byte.

The kinds (variant: what is started, what carries the first message):
- process: multiprocessing.Process, its first message over a Pipe;
- pool / ppe: multiprocessing.Pool / concurrent.futures.ProcessPoolExecutor with `procs`
  workers, `procs` first tasks (creation and first task: a fast worker may take two);
- manager: a SyncManager's server process, a Queue made in it and one put/get;
- thread: threading.Thread, a queue.SimpleQueue each way (no start method applies);
- interpreter: a subinterpreter (3.13+) run on a thread of its own, its first message
  over interpreter queues;
- ipe: concurrent.futures.InterpreterPoolExecutor (Python 3.14+);
- os-fork: the floor, no multiprocessing at all: os.fork(), the child echoes the message
  over os.pipe and _exits (the `os-fork` baseline, harness/baselines.py);
- pool / ppe with `churn`: a pool whose workers each run one task and are replaced
  (maxtasksperchild=1 / max_tasks_per_child=1): CHURN_TASKS_PER_WORKER tasks a worker,
  the sample is the mean per task. The pool's first workers start untimed.

It knows nothing of cases or patterns: the harness turns a case into an Order.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import multiprocessing.pool
import os
import queue
import resource
import select
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import psutil

from ipcbench.system import first_reply
from ipcbench.system.deadlines import (
    GIVE_UP_GRACE_S,
    CaseTimeout,
    call_within,
    forkserver_pid,
    kill_pid,
    seconds_text,
    wait_exited,
)
from ipcbench.system.interpreters import interpreters_module, queues_module

STOP_S = 5.0  # bound on each step of stopping one repeat's workers
CHURN_TASKS_PER_WORKER = 4


class WorkerFailed(RuntimeError):
    """A worker died, or answered with something other than its first message."""


@dataclass(frozen=True)
class Order:
    """One repeat: start `procs` workers of `variant` and time them to first reply."""

    variant: str
    start_method: str
    procs: int
    worker_cpus: tuple[tuple[int, ...], ...]  # per worker; () = anywhere
    deadline_s: float  # per first reply
    message: bytes
    # Pools only: replace every worker after one task and time tasks through the
    # replacements (the pool's first workers start untimed).
    churn: bool = False

    @property
    def messages(self) -> int:
        return CHURN_TASKS_PER_WORKER * self.procs if self.churn else self.procs

    @property
    def wait_bound_s(self) -> float:
        """The longest a repeat can take before every deadline in it has passed: each
        reply waited for in turn, then each stop step bounded."""
        return (self.deadline_s * (self.messages + 1) + STOP_S * (2 * self.procs + 3)
                + GIVE_UP_GRACE_S)


@dataclass(frozen=True)
class Measured:
    sample_ns: float  # start to the last first reply (churn: the mean per task)
    messages: int
    elapsed_ns: int
    cpu_s: float  # the launcher's and its children's, over the timed part and the stop


def _children_cpu_s() -> float:
    """CPU of every worker reaped so far: the launcher's own children, and the fork
    server's (a forkserver worker is the server's child, never the launcher's; the
    server reaps it before Process.join() returns). The server's figures come from
    /proc in clock ticks (10 ms): a repeat reads 0 or 10 ms too many, the sum over a
    case's repeats is right to a tick."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = forkserver_pid()
    try:
        times = psutil.Process(server).cpu_times() if server else None
    except psutil.Error:
        times = None
    served = (times.user + times.system + times.children_user + times.children_system
              if times else 0.0)
    return usage.ru_utime + usage.ru_stime + served


class _Kind(ABC):
    """One kind of worker: prepare() untimed, go() timed, stop() untimed and bounded."""

    def __init__(self, order: Order) -> None:
        self.order = order
        self.ctx = multiprocessing.get_context(order.start_method)

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Channels made before the clock."""

    @abstractmethod
    def go(self, message: bytes) -> list[bytes]:
        """Start the workers and return every first reply (timed)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop and reap whatever go() started (untimed; must not raise)."""

    def _timeout(self) -> CaseTimeout:
        return CaseTimeout(f"deadline of {seconds_text(self.order.deadline_s)} passed "
                           f"waiting for a {self.order.variant} worker's first reply")


class _Processes(_Kind):
    def prepare(self) -> None:
        self.pipes = [self.ctx.Pipe() for _ in range(self.order.procs)]
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def go(self, message: bytes) -> list[bytes]:
        for (_, there), cpus in zip(self.pipes, self.order.worker_cpus, strict=True):
            process = self.ctx.Process(target=first_reply.echo_once, args=(there, cpus),
                                       daemon=True)
            process.start()
            self.processes.append(process)
            there.close()  # the worker holds it now: its death reads as EOF here
        for i, (here, _) in enumerate(self.pipes):
            try:
                here.send_bytes(message)
            except OSError:  # the worker is gone already (its end reset or closed)
                raise self._died(i) from None
        return [self._reply(i, here) for i, (here, _) in enumerate(self.pipes)]

    def _reply(self, i: int, here) -> bytes:
        if not here.poll(self.order.deadline_s):
            raise self._timeout()
        try:
            return here.recv_bytes()
        except (EOFError, OSError):
            raise self._died(i) from None

    def _died(self, i: int) -> WorkerFailed:
        self.processes[i].join(STOP_S)
        return WorkerFailed(f"worker {i} exited (code {self.processes[i].exitcode}) before "
                            "its first reply")

    def stop(self) -> None:
        for process in self.processes:
            process.join(STOP_S)
            if process.is_alive():
                process.kill()
                process.join(STOP_S)
        for here, there in self.pipes:
            here.close()
            there.close()


class _Pool(_Kind):
    """Pool / ProcessPoolExecutor / InterpreterPoolExecutor: creation and first tasks.
    Every worker of a pool pins itself to the first worker's CPUs (a pool hands tasks to
    whichever worker is free, so no worker has a place of its own)."""

    def prepare(self) -> None:
        self.pool = None

    def _make(self):
        n, cpus, variant = self.order.procs, self.order.worker_cpus[0], self.order.variant
        if variant.startswith("pool"):
            return self.ctx.Pool(n, first_reply.pin, (cpus,),
                                 maxtasksperchild=1 if self.order.churn else None)
        if variant == "ipe":
            return concurrent.futures.InterpreterPoolExecutor(n, initializer=first_reply.pin,
                                                              initargs=(cpus,))
        extra = {"max_tasks_per_child": 1} if self.order.churn else {}
        return concurrent.futures.ProcessPoolExecutor(
            n, mp_context=self.ctx, initializer=first_reply.pin, initargs=(cpus,), **extra)

    def _submit(self, message: bytes):
        if isinstance(self.pool, multiprocessing.pool.Pool):
            return self.pool.apply_async(first_reply.echo_task, (message,)).get
        return self.pool.submit(first_reply.echo_task, message).result

    def _gather(self, message: bytes, count: int) -> list[bytes]:
        pending = [self._submit(message) for _ in range(count)]
        try:
            return [get(self.order.deadline_s) for get in pending]
        except (multiprocessing.TimeoutError, concurrent.futures.TimeoutError):
            raise self._timeout() from None
        except concurrent.futures.BrokenExecutor as exc:
            raise WorkerFailed(f"a {self.order.variant} worker died: {exc}") from None

    def go(self, message: bytes) -> list[bytes]:
        self.pool = self._make()
        return self._gather(message, self.order.procs)

    def stop(self) -> None:
        pool, self.pool = self.pool, None
        if pool is None:
            return
        if isinstance(pool, multiprocessing.pool.Pool):
            workers, halt = list(pool._pool), pool.terminate
        else:
            workers = list((getattr(pool, "_processes", None) or {}).values())

            def halt() -> None:
                pool.shutdown(wait=True, cancel_futures=True)
        try:
            call_within(halt, STOP_S, f"stopping the {self.order.variant} workers")
        except CaseTimeout:
            pass  # killed below either way
        for worker in workers:
            if worker.is_alive():
                worker.kill()
            worker.join(STOP_S)


class _Churn(_Pool):
    """A pool whose every worker runs one task and is replaced: the first workers start
    untimed (one task each), then the repeat times tasks through replacements."""

    def prepare(self) -> None:
        self.pool = self._make()
        self._gather(b"warm", self.order.procs)

    def go(self, message: bytes) -> list[bytes]:
        return self._gather(message, self.order.messages)


class _Manager(_Kind):
    def prepare(self) -> None:
        self.manager = None

    def go(self, message: bytes) -> list[bytes]:
        from multiprocessing.managers import SyncManager

        self.manager = SyncManager(ctx=self.ctx)
        self.manager.start(first_reply.pin, (self.order.worker_cpus[0],))
        channel = self.manager.Queue()
        channel.put(message)
        try:
            return [channel.get(timeout=self.order.deadline_s)]
        except queue.Empty:
            raise self._timeout() from None

    def stop(self) -> None:
        manager, self.manager = self.manager, None
        if manager is None:
            return
        process = manager._process
        try:
            call_within(manager.shutdown, STOP_S, "stopping the manager")
        except CaseTimeout:
            pass
        if process.is_alive():
            process.kill()
        process.join(STOP_S)


class _Threads(_Kind):
    def prepare(self) -> None:
        self.boxes = [(queue.SimpleQueue(), queue.SimpleQueue())
                      for _ in range(self.order.procs)]
        self.threads: list[threading.Thread] = []

    def go(self, message: bytes) -> list[bytes]:
        for (inbox, outbox), cpus in zip(self.boxes, self.order.worker_cpus, strict=True):
            thread = threading.Thread(target=first_reply.echo_thread, daemon=True,
                                      args=(inbox, outbox, cpus))
            thread.start()
            self.threads.append(thread)
            inbox.put(message)
        try:
            return [outbox.get(timeout=self.order.deadline_s) for _, outbox in self.boxes]
        except queue.Empty:
            raise self._timeout() from None

    def stop(self) -> None:
        for inbox, _ in self.boxes:
            inbox.put(b"")  # a thread still waiting for its first message ends
        for thread in self.threads:
            thread.join(STOP_S)


# Run in each new subinterpreter (the queues module as the interpreters mechanism's).
_ECHO_CODE = """
import os
from {queues} import Queue, QueueEmpty
if cpus:
    os.sched_setaffinity(0, cpus)
inbox, outbox = Queue(inbox_id), Queue(outbox_id)
while True:
    try:
        message = inbox.get_nowait()
        break
    except QueueEmpty:
        os.sched_yield()
outbox.put_nowait(message)
"""


class _Interpreters(_Kind):
    def prepare(self) -> None:
        self.queues = importlib.import_module(queues_module())
        self.boxes = [(self.queues.create(), self.queues.create())
                      for _ in range(self.order.procs)]
        self.threads: list[threading.Thread] = []
        self.interps: list[object] = []
        self.errors: list[BaseException] = []

    def _run(self, interp, inbox, outbox, cpus) -> None:
        try:
            interp.prepare_main(inbox_id=inbox.id, outbox_id=outbox.id, cpus=cpus)
            interp.exec(_ECHO_CODE.format(queues=queues_module()))
        except BaseException as exc:  # reported by go(), never lost on a thread
            self.errors.append(exc)

    def go(self, message: bytes) -> list[bytes]:
        for (inbox, outbox), cpus in zip(self.boxes, self.order.worker_cpus, strict=True):
            interp = interpreters_module().create()
            self.interps.append(interp)
            thread = threading.Thread(target=self._run, daemon=True,
                                      args=(interp, inbox, outbox, cpus))
            thread.start()
            self.threads.append(thread)
            inbox.put_nowait(message)
        return [self._reply(outbox) for _, outbox in self.boxes]

    def _reply(self, outbox) -> bytes:
        end = time.monotonic() + self.order.deadline_s
        while True:
            try:
                return outbox.get_nowait()
            except self.queues.QueueEmpty:
                if self.errors:
                    raise WorkerFailed(f"an interpreter worker failed: {self.errors[0]}") \
                        from None
                if time.monotonic() > end:
                    raise self._timeout() from None
                os.sched_yield()

    def stop(self) -> None:
        for inbox, _ in self.boxes:
            inbox.put_nowait(b"")  # a worker still waiting for its first message ends
        for thread in self.threads:
            thread.join(STOP_S)
        for interp in self.interps:
            try:
                interp.close()
            except RuntimeError:
                pass  # still running (its thread overran STOP_S): the launcher ends it


class _OsFork(_Kind):
    def prepare(self) -> None:
        self.there, self.back = os.pipe(), os.pipe()
        self.open_fds = {*self.there, *self.back}
        self.pid = 0

    def _close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self.open_fds:
                self.open_fds.discard(fd)
                os.close(fd)

    def go(self, message: bytes) -> list[bytes]:
        cpus = self.order.worker_cpus[0]
        self.pid = os.fork()
        if self.pid == 0:  # the child: nothing but the echo, no Python cleanup
            try:
                if cpus:
                    os.sched_setaffinity(0, cpus)
                os.write(self.back[1], os.read(self.there[0], len(message)))
            finally:
                os._exit(0)
        self._close(self.there[0], self.back[1])  # a dead child reads as EOF, not a hang
        os.write(self.there[1], message)
        return [self._read(len(message))]

    def _read(self, size: int) -> bytes:
        poller, reply = select.poll(), b""
        poller.register(self.back[0], select.POLLIN)
        while len(reply) < size:
            if not poller.poll(self.order.deadline_s * 1000):
                raise self._timeout()
            chunk = os.read(self.back[0], size - len(reply))
            if not chunk:
                raise WorkerFailed("the forked child exited before its echo")
            reply += chunk
        return reply

    def stop(self) -> None:
        self._close(*self.open_fds)
        if self.pid:
            if not wait_exited(self.pid, STOP_S):
                kill_pid(self.pid)
            os.waitpid(self.pid, 0)  # reaped: gone, or SIGKILLed just above


KINDS: dict[str, type[_Kind]] = {
    "process": _Processes, "pool": _Pool, "ppe": _Pool, "manager": _Manager,
    "thread": _Threads, "interpreter": _Interpreters, "ipe": _Pool, "os-fork": _OsFork,
}
CHURNS = ("pool", "ppe")  # the kinds that can churn


def measure(order: Order) -> Measured:
    """One repeat (CaseTimeout past a deadline, WorkerFailed for a wrong or lost reply)."""
    if order.variant not in KINDS:
        raise ValueError(f"no start-up kind named {order.variant!r}")
    if order.churn and order.variant not in CHURNS:
        raise ValueError(f"{order.variant!r} cannot churn (only {', '.join(CHURNS)})")
    if len(order.worker_cpus) != order.procs:
        raise ValueError(f"{len(order.worker_cpus)} CPU sets for {order.procs} workers")
    kind = (_Churn if order.churn else KINDS[order.variant])(order)
    kind.prepare()
    # CPU from here: a churn pool's untimed first workers are reaped in prepare().
    ours_before, children_before = time.process_time(), _children_cpu_s()
    try:
        start = time.perf_counter_ns()
        replies = kind.go(order.message)
        elapsed_ns = time.perf_counter_ns() - start
    finally:
        kind.stop()
    cpu_s = time.process_time() - ours_before + _children_cpu_s() - children_before
    wrong = sum(bytes(reply) != order.message for reply in replies)
    if len(replies) != order.messages or wrong:
        raise WorkerFailed(f"{len(replies)} first replies of {order.messages} expected, "
                           f"{wrong} not the {len(order.message)} B message sent")
    sample_ns = elapsed_ns / order.messages if order.churn else float(elapsed_ns)
    return Measured(sample_ns, order.messages, elapsed_ns, cpu_s)
