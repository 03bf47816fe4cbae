"""A signal inside an shm-view case leaves no segment (issue 22). Two windows were
found: the polite part of a session's close (its joins last up to 5 s; a signal there
skipped the unlinking) and a segment's own constructor (between shm_open and the
return, so no list of things to unlink holds the segment). The first two tests put
the interruption exactly there; the last interrupts a real run at many moments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from multiprocessing import resource_tracker

import pytest
from process_groups import assert_group_gone

from ipcbench.cli.signals import Interrupted
from ipcbench.core.schema import Case
from ipcbench.harness.session import CaseSession, derive_workload
from ipcbench.system import hygiene

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

VIEW_CASE = Case("pipe", "bytes", "pingpong", 64 << 10, 1, "fork", payload="shm-view")


def _view_segments(pid: int) -> list[str]:
    return [n for n in os.listdir("/dev/shm") if n.startswith(f"ipcb_{pid}_") and "view" in n]


def test_a_signal_during_the_polite_close_still_unlinks_the_pools(monkeypatch):
    def interrupted(self):
        raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(CaseSession, "_ask_to_stop", interrupted)
    with pytest.raises(Interrupted):
        with CaseSession(VIEW_CASE, derive_workload(VIEW_CASE, 10, None)) as session:
            assert _view_segments(os.getpid())  # the pools exist while the peers run
            session.run_repeat(0)
    assert _view_segments(os.getpid()) == []
    assert session.processes == [] and session.pools == []


def test_a_segment_whose_constructor_was_interrupted_goes_at_the_runs_end(monkeypatch):
    # The segment exists in /dev/shm, yet its constructor never returned: only the
    # run's end (hygiene.remove_own, called by `ipcbench run` last) can find it.
    register = resource_tracker.register

    def interrupted(name, rtype):
        register(name, rtype)
        if "view" in name:
            raise Interrupted(signal.SIGINT)

    monkeypatch.setattr(resource_tracker, "register", interrupted)
    with pytest.raises(Interrupted):
        with CaseSession(VIEW_CASE, derive_workload(VIEW_CASE, 10, None)):
            pass
    monkeypatch.undo()
    left = _view_segments(os.getpid())
    assert len(left) == 1  # what the window leaves without the run's last step
    assert hygiene.remove_own() == left
    assert _view_segments(os.getpid()) == []
    for name in left:  # the tracker would otherwise warn of a "leaked" segment at exit
        resource_tracker.unregister(f"/{name}", "shared_memory")


# Seconds after the first view segment appears: its session's start, repeats and close,
# then the next sessions' (each session makes its pools anew).
MOMENTS_S = (0.0, 0.003, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3, 0.45, 0.7)
VIEW_RUN = ["run", "-m", "pipe", "--variant", "bytes", "--payload", "shm-view", "-p", "pingpong",
            "-s", "64KiB", "-n", "1", "--placement", "unpinned", "--sessions", "30",
            "--repeats", "1", "--warmup", "0", "--no-baselines", "--no-charts", "--no-progress"]


@pytest.mark.parametrize("moment_s", MOMENTS_S)
def test_sigint_at_any_moment_of_an_shm_view_run_leaves_no_segment(tmp_path, moment_s):
    proc = subprocess.Popen([sys.executable, "-m", "ipcbench", *VIEW_RUN,
                             "--out", str(tmp_path / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _view_segments(proc.pid):  # a condition: the case's first pool is made
            assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
            assert time.monotonic() < deadline, "no shm-view segment within 60 s"
            time.sleep(0.001)
        time.sleep(moment_s)  # choosing the moment of the signal, not waiting out a race
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert_group_gone(proc.pid)
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"ipcb_{proc.pid}_")]
