"""Subinterpreters (mechanisms/interp_queue.py): on Python 3.13+ real cases with the
partners in isolated interpreters (own GIL) and every check of the timing peer; on older
Pythons skipped rows naming the version needed. CI and tox run this file on 3.13 too
(.ci/run). Structure and correctness only, never speed."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from ipcbench.core.faults import Fault
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms import unavailable_reason

HAS_QUEUES = sys.version_info >= (3, 13)
needs_queues = pytest.mark.skipif(not HAS_QUEUES, reason="interpreter queues need 3.13+")
pytestmark = [pytest.mark.timeout(90)]

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=256 << 10, min_messages=4,
                 max_messages=40)


@pytest.mark.skipif(HAS_QUEUES, reason="this Python has interpreter queues")
def test_older_pythons_skip_naming_the_version_needed():
    planned = expand(["interpreters"], ["pingpong", "stream"], [64], [1], ["fork"])
    assert len(planned) == 2
    for item in planned:
        assert "needs Python 3.13 or newer" in item.skip_reason
        assert sys.version.split()[0] in item.skip_reason


def test_what_interpreters_cannot_carry_is_skipped_with_the_reason():
    planned = expand(["interpreters"], ["pingpong", "workqueue"], [64], [1], ["fork"],
                     payloads=["object"])
    assert planned and all(p.skip_reason for p in planned)
    fanout = expand(["interpreters"], ["fanout"], [64], [2], ["fork"])
    assert all("numpy" in p.skip_reason or "3.13" in p.skip_reason for p in fanout)


@needs_queues
@pytest.mark.integration
@pytest.mark.parametrize(("pattern", "procs", "size", "start_method"), [
    ("pingpong", 1, 64, "fork"),
    ("pingpong", 2, 4096, "fork"),
    ("stream", 2, 65536, "fork"),
    ("stream", 1, 4, "spawn"),  # below the header: sent as is, body checked
])
def test_interpreter_cases_are_verified_like_process_channels(meta, pattern, procs, size,
                                                               start_method):
    assert unavailable_reason("interpreters") == ""
    case = Case("interpreters", "queue", pattern, size, procs, start_method, "cross-core")
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.verified is True
    assert row.messages == SMALL.messages_for(case) * procs * row.repeats
    assert row.cpu_s_per_msg > 0


@needs_queues
@pytest.mark.integration
def test_a_corrupt_message_from_an_interpreter_is_caught(meta):
    case = Case("interpreters", "queue", "stream", 4096, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("corrupt", "producer")), meta)
    assert row.status == "failed" and "PayloadMismatch" in row.reason, row.reason


@needs_queues
@pytest.mark.integration
def test_an_interpreter_partner_that_raises_is_named(meta):
    case = Case("interpreters", "queue", "pingpong", 64, 1, "fork")
    row = run_case(case, replace(SMALL, fault=Fault("raise", "pong")), meta)
    assert row.status == "failed" and "pong#0 raised" in row.reason, row.reason
