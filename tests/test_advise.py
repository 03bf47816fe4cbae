"""`ipcbench advise`: winner per pattern, margin, noise caveats, nearest cells, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from synthetic_runs import ok_row, write_model_run, write_run

from ipcbench.analysis.advise import advise, advise_run
from ipcbench.cli import main
from ipcbench.core.results import ResultsError
from ipcbench.core.traits import ChannelTraits
from ipcbench.mechanisms import channel_traits


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
    assert advice.chosen[0] == "placement unpinned (also measured: cross-core)"
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
    assert default.chosen[1] == "payload bytes (also measured: numpy)"
    legacy = frame.drop(columns="payload").iloc[[2]]
    assert advise(legacy, 1024, 1, "stream").cell.payload == "bytes"
    with pytest.raises(ValueError, match=r"^payload numpy was not measured for stream in "
                                         r"this run \(it has: bytes\)$"):
        advise(legacy, 1024, 1, "stream", payload="numpy")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"pattern": "multicast"}, "unknown pattern 'multicast'"),
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


# --- like with like, busy-polling, what was chosen ----------------------------------------

POOL = ChannelTraits(procs_apart={("executor", "pingpong"): "pool workers, one request in flight"},
                     busy_polling={("shm", "ring8-spin")})


def _pool_frame(procs):
    return _frame([_tight("executor", "pool", "pingpong", 10_000.0, procs=procs),
                   _tight("pipe", "bytes", "pingpong", 20_000.0, procs=procs),
                   _tight("shm", "segment", "pingpong", 30_000.0, procs=procs)])


def test_a_channel_whose_procs_mean_something_else_is_named_apart_never_ranked():
    advice = advise(_pool_frame(4), 1024, 4, "pingpong", traits=POOL)
    assert [c.name for c in advice.ranking] == ["pipe/bytes", "shm/segment"]
    assert [c.name for c in advice.apart] == ["executor/pool"]
    assert ("not ranked, their 4 procs are pool workers, one request in flight, not pairs "
            "of processes: executor/pool 10 µs") in advice.caveats
    # One worker with one request in flight is one pair: a rival like any other.
    alone = advise(_pool_frame(1), 1024, 1, "pingpong", traits=POOL)
    assert alone.best.name == "executor/pool" and alone.apart == ()


def test_the_registry_declares_the_executors_pingpong_procs():
    traits = channel_traits()
    assert traits.procs_meaning("executor", "pingpong") == "pool workers, one request in flight"
    assert traits.procs_meaning("executor", "fanout") == ""  # N workers fed by one: fanout
    assert traits.unlike("executor", "pingpong", 2) and not traits.unlike("pipe", "pingpong", 2)
    assert traits.busy_polls("shm", "ring8-spin") and not traits.busy_polls("shm", "ring8")
    assert advise(_pool_frame(4), 1024, 4, "pingpong", traits=traits).best.name == "pipe/bytes"


def test_a_busy_polling_winner_carries_its_cpu_cost():
    frame = _frame([_tight("shm", "ring8-spin", "pingpong", 4_000.0, cpu_s_per_msg=9e-6),
                    _tight("pipe", "bytes", "pingpong", 20_000.0)])
    advice = advise(frame, 1024, 1, "pingpong", traits=POOL)
    assert advice.best.busy_polls
    assert ("shm/ring8-spin busy-polls: burns a CPU per peer; CPU 9 µs/msg; the fastest "
            "without: pipe/bytes at 20 µs") in advice.caveats
    assert not any("busy-polls" in c for c in advise(frame, 1024, 1, "pingpong").caveats)


def test_open_dimensions_say_what_was_chosen():
    frame = _frame([_tight("pipe", "bytes", "pingpong", 9_000.0, placement="same-core"),
                    _tight("pipe", "bytes", "pingpong", 19_000.0, placement="cross-core")])
    advice = advise(frame, 1024, 1, "pingpong")
    assert advice.chosen == ("placement same-core (also measured: cross-core)",
                             "payload bytes", "start method fork")
    assert advise(frame, 1024, 1, "pingpong", placement="cross-core",
                  start_method="fork").chosen == ("payload bytes",)


def test_cli_says_what_it_chose_and_fits_80_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    run = write_run(tmp_path / "run", [
        _tight("pipe", "bytes", "pingpong", 9_000.0, placement="same-core"),
        _tight("shm", "segment", "pingpong", 12_000.0, placement="same-core"),
        _tight("pipe", "bytes", "pingpong", 19_000.0, placement="cross-core")])
    assert main(["advise", str(run), "--size", "1KiB", "--procs", "1",
                 "--pattern", "pingpong"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("not given, so chosen: placement same-core (also measured: "
                        "cross-core); payload")
    assert lines[1] == "  bytes; start method fork"
    assert lines[2].startswith("For pingpong of 1KiB with 1 procs, use pipe/bytes:")
    assert max(map(len, lines)) <= 80


def test_cli_refuses_a_placement_the_run_did_not_measure(tmp_path, capsys):
    run = write_run(tmp_path / "run", [
        _tight("pipe", "bytes", "pingpong", 9_000.0, placement="same-core")])
    assert main(["advise", str(run), "--size", "1KiB", "--procs", "1", "--pattern",
                 "pingpong", "--placement", "cross-core"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("ipcbench: error: placement cross-core was not measured for "
                            "pingpong in this run (it has: same-core)\n")


def test_help_gives_each_query_flag_its_own_default(capsys):
    with pytest.raises(SystemExit):
        main(["advise", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    helps = {flag: text.split(flag, 2)[-1].split(" --")[0]
             for flag in ("--placement PLACEMENT", "--payload KIND", "--start-method METHOD")}
    assert all("default:" in h for h in helps.values())
    assert len({h[h.index("default:"):] for h in helps.values()}) == 3
    assert "else the first measured of unpinned, same-core, cross-core" in helps[
        "--placement PLACEMENT"]


REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"


def test_reference_four_pingpong_pairs_name_a_channel_of_four_concurrent_pairs(
        capsys, monkeypatch):
    """The issue's command: the executor's 4 workers with one task in flight were named
    the fastest 4 pairs; now the winner runs 4 pairs, and the executor is named apart."""
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["advise", str(REFERENCE), "--size", "64", "--procs", "4", "--pattern",
                 "pingpong", "--placement", "same-core"]) == 0
    out = capsys.readouterr().out
    advice = advise_run(REFERENCE, 64, 4, "pingpong", placement="same-core",
                        traits=channel_traits())
    assert advice.exact and advice.cell.procs == 4
    assert advice.best.mechanism != "executor"
    assert not any(channel_traits().unlike(c.mechanism, "pingpong", 4) for c in advice.ranking)
    assert {c.name for c in advice.apart} == {"executor/pool", "executor/ppe"}
    assert f"use {advice.best.name}:" in " ".join(out.split())
    assert "not ranked, their 4 procs are pool workers" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 80
