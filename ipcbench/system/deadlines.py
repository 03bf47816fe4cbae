"""Bounded waits for calls that block in code the harness does not own.

multiprocessing blocks without a timeout in a few places the harness cannot avoid:
Process.start() under forkserver reads the child's pid from the fork server, and a
Manager's start, proxy creation and shutdown talk to the manager process. A stopped
(SIGSTOP) or wedged helper would hang the harness there for good. `call_within` runs such
a call in a helper thread and waits with a deadline; past it, `on_overrun` kills what the
call is waiting for (a helper the harness started), which makes the call fail promptly,
and the case ends as a timeout. The main thread only ever waits in Thread.join(timeout),
which a signal interrupts, so SIGINT/SIGTERM still end the run.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import select
import signal
import threading
import time
from collections.abc import Callable

import psutil

# After on_overrun, how long the blocked call gets to notice its helper died.
GIVE_UP_GRACE_S = 5.0


class CaseTimeout(RuntimeError):
    """A deadline passed with peers or helpers still silent."""


class _Worker(threading.Thread):
    """A thread that runs bounded calls and never exits. Never a short-lived thread:
    PR_SET_PDEATHSIG (peers' and the manager's parent-death guard) fires when the
    *thread* that forked the child exits, so a child must not be forked by one."""

    def __init__(self) -> None:
        super().__init__(name="ipcbench-bounded", daemon=True)
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.start()

    def run(self) -> None:
        while True:
            fn, done, outcome = self.jobs.get()
            try:
                outcome["value"] = fn()
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc
            # Idle before the caller wakes: once a call returns, its worker is free
            # (only_idle_helpers); a next call queued meanwhile is simply run next.
            _idle.append(self)
            done.set()


_idle: list[_Worker] = []  # workers not running a call (a stuck one is never reused)
os.register_at_fork(after_in_child=_idle.clear)  # threads do not survive a fork


def only_idle_helpers() -> bool:
    """Every thread but the calling one is a bounded-call worker waiting for its next
    call: a fork now copies no lock another thread holds (what makes forking a threaded
    process unsafe). The harness keeps one such worker for the rest of a run."""
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    return all(isinstance(t, _Worker) and t in _idle for t in others)


def seconds_text(value: float) -> str:
    """A deadline as a reason says it: '2.0s', and a sub-second --deadline as given
    ('0.05s', not '0.1s' or '0.0s')."""
    return f"{value:.1f}s" if value >= 1 else f"{value:.3g}s"


def call_within(fn: Callable[[], object], deadline_s: float, what: str,
                on_overrun: Callable[[], None] = lambda: None) -> object:
    """fn() if it returns within `deadline_s`; else on_overrun() and CaseTimeout."""
    worker = _idle.pop() if _idle else _Worker()
    done, outcome = threading.Event(), {}
    worker.jobs.put((fn, done, outcome))
    if not done.wait(deadline_s):  # a signal interrupts this wait (Interrupted)
        on_overrun()
        done.wait(GIVE_UP_GRACE_S)
        raise CaseTimeout(f"{what} did not finish within {seconds_text(deadline_s)}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def kill_pid(pid: int | None) -> None:
    """SIGKILL (which also ends a SIGSTOPped process) a helper the harness started."""
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_group(pgid: int, timeout_s: float = GIVE_UP_GRACE_S) -> None:
    """SIGKILL every process of group `pgid` (a helper started in a session of its own,
    and whatever it started) and wait up to `timeout_s` until none of them still runs;
    a group already gone is no error. SIGKILL is delivered asynchronously: a fork
    server with workers was seen alive just after killpg returned (CI, once in a
    run), so "killed" would otherwise not mean "gone"."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout_s
    while _running_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.002)  # polling a condition, bounded: no event says "group empty"


def _running_in_group(pgid: int) -> bool:
    """Whether a process of group `pgid` has yet to exit. Zombies count as gone: they
    hold nothing, and their reaper (init in a container, perhaps never) is not ours."""
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != "zombie":
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def forkserver_pid() -> int | None:
    """The fork server this process started, if any (multiprocessing restarts a dead one
    on the next start, so killing a wedged one costs one case, not the run)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    return getattr(server, "_forkserver_pid", None)


def kill_forkserver() -> None:
    """SIGKILL the fork server and wait until it is dead, left for multiprocessing to
    reap. Its next start sees a dead server only through waitpid(WNOHANG): a server
    still dying there counts as alive, and the next case's start connected to its closed
    socket ("Connection refused"; once in 3 runs of the tests beside a noisy neighbour)."""
    pid = forkserver_pid()
    kill_pid(pid)
    if pid:
        wait_exited(pid, GIVE_UP_GRACE_S)


def process_ended(pid: int, pidfds: dict[int, int], timeout_s: float = 0.0) -> bool:
    """True when `pid` has exited (a zombie counts: it will never write again), waiting
    up to `timeout_s`; never reaps it. A pidfd turns readable when its process exits;
    `pidfds` keeps them open between calls (a busy-polling peer asks every few polls),
    and the caller closes them. Where pidfds are missing (Linux before 5.3), existence is
    all we see, with no wait."""
    try:
        if pid not in pidfds:
            pidfds[pid] = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):  # no pidfd (old kernel)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    readable, _, _ = select.select([pidfds[pid]], [], [], timeout_s)
    return bool(readable)


def wait_exited(pid: int, timeout_s: float) -> bool:
    """Until `pid` has exited (True) or `timeout_s` passed (False), without reaping it."""
    pidfds: dict[int, int] = {}
    try:
        return process_ended(pid, pidfds, timeout_s)
    finally:
        for fd in pidfds.values():
            os.close(fd)


def start_process(process: multiprocessing.process.BaseProcess, start_method: str,
                  deadline_s: float) -> None:
    """process.start(), bounded where the start method waits on a helper (forkserver
    reads the new child's pid from the fork server)."""
    if start_method != "forkserver":
        process.start()  # fork cannot block; spawn only writes a small preparation pickle
        return
    call_within(process.start, deadline_s, f"starting {process.name} (forkserver)",
                kill_forkserver)


def kill_processes(processes: list[psutil.Process], timeout_s: float) -> None:
    """SIGKILL every process (gone ones are skipped), then wait up to `timeout_s` for
    them to be reaped: what the pool, Ray and the tests' leak check each did alike."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(processes, timeout=timeout_s)
