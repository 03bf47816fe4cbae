"""`ipcbench advise`: winner per pattern, margin, noise caveats, nearest cells, CLI."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from synthetic_runs import ok_row, write_model_run, write_run

from ipcbench.analysis.advise import advise, advise_run
from ipcbench.cli import main
from ipcbench.core.results import ResultsError


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([r.as_dict() for r in rows])


def _tight(mechanism, variant, pattern, per_msg_ns, size=1024, procs=1, **kw):
    """A row with a tight CI (±0.2%), so distinct figures are never within noise."""
    return ok_row(mechanism, variant, pattern, size, procs, per_msg_ns, stdev_frac=0.001, **kw)


def _run(pattern, times_ns, size=1024, procs=1):
    return _frame([_tight(m, v, pattern, t, size, procs) for (m, v), t in times_ns.items()])


def test_pingpong_picks_lowest_p50_with_exact_runner_up_and_margin():
    frame = _run("pingpong", {("pipe", "bytes"): 20_000.0, ("shm", "segment"): 10_000.0,
                              ("queue", "default"): 40_000.0})
    advice = advise(frame, 1024, 1, "pingpong")
    assert advice.best.name == "shm/segment" and advice.unit == "ns"
    assert advice.figure == pytest.approx(10_000.0)
    assert advice.runner_up.name == "pipe/bytes"
    assert advice.margin == pytest.approx(2.0)
    assert advice.exact and not advice.within_noise
    assert [c.name for c in advice.ranking] == ["shm/segment", "pipe/bytes", "queue/default"]
    assert not any("noise" in c or "not measured" in c for c in advice.caveats)


def test_stream_picks_highest_bytes_per_s():
    # ok_row derives bytes_per_s = size / time: the shortest time has the most bytes/s.
    frame = _run("stream", {("pipe", "bytes"): 8_000.0, ("shm", "segment"): 5_000.0,
                            ("queue", "default"): 10_000.0}, size=1 << 20, procs=2)
    advice = advise(frame, 1 << 20, 2, "stream")
    assert advice.best.name == "shm/segment" and advice.unit == "B/s"
    assert advice.figure == pytest.approx((1 << 20) * 1e9 / 5_000.0)
    assert advice.runner_up.name == "pipe/bytes"
    assert advice.margin == pytest.approx(8_000.0 / 5_000.0)


def test_counter_picks_highest_msgs_per_s_whatever_the_size():
    frame = _run("counter", {("value", "locked"): 800.0, ("value-raw", "lock"): 400.0},
                 size=8, procs=2)
    advice = advise(frame, 1 << 20, 2, "counter")  # a counter's size is not part of it
    assert advice.best.name == "value-raw/lock" and advice.unit == "msgs/s"
    assert advice.figure == pytest.approx(2.5e6)
    assert advice.margin == pytest.approx(2.0) and advice.exact


def test_fanout_ranks_by_bytes_per_s():
    frame = _run("fanout", {("pipe", "bytes"): 3_000.0, ("shm", "segment"): 6_000.0})
    assert advise(frame, 1024, 1, "fanout").best.name == "pipe/bytes"


def test_overlapping_intervals_give_a_within_noise_caveat():
    frame = _frame([ok_row("pipe", "bytes", "pingpong", 1024, 1, 10_000.0, stdev_frac=0.1),
                    ok_row("shm", "segment", "pingpong", 1024, 1, 10_500.0, stdev_frac=0.1)])
    advice = advise(frame, 1024, 1, "pingpong")
    assert advice.best.name == "pipe/bytes" and advice.within_noise
    assert any("within noise of shm/segment" in c for c in advice.caveats)


def test_without_ci_columns_cv_decides_noise():
    rows = [ok_row("pipe", "bytes", "pingpong", 1024, 1, 10_000.0, stdev_frac=0.2),
            ok_row("shm", "segment", "pingpong", 1024, 1, 11_000.0, stdev_frac=0.2),
            ok_row("queue", "default", "pingpong", 1024, 1, 50_000.0, stdev_frac=0.2)]
    frame = _frame(rows).drop(columns=["ci_low_ns", "ci_high_ns"])
    advice = advise(frame, 1024, 1, "pingpong")
    # ±2*0.2/sqrt(5) = ±18%: 10 vs 11 µs overlap, 10 vs 50 µs do not.
    assert advice.within_noise
    assert any("within noise of shm/segment (" in c for c in advice.caveats)
    assert not any("queue" in c for c in advice.caveats)


def test_noisy_flag_is_noted():
    frame = _run("pingpong", {("pipe", "bytes"): 1_000.0, ("shm", "segment"): 5_000.0})
    frame.loc[frame["mechanism"] == "pipe", "noisy"] = True
    advice = advise(frame, 1024, 1, "pingpong")
    assert advice.best.noisy and any("pipe/bytes flagged noisy" in c for c in advice.caveats)


def test_unmeasured_cell_uses_nearest_size_on_log_scale_and_nearest_procs():
    rows = []
    for size in (64, 1 << 18, 1 << 24):
        for n in (1, 2):
            shm_ns = 3_000.0 if size == 1 << 18 else 30_000.0  # shm wins only at 256 KiB
            rows += [_tight("pipe", "bytes", "stream", 9_000.0, size, n),
                     _tight("shm", "segment", "stream", shm_ns, size, n)]
    # 1 MiB is 2 log2 steps from 256 KiB, 4 from 16 MiB (and 14 from 64 B).
    advice = advise(_frame(rows), 1 << 20, 4, "stream")
    assert not advice.exact
    assert (advice.cell.size_bytes, advice.cell.procs) == (1 << 18, 2)
    assert [(c.size_bytes, c.procs) for c in advice.nearest_cells] == [
        (1 << 18, 2), (1 << 18, 1), (1 << 24, 2)]
    assert advice.best.name == "shm/segment"  # the answer of the cell used
    assert "1MiB x 4 procs was not measured" in advice.caveats[0]
    assert "nearest cell 256KiB x 2 procs" in advice.caveats[0]
    assert "16MiB x 2" in advice.caveats[0]


def test_baseline_rows_are_ignored():
    frame = _frame([_tight("baseline", "os-pipe", "pingpong", 100.0),
                    _tight("pipe", "bytes", "pingpong", 9_000.0),
                    _tight("shm", "segment", "pingpong", 12_000.0)])
    frame.loc[frame["mechanism"] == "pipe", "efficiency"] = 0.5
    advice = advise(frame, 1024, 1, "pingpong")
    assert advice.best.name == "pipe/bytes" and advice.runner_up.name == "shm/segment"
    assert advice.best.efficiency == pytest.approx(0.5)


def test_failed_rows_and_other_placements_are_not_candidates():
    frame = _frame([_tight("pipe", "bytes", "pingpong", 9_000.0),
                    _tight("shm", "segment", "pingpong", 1_000.0, placement="cross-core")])
    frame = pd.concat([frame, _frame([_tight("queue", "default", "pingpong", 10.0)])
                       .assign(status="failed")])
    advice = advise(frame, 1024, 1, "pingpong")
    assert advice.best.name == "pipe/bytes" and advice.runner_up is None
    assert math.isnan(advice.margin)
    assert any("also has placement cross-core" in c for c in advice.caveats)
    assert advise(frame, 1024, 1, "pingpong", placement="cross-core").best.name == "shm/segment"


def test_payload_narrows_the_cell_and_a_missing_payload_column_means_bytes():
    frame = _frame([_tight("pipe", "pickle", "stream", 2_000.0),
                    _tight("shm", "segment", "stream", 1_000.0),
                    _tight("shm", "segment", "stream", 9_000.0)])
    frame["payload"] = ["numpy", "numpy", "bytes"]
    numpy = advise(frame, 1024, 1, "stream", payload="numpy")
    assert (numpy.best.name, numpy.runner_up.name) == ("shm/segment", "pipe/pickle")
    assert numpy.cell.payload == "numpy"
    default = advise(frame, 1024, 1, "stream")  # bytes preferred when left open
    assert default.cell.payload == "bytes" and default.runner_up is None
    assert any("also has payload numpy" in c for c in default.caveats)
    legacy = frame.drop(columns="payload").iloc[[2]]
    assert advise(legacy, 1024, 1, "stream").cell.payload == "bytes"
    fallback = advise(legacy, 1024, 1, "stream", payload="numpy")
    assert any("payload numpy was not measured (run has bytes)" in c for c in fallback.caveats)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"pattern": "broadcast"}, "unknown pattern 'broadcast'"),
    ({"pattern": "counter"}, r"no ok counter rows .*\(patterns with ok rows: pingpong\)"),
    ({"pattern": "pingpong", "placement": "moon"}, "unknown placement 'moon'"),
    ({"pattern": "pingpong", "procs": 0}, "invalid procs 0"),
])
def test_bad_input_is_a_one_line_error(kwargs, message):
    frame = _run("pingpong", {("pipe", "bytes"): 1_000.0})
    with pytest.raises(ValueError, match=message) as info:
        advise(frame, **{"size_bytes": 1024, "procs": 1, **kwargs})
    assert "\n" not in str(info.value)


# --- CLI -------------------------------------------------------------------------------


def test_cli_happy_path_prints_the_recommendation(tmp_path, capsys):
    run = write_model_run(tmp_path / "run", sizes=(64, 65536), procs=(1, 2))
    assert main(["advise", str(run), "--size", "64KiB", "--procs", "2",
                 "--pattern", "stream"]) == 0
    out = capsys.readouterr().out
    expected = advise_run(run, 65536, 2, "stream")
    assert expected.exact and f"use {expected.best.name}:" in out
    assert f"Runner-up: {expected.runner_up.name}" in out
    assert "rank" in out and len([ln for ln in out.splitlines() if ln[:1].isdigit()]) == 3


def test_cli_counter_needs_no_size(tmp_path, capsys):
    run = write_model_run(tmp_path / "run", sizes=(64,), procs=(1,))
    assert main(["advise", str(run), "--procs", "3", "--pattern", "counter"]) == 0
    assert "not measured" in capsys.readouterr().out  # the model has 2 and 4, not 3


@pytest.mark.parametrize(("argv", "message"), [
    (["--size", "12XB", "--procs", "1", "--pattern", "stream"], "invalid size '12XB'"),
    (["--size", "64", "--procs", "1", "--pattern", "nope"], "unknown pattern 'nope'"),
    (["--procs", "1", "--pattern", "stream"], "--size is required"),
    (["--size", "64", "--procs", "two", "--pattern", "stream"], "invalid procs 'two'"),
    (["--size", "64", "--procs", "0", "--pattern", "stream"], "invalid procs '0'"),
    (["--size", "64", "--procs", "1", "--pattern", "fanout"],
     "no ok fanout rows to advise from (patterns with ok rows: counter, stream)"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    run = write_run(tmp_path / "run", [_tight("pipe", "bytes", "stream", 1_000.0),
                                       _tight("value", "locked", "counter", 1_000.0)])
    assert main(["advise", str(run), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert message in captured.err and captured.err.startswith("ipcbench: error:")


def test_advise_run_missing_file_is_a_results_error(tmp_path):
    with pytest.raises(ResultsError, match="no results file"):
        advise_run(tmp_path / "nope", 64, 1, "stream")


def test_paired_cis_decide_a_tie_where_rows_have_them():
    """Absolute CIs ±20% overlap (the host drifted), paired ones do not: a winner; and
    paired CIs that overlap make a tie however tight the absolute ones are."""
    from dataclasses import replace

    def row(mechanism, time_ns, stdev_frac, ratio, half):
        base = ok_row(mechanism, "v", "pingpong", 1024, 1, time_ns, stdev_frac=stdev_frac)
        return replace(base, ratio=ratio, ratio_ci_low=ratio * (1 - half),
                       ratio_ci_high=ratio * (1 + half))

    clear = advise(_frame([row("shm", 10_000.0, 0.1, 0.9, 0.02),
                           row("pipe", 11_000.0, 0.1, 1.1, 0.02)]), 1024, 1, "pingpong")
    assert clear.best.name == "shm/v" and not clear.within_noise
    tie = advise(_frame([row("shm", 10_000.0, 0.001, 0.9, 0.15),
                         row("pipe", 11_000.0, 0.001, 1.1, 0.15)]), 1024, 1, "pingpong")
    assert tie.within_noise and any("paired CIs overlap" in c for c in tie.caveats)
