"""MPI through mpi4py and the mpich package's mpiexec: every variant x pattern with real
ranks, verified; a rank killed mid-case gives a failed row and leaves no process of the
job behind; a corrupted payload is caught; the skipped rows (same-core busy-polling,
fan-out, no mpiexec, mpi4py absent). Structure and correctness only, never speed."""

from __future__ import annotations

import os
from dataclasses import replace

import psutil
import pytest
from test_every_other_channel import SMALL, assert_ok

from ipcbench import mechanisms
from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY, unavailable_reason
from ipcbench.mechanisms import mpi as mpi_module
from ipcbench.system import hygiene

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120),
              pytest.mark.usefixtures("no_temp_dirs_left")]
needs_mpi = pytest.mark.skipif(bool(unavailable_reason("mpi") or mpi_module.limit_reason(
    Case("mpi", "buffer", "pingpong", 64, 1, "fork"))), reason="mpi4py or mpich not installed")


def _job_processes() -> list[psutil.Process]:
    """Processes of this process's mpi jobs (mpiexec, its proxy, ranks) still alive,
    known by the session's socket address in their environment (it carries this
    process's run prefix): another run's jobs on the machine are not ours."""
    mine = hygiene.run_prefix()
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if not ("ipcbench.peer.mpi_rank" in cmdline or "hydra_pmi_proxy" in cmdline) or \
                process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if mine in process.environ().get(mpi_module.ADDRESS_ENV, ""):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _mpich_segments() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("mpich_shm_")}


@pytest.fixture(autouse=True)
def no_segments_left(one_mpi_job_at_a_time):
    """MPICH's shared-memory files: a killed or aborted job leaves them unless the
    session removes them."""
    before = _mpich_segments()
    yield
    assert _mpich_segments() - before == set()


@needs_mpi
@pytest.mark.parametrize("variant", ["buffer", "pickle", "window"])
@pytest.mark.parametrize("pattern", ["pingpong", "stream"])
def test_mpi_cases_run_verified(meta, variant, pattern):
    case = Case("mpi", variant, pattern, 4096, 1, "fork", "cross-core")
    assert_ok(run_case(case, SMALL, meta), case)
    assert _job_processes() == []


@needs_mpi
def test_mpi_two_pairs_and_two_producers(meta):
    for pattern in ("pingpong", "stream"):
        case = Case("mpi", "buffer", pattern, 64, 2, "fork", "unpinned")
        assert_ok(run_case(case, SMALL, meta), case)


@needs_mpi
@pytest.mark.parametrize("role", ["pong", "producer"])
def test_mpi_rank_killed_mid_case_fails_and_leaves_no_orphan(meta, role):
    pattern = "pingpong" if role == "pong" else "stream"
    case = Case("mpi", "buffer", pattern, 4096, 1, "fork", "cross-core")
    row = run_case(case, replace(SMALL, fault=Fault("kill", role)), meta)
    assert row.status == "failed", row
    assert "mpiexec exited" in row.reason
    assert _job_processes() == []


@needs_mpi
def test_mpi_corrupted_payload_is_detected(meta):
    case = Case("mpi", "window", "pingpong", 1024, 1, "fork", "cross-core")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "ping")), meta)
    assert row.status == "failed", row
    assert "PayloadMismatch" in row.reason
    assert _job_processes() == []


def test_mpi_skipped_rows_say_why(monkeypatch):
    assert REGISTRY["mpi"].requires == "mpi4py"
    monkeypatch.setattr(mpi_module, "mpiexec_path", lambda: "/usr/bin/mpiexec")
    # As if mpi4py were installed (without it, its absence is the first reason given).
    monkeypatch.setattr(mechanisms, "_installed", lambda module: True)
    planned = expand(["mpi"], ["pingpong", "fanout"], [64], [1], ["fork"],
                     variants=["buffer"], placements=["same-core", "cross-core"], cpus=[0, 1])
    reasons = {(p.case.pattern, p.case.placement): p.skip_reason for p in planned}
    assert "busy-polling needs every peer on its own CPU" in reasons["pingpong", "same-core"]
    assert "ping-pong and stream only" in reasons["fanout", "cross-core"]
    monkeypatch.setattr(mpi_module, "mpiexec_path", lambda: "")
    assert "pip install 'ipcbench[mpi]'" in mpi_module.limit_reason(
        Case("mpi", "buffer", "pingpong", 64, 1, "fork"))
    monkeypatch.setattr(mechanisms, "_installed", lambda module: module != "mpi4py")
    assert "pip install 'ipcbench[mpi]'" in unavailable_reason("mpi")
