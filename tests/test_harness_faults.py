"""Fault injection at the level of the whole harness (issue 4): peers SIGKILLed
mid-transfer, the harness interrupted by SIGINT/SIGTERM or SIGKILLed with its whole
process group, and oversubscribed runs. Each test asserts a clear outcome within a
bounded time, every CSV row intact, no process and no /dev/shm segment left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from process_groups import assert_group_gone

from ipcbench.core.faults import Fault
from ipcbench.core.results import COLUMNS, read_results
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.runner import run_case
from ipcbench.system import hygiene

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SMALL = Settings(
    sessions=1, repeats=2, warmup=1, target_bytes=1 << 20, min_messages=8, max_messages=40,
    increments=2000,
)

# A run long enough to be interrupted part-way: many cases, each a few hundred ms.
LONG_RUN = [
    "run", "--mechanism", "shm", "queue", "--pattern", "stream", "pingpong",
    "--size", "1MiB", "4MiB", "--procs", "1", "2", "--sessions", "1", "--repeats", "20",
    "--placement", "unpinned",
    "--no-charts", "--no-progress", "--no-baselines", "--seed", "1",
]  # fmt: skip


@pytest.mark.parametrize(
    ("mechanism", "variant"),
    [("pipe", "bytes"), ("queue", "default"), ("value", "array"), ("shm", "segment")],
)
@pytest.mark.parametrize(("pattern", "role"), [("stream", "producer"), ("pingpong", "ping")])
def test_peer_sigkilled_mid_transfer_fails_the_case(meta, mechanism, variant, pattern, role):
    case = Case(mechanism, variant, pattern, 256 << 10, 2, "fork")
    started = time.monotonic()
    row = run_case(case, replace(SMALL, fault=Fault("kill", role)), meta)
    assert row.status == "failed"
    assert f"{role}#0" in row.reason and "SIGKILL" in row.reason, row.reason
    assert time.monotonic() - started < 30  # detected through the sentinel, not a deadline


def test_incrementer_killed_while_holding_the_lock_fails_the_case(meta):
    # The other incrementers block on the orphaned lock forever: only the harness's
    # sentinel watch can end this case.
    case = Case("value", "locked", "counter", 8, 4, "fork")
    settings = replace(SMALL, fault=Fault("kill", "incrementer"))
    row = run_case(case, settings, meta)
    assert row.status == "failed"
    assert "incrementer#0" in row.reason and "SIGKILL" in row.reason, row.reason


@pytest.mark.parametrize(
    "case",
    [
        Case("queue", "default", "stream", 64, 64, "fork"),
        Case("pipe", "bytes", "stream", 4096, 64, "fork"),
        Case("shm", "segment", "stream", 4096, 64, "fork"),
        Case("value", "locked", "counter", 8, 64, "fork"),
    ],
    ids=lambda c: c.label,
)
def test_64_processes_on_two_cores_finish(meta, case):
    row = run_case(case, Settings(sessions=1, repeats=1,
                                  warmup=0, max_messages=20, increments=200), meta)
    assert row.status == "ok", row.reason
    per_repeat = 200 if case.pattern == "counter" else 20
    assert row.messages == per_repeat * 64


# -- the harness itself ------------------------------------------------------------------
def _start(out: Path, *extra: str) -> subprocess.Popen:
    # A session of its own: the test can signal the harness's whole process group.
    return subprocess.Popen(
        [sys.executable, "-m", "ipcbench", *LONG_RUN, *extra, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_rows(path: Path, rows: int, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Poll until the harness has written `rows` data rows (a condition, not a guess)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) > rows:
            return
        assert proc.poll() is None, f"harness ended early: {proc.communicate()}"
        time.sleep(0.05)
    raise AssertionError(f"no {rows} rows in {path} after {timeout_s}s")


def _assert_rows_intact(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == list(COLUMNS)
    frame = read_results(path)  # every row parses, in the current schema
    assert len(frame) == len(lines) - 1
    assert set(frame["status"]) <= {"ok", "skipped", "failed", "timeout"}


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_run_cleanly(tmp_path, signum, code):
    out = tmp_path / "run"
    proc = _start(out)
    try:
        _wait_for_rows(out / "results.csv", 2, proc)
        before = (out / "results.csv").read_text().splitlines()
        # Ctrl-C reaches the whole foreground group; SIGTERM usually the harness alone.
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == code, stderr
    assert "finished row(s) kept in" in stderr and "Traceback" not in stderr, stderr
    assert "to finish the run: ipcbench run " in stderr and f"--resume {out}" in stderr
    after = (out / "results.csv").read_text().splitlines()
    assert after[: len(before)] == before  # earlier rows untouched
    _assert_rows_intact(out / "results.csv")
    assert_group_gone(proc.pid)
    assert not [s for s in os.listdir("/dev/shm") if s.startswith(f"ipcb_{proc.pid}_")]


def test_sigkill_of_the_process_group_then_sweep(tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    prefix = f"ipcb_{proc.pid}_"
    try:
        _wait_for_rows(out / "results.csv", 1, proc)
        deadline = time.monotonic() + 60
        while not [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]:
            assert time.monotonic() < deadline, "no shm case started"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # nothing of the harness runs its cleanup
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert_group_gone(proc.pid)
    _assert_rows_intact(out / "results.csv")
    # `ipcbench clean` removes what the dead run left (and nothing of live runs).
    cleaned = subprocess.run(
        [sys.executable, "-m", "ipcbench", "clean"], capture_output=True, text=True, timeout=60
    )
    assert cleaned.returncode == 0, cleaned.stderr
    assert not [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]
    assert hygiene.stale_segments() == []


@pytest.mark.parametrize("case", [Case("value-raw", "lock", "counter", 8, 2, "fork"),
                                  Case("pipe", "bytes", "pingpong", 64, 1, "fork")],
                         ids=lambda c: c.label)
def test_a_peer_killed_between_repeats_is_named_not_a_broken_pipe(case):
    # The next repeat's "go" meets a closed pipe: the reason names the peer and signal.
    from ipcbench.harness.session import CaseSession, derive_workload
    from ipcbench.mechanisms.base import PeerFailed

    with CaseSession(case, derive_workload(case, 20, None)) as session:
        session.run_repeat(0)
        victim = session.processes[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(10)
        with pytest.raises(PeerFailed) as failure:
            session.run_repeat(1)
    assert f"{session.specs[0].name} (pid {victim.pid})" in str(failure.value)
    assert "SIGKILL" in str(failure.value)


@pytest.mark.parametrize("case", [Case("zmq", "ipc", "stream", 4096, 2, "fork"),
                                  Case("value", "locked", "counter", 8, 2, "fork")],
                         ids=lambda c: c.label)
def test_a_peer_killed_after_its_last_message_leaves_the_row_ok(meta, case):
    """Why some peer kills left an ok, verified row: the kill landed after the session's
    last repeat had been received and checked. Nothing of the measurement was lost, so
    the row is right to stay ok; a kill before that fails it (tests above)."""
    if case.mechanism == "zmq":
        pytest.importorskip("zmq")
    from ipcbench.harness.session import CaseSession, derive_workload

    settings = replace(SMALL, sessions=1)
    last = settings.warmup + settings.repeats - 1
    killed = []

    class KilledAtTheEnd(CaseSession):
        def run_repeat(self, index, messages=None):
            outcome = super().run_repeat(index, messages)
            if index == last:  # every message of the session is in and verified
                victim = self.processes[0]
                os.kill(victim.pid, signal.SIGKILL)
                victim.join(10)
                killed.append(victim.exitcode)
            return outcome

    def make_session(case, settings):
        workload = derive_workload(case, settings.messages_for(case), settings.deadline_s)
        return KilledAtTheEnd(case, workload, settings.seed, settings.fault)

    row = run_case(case, settings, meta, make_session=make_session)
    assert killed == [-signal.SIGKILL]
    assert row.status == "ok" and row.verified, row.reason
