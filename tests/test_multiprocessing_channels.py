"""The four multiprocessing channels (Pipe, Queue, Value, shared_memory): every
variant and supported pattern, with real peer processes, at small sizes: each case must come back
ok, verified, with exactly the expected counts.
Structure and correctness only: no assertion here looks at how fast anything was."""

from __future__ import annotations

import pytest

from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand
from ipcbench.harness.runner import run_case
from ipcbench.harness.session import CaseSession, derive_workload

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SMALL = Settings(sessions=1, repeats=2,
                 warmup=1, target_bytes=256 << 10, min_messages=4, max_messages=40,
                 increments=300)

# Pipe, Queue, Value and shared_memory; every other mechanism: test_every_other_channel.py.
CORE_MECHANISMS = ["pipe", "queue", "value", "shm"]

FORK_CASES = [
    p.case for p in expand(CORE_MECHANISMS, ["pingpong", "stream", "counter"], [64, 64 << 10],
                           [1, 2], ["fork"])
    if not p.skip_reason
]


def expected_messages(case: Case, settings: Settings) -> int:
    """Per repeat: N pairs x round trips, N producers x messages, N incrementers x increments."""
    return settings.messages_for(case) * case.procs * settings.repeats


def assert_ok(row, case: Case, settings: Settings = SMALL) -> None:
    assert row.status == "ok", f"{case.label}: {row.status}: {row.reason}"
    assert row.verified is True
    assert row.reason == ""
    assert row.messages == expected_messages(case, settings)
    assert row.repeats == settings.repeats
    assert (row.mechanism, row.variant, row.pattern, row.size_bytes, row.procs,
            row.start_method) == (case.mechanism, case.variant, case.pattern, case.size_bytes,
                                  case.procs, case.start_method)
    assert row.min_ns <= row.median_ns <= row.max_ns
    assert row.duration_ns > 0
    assert row.msgs_per_s > 0


def test_matrix_covers_every_public_mechanism_and_pattern():
    covered = {(c.mechanism, c.variant, c.pattern) for c in FORK_CASES}
    assert covered == {
        ("pipe", "bytes", "pingpong"), ("pipe", "bytes", "stream"),
        ("pipe", "pickle", "pingpong"), ("pipe", "pickle", "stream"),
        ("queue", "default", "pingpong"), ("queue", "default", "stream"),
        ("value", "array", "pingpong"), ("value", "array", "stream"),
        ("value", "locked", "counter"),
        ("shm", "segment", "pingpong"), ("shm", "segment", "stream"),
        ("shm", "ring8", "pingpong"), ("shm", "ring8", "stream"),
    }


@pytest.mark.parametrize("case", FORK_CASES, ids=lambda c: c.label)
def test_real_case_under_fork(meta, case):
    assert_ok(run_case(case, SMALL, meta), case)


# One small case per mechanism under the slower start methods (peers re-import Python).
SLOW_CASES = [
    Case(mechanism, variant, pattern, size, 2 if pattern == "stream" else 1, method)
    for method in ("spawn", "forkserver")
    for mechanism, variant, pattern, size in (
        ("pipe", "bytes", "pingpong", 4096),
        ("queue", "default", "stream", 4096),
        ("value", "array", "pingpong", 4096),
        ("value", "locked", "counter", 8),
        ("shm", "segment", "stream", 4096),
    )
]


@pytest.mark.parametrize("case", SLOW_CASES, ids=lambda c: c.label)
def test_real_case_under_other_start_methods(meta, case):
    assert_ok(run_case(case, SMALL, meta), case)


class MiscountingSession(CaseSession):
    """Adds one stray increment after the peers report, as a lost or doubled update would."""

    def _collect(self, expected, deadline_s):
        replies = super()._collect(expected, deadline_s)
        if expected == "result":
            with self.counter.get_lock():
                self.counter.value += 1
        return replies


def test_wrong_final_count_fails_the_counter_case(meta):
    case = Case("value", "locked", "counter", 8, 2, "fork")

    def make(case, settings):
        workload = derive_workload(case, settings.messages_for(case), settings.deadline_s)
        return MiscountingSession(case, workload)

    row = run_case(case, SMALL, meta, make_session=make)
    increments = SMALL.increments * case.procs
    assert row.status == "failed"
    assert f"shared counter ended at {increments + 1}, expected exactly {increments}" in row.reason
