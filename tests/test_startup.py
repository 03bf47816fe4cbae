"""The start-up pattern (mechanisms/startup.py, system/starters.py, system/launcher.py):
exact counts per kind of worker, skipped rows that name what is missing, the fixed 64 B
case the plan makes of it, the launcher's failure paths (a timeout kills its whole
process group, a dead worker or launcher becomes a reason), and the os-fork floor.
Structure and correctness only, never speed."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace

import psutil
import pytest

from ipcbench.core.patterns import STARTUP, STARTUP_SIZE_BYTES
from ipcbench.core.schema import Case
from ipcbench.core.settings import MATRICES, Settings
from ipcbench.harness.baselines import fork_reply_samples_ns
from ipcbench.harness.plan import Axes, expand, plan
from ipcbench.harness.runner import run_case
from ipcbench.system.deadlines import CaseTimeout
from ipcbench.system.launcher import Launcher, LauncherFailed
from ipcbench.system.starters import CHURN_TASKS_PER_WORKER, Order

pytestmark = [pytest.mark.timeout(120)]

SMALL = Settings(sessions=1, repeats=2, warmup=1)
MESSAGE = bytes(range(64))


def _group(pgid: int) -> list[int]:
    """Pids still running in process group `pgid` (zombies hold nothing)."""
    found = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != "zombie":
                found.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


@pytest.mark.integration
@pytest.mark.parametrize(("pattern", "variant", "procs", "start_method"), [
    ("startup", "process", 2, "fork"),
    ("startup", "process", 1, "forkserver"),
    ("startup", "pool", 2, "fork"),
    ("startup", "ppe", 1, "fork"),
    ("startup", "manager", 1, "fork"),
    ("startup", "thread", 2, "fork"),
    ("churn", "pool", 1, "fork"),
    ("churn", "ppe", 2, "forkserver"),
    ("startup", "process", 1, "spawn"),
])
def test_every_kind_of_worker_answers_its_first_message(meta, pattern, variant, procs,
                                                         start_method):
    case = Case("worker", variant, pattern, STARTUP_SIZE_BYTES, procs, start_method,
                "same-core")
    if pattern == "churn" and variant == "ppe" and sys.version_info < (3, 11):
        pytest.skip("max_tasks_per_child needs 3.11 (the plan's skipped row is tested below)")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified is True
    # One sample a repeat; a churn repeat runs CHURN_TASKS_PER_WORKER tasks a worker.
    per_repeat = CHURN_TASKS_PER_WORKER * procs if pattern == "churn" else procs
    assert row.repeats == SMALL.repeats
    assert row.messages == per_repeat * SMALL.repeats
    assert row.p50_ns > 0 and row.cpu_s_per_msg > 0
    assert row.peer_kind == ("threads" if variant == "thread" else "processes")


def test_the_plan_gives_startup_one_size_and_only_the_workers():
    quick = MATRICES["quick"]
    planned = plan(quick, Axes(["fork"], patterns=["startup"], sizes_bytes=[64, 4096],
                               procs=[1], payloads=["bytes", "object"]))
    assert planned and {p.case.mechanism for p in planned} == {"worker"}
    assert {(p.case.size_bytes, p.case.payload) for p in planned} == {
        (STARTUP_SIZE_BYTES, "bytes")}
    # Never inside a run of channels, and no worker row in one.
    default_run = plan(quick, Axes(["fork"]))
    assert STARTUP.name not in {p.case.pattern for p in default_run}
    assert "worker" not in {p.case.mechanism for p in default_run}


def test_what_this_python_or_start_method_cannot_start_is_skipped_with_the_reason():
    planned = {(p.case.pattern, p.case.variant, p.case.start_method, p.case.procs):
               p.skip_reason for p in expand(["worker"], ["startup", "churn"], [64], [1, 2],
                                             ["fork", "spawn"])}
    refused = ("refuses max_tasks_per_child with fork" if sys.version_info >= (3, 11)
               else "needs Python 3.11")
    assert refused in planned[("churn", "ppe", "fork", 1)]
    assert not planned[("startup", "ppe", "fork", 1)]
    assert not planned[("churn", "pool", "fork", 1)]
    # Only pools churn.
    assert {v for (pattern, v, _, _) in planned if pattern == "churn"} == {"pool", "ppe"}
    assert "--procs 1 only" in planned[("startup", "manager", "spawn", 2)]
    assert not planned[("startup", "manager", "spawn", 1)]
    ipe = planned[("startup", "ipe", "fork", 1)]
    if sys.version_info < (3, 14):
        assert "needs Python 3.14" in ipe and sys.version.split()[0] in ipe
    interpreter = planned[("startup", "interpreter", "fork", 1)]
    if sys.version_info < (3, 13):
        assert "needs Python 3.13" in interpreter


def _order(variant: str = "process", start_method: str = "fork", deadline_s: float = 10.0,
           cpus: tuple[int, ...] = ()) -> Order:
    return Order(variant, start_method, 1, (cpus,), deadline_s, MESSAGE)


@pytest.mark.integration
def test_a_launcher_reports_every_repeat_and_leaves_nothing_running():
    with Launcher((), ready_s=30) as launcher:
        pgid = launcher.process.pid
        measured = [launcher.measure(_order(), 30) for _ in range(3)]
    assert [m.messages for m in measured] == [1, 1, 1]
    assert all(m.sample_ns == m.elapsed_ns > 0 for m in measured)
    assert launcher.process.returncode == 0  # exited when asked, not killed
    assert _group(pgid) == []


@pytest.mark.integration
def test_a_worker_that_dies_before_its_reply_is_a_reason_not_a_hang():
    # A CPU that does not exist: the worker's sched_setaffinity raises, it exits with 1.
    with Launcher((), ready_s=30) as launcher:
        with pytest.raises(LauncherFailed, match=r"worker 0 exited \(code 1\) before its"):
            launcher.measure(_order(cpus=(100_000,)), 30)
        # The launcher lives on: the next repeat of the session still runs.
        assert launcher.measure(_order(), 30).messages == 1


@pytest.mark.integration
def test_a_bad_order_is_reported_by_name():
    with Launcher((), ready_s=30) as launcher:
        with pytest.raises(LauncherFailed, match="no start-up kind named 'nope'"):
            launcher.measure(_order("nope"), 30)
        with pytest.raises(LauncherFailed, match="'thread' cannot churn"):
            launcher.measure(replace(_order("thread"), churn=True), 30)


@pytest.mark.integration
def test_past_its_bound_the_launcher_and_its_workers_are_killed():
    with Launcher((), ready_s=30) as launcher:
        pgid = launcher.process.pid
        launcher.measure(_order(start_method="forkserver"), 30)  # a fork server is up
        assert len(_group(pgid)) >= 2
        with pytest.raises(CaseTimeout, match="did not finish within"):
            launcher.measure(_order(start_method="spawn"), 0.001)
        assert launcher.process.returncode == -signal.SIGKILL
        assert _group(pgid) == []
        with pytest.raises(LauncherFailed, match="stopped by an earlier failure"):
            launcher.measure(_order(), 30)
        assert os.listdir(launcher._tmp)  # the killed fork server's socket folder
    assert not os.path.exists(launcher._tmp)  # removed with it at close


@pytest.mark.integration
def test_a_launcher_killed_from_outside_is_named():
    with Launcher((), ready_s=30) as launcher:
        os.kill(launcher.process.pid, signal.SIGKILL)
        with pytest.raises(LauncherFailed, match=r"exited \(code -9\)"):
            launcher.measure(_order(), 30)


@pytest.mark.integration
def test_a_repeat_past_its_deadline_in_the_launcher_is_a_timeout():
    with Launcher((), ready_s=30) as launcher:
        with pytest.raises(CaseTimeout, match="deadline of .* passed waiting for a process"):
            launcher.measure(_order(start_method="spawn", deadline_s=0.001), 30)


@pytest.mark.integration
def test_the_fork_floor_gives_one_sample_per_fork():
    samples = fork_reply_samples_ns("same-core", forks=3)
    assert samples.shape == (3,) and (samples > 0).all()


@pytest.mark.integration
@pytest.mark.skipif(sys.version_info < (3, 13), reason="interpreter queues need 3.13+")
def test_subinterpreter_workers_answer_their_first_message(meta):
    case = Case("worker", "interpreter", "startup", STARTUP_SIZE_BYTES, 2, "fork",
                "same-core")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.messages == 2 * SMALL.repeats and row.peer_kind == "interpreters"
