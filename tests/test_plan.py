"""Case records and matrix expansion."""

from __future__ import annotations

import pytest

from ipcbench.core.patterns import COUNTER_SIZE_BYTES
from ipcbench.core.schema import MAX_PROCS, Case
from ipcbench.harness.plan import Axes, expand, plan, runnable_cases


def _expand_pipe_value(**overrides):
    axes = {
        "mechanisms": ["pipe", "value"],
        "patterns": ["pingpong", "stream", "counter"],
        "sizes_bytes": [64, 4096],
        "procs": [1, 2],
        "start_methods": ["fork"],
    }
    axes.update(overrides)
    return expand(**axes)


def test_expand_exact_count_and_skips():
    planned = _expand_pipe_value()
    # pipe: 2 variants x {pingpong, stream} x 2 sizes x 2 procs = 16, + counter skipped x 2 procs
    # value: array x {pingpong, stream} x 2 x 2 = 8, + locked counter x 2 procs
    assert len(planned) == 16 + 2 + 8 + 2
    skipped = [p for p in planned if p.skip_reason]
    assert [(p.case.mechanism, p.case.pattern, p.case.procs) for p in skipped] == [
        ("pipe", "counter", 1),
        ("pipe", "counter", 2),
    ]
    for item in skipped:
        assert "pipe does not support the counter pattern" in item.skip_reason
        assert "pingpong, stream" in item.skip_reason
    assert len(list(runnable_cases(planned))) == 16 + 8 + 2


def test_expand_counter_ignores_size_axis():
    planned = _expand_pipe_value(mechanisms=["value"], patterns=["counter"],
                                 sizes_bytes=[64, 4096, 1 << 20])
    assert [(p.case.variant, p.case.size_bytes, p.case.procs) for p in planned] == [
        ("locked", COUNTER_SIZE_BYTES, 1),
        ("locked", COUNTER_SIZE_BYTES, 2),
    ]
    assert not any(p.skip_reason for p in planned)


def test_expand_deduplicates_repeated_axis_values():
    once = _expand_pipe_value()
    twice = _expand_pipe_value(sizes_bytes=[64, 4096, 64], procs=[1, 2, 2, 1])
    assert [p.case for p in twice] == [p.case for p in once]
    assert len({p.case for p in twice}) == len(twice)


def test_expand_variant_filter_turns_unsupported_pattern_into_skip():
    planned = _expand_pipe_value(mechanisms=["value"], patterns=["pingpong", "counter"],
                                 sizes_bytes=[64], procs=[1], variants=["locked"])
    assert [(p.case.variant, p.case.pattern, bool(p.skip_reason)) for p in planned] == [
        ("locked", "pingpong", True),
        ("locked", "counter", False),
    ]


def test_expand_crosses_start_methods():
    planned = _expand_pipe_value(mechanisms=["queue"], patterns=["stream"], sizes_bytes=[64],
                                 procs=[1], start_methods=["fork", "spawn"])
    assert [p.case.start_method for p in planned] == ["fork", "spawn"]


def test_case_label_and_peer_count():
    case = Case("pipe", "bytes", "pingpong", 4096, 2, "fork")
    # Every identity field, in a stable order (later axes may append to it).
    assert case.label.startswith("pipe-bytes-pingpong-4KiB-p2-fork")
    assert case.label != Case("pipe", "bytes", "pingpong", 4096, 2, "spawn").label
    assert case.peer_count == 4
    assert Case("shm", "segment", "stream", 64, 3, "spawn").peer_count == 4
    assert Case("value", "locked", "counter", 8, 3, "fork").peer_count == 3


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"pattern": "multicast"}, "unknown pattern 'multicast'"),
        ({"size_bytes": 0}, "invalid size 0"),
        ({"procs": 0}, "invalid procs 0"),
        ({"procs": MAX_PROCS + 1}, f"invalid procs {MAX_PROCS + 1}"),
    ],
)
def test_case_rejects_bad_values(kwargs, needle):
    fields = {"mechanism": "pipe", "variant": "bytes", "pattern": "stream", "size_bytes": 64,
              "procs": 1, "start_method": "fork"}
    with pytest.raises(ValueError, match=needle):
        Case(**{**fields, **kwargs})


def test_the_default_matrix_keeps_the_seeds_three_producers_on_one_queue():
    from ipcbench.core.settings import MATRICES

    default = MATRICES["default"]
    planned = plan(default, Axes(["fork"]))
    seed = {(p.case.size_bytes, p.case.placement) for p in planned
            if (p.case.mechanism, p.case.pattern, p.case.procs) == ("queue", "stream", 3)}
    assert seed == {(s, pl) for s in default.sizes_bytes for pl in default.placements}
    assert any(p.case.pattern == "counter" and p.case.procs == 4 for p in planned)
    # Explicit process counts or another mechanism: exactly what was asked.
    assert not [p for p in plan(default, Axes(["fork"], procs=[1])) if p.case.procs == 3]
    assert not [p for p in plan(default, Axes(["fork"], mechanisms=["pipe"])) if p.case.procs == 3]


def test_the_quick_matrix_streams_two_producers_on_the_seed_channels_only():
    from ipcbench.core.settings import MATRICES

    quick = MATRICES["quick"]
    runnable = list(runnable_cases(plan(quick, Axes(["fork"]))))
    two = {(c.mechanism, c.size_bytes) for c in runnable
           if c.pattern == "stream" and c.procs == 2}
    # Its pattern_procs leave streams at one producer; the extra shapes add two back
    # for pipe, Queue and shared memory (the seed's producers -> consumer), every size.
    assert two == {(m, s) for m in ("pipe", "queue", "shm") for s in quick.sizes_bytes}
    one = {c.mechanism for c in runnable if c.pattern == "stream" and c.procs == 1}
    assert {"pipe", "queue", "shm", "os-pipe", "tcp"} <= one
    # Asked for two producers: every channel streams with two.
    asked = plan(quick, Axes(["fork"], patterns=["stream"], procs=[2]))
    assert {"os-pipe", "tcp"} <= {c.mechanism for c in runnable_cases(asked)}
