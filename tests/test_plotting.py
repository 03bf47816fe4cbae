"""Plotting: charts from synthetic result CSVs (structure, files, colours, bad input)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest
from synthetic_runs import SMALL, bad_row, model_rows, ok_row, write_model_run, write_run

from ipcbench.analysis.frames import series_columns
from ipcbench.analysis.runs import left_out_note, load_run
from ipcbench.cli import build_parser
from ipcbench.cli.plot import run_plots_after_run
from ipcbench.core.results import SCHEMA_VERSION, ResultsError
from ipcbench.core.units import format_rate_bytes, format_time_ns
from ipcbench.mechanisms import REGISTRY, public_names
from ipcbench.plotting import plot_run, plot_runs, run_figures
from ipcbench.plotting.best import best_table, not_ranked_note
from ipcbench.plotting.charts import scaling_sizes
from ipcbench.plotting.grid import TOP_LINES
from ipcbench.plotting.style import (
    channel_color,
    channel_marker,
    figure_caption,
    mechanism_color,
    series_style,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_model_run(tmp_path_factory.mktemp("run") / "run-a", **SMALL)


@pytest.fixture(scope="module")
def figures(run_dir):
    return run_figures(load_run(run_dir))


def _caption(figure) -> str:
    return figure_caption(figure)


def _line_labels(ax) -> set[str]:
    """Channel lines only: not the reference lines nor the unlabelled noisy overlays."""
    return {line.get_label() for line in ax.get_lines()
            if not line.get_label().startswith(("_", "baseline:"))}


def _cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


# The model run: pingpong, stream and counter rows at one placement and payload.
MODEL_STEMS = ["best", "cpu", "efficiency", "latency", "ranking-counter", "ranking-pingpong",
               "ranking-stream", "scaling", "throughput-stream"]


def test_plot_run_writes_every_chart_in_both_formats(run_dir, tmp_path):
    assert sorted(run_figures(load_run(run_dir))) == MODEL_STEMS
    assert {p.suffix for p in plot_run(run_dir, tmp_path / "png-only")} == {".png"}
    written = plot_run(run_dir, tmp_path / "charts", formats=("png", "svg"))
    names = sorted(p.name for p in written)
    assert names == sorted(f"{stem}.{fmt}" for stem in MODEL_STEMS for fmt in ("png", "svg"))
    for path in written:
        assert path.stat().st_size > 1000, path
    assert (tmp_path / "charts" / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "charts" / "best.svg").read_text()


def test_csv_path_works_like_folder_and_machine_json_is_optional(tmp_path):
    folder = write_run(tmp_path / "bare", model_rows(**SMALL), machine=None)
    written = plot_run(folder / "results.csv", tmp_path / "out", formats=("png",))
    assert {p.suffix for p in written} == {".png"}
    assert load_run(folder).machine_id == "a1b2c3d4e5f60718"  # from the CSV column


def test_titles_name_machine_python_and_left_out_rows(figures):
    latency = figures["latency"]
    title = latency.get_suptitle()
    assert "Synthetic CPU @ 2.0GHz" in title and "a1b2c3d4" in title and "3.11.7" in title
    caption = _caption(latency)
    # The synthetic run has one timed-out pingpong row: the chart must say so.
    assert "1 of" in caption and "timeout" in caption


def test_one_line_per_series_and_one_panel_per_procs(figures):
    axes = [ax for ax in figures["latency"].axes if ax.get_visible()]
    assert len(axes) == 2  # procs 1, 2
    labels = _line_labels(axes[0])
    assert labels == {"pipe/bytes", "pipe/pickle", "queue/default", "value/array", "shm/segment"}


def test_non_ok_rows_are_not_drawn(tmp_path):
    rows = [ok_row("pipe", "bytes", "stream", s, 1, 1000.0 + s) for s in (64, 1024)]
    rows.append(bad_row("pipe", "bytes", "stream", 4096, 1, "failed", "checksum mismatch"))
    run = load_run(write_run(tmp_path / "r", rows))
    figure = run_figures(run)["throughput-stream"]
    (line,) = [ln for ln in figure.axes[0].get_lines() if not ln.get_label().startswith("_")]
    ydata = [y for y in line.get_ydata() if y == y]  # NaN gaps are allowed, points are not
    assert len(ydata) == 2
    assert "1 of 3 stream rows not drawn" in _caption(figure)


def test_every_public_mechanism_and_variant_is_told_apart():
    colours = [mechanism_color(n) for n in public_names()]
    assert len(set(colours)) == len(colours), "two mechanisms share a colour"
    unknown = mechanism_color("zeromq-future")
    assert unknown not in colours  # a mechanism unknown here never takes a known one's colour
    for name in public_names():
        variants = list(REGISTRY[name].variant_names)
        styles = {series_style({"mechanism": name, "variant": v})["linestyle"]
                  for v in variants}
        assert len(styles) == len(variants), f"variants of {name} share a line style"
    channels = [(m, v) for m in public_names() for v in REGISTRY[m].variant_names]
    styles = [(channel_color(m, v), channel_marker(m, v)) for m, v in channels]
    assert len({c for c, _ in styles}) == len(channels), "two channels share a colour"
    assert channel_color("array", "raw") != channel_color("array", "synchronized")


def test_colours_do_not_depend_on_the_process_hash_seed():
    # str hashes are salted per process: a colour derived from hash() would change
    # between two `ipcbench plot` runs of the same file.
    code = ("from ipcbench.plotting.style import mechanism_color; "
            "print(mechanism_color('zeromq-future'), mechanism_color('pipe'))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2")}
    assert len(outputs) == 1 and outputs.pop().startswith(mechanism_color("zeromq-future"))


def test_unknown_mechanism_and_extra_columns_still_plot(tmp_path):
    rows = [ok_row("zeromq", "ipc", "pingpong", s, 1, 5000.0 + s) for s in (64, 4096)]
    folder = write_run(tmp_path / "r", rows)
    csv = folder / "results.csv"
    lines = csv.read_text().splitlines()
    body = [line + ",42" for line in lines[1:]]
    csv.write_text("\n".join([lines[0] + ",a_future_column", *body]) + "\n")
    assert plot_run(folder, tmp_path / "out", formats=("svg",))


def test_best_table_picks_winner_and_margin(tmp_path):
    rows = [
        ok_row("pipe", "bytes", "pingpong", 64, 1, 10_000.0),
        ok_row("queue", "default", "pingpong", 64, 1, 15_000.0),
        ok_row("shm", "segment", "stream", 64, 1, 2_000.0),
        ok_row("pipe", "bytes", "stream", 64, 1, 1_000.0),
        bad_row("value", "array", "pingpong", 64, 1, "failed", "boom"),
    ]
    frame = load_run(write_run(tmp_path / "r", rows)).frame
    ping = best_table(frame, "pingpong").iloc[0]
    assert (ping["winner"], ping["runner_up"]) == ("pipe/bytes", "queue/default")
    assert ping["margin"] == pytest.approx(0.5)
    stream = best_table(frame, "stream").iloc[0]
    assert stream["winner"] == "pipe/bytes" and stream["margin"] == pytest.approx(1.0)


def test_best_table_keeps_a_pool_of_workers_apart_from_pairs(tmp_path):
    """The executor's 4 workers with one task in flight are no 4 ping-pong pairs: never
    a winner there, named in not_ranked; with one worker it is a pair like any other."""
    rows = [ok_row("executor", "pool", "pingpong", 64, n, 5_000.0) for n in (1, 4)]
    rows += [ok_row("pipe", "bytes", "pingpong", 64, n, 9_000.0) for n in (1, 4)]
    frame = load_run(write_run(tmp_path / "r", rows)).frame
    table = best_table(frame, "pingpong").set_index("procs")
    assert table.loc[4, "winner"] == "pipe/bytes" and table.loc[4, "runner_up"] == ""
    assert table.loc[4, "not_ranked"] == "executor/pool"
    assert table.loc[1, "winner"] == "executor/pool" and table.loc[1, "not_ranked"] == ""
    assert not_ranked_note({"pingpong": table}) == (
        "; not ranked at 2+ procs: executor/pool (pingpong procs = pool workers, one "
        "request in flight)")
    assert not_ranked_note({"pingpong": table[table.index == 1]}) == ""


def test_series_split_by_start_method_only_when_it_varies(tmp_path):
    rows = [ok_row("pipe", "bytes", "pingpong", 64, 1, 9e3, start_method=m)
            for m in ("fork", "spawn")]
    frame = load_run(write_run(tmp_path / "r", rows)).frame
    assert series_columns(frame) == ["mechanism", "variant", "start_method"]
    assert series_columns(frame[frame["start_method"] == "fork"]) == ["mechanism", "variant"]


def test_placements_get_their_own_panel_rows_never_mixed(tmp_path):
    rows = [ok_row("shm", "segment", "stream", s, 1, 1e4 * k, placement=p)
            for s in (64, 4096) for k, p in ((1, "same-core"), (2, "cross-core"))]
    run = load_run(write_run(tmp_path / "r", rows))
    assert series_columns(run.frame, ["placement"]) == ["mechanism", "variant"]
    axes = [ax for ax in run_figures(run)["throughput-stream"].axes if ax.get_visible()]
    assert [ax.get_title().split(",")[0] for ax in axes] == ["same-core", "cross-core"]
    assert all(_line_labels(ax) == {"shm/segment"} for ax in axes)
    table = best_table(run.frame, "stream")
    assert table["winner"].tolist() == ["shm/segment"] * 4
    assert sorted(set(table["placement"])) == ["cross-core", "same-core"]


@pytest.fixture(scope="module")
def two_placements(tmp_path_factory):
    folder = tmp_path_factory.mktemp("placements") / "run"
    return write_model_run(folder, placements=("same-core", "cross-core"), **SMALL)


def test_multi_placement_run_writes_every_chart(two_placements, tmp_path):
    written = plot_run(two_placements, tmp_path / "charts", formats=("svg",))
    assert sorted(p.stem for p in written) == MODEL_STEMS
    figure = run_figures(load_run(two_placements))["latency"]
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert len(titles) == 4  # 2 placements x 2 procs
    assert sum("same-core" in t for t in titles) == sum("cross-core" in t for t in titles) == 2


def test_baseline_rows_are_reference_lines_never_channel_lines(two_placements):
    run = load_run(two_placements)
    assert (run.frame["mechanism"] == "baseline").sum() == 8 and "baseline" not in set(
        run.ok["mechanism"])
    figures = run_figures(run)
    for stem, figure in figures.items():
        for ax in figure.axes:
            assert not any(label.startswith("baseline/") for label in _line_labels(ax)), stem
    latency = [ax for ax in figures["latency"].axes if ax.get_visible()]
    refs = [ln for ln in latency[0].get_lines() if ln.get_label().startswith("baseline:")]
    assert len(refs) == 1 and "os.pipe" in refs[0].get_label()
    # The reference is the panel's own placement's round trip (12 us in the model).
    assert refs[0].get_ydata()[0] == pytest.approx(12_000.0)
    throughput = [ax for ax in figures["throughput-stream"].axes if ax.get_visible()][0]
    assert any("memcpy" in ln.get_label() for ln in throughput.get_lines())
    assert "baseline" not in set(best_table(run.frame, "pingpong")["winner_mechanism"])


def test_efficiency_and_cpu_charts_have_panels_per_pattern_and_placement(figures):
    efficiency = [ax for ax in figures["efficiency"].axes if ax.get_visible()]
    assert len(efficiency) == 2  # pingpong, stream x one placement, at 1 process only
    assert "1 process (pair) per case only" in _caption(figures["efficiency"])
    assert efficiency[0].get_title().startswith("pingpong")
    assert any(ln.get_label().startswith("baseline: 100%") for ln in efficiency[0].get_lines())
    assert "memcpy" in _caption(figures["efficiency"])
    cpu = [ax for ax in figures["cpu"].axes if ax.get_visible()]
    assert _line_labels(cpu[0]) == _line_labels(efficiency[0])
    assert "busy-waits" in _caption(figures["cpu"])


def test_noisy_rows_get_hollow_markers_and_a_caption(figures):
    axes = [ax for ax in figures["latency"].axes if ax.get_visible()]
    hollow = [ln for ax in axes for ln in ax.get_lines() if ln.get_markerfacecolor() == "white"]
    assert hollow  # the model flags queue at the smallest size as noisy
    assert "points hollow (noisy)" in _caption(figures["latency"])


def test_payload_kinds_and_fanout(tmp_path):
    folder = write_run(tmp_path / "r", [
        ok_row("pipe", "bytes", "stream", s, 1, 1e4 + s) for s in (64, 4096)])
    frame = load_run(folder).frame
    more = frame.assign(payload="numpy", median_ns=frame["median_ns"] * 2)
    fanout = frame.assign(pattern="fanout", procs=2)
    csv = folder / "results.csv"
    pd.concat([frame, more, fanout]).to_csv(csv, index=False)
    run = load_run(folder)
    figures = run_figures(run)
    titles = sorted(ax.get_title() for ax in figures["throughput-fanout"].axes
                    if ax.get_visible())
    assert titles and all("consumer processes" in t for t in titles)
    # Line charts keep to the bytes payload and say where the other kinds are.
    stream = figures["throughput-stream"]
    assert not any("numpy" in ax.get_title() for ax in stream.axes)
    assert "bytes payload only (numpy: see the report)" in _caption(stream)
    assert set(best_table(run.frame, "fanout")["winner"]) == {"pipe/bytes"}


def test_workqueue_gets_its_own_charts(tmp_path):
    rows = [ok_row(m, "default", "workqueue", s, n, (2e4 + s) * k / n)
            for m, k in (("queue", 1.0), ("simplequeue", 0.8)) for s in (64, 4096)
            for n in (1, 2)]
    run = load_run(write_run(tmp_path / "r", rows))
    figures = run_figures(run)
    assert {"throughput-workqueue", "ranking-workqueue", "scaling", "best"} <= set(figures)
    titles = [ax.get_title() for ax in figures["throughput-workqueue"].axes if ax.get_visible()]
    assert titles and all("producers (and as many consumers)" in t for t in titles)
    scaling = [ax for ax in figures["scaling"].axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in scaling] == ["producers (and as many consumers)"]
    assert figures["ranking-workqueue"]._suptitle.get_text().startswith("Work queue throughput")
    assert set(best_table(run.frame, "workqueue")["winner"]) == {"simplequeue/default"}
    written = plot_run(run.folder, tmp_path / "charts")
    assert tmp_path / "charts" / "throughput-workqueue.png" in written


def test_a_file_from_before_payload_kinds_reads_as_bytes(tmp_path):
    folder = write_run(tmp_path / "r", [ok_row("pipe", "bytes", "stream", 64, 1, 1e4)])
    csv = folder / "results.csv"
    # A real v2 file: no payload (v3), none of v4's session columns nor v5's latencies.
    v3_v4 = ["payload", "sessions", "noise", "foreign_cpu_frac", "steal_frac"]
    v5 = ["rate_per_s", "achieved_per_s", "saturated", "lat_samples", "lat_p50_ns",
          "lat_p90_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns", "samples_file"]
    v6 = ["run_delay_frac", "remeasured", "target_met", "ratio", "ratio_ci_low",
          "ratio_ci_high", "probe_ratio", "probe_ratio_ci_low", "probe_ratio_ci_high"]
    v7 = ["depth", "burst"]
    old = pd.read_csv(csv).drop(columns=v3_v4 + v5 + v6 + v7).assign(schema_version=2)
    old.to_csv(csv, index=False)
    run = load_run(folder)
    assert run.frame["payload"].tolist() == ["bytes"]
    assert best_table(run.frame, "stream")["payload"].tolist() == ["bytes"]


def test_formatters_carry_units():
    assert format_time_ns(850) == "850 ns"
    assert format_time_ns(12_500) == "12.5 µs"
    assert format_time_ns(3e6) == "3 ms"
    assert format_rate_bytes(2.5e9) == "2.5 GB/s"
    assert format_rate_bytes(4e5) == "400 kB/s"
    assert scaling_sizes([64, 1024, 16384, 262144, 4194304]) == [64, 16384, 4194304]


def test_left_out_note_counts_statuses(run_dir):
    note = left_out_note(load_run(run_dir).frame, ["stream"])
    assert note.startswith("2 of ") and "1 skipped" in note and "1 timeout" in note


def test_several_runs_get_one_folder_each(run_dir, tmp_path):
    written = plot_runs([run_dir, run_dir], tmp_path / "out", formats=("svg",))
    assert {p.parent.name for p in written} == {"run-a", "run-a-2"}


def test_run_plots_after_run_writes_into_charts(tmp_path):
    folder = write_model_run(tmp_path / "run", **SMALL)
    written = run_plots_after_run(folder)
    assert written and all(p.parent == folder / "charts" for p in written)
    skipped_only = write_run(tmp_path / "skipped", [bad_row("pipe", "bytes", "stream", 64, 1,
                                                            "skipped", "not on this OS")])
    assert run_plots_after_run(skipped_only) == []


def test_cli_plot(run_dir, tmp_path, capsys):
    assert _cli(["plot", str(run_dir), "--out", str(tmp_path / "o"), "--formats", "png"]) == 0
    assert (tmp_path / "o" / "latency.png").is_file()
    assert "latency.png" in capsys.readouterr().out


def _foreign_csv(tmp_path):
    path = tmp_path / "foreign.csv"
    path.write_text("a,b\n1,2\n")
    return path


def _newer_schema(tmp_path):
    folder = write_model_run(tmp_path / "new", **SMALL)
    csv = folder / "results.csv"
    header, *lines = csv.read_text().splitlines()
    lines = [f"{SCHEMA_VERSION + 1}" + line[line.index(","):] for line in lines]
    csv.write_text("\n".join([header, *lines]) + "\n")
    return folder


def _empty_run(tmp_path):
    return write_run(tmp_path / "empty", [])


def _no_ok_rows(tmp_path):
    return write_run(tmp_path / "bad", [bad_row("pipe", "bytes", "stream", 64, 1)])


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda t: t / "missing", "no results file"),
        (_foreign_csv, "not an ipcbench results CSV"),
        (_newer_schema, "newer than this ipcbench reads"),
        (_empty_run, "holds no result rows"),
        (_no_ok_rows, "no ok rows"),
    ],
    ids=["missing", "foreign", "newer-schema", "empty", "zero-ok"],
)
def test_bad_input_is_a_one_line_error_naming_the_file(tmp_path, make, words):
    bad = make(tmp_path)
    with pytest.raises(ResultsError) as info:
        plot_run(bad, tmp_path / "out")
    message = str(info.value)
    assert words in message and "\n" not in message and str(bad) in message
    assert not (tmp_path / "out").exists()  # nothing half-written


def _wide_run(tmp_path):
    """Nine channels (more than a panel shows) in two placements, bytes + numpy."""
    rows = []
    channels = [("pipe", "bytes"), ("pipe", "pickle"), ("queue", "default"),
                ("value", "array"), ("shm", "segment"), ("simplequeue", "default"),
                ("os-pipe", "raw"), ("socketpair", "unix"), ("tcp", "nodelay")]
    for k, (mechanism, variant) in enumerate(channels):
        for placement in ("same-core", "cross-core"):
            for size in (64, 4096, 1 << 20):
                for procs in (1, 2):
                    rows.append(ok_row(mechanism, variant, "pingpong", size, procs,
                                       (k + 1) * 1e4 + size, placement=placement))
                    rows.append(ok_row(mechanism, variant, "stream", size, procs,
                                       (k + 1) * 1e4 + size, placement=placement))
            # Payload kinds only at one size and procs, as the default matrix does.
            rows.append(replace(ok_row(mechanism, variant, "stream", 4096, 1, 1e5,
                                       placement=placement), payload="numpy"))
    return load_run(write_run(tmp_path / "wide", rows))


def test_no_empty_panels_and_a_readable_number_of_lines(tmp_path):
    figures = run_figures(_wide_run(tmp_path))
    for stem, figure in figures.items():
        for ax in figure.axes:
            if not ax.get_visible() or stem == "best":
                continue
            assert ax.has_data(), f"{stem}: empty panel {ax.get_title()!r}"
            if stem.startswith("ranking"):
                assert len(ax.patches) == 9  # every channel is a bar
            else:
                assert len(_line_labels(ax)) <= TOP_LINES, stem
            low, high = ax.get_ylim() if not stem.startswith("ranking") else (2, 3)
            assert not (low, high) == (1.0, 10.0)
        width, height = figure.get_size_inches() * 100
        assert height <= 1300 and width <= 2000, (stem, width, height)
    caption = _caption(figures["latency"])
    assert f"the {TOP_LINES} best of 9 channels" in caption


def test_a_panel_of_channels_outside_the_best_draws_its_own_best(tmp_path):
    """The seed's Queue with 3 producers is the only channel at procs 3: its panels must
    show it (they were drawn with the baselines only), and the caption says why."""
    channels = [("pipe", "bytes"), ("pipe", "pickle"), ("queue", "default"),
                ("value", "array"), ("shm", "segment"), ("simplequeue", "default"),
                ("os-pipe", "raw"), ("socketpair", "unix"), ("tcp", "nodelay")]
    # tcp is far the slowest with one producer, so it is not among the 6 best overall.
    rows = [ok_row(mechanism, variant, "stream", size, 1,
                   (k + 1) * 1e4 + size if mechanism != "tcp" else 1e8, placement="same-core")
            for k, (mechanism, variant) in enumerate(channels) for size in (64, 4096)]
    rows += [ok_row("tcp", "nodelay", "stream", size, 3, 2e5, placement="same-core")
             for size in (64, 4096)]
    figure = run_figures(load_run(write_run(tmp_path / "odd", rows)))["throughput-stream"]
    panels = {ax.get_title(): _line_labels(ax) for ax in figure.axes if ax.get_visible()
              and ax.get_title()}
    assert len(panels) == 2
    assert all(labels for labels in panels.values()), panels
    assert [labels for title, labels in panels.items() if "3" in title] == [{"tcp/nodelay"}]
    assert "the best of any panel without one of them" in _caption(figure)


def test_ranking_bars_are_best_first_with_ci_whiskers(tmp_path):
    figure = run_figures(_wide_run(tmp_path))["ranking-pingpong"]
    ax = [a for a in figure.axes if a.get_visible()][0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "pipe/bytes" and labels[-1] == "tcp/nodelay"
    assert ax.collections, "CI whiskers"


def test_best_map_names_a_winner_only_when_the_paired_cis_part(tmp_path):
    """A 50% lead with overlapping paired CIs is a tie; a 5% lead with disjoint ones a
    winner (rows without paired ratios keep the old 5% margin)."""
    from dataclasses import replace

    def paired(row, ratio, low, high):
        return replace(row, ratio=ratio, ratio_ci_low=low, ratio_ci_high=high)

    rows = [
        paired(ok_row("pipe", "bytes", "pingpong", 64, 1, 10_000.0), 0.8, 0.5, 1.1),
        paired(ok_row("queue", "default", "pingpong", 64, 1, 15_000.0), 1.2, 0.9, 1.6),
        paired(ok_row("pipe", "bytes", "stream", 64, 1, 1_000.0), 0.97, 0.96, 0.98),
        paired(ok_row("shm", "segment", "stream", 64, 1, 1_050.0), 1.03, 1.02, 1.04),
    ]
    frame = load_run(write_run(tmp_path / "r", rows)).frame
    ping = best_table(frame, "pingpong").iloc[0]
    assert ping["margin"] == pytest.approx(0.5) and not ping["clear"]
    stream = best_table(frame, "stream").iloc[0]
    assert stream["winner"] == "pipe/bytes" and stream["clear"]
    legacy = load_run(write_run(tmp_path / "l", [
        ok_row("pipe", "bytes", "pingpong", 64, 1, 10_000.0),
        ok_row("queue", "default", "pingpong", 64, 1, 10_400.0)])).frame
    assert not best_table(legacy, "pingpong").iloc[0]["clear"]  # 4% < the old 5%
