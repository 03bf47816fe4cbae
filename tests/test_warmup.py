"""A short warm-up repeat (Settings.warmup_share): how many messages it moves, that the
harness asks for it before full-length timed repeats, and that real peers of every
pattern move exactly that many, their sequence checks running on into the timed repeat."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fake_mechanism import FakeSession

from ipcbench.core.schema import Case
from ipcbench.core.settings import MATRICES, WARMUP_FLOOR_MESSAGES, Settings
from ipcbench.harness.runner import measure_session
from ipcbench.harness.session import CaseSession, derive_workload

QUARTER = Settings(sessions=1, repeats=2, warmup=1, warmup_share=0.25)


@pytest.mark.parametrize(("messages", "depth", "expected"), [
    (250, 0, 63),  # a quarter, rounded up
    (1000, 0, 250),
    (16, 0, WARMUP_FLOOR_MESSAGES),  # never fewer than a ring's slots
    (5, 0, 5),  # never more than a timed repeat
    (250, 100, 100),  # a deeper channel: every slot once
])
def test_a_short_warm_up_moves_its_share_but_fills_the_channel_once(messages, depth,
                                                                     expected):
    assert QUARTER.warmup_messages(messages, depth) == expected


def test_a_full_share_warms_up_over_a_whole_repeat():
    assert Settings().warmup_messages(250) == 250
    assert Settings(warmup_share=1.0).warmup_messages(7, depth=100) == 7


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
def test_a_share_outside_0_to_1_is_refused_by_name(share):
    with pytest.raises(ValueError, match=f"invalid warm-up share {share!r}"):
        Settings(warmup_share=share)


def test_quick_and_default_warm_up_short_and_the_full_matrix_over_whole_repeats():
    assert MATRICES["quick"].settings.warmup_share < 1
    assert MATRICES["default"].settings.warmup_share < 1
    assert MATRICES["full"].settings.warmup_share == 1


def test_the_session_warms_up_short_then_times_whole_repeats():
    case = Case("pipe", "bytes", "stream", 64, 2, "fork")
    made = []

    def make(case, settings):
        workload = derive_workload(case, 40, None)
        made.append(FakeSession(case, workload))
        return made[-1]

    result = measure_session(case, replace(QUARTER, warmup=2), 0, make_session=make)
    assert made[0].repeat_messages == [10, 10, 40, 40]
    # Only the timed repeats are in the session's figure: 2 x 40 per producer.
    assert result.messages == 2 * 40 * case.procs


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("mechanism", "variant", "pattern", "procs"), [
    ("pipe", "bytes", "pingpong", 2),
    ("queue", "default", "stream", 2),
    ("shm", "ring8", "stream", 1),
    ("queue", "default", "workqueue", 2),
    ("pipe", "bytes", "fanout", 2),
    ("value", "locked", "counter", 2),
    ("queue", "default", "reqrep", 2),
    ("shm", "ring8", "pipeline", 2),
    ("pipe", "pickle", "bidir", 1),
    ("pipe", "bytes", "broadcast", 2),
    ("thread-queue", "queue", "stream", 2),
])
def test_real_peers_move_exactly_a_short_repeat_then_a_whole_one(mechanism, variant,
                                                                  pattern, procs):
    size = 8 if pattern == "counter" else 256
    case = Case(mechanism, variant, pattern, size, procs, "fork")
    whole = 40
    with CaseSession(case, derive_workload(case, whole, None)) as session:
        short = session.run_repeat(0, 10)
        timed = session.run_repeat(1)
    # Each repeat's count is checked by the peers and the harness (sequences, shares,
    # the counter's total); a short one delivers exactly a quarter of a whole one's.
    per_repeat = procs if case.kind.round_trip else case.kind.delivered(procs)
    assert (short.messages, timed.messages) == (10 * per_repeat, whole * per_repeat)


@pytest.mark.parametrize("messages", [0, 41])
def test_a_repeat_of_no_messages_or_more_than_the_workload_is_refused(messages):
    case = Case("pipe", "bytes", "stream", 64, 1, "fork")
    session = CaseSession(case, derive_workload(case, 40, None))
    with pytest.raises(ValueError, match=f"a repeat of {messages} messages"):
        session.run_repeat(0, messages)
