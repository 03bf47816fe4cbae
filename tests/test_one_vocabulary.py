"""The same figure reads the same in every output: run summary, advise, charts,
compare.md and report.html all write numbers through ipcbench.core.units."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from synthetic_runs import ok_row, write_run

from ipcbench.analysis.advise import advise
from ipcbench.analysis.runs import load_run
from ipcbench.core import units
from ipcbench.plotting.best import best_map_figure
from ipcbench.render.html import write_report
from ipcbench.render.markdown import write_compare
from ipcbench.render.terminal import advice_text, print_summary

SIZE_BYTES = 1 << 20
# 1 MiB in 400 µs: 2.62 GB/s decimal (2.44 GiB/s, the unit advise used to print).
STREAM_NS = 400_000.0
# 12.3 µs (the run summary used to write "us").
PINGPONG_NS = 12_345.0


@pytest.fixture(scope="module")
def rows():
    return [
        ok_row("shm", "segment", "stream", SIZE_BYTES, 1, STREAM_NS),
        ok_row("pipe", "bytes", "stream", SIZE_BYTES, 1, STREAM_NS * 3),
        ok_row("shm", "segment", "pingpong", SIZE_BYTES, 1, PINGPONG_NS),
        ok_row("pipe", "bytes", "pingpong", SIZE_BYTES, 1, PINGPONG_NS * 3),
    ]


@pytest.fixture(scope="module")
def run_dir(rows, tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("vocab") / "run", rows)


@pytest.fixture(scope="module")
def expected():
    throughput = units.format_rate_bytes(SIZE_BYTES * 1e9 / STREAM_NS)
    latency = units.format_time_ns(PINGPONG_NS)
    assert (throughput, latency) == ("2.62 GB/s", "12.3 µs")
    return {"stream": throughput, "pingpong": latency}


def _summary_text(rows) -> str:
    buffer = io.StringIO()
    print_summary(rows, Console(file=buffer, width=400))
    return buffer.getvalue()


def test_run_summary_and_advise_agree(rows, run_dir, expected):
    summary = _summary_text(rows)
    frame = load_run(run_dir).frame
    for pattern, text in expected.items():
        assert text in summary
        advice = advise(frame, SIZE_BYTES, 1, pattern)
        assert advice.best.name == "shm/segment"
        assert f"use shm/segment: {advice.kind.metric_label} {text}" in advice_text(
            advice, SIZE_BYTES, 1)


def test_the_runs_answer_agrees(rows, expected):
    from ipcbench.render.answer import answer_lines

    lines = answer_lines(rows, 80)
    for pattern, text in expected.items():
        assert any(line.startswith("  1MiB") and "shm/segment" in line and text in line
                   for line in lines), pattern


def test_best_map_chart_agrees(run_dir, expected):
    figure = best_map_figure(load_run(run_dir))
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    for text in expected.values():
        assert any(text in t for t in texts), text


def test_compare_markdown_and_report_agree(run_dir, expected, tmp_path):
    write_compare([run_dir, run_dir], tmp_path / "cmp", charts=False)
    markdown = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert f"| {expected['pingpong']} |" in markdown  # time per message of A
    page = write_report([run_dir], tmp_path / "rep").read_text(encoding="utf-8")
    for text in expected.values():
        assert f"<td>{text}</td>" in page
