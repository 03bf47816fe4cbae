"""Compare: case matching, one-sided cases, verdicts, compare.md, CLI errors."""

from __future__ import annotations

import math
import re
from types import MappingProxyType

import pandas as pd
import pytest
from synthetic_runs import MACHINE, SMALL, bad_row, ok_row, write_model_run, write_run

from ipcbench.analysis.compare import (
    compare_frames,
    compare_runs,
    match_cases,
    not_measured,
    pair_summary,
    ranking,
    verdict_counts,
)
from ipcbench.analysis.gate import Gate, GateFailure, gate
from ipcbench.analysis.runs import load_run
from ipcbench.analysis.verdict import (
    FASTER,
    LESS_EFFICIENT,
    MORE_EFFICIENT,
    NOT_COMPARABLE,
    NOT_MEASURED,
    SAME,
    SLOWER,
    UNCLEAR,
    case_verdict,
    efficiency_verdict,
)
from ipcbench.cli import build_parser, main
from ipcbench.core.faults import SLOW_NS
from ipcbench.core.results import CASE_KEYS, ResultsError
from ipcbench.plotting.overlay import (
    overlay_figure,
    overlay_figures,
    overlay_set,
    skipped_line,
)
from ipcbench.plotting.style import figure_caption
from ipcbench.render.markdown import write_compare
from ipcbench.render.tables import summary_sentences
from ipcbench.render.terminal import case_label, gate_lines


def _row(median_ns=1000.0, stdev_ns=20.0, repeats=5, status="ok", **extra) -> dict:
    return {"status": status, "median_ns": median_ns, "mean_ns": median_ns,
            "stdev_ns": stdev_ns, "repeats": repeats, "cv": stdev_ns / median_ns, **extra}


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([r.as_dict() for r in rows])


def _cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


# --- verdicts (pure) -------------------------------------------------------------


def test_identical_rows_are_no_significant_difference():
    verdict = case_verdict(_row(), _row())
    assert verdict.label == SAME and verdict.ratio == 1.0


def test_clearly_slower_and_faster_with_tight_spread():
    slower = case_verdict(_row(1000.0), _row(2000.0, 40.0))
    assert slower.label == SLOWER and slower.ratio == pytest.approx(2.0)
    assert slower.p_value < 0.01
    assert case_verdict(_row(2000.0), _row(1000.0)).label == FASTER


def test_small_effect_is_same_even_if_significant():
    # 8% apart with almost no spread: statistically real, but within what whole runs
    # drift by on one machine (MIN_EFFECT).
    verdict = case_verdict(_row(1000.0, 0.1, 50), _row(1080.0, 0.1, 50))
    assert verdict.label == SAME and "10%" in verdict.reason
    assert case_verdict(_row(1000.0, 0.1, 50), _row(1120.0, 0.1, 50)).label == SLOWER


def test_large_effect_drowned_in_noise_is_same():
    verdict = case_verdict(_row(1000.0, 600.0, 3), _row(1300.0, 600.0, 3))
    assert verdict.label == SAME and verdict.p_value > 0.01
    assert "noisy" in verdict.reason


def test_single_repeat_cannot_be_tested():
    assert case_verdict(_row(repeats=1), _row(2000.0, repeats=1)).label == UNCLEAR


def test_confidence_intervals_take_precedence_when_present():
    base = _row(1000.0, ci_low_ns=900.0, ci_high_ns=1100.0)
    overlapping = _row(1080.0, stdev_ns=1.0, repeats=100, ci_low_ns=1050.0, ci_high_ns=1110.0)
    assert case_verdict(base, overlapping).label == SAME
    disjoint = _row(1500.0, ci_low_ns=1400.0, ci_high_ns=1600.0)
    assert case_verdict(base, disjoint).label == SLOWER


def test_status_mismatch_is_not_comparable_and_nothing_measured_is_not_counted():
    failed = {"status": "failed", "median_ns": math.nan}
    assert case_verdict(_row(), failed).label == NOT_COMPARABLE
    # Skipped or failed on both sides is no evidence of "no difference".
    assert case_verdict(failed, dict(failed)).label == NOT_MEASURED
    assert NOT_MEASURED not in verdict_counts(pd.DataFrame({"verdict": [NOT_MEASURED, SAME]}))


