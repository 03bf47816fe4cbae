"""nng through pynng: every variant x pattern with real peers (pair and pub/sub
pingpong, push/pull stream and fan-out), one case under spawn, a killed producer and a
corrupted payload, and the skipped rows when pynng is absent. Structure and correctness
only, never speed; conftest's leak checks cover peers, and no_temp_dirs_left the ipc://
socket folders."""

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

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90),
              pytest.mark.usefixtures("no_temp_dirs_left")]
needs_pynng = pytest.mark.skipif(bool(unavailable_reason("nng")),
                                 reason="optional module pynng is not installed")


def test_nng_variants_and_their_patterns():
    info = REGISTRY["nng"]
    assert info.requires == "pynng"
    assert {v.name: v.patterns for v in info.variants} == {
        "pair": ("pingpong",), "pushpull": ("stream", "fanout", "broadcast", "pipeline"),
        "pubsub": ("pingpong",)}
    assert set(info.why_not) == {"reqrep", "bidir"}


@needs_pynng
@pytest.mark.parametrize("case", [
    Case("nng", "pair", "pingpong", 64, 1, "fork"),
    Case("nng", "pubsub", "pingpong", 64 << 10, 2, "fork"),
    Case("nng", "pushpull", "stream", 64 << 10, 2, "fork"),
    Case("nng", "pushpull", "fanout", 64, 2, "fork"),
    Case("nng", "pair", "pingpong", 2 << 20, 1, "fork"),  # above nng's 1 MiB default
    Case("nng", "pubsub", "pingpong", 4096, 1, "spawn"),
], ids=lambda c: c.label)
def test_nng_cases_run_verified(meta, case):
    settings = replace(SMALL, max_messages=8) if case.size_bytes > 1 << 20 else SMALL
    assert_ok(run_case(case, settings, meta), case, settings)


@needs_pynng
def test_nng_producer_killed_mid_stream_fails_the_case(meta):
    case = Case("nng", "pushpull", "stream", 4096, 2, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("kill", "producer")), meta)
    assert row.status == "failed", row
    assert "producer#0" in row.reason and "SIGKILL" in row.reason


@needs_pynng
def test_nng_corrupted_payload_is_detected(meta):
    case = Case("nng", "pubsub", "pingpong", 1024, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "ping")), meta)
    assert row.status == "failed", row
    assert "PayloadMismatch" in row.reason


def test_nng_without_pynng_is_skipped_naming_the_extra(monkeypatch):
    monkeypatch.setattr(mechanisms, "_installed", lambda module: module != "pynng")
    planned = expand(["nng"], ["pingpong", "stream"], [64], [1], ["fork"])
    assert len(planned) == 3
    for item in planned:
        assert "pip install 'ipcbench[nng]'" in item.skip_reason
