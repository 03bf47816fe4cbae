"""iceoryx2's publish-subscribe: pingpong and stream with real peers, verified (two
producers on one service, a message above 1 MiB, spawn); a producer killed mid-stream
fails the case and leaves no iceoryx2 file behind; the skipped rows when iceoryx2 is
absent or the placement cannot give every peer a CPU. Structure only, never speed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_every_other_channel import SMALL, assert_ok

from ipcbench import mechanisms
from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import REGISTRY, unavailable_reason
from ipcbench.system import hygiene

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90),
              pytest.mark.usefixtures("no_temp_dirs_left")]
needs_iox2 = pytest.mark.skipif(bool(unavailable_reason("iceoryx2")),
                                reason="optional module iceoryx2 is not installed")


def _iox_files() -> list[str]:
    """This process's iceoryx2 files (another run on the machine has its own prefix)."""
    mine = hygiene.run_prefix()
    return [p.name for p in hygiene.SHM_DIR.iterdir() if p.name.startswith(mine)
            and "_iox" in p.name]


@needs_iox2
@pytest.mark.parametrize("case", [
    Case("iceoryx2", "pubsub", "pingpong", 64, 1, "fork", "cross-core"),
    Case("iceoryx2", "pubsub", "stream", 64 << 10, 1, "fork", "cross-core"),
    Case("iceoryx2", "pubsub", "stream", 4096, 2, "fork", "unpinned"),
    Case("iceoryx2", "pubsub", "pingpong", 2 << 20, 1, "fork", "cross-core"),
    Case("iceoryx2", "pubsub", "pingpong", 4096, 1, "spawn", "cross-core"),
], ids=lambda c: c.label)
def test_iceoryx2_cases_run_verified(meta, case):
    settings = replace(SMALL, max_messages=8) if case.size_bytes > 1 << 20 else SMALL
    assert_ok(run_case(case, settings, meta), case, settings)
    assert _iox_files() == []


@needs_iox2
def test_iceoryx2_producer_killed_mid_stream_fails_and_leaves_nothing(meta):
    case = Case("iceoryx2", "pubsub", "stream", 4096, 1, "fork", "cross-core")
    row = run_case(case, replace(SMALL, fault=Fault("kill", "producer"), deadline_s=3.0), meta)
    assert row.status in ("failed", "timeout"), row
    assert "producer#0" in row.reason
    assert _iox_files() == []


def test_iceoryx2_skipped_rows_say_why(monkeypatch):
    assert REGISTRY["iceoryx2"].variant("pubsub").busy_polls
    # As if installed (a missing module is the first reason given; the quick start's
    # `pip install -e ".[dev]"` has no iceoryx2): the placement's reason comes next.
    monkeypatch.setattr(mechanisms, "_installed", lambda module: True)
    planned = expand(["iceoryx2"], ["pingpong"], [64], [1], ["fork"],
                     placements=["same-core"], cpus=[0, 1])
    assert "busy-polling needs every peer on its own CPU" in planned[0].skip_reason
    monkeypatch.setattr(mechanisms, "_installed", lambda module: module != "iceoryx2")
    planned = expand(["iceoryx2"], ["pingpong"], [64], [1], ["fork"],
                     placements=["cross-core"], cpus=[0, 1])
    assert "pip install 'ipcbench[iceoryx2]'" in planned[0].skip_reason