# --- matching (pure) -------------------------------------------------------------


def test_match_cases_finds_common_and_one_sided_cases():
    a = _frame([ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4),
                ok_row("pipe", "bytes", "pingpong", 1024, 1, 1.1e4),
                ok_row("queue", "default", "stream", 64, 2, 3e4)])
    b = _frame([ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4),
                ok_row("pipe", "bytes", "pingpong", 1024, 1, 2.2e4),
                ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4, start_method="spawn")])
    matching = match_cases(a, b)
    assert matching.keys == list(CASE_KEYS)
    assert len(matching.matched) == 2
    assert matching.only_base[["mechanism", "pattern"]].values.tolist() == [["queue", "stream"]]
    assert matching.only_other["start_method"].tolist() == ["spawn"]
    table, _ = compare_frames(a, b)
    verdicts = dict(zip(table["size_bytes"], table["verdict"], strict=True))
    assert verdicts == {64: SAME, 1024: SLOWER}


def test_identity_extra_column_splits_cases_when_both_sides_have_it():
    a = _frame([ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4)]).assign(placement="same-core")
    b = _frame([ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4)]).assign(placement="cross")
    matching = match_cases(a, b)
    assert matching.matched.empty and len(matching.only_base) == len(matching.only_other) == 1


def test_identical_runs_give_no_difference_for_every_case(tmp_path):
    folder = write_model_run(tmp_path / "a", **SMALL)
    comparison = compare_runs([load_run(folder), load_run(folder)])
    (table,) = comparison.tables
    assert len(table) == len(load_run(folder).frame)
    measured = table[table["verdict"] != NOT_MEASURED]
    assert (measured["verdict"] == SAME).all() and not_measured(table) == 3
    assert comparison.settings_notes == ()


def test_scaled_run_is_slower_everywhere_it_ran(tmp_path):
    a = load_run(write_model_run(tmp_path / "a", **SMALL))
    b = load_run(write_model_run(tmp_path / "b", scale=2.0, **SMALL))
    table = compare_runs([a, b]).tables[0]
    ok = table[table["reason"] != "timeout in both"]
    ok = ok[ok["reason"] != "skipped in both"]
    assert (ok["verdict"] == SLOWER).all()
    assert ok["ratio"].between(1.8, 2.2).all()


def test_no_case_in_common_is_an_error(tmp_path):
    a = load_run(write_run(tmp_path / "a", [ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4)]))
    b = load_run(write_run(tmp_path / "b", [ok_row("shm", "segment", "stream", 64, 1, 1e4)]))
    with pytest.raises(ResultsError, match="no case in common"):
        compare_runs([a, b])


# --- files and CLI ---------------------------------------------------------------


def test_write_compare_markdown_and_charts(tmp_path):
    a = write_model_run(tmp_path / "run-a", **SMALL)
    b = write_model_run(tmp_path / "run-b", scale=1.5, machine_id="ffee001122334455",
                        cpu_model="Other CPU", **SMALL)
    extra = write_run(tmp_path / "run-c", [ok_row("pipe", "bytes", "pingpong", 64, 1, 2e4),
                                          ok_row("fake", "ideal", "counter", 8, 3, 10.0)])
    written = write_compare([a, b, extra], tmp_path / "out", formats=("png",))
    names = {p.name for p in written}
    assert {"compare.md", "compare_pingpong.png", "compare_stream.png"} <= names
    assert all(p.stat().st_size > 0 for p in written)
    text = (tmp_path / "out" / "compare.md").read_text()
    # Runs are labelled by machine; metadata sits side by side; one-sided cases listed.
    assert "Other CPU · ffee0011 · run-b" in text and "| cpu_model |" in text
    assert "only in C (not in A)" in text and "only in A (not in C)" in text
    assert "slower" in text


