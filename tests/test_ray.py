"""ray: numpy arrays between Ray actors through the object store (optional). Kept small:
Ray's start-up takes seconds, so one run covers every pattern (Ray started once, stopped
at the run's end, nothing left behind); a start-up that hangs ends as a timeout row
within its deadline and fails the run's later ray cases at once; without the module, or
with another payload kind, cases are skipped rows with the reason."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
import time

import psutil
import pytest

from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_planned
from ipcbench.mechanisms import REGISTRY, unavailable_reason

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240),
              pytest.mark.usefixtures("one_ray_at_a_time")]
needs_ray = pytest.mark.skipif(bool(unavailable_reason("ray")),
                               reason="optional module ray is not installed")

SMALL = Settings(sessions=2, repeats=2, warmup=1, target_bytes=64 << 10, min_messages=4,
                 max_messages=12)


def _ray_folders() -> list[str]:
    prefix = f"ipcb_{os.getpid()}_"
    return [n for n in os.listdir(tempfile.gettempdir())
            if n.startswith(prefix) and n.endswith("_ray")]


@needs_ray
def test_every_pattern_in_one_run_with_ray_started_once(meta, monkeypatch):
    import ray

    from ipcbench.mechanisms import ray_runtime

    starts = []
    real_init = ray.init
    monkeypatch.setattr(ray, "init", lambda **kw: (starts.append(kw), real_init(**kw))[1])
    planned = expand(["ray"], ["pingpong", "stream", "fanout"], [4096], [1, 2], ["fork"],
                     placements=["same-core"], payloads=["numpy"])
    rows = []
    run_planned(planned, SMALL, meta, rows.append)
    assert len(rows) == 6
    for row in rows:
        assert row.status == "ok", f"{row.pattern} p{row.procs}: {row.reason}"
        assert row.verified is True and row.sessions == SMALL.sessions
        case = next(p.case for p in planned
                    if (p.case.pattern, p.case.procs) == (row.pattern, row.procs))
        # Exact: every round trip / message of every timed repeat of every session.
        assert row.messages == (SMALL.messages_for(case) * case.procs * SMALL.repeats
                                * SMALL.sessions)
        assert row.cpu_s_per_msg > 0
    assert len(starts) == 1  # once per run, at the first ray case
    kwargs = starts[0]
    assert kwargs["object_store_memory"] == ray_runtime.STORE_BYTES
    assert kwargs["include_dashboard"] is False
    assert kwargs["_node_ip_address"] == "127.0.0.1"
    # Stopped at the run's end: no Ray process, no session folder.
    assert not ray.is_initialized()
    assert _ray_folders() == []
    assert ray_runtime.ray_processes() == []


@needs_ray
def test_a_hung_start_is_a_timeout_row_and_later_cases_fail_at_once(meta, monkeypatch):
    import ray

    from ipcbench.mechanisms import ray_runtime

    release = threading.Event()
    monkeypatch.setattr(ray, "init", lambda **kw: release.wait(20))  # never comes up
    monkeypatch.setattr(ray_runtime, "START_S", 1.0)
    planned = expand(["ray"], ["pingpong", "stream"], [4096], [1], ["fork"],
                     payloads=["numpy"])
    rows = []
    started = time.monotonic()
    try:
        run_planned(planned, SMALL, meta, rows.append)
    finally:
        release.set()
    assert time.monotonic() - started < 15  # 1 s deadline + the give-up grace, not 20 s
    assert [r.status for r in rows] == ["timeout", "failed"]
    assert "starting Ray did not finish within 1.0s" in rows[0].reason
    assert rows[1].reason.startswith("Ray could not start in this run: CaseTimeout")
    assert ray_runtime._RUNTIME.error == ""  # the run's end resets it for the next run


@needs_ray
def test_window_keeps_the_store_from_filling():
    from ipcbench.mechanisms.ray_store import STORE_BYTES, window_for

    assert window_for(1, 4096) == 8
    assert window_for(1, 16 << 20) == 4  # a quarter of 256 MB holds 4 of them
    assert window_for(4, 16 << 20) == 1
    assert window_for(2, 64 << 20) * 2 * (64 << 20) > STORE_BYTES // 4  # never below 1


def test_only_the_numpy_payload_and_an_install_hint_without_the_module(monkeypatch):
    # Whether or not ray is installed here (the README's `.[dev]` leaves it out), the
    # payload restriction is the reason once the module is there.
    monkeypatch.setitem(REGISTRY, "ray", dataclasses.replace(REGISTRY["ray"], requires=""))
    planned = expand(["ray"], ["pingpong"], [4096], [1], ["fork"], payloads=["bytes", "numpy"])
    reasons = {p.case.payload: p.skip_reason for p in planned}
    assert "ray does not carry the bytes payload (it carries: numpy)" in reasons["bytes"]
    assert reasons["numpy"] == ""
    info = dataclasses.replace(REGISTRY["ray"], requires="ipcbench_no_ray")
    monkeypatch.setitem(REGISTRY, "ray", info)
    reason = unavailable_reason("ray")
    assert "ipcbench_no_ray" in reason and "pip install 'ipcbench[" in reason
    planned = expand(["ray"], ["pingpong", "stream", "fanout"], [4096], [1], ["fork"],
                     payloads=["numpy"])
    assert planned and all(p.skip_reason == reason for p in planned)


def test_no_ray_process_outlives_the_tests():
    from ipcbench.mechanisms import ray_runtime

    names = {p.name() for p in psutil.Process().children(recursive=True)
             if p.is_running()}
    assert not names & {"raylet", "gcs_server"}
    assert ray_runtime._RUNTIME.up is False
