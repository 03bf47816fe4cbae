"""Every wait is bounded (issue 11): a SIGSTOPped manager process or fork server ends the
case as a timeout within its deadline plus a few seconds, the harness kills what it
started and goes on, and SIGTERM still ends the run. Each fault stops only a process the
test's own harness started; everything is SIGKILLed (which also ends a stopped process)
when a test fails."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from process_groups import assert_group_gone
from test_harness_faults import _assert_rows_intact

from ipcbench.core.results import read_results
from ipcbench.core.schema import Case
from ipcbench.harness.session import CaseSession
from ipcbench.mechanisms.base import Workload
from ipcbench.system.deadlines import CaseTimeout, forkserver_pid

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REPEAT_DEADLINE_S = 2.0
SLACK_S = 12.0  # shutdown of a wedged manager (5 s) and kill grace, on a loaded machine


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)


def test_stopped_manager_ends_the_case_and_is_reaped():
    case = Case("manager-queue", "default", "stream", 4096, 1, "fork")
    started = time.monotonic()
    with pytest.raises(CaseTimeout):
        with CaseSession(case, Workload(200, REPEAT_DEADLINE_S, 20.0)) as session:
            session.run_repeat(0)
            manager = session.mechanism._manager._process
            socket_folder = os.path.dirname(session.mechanism._manager.address)
            _stop(manager.pid)
            session.run_repeat(1)
    assert time.monotonic() - started < REPEAT_DEADLINE_S + SLACK_S
    assert manager.exitcode is not None  # killed and reaped, not left stopped
    # The killed manager's pymp-* folder goes too, unless it is this process's own: a
    # manager forked after this process made its temp folder (an earlier test on the same
    # worker did) listens in it, and multiprocessing removes it when this process exits.
    ours = multiprocessing.process.current_process()._config.get("tempdir")
    assert socket_folder == ours or not os.path.exists(socket_folder), socket_folder


def test_stopped_forkserver_ends_the_case_and_the_next_case_runs():
    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no forkserver here")
    case = Case("pipe", "bytes", "pingpong", 64, 1, "forkserver")
    with CaseSession(case, Workload(20, REPEAT_DEADLINE_S, 20.0)) as session:
        session.run_repeat(0)  # the fork server is running now
    wedged = forkserver_pid()
    _stop(wedged)
    start_deadline_s = 4.0
    started = time.monotonic()
    with pytest.raises(CaseTimeout, match="forkserver"):
        with CaseSession(case, Workload(20, REPEAT_DEADLINE_S, start_deadline_s)):
            pass
    assert time.monotonic() - started < start_deadline_s + SLACK_S
    # Dead (not reaped) before the next case looks: one still dying counted as alive.
    assert os.waitid(os.P_PID, wedged, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    with CaseSession(case, Workload(20, REPEAT_DEADLINE_S, 20.0)) as session:
        session.run_repeat(0)  # a fresh fork server serves the next case
    assert forkserver_pid() != wedged
    assert psutil.Process(wedged).status() == psutil.STATUS_ZOMBIE if psutil.pid_exists(
        wedged) else True


def test_wait_exited_waits_for_the_end_and_leaves_the_child_to_its_parent():
    from ipcbench.system.deadlines import wait_exited

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not wait_exited(child.pid, 0.05)  # alive: the timeout, not a wait forever
        child.kill()
        assert wait_exited(child.pid, 10.0)
        assert child.wait(timeout=10) == -signal.SIGKILL  # still the parent's to reap
    finally:
        child.kill()
        child.wait()


# -- the whole harness ---------------------------------------------------------------
def _run(out, *args: str) -> subprocess.Popen:
    """The harness on its own process group, its output into files beside `out`: a pipe
    reaches EOF only once every process holding its write end is gone, and once in a few
    suite runs the harness had exited 0 with every line written while the pipe never
    did within 150 s (not reproduced in 20 runs alone or beside a busy neighbour). With
    files the tests judge the exit and the rows; assert_group_gone names any process of
    the run left behind."""
    err_path = out.parent / f"{out.name}.stderr"
    with open(out.parent / f"{out.name}.stdout", "w") as stdout, open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ipcbench", "run", *args, "--sessions", "2", "--repeats",
             "100", "--deadline", "3", "--placement", "unpinned", "--payload", "bytes",
             "--no-baselines", "--no-charts", "--no-progress", "--seed", "1", "--out",
             str(out)],
            stdout=stdout, stderr=err, text=True, start_new_session=True)
    proc.err_path = err_path
    return proc


def _helper(proc: subprocess.Popen, wanted, timeout_s: float = 60.0) -> psutil.Process:
    """Poll until the harness has a child that `wanted(child)` picks."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.err_path.read_text()
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if wanted(child):
                    return child
            except psutil.Error:
                continue
        time.sleep(0.02)
    raise AssertionError("the helper process never started")


