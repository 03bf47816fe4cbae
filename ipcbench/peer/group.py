"""An in-process group: every peer of a case as a thread of one host process (for the
interpreter mechanism, some of those threads run their peer in a subinterpreter).

The thread mechanisms (mechanisms/thread_queue.py) measure channels between threads,
yet run in the same harness as the process channels, with the same roles, Wire checks
and control protocol (main.py). The harness starts ONE host process for the whole case
(so it stays lean, and a crash or a hang of the group is seen as a peer's: one sentinel,
the same deadlines, terminate -> kill), and hands it every peer's (spec, endpoint,
control pipe). The host runs `serve()` once per peer, each in its own thread:

- each thread pins itself to its peer's CPUs (on Linux sched_setaffinity(0) sets the
  calling thread), so a placement means for threads what it means for processes:
  `same-core` puts ping and pong on one core, `cross-core` on two;
- the start and end barriers are one threading.Barrier among the group's threads;
- CPU time and context switches are each thread's own (RUSAGE_THREAD), so the sum over
  peers is the group's, as it is for peer processes;
- an exception in any thread is reported on its control pipe, then the host exits 1:
  the group fails as one, and the harness names the peer that raised.

Endpoints cross into the host by pickling (spawn, forkserver), so they hold names, not
queue objects: a peer's attach() looks its channel up in this process (thread_queue.py).
An endpoint with a run_role() method runs its peer's repeats itself instead of the
role's loop (interp_queue.py: in the isolated interpreter it made on its thread), under
the same control protocol, barrier and CPU accounting.
"""

from __future__ import annotations

import os
import resource
import signal
import threading

from ipcbench.peer.main import PeerSpec, _linux_setup, _usage, _watch_harness, serve
from ipcbench.system.deadlines import start_process

# What runs each peer of a group: "thread" (threads sharing one interpreter), or
# "interpreter" (threads too, where an endpoint with run_role() runs its peer's repeats
# in a subinterpreter of its own: mechanisms/interp_queue.py).
RUNNERS = ("thread", "interpreter")


def _thread_usage() -> tuple[float, int]:
    return _usage(resource.RUSAGE_THREAD)


def _member(spec: PeerSpec, endpoint, control, barrier) -> None:
    _linux_setup(spec)  # names the thread; timer slack is per thread too
    if spec.cpus:
        os.sched_setaffinity(0, spec.cpus)  # this thread only (Linux)
    serve(spec, endpoint, control, barrier, usage=_thread_usage,
          role=getattr(endpoint, "run_role", None))


def group_main(members: list[tuple[PeerSpec, object, object]], harness_pid: int,
               runner: str = "thread") -> None:
    """The host: one thread per (spec, endpoint, control) member, until all have
    stopped. A member that fails exits the whole process (serve)."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown group runner {runner!r} (known: {', '.join(RUNNERS)})")
    if os.getppid() != harness_pid:
        _watch_harness(harness_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as every peer: the harness decides
    barrier = threading.Barrier(len(members))
    threads = [threading.Thread(target=_member, args=(spec, endpoint, control, barrier),
                                name=f"ipcbench-{spec.name}", daemon=True)
               for spec, endpoint, control in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def start_group(ctx, peers: list[tuple[PeerSpec, object]], runner: str, start_method: str,
                deadline_s: float, processes: list) -> list:
    """Start the host of `peers` (in the harness): returns the harness's end of every
    peer's control pipe, in the peers' order. The process is appended to
    `processes` once per peer before it starts, so the caller stops it whether or not
    its start succeeded."""
    pipes = [ctx.Pipe(duplex=True) for _ in peers]
    members = [(spec, endpoint, child) for (spec, endpoint), (_, child)
               in zip(peers, pipes, strict=True)]
    process = ctx.Process(target=group_main, args=(members, os.getpid(), runner),
                          name=f"ipcbench-{runner}-group", daemon=True)
    processes += [process] * len(peers)
    try:
        start_process(process, start_method, deadline_s)
    except BaseException:
        for parent, _ in pipes:
            parent.close()
        raise
    finally:
        for _, child in pipes:
            child.close()
    return [parent for parent, _ in pipes]
