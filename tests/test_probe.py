"""The run's host probe with echo children kept for the run (harness/probe.py): one
child per placement, reused; a stalled or dead child is replaced, every wait bounded;
nothing outlives the probe (the autouse leftovers check)."""

from __future__ import annotations

import math
import os
import signal

import pytest

from ipcbench.harness import probe as probe_module
from ipcbench.harness.probe import EchoProbe
from ipcbench.system.affinity import ChildStalled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _child_pid(probe: EchoProbe, placement: str) -> int:
    return probe._echoes[placement].child.pid


def test_probes_of_a_placement_share_one_echo_child():
    with EchoProbe(round_trips=20, warmup=5) as probe:
        first = probe("same-core")
        pid = _child_pid(probe, "same-core")
        second = probe("same-core")
        assert _child_pid(probe, "same-core") == pid
        assert probe("unpinned") > 0
        assert len(probe._echoes) == 2
    assert all(0 < value < 1e9 and math.isfinite(value) for value in (first, second))
    assert probe._echoes == {}


def test_a_fresh_echo_is_warmed_longer_than_a_kept_one(monkeypatch):
    counts = []
    real = probe_module.round_trips_ns

    def counted(send_fd, reply_fd, count):
        counts.append(count)
        return real(send_fd, reply_fd, count)

    monkeypatch.setattr(probe_module, "round_trips_ns", counted)
    with EchoProbe(round_trips=20, warmup=5, kept_round_trips=8, kept_warmup=2) as probe:
        probe("same-core")
        probe("same-core")
        probe("unpinned")  # a placement's first probe starts its own echo
    assert counts == [25, 10, 25]


def test_a_stopped_echo_is_killed_at_the_deadline_and_replaced():
    with EchoProbe(round_trips=20, warmup=5, deadline_s=0.5) as probe:
        probe("same-core")
        stopped = _child_pid(probe, "same-core")
        os.kill(stopped, signal.SIGSTOP)
        with pytest.raises(ChildStalled, match="no progress within 0.5 s"):
            probe("same-core")
        assert "same-core" not in probe._echoes
        assert probe("same-core") > 0  # a fresh child
        assert _child_pid(probe, "same-core") != stopped


def test_a_dead_echo_fails_one_probe_with_an_os_error_and_is_replaced():
    with EchoProbe(round_trips=20, warmup=5) as probe:
        probe("same-core")
        dead = probe._echoes["same-core"].child
        dead.kill()
        dead.join(5)
        # The runner takes OSError and RuntimeError as "no probe for this session".
        with pytest.raises((OSError, RuntimeError)):
            probe("same-core")
        assert probe("same-core") > 0
        assert _child_pid(probe, "same-core") != dead.pid


def test_an_echo_ends_by_itself_once_the_harness_closes_its_ends():
    from ipcbench.harness.probe import _Echo

    echo = _Echo(())
    try:
        echo.close_ends()
        echo.child.join(10)
        assert echo.child.exitcode == 0
    finally:
        echo.close()