def _is_manager(child: psutil.Process) -> bool:
    """The Manager's server: the child listening on a multiprocessing socket
    ("listener-..."). Not judged by name or command line: a helper forked to exec
    (the resource tracker) carries the harness's own until its exec, and one picked
    in that window was stopped in the manager's place."""
    connections = getattr(child, "net_connections", None) or child.connections
    return any("listener-" in (c.laddr or "") for c in connections("unix"))


def _is_forkserver(child: psutil.Process) -> bool:
    """The fork server once it runs its own code. Its command line names the module;
    the harness's (which a forked helper carries until its exec) only says
    `--start-method forkserver`: matching "forkserver" alone once stopped the resource
    tracker instead, left stopped in the run's process group."""
    return "multiprocessing.forkserver" in " ".join(child.cmdline())


def _finish(proc: subprocess.Popen, timeout_s: float) -> tuple[int, str]:
    """The harness's exit code and its stderr, waiting at most `timeout_s` for it."""
    try:
        proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, proc.err_path.read_text()


@pytest.mark.parametrize("then_sigterm", [False, True], ids=["alone", "sigterm"])
def test_run_with_a_stopped_manager_ends(tmp_path, then_sigterm):
    out = tmp_path / "run"
    proc = _run(out, "-m", "manager-queue", "-p", "stream", "-s", "4KiB", "-n", "1")
    manager = _helper(proc, _is_manager)
    _helper(proc, lambda child: child.name() == "ipcb-consu0")  # mid-case, as reported
    started = time.monotonic()
    _stop(manager.pid)
    if then_sigterm:
        proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc, 60)
    assert time.monotonic() - started < 3 + SLACK_S + 10, err
    assert "Traceback" not in err, err
    if then_sigterm:
        assert code == 143, err
        assert "interrupted by SIGTERM" in err
    else:
        assert code == 0, err
        frame = read_results(out)
        assert list(frame["status"]) == ["timeout"]  # one case, one row
        _assert_rows_intact(out / "results.csv")
    assert_group_gone(proc.pid)
    assert not psutil.pid_exists(manager.pid) or manager.status() == psutil.STATUS_ZOMBIE


def test_run_with_a_stopped_forkserver_writes_every_row(tmp_path):
    out = tmp_path / "run"
    proc = _run(out, "-m", "pipe", "--variant", "bytes", "-p", "pingpong", "-s", "64", "-n",
                "1", "--start-method", "forkserver")
    server = _helper(proc, _is_forkserver)
    _stop(server.pid)
    code, err = _finish(proc, 150)
    assert code == 0, err
    frame = read_results(out)
    assert len(frame) == 1 and frame["status"].iloc[0] in ("ok", "timeout", "failed"), err
    assert_group_gone(proc.pid)


def test_the_fork_server_goes_with_the_run(meta):
    """A run's fork server ends with it: stopped after the run's last case (the race in
    the test above when the case is done first), it held the run's stdout forever."""
    from ipcbench.core.schema import Case
    from ipcbench.core.settings import Settings
    from ipcbench.harness.plan import PlannedCase
    from ipcbench.harness.runner import run_planned
    from ipcbench.system.deadlines import forkserver_pid

    rows = []
    case = Case("pipe", "bytes", "pingpong", 64, 1, "forkserver")
    run_planned([PlannedCase(case)], Settings(sessions=1, max_sessions=1, repeats=1,
                                              max_messages=4), meta, rows.append)
    assert [r.status for r in rows] == ["ok"], rows[0].reason
    pid = forkserver_pid()
    assert pid is not None  # the case started one
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