def test_cli_compare_prints_summary(tmp_path, capsys):
    a = write_model_run(tmp_path / "a", **SMALL)
    assert _cli(["compare", str(a), str(a / "results.csv"), "--out", str(tmp_path / "o"),
                 "--no-charts"]) == 0
    out = capsys.readouterr().out
    assert "no significant difference" in out and "slower" not in out
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["compare.md"]


def test_cli_compare_needs_two_inputs(tmp_path):
    a = write_model_run(tmp_path / "a", **SMALL)
    with pytest.raises(ValueError, match="at least two"):
        _cli(["compare", str(a), "--out", str(tmp_path / "o")])


def test_cli_compare_bad_input_names_it(tmp_path):
    a = write_model_run(tmp_path / "a", **SMALL)
    with pytest.raises(ResultsError) as info:
        _cli(["compare", str(a), str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert "nope" in str(info.value) and "\n" not in str(info.value)


def test_bad_threshold_is_rejected_by_argparse(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        _cli(["compare", "a", "b", "--min-effect", "5"])
    assert info.value.code == 2
    assert "invalid value '5'" in capsys.readouterr().err


# --- efficiency (issue 5: rank machines by efficiency) ----------------------------


@pytest.fixture(scope="module")
def fast_but_wasteful(tmp_path_factory):
    """B runs every case 1.5x faster than A, but its hardware baselines are 2x faster:
    B is the faster machine and A the more efficient one."""
    base = tmp_path_factory.mktemp("eff")
    a = write_model_run(base / "a", **SMALL)
    b = write_model_run(base / "b", scale=1 / 1.5, baseline_scale=0.5, seed=1,
                        machine_id="ffee001122334455", **SMALL)
    return load_run(a), load_run(b)


def test_efficiency_ranking_picks_the_more_efficient_run(fast_but_wasteful):
    a, b = fast_but_wasteful
    by_time = compare_runs([a, b])
    by_eff = compare_runs([a, b], metric="efficiency")
    summary = pair_summary(by_eff.tables[0])
    assert summary["speed"] == pytest.approx(1.5, rel=0.05)
    assert summary["efficiency"] == pytest.approx(0.75, rel=0.05)
    assert [tag for tag, _ in ranking(by_time.tags, by_time.tables, "time")] == ["B", "A"]
    assert [tag for tag, _ in ranking(by_eff.tags, by_eff.tables, "efficiency")] == ["A", "B"]
    verdicts = set(by_eff.tables[0].query("mechanism != 'baseline'")["verdict"])
    assert LESS_EFFICIENT in verdicts and FASTER not in verdicts
    assert FASTER in set(by_time.tables[0]["verdict"])
    (sentence,) = summary_sentences(by_eff.tags, by_eff.tables)
    assert re.match(r"B is 1\.5\d?x faster than A but 1\.3\d?x less efficient: A is closer "
                    r"to its own hardware \(geometric means over \d+ cases\)\.$", sentence), \
        sentence


def test_efficiency_verdict_without_baseline_is_not_comparable():
    base = _row(efficiency=0.5)
    assert efficiency_verdict(base, _row(500.0, efficiency=1.0)).label == MORE_EFFICIENT
    assert efficiency_verdict(base, _row()).label == NOT_COMPARABLE  # no efficiency on B
    assert efficiency_verdict(base, _row(efficiency=0.5)).label == SAME


def test_cli_compare_metric_efficiency_and_mechanism_filter(fast_but_wasteful, tmp_path, capsys):
    a, b = fast_but_wasteful
    assert _cli(["compare", str(a.folder), str(b.folder), "--out", str(tmp_path / "o"),
                 "--formats", "svg", "--metric", "efficiency", "--mechanism", "pipe",
                 "shm"]) == 0
    out = capsys.readouterr().out
    assert "less efficient: A is closer to its own hardware" in " ".join(out.split())
    text = (tmp_path / "o" / "compare.md").read_text()
    assert "Ranked by efficiency: A (1x) > B" in text
    assert "Only mechanisms pipe, shm." in text and "queue/default" not in text
    svg = (tmp_path / "o" / "compare_pingpong.svg").read_text()
    assert "pipe/bytes" in svg and "value/array" not in svg
    with pytest.raises(ResultsError, match="nope"):
        _cli(["compare", str(a.folder), str(b.folder), "--out", str(tmp_path / "p"),
              "--mechanism", "nope"])


def test_overlay_is_split_per_pattern_and_limited_to_top_channels(fast_but_wasteful):
    runs = list(fast_but_wasteful)
    figures = overlay_figures(runs)
    assert set(figures) == {"compare_pingpong", "compare_stream", "compare_counter"}
    ping = overlay_figure(runs, "pingpong", top=3)
    titles = [ax.get_title() for ax in ping.axes if ax.get_visible()]
    assert len(titles) == 3 and "baseline/os-pipe" not in titles
    assert titles[0] == "pipe/bytes"  # the lowest latency in run A comes first
    assert "2 more not shown" in figure_caption(ping)


def test_multi_placement_overlays_get_one_figure_per_placement(tmp_path):
    folder = write_model_run(tmp_path / "a", placements=("same-core", "cross-core"),
                             sizes=(64,), procs=(1,))
    figures = overlay_figures([load_run(folder), load_run(folder)])
    assert {"compare_pingpong_same-core", "compare_pingpong_cross-core"} <= set(figures)


def test_overlays_need_data_from_both_runs(tmp_path, capsys):
    """A pattern / placement one run alone measured gets no overlay (one run's lines
    are its own charts) and is counted in one line; a channel one run alone measured
    is no panel of the overlays that are drawn."""
    both = write_model_run(tmp_path / "a", placements=("same-core", "cross-core"),
                           sizes=(64, 1024), procs=(1,))
    one = write_run(tmp_path / "b", [ok_row("pipe", "bytes", "pingpong", s, 1, 2e4,
                                            placement="same-core") for s in (64, 1024)]
                    + [ok_row("tcp", "nodelay", "pingpong", 64, 1, 3e4,
                              placement="same-core")])
    overlays = overlay_set([load_run(both), load_run(one)])
    assert set(overlays.figures) == {"compare_pingpong_same-core"}
    assert set(overlays.skipped) == {"compare_pingpong_cross-core", "compare_stream_same-core",
                                     "compare_stream_cross-core", "compare_counter_same-core",
                                     "compare_counter_cross-core"}
    figure = overlays.figures["compare_pingpong_same-core"]
    assert [ax.get_title() for ax in figure.axes if ax.get_visible()] == ["pipe/bytes"]
    assert "5 measured in one run only, not overlaid" in figure_caption(figure)
    assert skipped_line(overlays.skipped) == "5 overlay charts skipped: data in one run only"
    assert skipped_line(["x"]) == "1 overlay chart skipped: data in one run only"
    # The command draws only the overlay with both sides, says so in one line before
    # the files, and compare.md names the skipped ones.
    out = tmp_path / "o"
    assert _cli(["compare", str(both), str(one), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(p.name for p in out.glob("*.png")) == ["compare_pingpong_same-core.png"]
    skipped = [line for line in lines if "skipped" in line and "overlay" in line]
    assert skipped == ["5 overlay charts skipped: data in one run only (listed in compare.md)"]
    assert lines.index(skipped[0]) < lines.index(str(out / "compare.md"))
    markdown = (out / "compare.md").read_text()
    assert "5 overlay charts skipped: data in one run only: compare_pingpong_cross-core" in markdown
    assert "![compare_pingpong_same-core.png](compare_pingpong_same-core.png)" in markdown
    # Two runs with the same cases: nothing skipped, no line.
    assert _cli(["compare", str(one), str(one), "--out", str(tmp_path / "p")]) == 0
    assert "skipped: data in one run only" not in capsys.readouterr().out


# --- settings, effect order, wording ------------------------------------------------


def _runs_with_other_settings(tmp_path):
    a = write_run(tmp_path / "a", [ok_row("pipe", "bytes", "pingpong", s, 1, 1e4 * k)
                                   for k, s in enumerate((64, 1024, 4096), 1)])
    b = write_run(tmp_path / "b", [ok_row("pipe", "bytes", "pingpong", s, 1, 1e4 * k * f,
                                          repeats=20)
                                   for (k, s), f in zip(enumerate((64, 1024, 4096), 1),
                                                        (1.0, 1.6, 3.0), strict=True)])
    return a, b


def test_compare_warns_in_one_line_when_settings_differ(tmp_path, capsys):
    a, b = _runs_with_other_settings(tmp_path)
    assert _cli(["compare", str(a), str(b), "--out", str(tmp_path / "o"), "--no-charts"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "warning: A and B differ in settings (repeats)"
    markdown = (tmp_path / "o" / "compare.md").read_text()
    assert "repeats differ in 3 of 3 cases (median 5 vs 20)" in markdown


def test_manifest_settings_are_preferred_to_rows(tmp_path):
    import json

    a, b = _runs_with_other_settings(tmp_path)
    for folder, sessions in ((a, 3), (b, 5)):
        (folder / "manifest.json").write_text(json.dumps(
            {"settings": {"sessions": sessions, "repeats": 3}, "matrix": "quick"}))
    comparison = compare_runs([load_run(a), load_run(b)])
    assert comparison.settings_notes == (
        "warning: A and B differ in settings (sessions)",)
    assert "manifests: sessions 3 vs 5" in comparison.settings_details[0]


def test_changes_are_listed_by_effect_size_and_never_one_x_faster(tmp_path, capsys):
    a, b = _runs_with_other_settings(tmp_path)
    _cli(["compare", str(a), str(b), "--out", str(tmp_path / "o"), "--no-charts"])
    out = capsys.readouterr().out
    assert out.index("3x slower") < out.index("1.6x slower")
    assert "1x faster" not in out and "1.00x" not in out
    markdown = (tmp_path / "o" / "compare.md").read_text()
    assert markdown.index("| 3x slower |") < markdown.index("| 1.6x slower |")
    assert "| about as fast |" in markdown
    sentences = summary_sentences(["A", "B"], [pd.DataFrame({
        "mechanism": ["pipe"], "both_ok": [True], "median_ns_a": [100.0], "median_ns_b": [99.0],
        "efficiency_a": [0.5], "efficiency_b": [0.5]})])
    assert sentences[0] == ("B is about as fast as A and about as efficient (geometric "
                            "means over 1 cases).")


def _drift_runs(tmp_path, factor: float, machine_b: str | None = None):
    def rows(scale: float, machine: str) -> list:
        return [ok_row("baseline", "os-pipe", "pingpong", 64, 1, 6000.0 * scale,
                       machine_id=machine),
                ok_row("baseline", "lock", "counter", 8, 1, 400.0 * scale, machine_id=machine),
                ok_row("pipe", "bytes", "pingpong", 64, 1, 15000.0 * scale, machine_id=machine)]
    machine = machine_b or MACHINE["machine_id"]
    a = write_run(tmp_path / "a", rows(1.0, MACHINE["machine_id"]))
    b = write_run(tmp_path / "b", rows(factor, machine), {**MACHINE, "machine_id": machine})
    return compare_runs([load_run(a), load_run(b)])


def test_compare_names_a_drift_of_the_machine_from_its_own_baselines(tmp_path):
    comparison = _drift_runs(tmp_path, 0.936)
    assert comparison.settings_notes == ("warning: B's own baselines ran 6% faster "
                                         "(same machine)",)
    assert "0.936" in comparison.settings_details[0]
    assert len(comparison.settings_notes[0]) <= 80


def test_compare_names_a_drift_of_the_memory_bandwidth_from_the_memcpy_baseline(tmp_path):
    """The CPU-bound baselines held still, the out-of-cache memcpy ran 1.3x faster: the
    large-message cases called faster are the machine, and compare says so."""
    def rows(copy_ns: float, machine: str) -> list:
        return [ok_row("baseline", "os-pipe", "pingpong", 64, 1, 6000.0, machine_id=machine),
                ok_row("baseline", "memcpy", "stream", 64 << 20, 1, copy_ns,
                       machine_id=machine),
                ok_row("baseline", "memcpy", "stream", 64 << 10, 1, 2000.0,
                       machine_id=machine),
                ok_row("pipe", "bytes", "pingpong", 1 << 20, 1, 150000.0, machine_id=machine)]
    machine = MACHINE["machine_id"]
    a = write_run(tmp_path / "a", rows(3.92e6, machine))
    b = write_run(tmp_path / "b", rows(3.03e6, machine))
    comparison = compare_runs([load_run(a), load_run(b)])
    assert comparison.settings_notes == ("warning: B's memcpy of 64MiB ran 23% faster "
                                         "(same machine)",)
    assert "the machine, not the channels" in comparison.settings_details[0]
    assert len(comparison.settings_notes[0]) <= 80
    steady = write_run(tmp_path / "c", rows(3.9e6, machine))
    assert compare_runs([load_run(a), load_run(steady)]).settings_notes == ()


@pytest.mark.parametrize("factor, machine", [(0.97, None), (1.04, None), (0.5, "other")])
def test_no_drift_note_for_small_drifts_or_other_machines(tmp_path, factor, machine):
    assert _drift_runs(tmp_path, factor, machine).settings_notes == ()


def _probed(row, ratio, half):
    from dataclasses import replace
    return replace(row, probe_ratio=ratio, probe_ratio_ci_low=ratio * (1 - half),
                   probe_ratio_ci_high=ratio * (1 + half))


def test_compare_judges_runs_over_their_probes_when_both_have_them(tmp_path):
    """B's host ran 30% slower on everything, probe included: over the probe nothing
    changed; a channel that really slowed by 40% against the probe is called slower."""
    def rows(scale, slowed):
        pipe = ok_row("pipe", "bytes", "pingpong", 64, 1, 15000.0 * scale)
        queue = ok_row("queue", "default", "pingpong", 64, 1, 30000.0 * scale * slowed)
        return [_probed(pipe, 2.5, 0.02), _probed(queue, 5.0 * slowed, 0.02)]

    a = write_run(tmp_path / "a", rows(1.0, 1.0))
    b = write_run(tmp_path / "b", rows(1.3, 1.4))
    table = compare_runs([load_run(a), load_run(b)]).tables[0].set_index("mechanism")
    assert list(table["basis"]) == ["probe", "probe"]
    assert table.loc["pipe", "verdict"] == SAME and table.loc["pipe", "ratio"] == 1.0
    assert table.loc["queue", "verdict"] == SLOWER
    assert table.loc["queue", "ratio"] == pytest.approx(1.4)
    assert table.loc["pipe", "median_ns_b"] == pytest.approx(19500.0)  # absolute, as read
    # Without probes on one side: the absolute figures, as before.
    c = write_run(tmp_path / "c", [ok_row("pipe", "bytes", "pingpong", 64, 1, 15000.0)])
    table = compare_runs([load_run(a), load_run(c)]).tables[0]
    assert list(table["basis"]) == ["absolute"]


def test_absolute_figures_are_not_called_different_below_twice_the_drift(tmp_path):
    rows = [ok_row("pipe", "bytes", "pingpong", 64, 1, 15000.0)]
    slower = [ok_row("pipe", "bytes", "pingpong", 64, 1, 18000.0, stdev_frac=0.001)]
    a = write_run(tmp_path / "a", rows)
    b = write_run(tmp_path / "b", slower, {**MACHINE, "resolution": {"drift": 0.15}})
    comparison = compare_runs([load_run(a), load_run(b)])
    assert comparison.tables[0]["verdict"].tolist() == [SAME]
    assert any("below 30%" in note for note in comparison.settings_notes)
    # Over the probe the drift cancels: the CIs decide alone.
    probed = write_run(tmp_path / "pa", [_probed(rows[0], 2.5, 0.01)])
    probed_b = write_run(tmp_path / "pb", [_probed(slower[0], 3.0, 0.01)],
                         {**MACHINE, "resolution": {"drift": 0.15}})
    assert compare_runs([load_run(probed), load_run(probed_b)]
                        ).tables[0]["verdict"].tolist() == [SLOWER]
    assert compare_runs([load_run(a), load_run(write_run(tmp_path / "c", slower))]
                        ).tables[0]["verdict"].tolist() == [SLOWER]


# --- the CI gate: --fail-slower (issue 23) --------------------------------------------


def _main(argv: list[str]) -> int:
    """The command line as a script sees it: errors become exit 2 with one line."""
    return main(argv)


@pytest.fixture(scope="module")
def slow_twins(tmp_path_factory):
    """A run and its twin measured with the test-only `slow` fault (every ping-pong
    round trip grows by SLOW_NS): same seed, that one known difference apart."""
    base = tmp_path_factory.mktemp("gate")
    return (write_model_run(base / "a", **SMALL),
            write_model_run(base / "slow", slow_ns=SLOW_NS, **SMALL))


def _expected_slowed(folder, pct: float) -> set[tuple]:
    """The channel cases the fault slows by more than pct (and compare's 10% minimum
    effect), worked out from A's own rows: round trip m -> m + SLOW_NS."""
    frame = load_run(folder).frame
    rows = frame[(frame["pattern"] == "pingpong") & (frame["status"] == "ok")
                 & (frame["mechanism"] != "baseline")]
    growth = SLOW_NS / rows["median_ns"]
    chosen = rows[(growth > pct / 100) & (growth >= 0.10)]
    return set(zip(chosen["mechanism"], chosen["variant"], chosen["size_bytes"],
                   chosen["procs"], strict=True))


def _gate_block(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("gate "))
    return lines[start:]


def test_fail_slower_passes_a_run_against_itself(slow_twins, tmp_path, capsys):
    a, _ = slow_twins
    assert _main(["compare", str(a), str(a), "--out", str(tmp_path / "o"), "--no-charts",
                  "--fail-slower", "10"]) == 0
    block = _gate_block(capsys.readouterr().out)
    judged = int(load_run(a).frame.query("status == 'ok' and mechanism != 'baseline'")
                 .shape[0])
    assert block == [f"gate passed: none of {judged} cases significantly slower than A "
                     "by more than 10%"]


def test_fail_slower_fails_and_lists_exactly_the_slowed_cases(slow_twins, tmp_path, capsys):
    a, slow = slow_twins
    expected = _expected_slowed(a, 10)
    assert len(expected) >= 3  # the fixture slows several cases past the threshold
    assert _main(["compare", str(a), str(slow), "--out", str(tmp_path / "o"), "--no-charts",
                  "--fail-slower", "10"]) == 1
    block = _gate_block(capsys.readouterr().out)
    assert block[0] == (f"gate failed: {len(expected)} case(s) significantly slower than A "
                        "by more than 10%:")
    listed = block[1:]
    assert len(listed) == len(expected) and all(len(line) <= 80 for line in block)
    for mechanism, variant, size, procs in expected:
        label = case_label({"mechanism": mechanism, "variant": variant, "pattern": "pingpong",
                            "size_bytes": size, "procs": procs, "placement": "unpinned",
                            "payload": "bytes"})
        pattern = rf"  B {re.escape(label)} +\+\d+%  +p="
        assert sum(bool(re.match(pattern, line)) for line in listed) == 1, label


def test_fail_slower_threshold_decides_which_slower_cases_fail(slow_twins, tmp_path, capsys):
    a, slow = slow_twins
    strict = _expected_slowed(a, 20)
    assert 0 < len(strict) < len(_expected_slowed(a, 10))
    assert _main(["compare", str(a), str(slow), "--out", str(tmp_path / "o"), "--no-charts",
                  "--fail-slower", "20%"]) == 1
    assert len(_gate_block(capsys.readouterr().out)) == 1 + len(strict)
    # Slower by at most 50% everywhere: compare still lists them, the gate passes.
    assert _main(["compare", str(a), str(slow), "--out", str(tmp_path / "o"), "--no-charts",
                  "--fail-slower", "50"]) == 0
    out = capsys.readouterr().out
    assert "significant changes" in out and _gate_block(out)[0].startswith("gate passed")


def test_without_fail_slower_compare_exits_0_and_prints_no_gate(slow_twins, tmp_path, capsys):
    a, slow = slow_twins
    assert _main(["compare", str(a), str(slow), "--out", str(tmp_path / "o"),
                  "--no-charts"]) == 0
    out = capsys.readouterr().out
    assert "slower" in out and not any(line.startswith("gate ") for line in out.splitlines())


@pytest.mark.parametrize("value", ["-5", "abc", "1001", "nan", "inf", ""])
def test_bad_fail_slower_is_one_line_exit_2(slow_twins, tmp_path, capsys, value):
    a, slow = slow_twins
    assert _main(["compare", str(a), str(slow), "--out", str(tmp_path / "o"), "--no-charts",
                  "--fail-slower", value]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"ipcbench: error: invalid --fail-slower {value!r}")
    assert not (tmp_path / "o").exists()  # refused before anything was read or written


def test_fail_slower_refuses_the_efficiency_metric(slow_twins, tmp_path, capsys):
    a, slow = slow_twins
    assert _main(["compare", str(a), str(slow), "--out", str(tmp_path / "o"),
                  "--metric", "efficiency", "--fail-slower", "10"]) == 2
    assert "cannot be combined with --metric efficiency" in capsys.readouterr().err


def test_gate_leaves_hardware_baselines_out_and_counts_one_sided_failures(tmp_path):
    pipe = ok_row("pipe", "bytes", "pingpong", 64, 1, 15000.0)
    a = write_run(tmp_path / "a", [ok_row("baseline", "os-pipe", "pingpong", 64, 1, 6000.0),
                                   pipe, ok_row("queue", "default", "pingpong", 64, 1, 3e4)])
    b = write_run(tmp_path / "b", [ok_row("baseline", "os-pipe", "pingpong", 64, 1, 12000.0),
                                   pipe, bad_row("queue", "default", "pingpong", 64, 1)])
    comparison = compare_runs([load_run(a), load_run(b)])
    assert SLOWER in set(comparison.tables[0]["verdict"])  # the baseline, 2x slower
    verdict = gate(comparison, 10)
    assert verdict.passed and verdict.judged == 1 and verdict.not_comparable == 1


def test_gate_lines_fit_80_columns_whatever_the_case():
    case = MappingProxyType({"mechanism": "a-very-long-mechanism-name" * 2,
                             "variant": "with-a-long-variant", "pattern": "workqueue",
                             "size_bytes": 1 << 20, "procs": 16, "placement": "cross-core",
                             "payload": "numpy"})
    failure = GateFailure("B", case, 12.5, 1e-6, "probe")
    lines = gate_lines(Gate(1000.0, 99999, 99999, (failure,) * 2))
    assert len(lines) == 4 and all(len(line) <= 80 for line in lines)
    passed = gate_lines(Gate(1000.0, 99999, 0, ()))
    assert passed == ["gate passed: none of 99999 cases significantly slower than A by more "
                      "than 1000%"]  # whole, within 80 columns
    assert lines[1].endswith("  +1150%  p=1e-06") and "…" in lines[1]


def test_runs_that_differ_in_the_gil_are_said_to():
    from pathlib import Path

    import pandas as pd

    from ipcbench.analysis.compare import gil_note
    from ipcbench.analysis.frames import series_columns, series_label
    from ipcbench.analysis.runs import Run

    with_gil = pd.DataFrame({"gil_enabled": [True], "free_threaded": [True]})
    without = pd.DataFrame({"gil_enabled": [False], "free_threaded": [True]})
    runs = [Run(Path("a/results.csv"), with_gil), Run(Path("b/results.csv"), without)]
    assert "a: GIL (free-threaded build); b: no GIL (free-threaded build)" in gil_note(runs)
    assert gil_note(runs[:1] * 2) == ""
    both = pd.concat([with_gil, without]).assign(mechanism="pipe", variant="bytes")
    assert "gil_enabled" in series_columns(both)
    assert series_label({"mechanism": "pipe", "variant": "bytes", "gil_enabled": False}) == \
        "pipe/bytes (no GIL)"
