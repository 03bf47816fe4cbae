"""Bursty open loop (--burst B with --rate R): each sender's schedule ticks every B / R
seconds and sends B messages at each tick, all stamped with the tick's time, so the later
messages of a burst count their queueing (no coordinated omission). The schedule on a
virtual clock (exact), the case key and its validation, the plan's crossing, a real
rated run in bursts, and the load chart's panel per burst size. Never speed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from synthetic_runs import ok_row, write_run
from test_one_way_latency import VirtualChannel

from ipcbench.analysis.runs import load_run
from ipcbench.cli import main
from ipcbench.cli.args import burst
from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import expand, with_bursts, with_rates
from ipcbench.harness.runner import run_case
from ipcbench.payload.framing import STAMP_MASK
from ipcbench.payload.spec import PayloadSpec
from ipcbench.payload.wire import Wire
from ipcbench.peer.roles import send_many
from ipcbench.plotting.open_loop import load_figures

SMALL = Settings(sessions=1, repeats=2, warmup=1, target_bytes=64 << 10, min_messages=8,
                 max_messages=16)


def test_a_burst_is_due_at_its_tick_and_waits_behind_its_elders():
    channel = VirtualChannel(service_ns=1_000, stall_at=-1, stall_ns=0)
    wire = Wire(PayloadSpec(64), 0, carries_objects=False)
    send_many(channel, wire, 12, 1_000, clock=channel.clock, wait=channel.wait, burst=4)
    start, period = 1_000_000, 1_000_000
    # Ticks every 4 ms (4 messages at 1000/s), each message stamped with its tick.
    assert channel.stamps == [(start + (i - i % 4) * period) & STAMP_MASK for i in range(12)]
    # The k-th message of a burst waits for the k before it: 1, 2, 3, 4 µs.
    assert channel.latencies_ns == [1_000, 2_000, 3_000, 4_000] * 3


def test_burst_is_a_validated_case_key_that_needs_a_rate():
    case = Case("pipe", "bytes", "stream", 64, 1, "fork", rate_per_s=1000, burst=16)
    assert case.label.endswith("-r1000-b16")
    with pytest.raises(ValueError, match="a burst needs a rate"):
        Case("pipe", "bytes", "stream", 64, 1, "fork", burst=16)
    with pytest.raises(ValueError, match="invalid burst 0"):
        Case("pipe", "bytes", "stream", 64, 1, "fork", rate_per_s=1000, burst=0)
    assert burst("16") == 16
    with pytest.raises(ValueError, match="invalid burst 'x'"):
        burst("x")


def test_bursts_cross_only_the_cases_on_a_schedule():
    planned = with_rates(expand(["pipe"], ["pingpong", "stream"], [64], [1], ["fork"],
                                ["bytes"], cpus=[0]), [0, 500])
    crossed = with_bursts(planned, [1, 8])
    stream = sorted((p.case.rate_per_s, p.case.burst) for p in crossed
                    if p.case.pattern == "stream")
    assert stream == [(0, 1), (500, 1), (500, 8)]
    assert [p.case.burst for p in crossed if p.case.pattern == "pingpong"] == [1]


def test_burst_without_a_rate_is_a_one_line_error(capsys):
    assert main(["run", "-m", "pipe", "-p", "stream", "--burst", "4"]) == 2
    assert "--burst needs --rate" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_a_rated_run_in_bursts_moves_every_message(meta):
    case = Case("pipe", "bytes", "stream", 1024, 1, "fork", rate_per_s=2000, burst=4)
    row = run_case(case, SMALL, meta)
    assert row.status == "ok", row.reason
    assert row.burst == 4 and row.lat_samples == row.messages > 0
    n = SMALL.messages_for(case)
    # The last burst's tick is (n - 1) - (n - 1) mod 4 periods after the first: a sender
    # never runs ahead of its schedule, however fast the machine.
    ticks = (n - 1) - (n - 1) % 4
    assert row.achieved_per_s <= 2000 * n / ticks * 1.0001


def test_the_load_chart_draws_each_burst_size_in_a_panel_of_its_own(tmp_path):
    rows = []
    for burst_size in (1, 8):
        for rate in (1000, 4000):
            row = ok_row("pipe", "bytes", "stream", 4096, 1, 5000.0)
            rows.append(replace(row, rate_per_s=rate, burst=burst_size,
                                achieved_per_s=float(rate), lat_samples=100,
                                lat_p50_ns=1e4 * burst_size, lat_p99_ns=3e4 * burst_size))
    figures = load_figures(load_run(write_run(tmp_path / "run", rows)))
    titles = [ax.get_title() for ax in figures["load-stream"].axes if ax.get_visible()]
    assert len(titles) == 2 and "bursts of 8" in titles[1] and "bursts" not in titles[0]
