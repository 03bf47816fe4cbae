"""The views of start-up, churn and the kinds of peer: the start-up chart (a bar per
start method, the fork floor, a note where a kind has no row), the processes /
interpreters / threads table, the report's sections for both, and the explorer keeping
start methods apart. Synthetic rows, structure only."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, replace

import pandas as pd
import pytest
from synthetic_runs import MACHINE, ok_row, write_run

from ipcbench.analysis.peer_kinds import kinds_table
from ipcbench.analysis.runs import load_run
from ipcbench.plotting import run_figures
from ipcbench.plotting.startup import startup_figures
from ipcbench.render.html import peer_kinds_summary, report_html
from ipcbench.render.interactive import run_data


def _kind(row, peer_kind: str):
    return replace(row, peer_kind=peer_kind)


def _startup_rows() -> list:
    rows = [ok_row("baseline", "os-fork", "startup", 64, 1, 1.0e6, efficiency=1.0,
                   placement="same-core")]
    for method, scale in (("fork", 1.0), ("spawn", 25.0)):
        for procs in (1, 2):
            rows.append(ok_row("worker", "process", "startup", 64, procs, 2.0e6 * scale * procs,
                               start_method=method, placement="same-core", repeats=5))
            rows.append(_kind(ok_row("worker", "thread", "startup", 64, procs, 1.5e5 * procs,
                                     start_method=method, placement="same-core"), "threads"))
        rows.append(ok_row("worker", "manager", "startup", 64, 1, 7.0e6 * scale,
                           start_method=method, placement="same-core"))
        rows.append(ok_row("worker", "pool", "churn", 64, 1, 5.0e6 * scale,
                           start_method=method, placement="same-core"))
    return rows


@pytest.fixture
def startup_run(tmp_path):
    return load_run(write_run(tmp_path / "startup", _startup_rows()))


def test_startup_chart_has_a_panel_per_worker_count_and_a_bar_per_start_method(startup_run):
    figures = startup_figures(startup_run)
    assert set(figures) == {"startup", "churn"}
    axes = [ax for ax in figures["startup"].axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [
        "same-core · workers started at once: 1", "same-core · workers started at once: 2"]
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels == ["thread (in-process)", "process", "manager"]
    # 3 kinds x 2 start methods with 1 worker; the manager has no 2-worker row.
    assert [len(ax.patches) for ax in axes] == [6, 4]
    assert any("no ok row" in t.get_text() for t in axes[1].texts)
    # The fork floor is a vertical line at the baseline's figure in every panel.
    assert all(any(list(line.get_xdata()) == [1.0e6, 1.0e6] for line in ax.get_lines())
               for ax in axes)
    legend = figures["startup"].legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [
        "fork", "spawn", "baseline: raw os.fork to first byte back"]


def test_start_up_never_lands_on_the_channel_charts(startup_run):
    stems = set(run_figures(startup_run))
    assert {"startup", "churn"} <= stems
    assert not any(stem.startswith("ranking") or stem == "scaling" for stem in stems)


def _kinds_frame() -> pd.DataFrame:
    rows = [ok_row("pipe", "bytes", "pingpong", 64, 1, 10_000.0),
            ok_row("queue", "default", "pingpong", 64, 1, 40_000.0),
            _kind(ok_row("thread-queue", "queue", "pingpong", 64, 1, 5_000.0), "threads"),
            _kind(ok_row("interpreters", "queue", "pingpong", 64, 1, 20_000.0), "interpreters"),
            # A workload only processes ran: nothing to compare, no row.
            ok_row("pipe", "bytes", "stream", 64, 1, 1_000.0)]
    return pd.DataFrame([asdict(r) for r in rows])


def test_kinds_table_names_each_kinds_best_and_its_cost_against_processes():
    table = kinds_table(_kinds_frame())
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["pattern"], row["size_bytes"], row["procs"]) == ("pingpong", 64, 1)
    assert (row["processes"], row["threads"], row["interpreters"]) == (
        "pipe/bytes", "thread-queue/queue", "interpreters/queue")
    assert row["threads_vs_processes"] == pytest.approx(0.5)
    assert row["interpreters_vs_processes"] == pytest.approx(2.0)
    assert row["processes_vs_processes"] == pytest.approx(1.0)


def test_kinds_table_of_a_rate_metric_is_a_cost_too():
    rows = [ok_row("pipe", "bytes", "stream", 4096, 1, 1_000.0),
            _kind(ok_row("thread-queue", "queue", "stream", 4096, 1, 4_000.0), "threads")]
    table = kinds_table(pd.DataFrame([asdict(r) for r in rows]))
    # A quarter of the bytes/s = four times the cost.
    assert table.iloc[0]["threads_vs_processes"] == pytest.approx(4.0)
    assert math.isnan(table.iloc[0]["interpreters_value"])


def test_the_report_shows_start_up_and_the_kinds_of_peer(startup_run, tmp_path):
    page = report_html([startup_run])
    assert "id='run-A-startup'" in page and "href='#run-A-startup'" in page
    assert "id='run-A-kinds'" in page and "href='#run-A-kinds'" in page
    summary = peer_kinds_summary(startup_run)
    # startup x {fork, spawn} x {1, 2} workers, each with processes and threads.
    assert len(summary) == 4 and list(summary.columns) == [
        "pattern", "start method", "size", "procs", "processes", "threads"]  # one placement
    assert summary.iloc[0]["threads"].startswith("worker/thread 150 µs (0.075×)")


def test_the_explorer_keeps_start_methods_apart(startup_run):
    data = run_data(startup_run)
    names = [c["name"] for c in data["channels"]]
    assert "worker/process · fork" in names and "worker/process · spawn" in names
    assert json.dumps(data, allow_nan=False)
    assert not any(re.fullmatch(r"worker/process", n) for n in names)


def test_a_run_of_one_start_method_keeps_plain_channel_names(tmp_path):
    run = load_run(write_run(tmp_path / "one", [ok_row("pipe", "bytes", "pingpong", 64, 1,
                                                       9_000.0)], MACHINE))
    assert [c["name"] for c in run_data(run)["channels"]] == ["pipe/bytes"]
