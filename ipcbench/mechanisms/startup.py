"""Start-up cost: what it takes to start workers, the one cost every other pattern keeps
out of its clock (their peers are up before any timing).

A start-up case times, a repeat at a time, `procs` workers of one kind (its variant)
started at once with the case's start method, from the start to every worker's first
64 B message back (the kinds and the timed steps: system/starters.py). One sample a
repeat, so the case's figure is a distribution over sessions and repeats, like
ping-pong's. The `churn` pattern times tasks through a pool (pool, ppe) that replaces
its worker after every task (a sample = the mean per task; its figure tasks/s).

The workers are started by a lean launcher process (system/launcher.py), one a session,
never by the harness: a worker forked by the harness pays for the harness's heap. A fork
server is started by a session's warm-up repeat, as an application's first worker would.
"""

from __future__ import annotations

import concurrent.futures
import random
import sys

import numpy as np

from ipcbench.core.faults import Fault
from ipcbench.core.patterns import CHURN, STARTUP
from ipcbench.core.schema import Case
from ipcbench.mechanisms.base import PeerFailed, RepeatOutcome, Workload
from ipcbench.mechanisms.info import MechanismInfo, Variant
from ipcbench.mechanisms.interp_queue import unavailable as interpreters_unavailable
from ipcbench.system.affinity import allowed_cpus, cpus_for_peer
from ipcbench.system.launcher import Launcher, LauncherFailed
from ipcbench.system.starters import Order


def order_for(case: Case, message: bytes, deadline_s: float) -> Order:
    """The launcher's order for one repeat of `case` (the harness is peer 0 of the
    placement, worker i is peer 1 + i)."""
    cpus = allowed_cpus()
    return Order(case.variant, case.start_method, case.procs,
                 tuple(tuple(cpus_for_peer(case.placement, 1 + i, cpus))
                       for i in range(case.procs)),
                 deadline_s, message, churn=case.pattern == CHURN.name)


class StartupSession:
    """One session of a start-up case: CaseSession's contract (a context manager and
    run_repeat). Its launcher is started on entry and stopped on exit, both untimed."""

    def __init__(self, case: Case, workload: Workload, seed: int = 0,
                 fault: Fault | None = None) -> None:
        self.case = case
        self.workload = workload
        self.message = random.Random(seed).randbytes(case.size_bytes)
        self.launcher: Launcher | None = None

    def __enter__(self) -> StartupSession:
        here = tuple(cpus_for_peer(self.case.placement, 0, allowed_cpus()))
        self.launcher = Launcher(here, self.workload.start_deadline_s)
        return self

    def __exit__(self, *exc) -> None:
        launcher, self.launcher = self.launcher, None
        if launcher is not None:
            launcher.close()

    def run_repeat(self, index: int, messages: int | None = None) -> RepeatOutcome:
        # A start-up repeat is one start (messages_for = 1): nothing to shorten.
        if self.launcher is None:
            raise RuntimeError("run_repeat outside the session's with-block")
        order = order_for(self.case, self.message, self.workload.start_deadline_s)
        try:
            measured = self.launcher.measure(order, order.wait_bound_s)
        except LauncherFailed as exc:
            raise PeerFailed(str(exc)) from None
        return RepeatOutcome(np.array([measured.sample_ns]), measured.messages,
                             measured.elapsed_ns, cpu_s=measured.cpu_s)


def _unavailable_variant(case: Case) -> str:
    """Why this Python or start method cannot run the case's variant ("" when it can)."""
    variant = case.variant
    if variant == "interpreter":
        return interpreters_unavailable()
    if variant == "ipe" and not hasattr(concurrent.futures, "InterpreterPoolExecutor"):
        return ("ipe needs Python 3.14 or newer (concurrent.futures.InterpreterPoolExecutor); "
                f"this is {sys.version.split()[0]}")
    if variant == "ppe" and case.pattern == CHURN.name:
        if sys.version_info < (3, 11):
            return (f"ppe churn needs Python 3.11 or newer (max_tasks_per_child); this is "
                    f"{sys.version.split()[0]}")
        if case.start_method == "fork":
            return "ppe churn: ProcessPoolExecutor refuses max_tasks_per_child with fork"
    if variant == "manager" and case.procs != 1:
        return "manager: a Manager is one server process (--procs 1 only)"
    return ""


_STARTUP, _BOTH = (STARTUP.name,), (STARTUP.name, CHURN.name)
INFO = MechanismInfo(
    name="worker",
    description="start-up cost: start N workers (process, pool, ppe, manager, thread, "
                "interpreter, ipe) and time until every first reply is back; churn: tasks "
                "through pools (pool, ppe) that replace their worker after each task",
    variants=(Variant("process", _STARTUP), Variant("pool", _BOTH),
              Variant("ppe", _BOTH), Variant("manager", _STARTUP),
              Variant("thread", _STARTUP, peer_kind="threads"),
              Variant("interpreter", _STARTUP, peer_kind="interpreters"),
              Variant("ipe", _STARTUP, peer_kind="interpreters")),
    session=StartupSession,
    payloads=("bytes",),
    limit_reason=_unavailable_variant,
)
