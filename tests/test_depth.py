"""Channel depth (--depth): a case key every channel with an in-flight limit honours
(ring slots, Queue maxsize, zmq high-water marks, POSIX queue depth), a skipped row
naming why elsewhere, real runs at several depths with exact counts, the v6 -> v7
migration, the depth chart, and rankings that keep to each channel's own depth.
Structure and correctness only, never speed."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace

import pandas as pd
import pytest
from synthetic_runs import ok_row, write_run

from ipcbench.analysis.answer import answers
from ipcbench.analysis.runs import load_run
from ipcbench.cli.args import depth
from ipcbench.core.migrations import upgrade
from ipcbench.core.results import COLUMNS, read_results, rows_from_frame
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand, with_depths
from ipcbench.harness.runner import run_case
from ipcbench.mechanisms.posix_mq import MqLimits, limit_reason
from ipcbench.mechanisms.queue import MpQueueMechanism
from ipcbench.mechanisms.shm import ShmMechanism
from ipcbench.plotting.depth import depth_figures

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=64 << 10, min_messages=8,
                 max_messages=24)


def test_depth_is_a_validated_case_key():
    case = Case("shm", "ring8", "stream", 64, 1, "fork", depth=16)
    assert case.label.endswith("-d16") and "depth" in COLUMNS
    assert case.key[list(Case.__dataclass_fields__).index("depth")] == 16
    for bad in (-1, 5000):
        with pytest.raises(ValueError, match=f"invalid depth {bad}"):
            Case("shm", "ring8", "stream", 64, 1, "fork", depth=bad)
    assert depth("64") == 64
    assert depth("default") == 0
    for bad in ("0", "x", "4097"):
        with pytest.raises(ValueError, match=f"invalid depth '{bad}'"):
            depth(bad)


def test_depths_cross_the_channels_that_have_one_and_skip_the_others():
    planned = expand(["pipe", "queue", "shm", "value"], ["stream", "counter"], [64], [1],
                     ["fork"], cpus=[0, 1])
    crossed = with_depths(planned, [1, 8, 64])
    runs = sorted((p.case.mechanism, p.case.variant, p.case.depth)
                  for p in crossed if not p.skip_reason)
    assert runs == [(m, v, d) for m, v in (("queue", "default"), ("shm", "ring8"))
                    for d in (1, 8, 64)]
    reasons = {(p.case.mechanism, p.case.variant, p.case.pattern): p.skip_reason
               for p in crossed if p.skip_reason}
    assert reasons[("pipe", "bytes", "stream")] == "pipe bytes has no in-flight limit to set"
    assert "--depth applies to ring8 (ring slots)" in reasons[("shm", "segment", "stream")]
    assert "moves no messages" in reasons[("value", "locked", "counter")]
    # With the default asked for too, a channel without a depth is measured at its own.
    assert with_depths(planned, [0]) == planned
    with_default = with_depths(planned, [0, 8])
    assert ([p for p in with_default if p.skip_reason]
            == [p for p in planned if p.skip_reason])  # pipe's counter, shm's, ...
    assert sorted(p.case.depth for p in with_default if p.case.variant == "ring8") == [0, 8]


def test_the_mechanisms_set_what_the_depth_names():
    ctx = multiprocessing.get_context("fork")
    assert ShmMechanism(ctx, "ring8", 1024, "ipcb_test_", depth=3).layout.slots == 3
    assert ShmMechanism(ctx, "ring8", 1024, "ipcb_test_").layout.slots == 8
    assert ShmMechanism(ctx, "segment", 1024, "ipcb_test_", depth=3).layout.slots == 1
    mechanism = MpQueueMechanism(ctx, "default", 1024, "ipcb_test_", depth=5)
    senders, _ = mechanism.stream(1)
    assert senders[0].outbox._maxsize == 5
    mechanism.close()
    limits = MqLimits(msgsize_max=8192, msg_max=10, queues_max=256, rlimit_bytes=-1)
    too_deep = Case("posix-mq", "default", "stream", 64, 1, "fork", depth=64)
    assert "msg_max = 10" in limit_reason(too_deep, limits)
    assert limit_reason(replace(too_deep, depth=10), limits) == ""


@pytest.mark.integration
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("mechanism", "variant"), [("shm", "ring8"), ("queue", "default")])
@pytest.mark.parametrize("slots", [1, 64])
def test_a_run_at_a_depth_moves_every_message(meta, mechanism, variant, slots):
    case = Case(mechanism, variant, "stream", 4096, 2, "fork", depth=slots)
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.depth == slots and row.lat_samples == row.messages > 0


def test_a_v6_file_loads_with_the_default_depth_and_no_bursts():
    row = ok_row("pipe", "bytes", "stream", 64, 1, 1e4)
    frame = pd.DataFrame([row.__dict__]).drop(columns=["depth", "burst"])
    upgraded = upgrade(frame.assign(schema_version=6), 6)
    assert upgraded["depth"].tolist() == [0] and upgraded["burst"].tolist() == [1]
    assert list(upgraded.columns) == list(COLUMNS)


def _swept(tmp_path):
    rows = [ok_row("queue", "default", "stream", 4096, 1, 4000.0)]
    for slots, per_msg_ns in ((1, 8000.0), (8, 3000.0), (64, 2500.0)):
        for mechanism, variant, scale in (("queue", "default", 1.0), ("shm", "ring8", 0.5)):
            row = ok_row(mechanism, variant, "stream", 4096, 1, per_msg_ns * scale)
            rows.append(replace(row, depth=slots, lat_samples=1000,
                                lat_p50_ns=per_msg_ns * slots / 4))
    return write_run(tmp_path / "run", rows)


def test_the_depth_chart_draws_each_channel_against_depth(tmp_path):
    run = load_run(_swept(tmp_path))
    assert len(run.depths) == 6 and len(run.ok) == 1
    figures = depth_figures(run)
    assert list(figures) == ["depth-stream"]
    axes = [ax for ax in figures["depth-stream"].axes if ax.get_visible()]
    assert len(axes) == 2  # one workload: the figure of merit above, latency below
    top = axes[0]
    # Two channels swept at three depths, and the queue's own default as a level line.
    swept = [line for line in top.get_lines() if len(line.get_xdata()) == 3]
    assert len(swept) == 2
    assert sorted(swept[0].get_xdata()) == [1, 8, 64]
    assert depth_figures(load_run(write_run(tmp_path / "plain", [
        ok_row("queue", "default", "stream", 4096, 1, 4000.0)]))) == {}


def test_rankings_keep_to_each_channel_at_its_own_depth(tmp_path):
    # The sweep's shm rows are faster, but no channel at its own depth is beaten by
    # another at a depth the run set: the only ranked row is the queue's default.
    rows = rows_from_frame(read_results(_swept(tmp_path) / "results.csv"))
    (answer,) = answers(rows)
    assert (answer.best.mechanism, answer.best.depth) == ("queue", 0)
    assert answer.runner_up is None
