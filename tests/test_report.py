"""report.html: self-contained (inline script, data and pictures, no external resources),
a table of contents, folded long tables, the comparison."""

from __future__ import annotations

import re

import pytest
from synthetic_runs import SMALL, bad_row, ok_row, write_model_run, write_run

from ipcbench.cli import build_parser
from ipcbench.core.results import ResultsError
from ipcbench.render.html import write_report


def _cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def _external_references(text: str) -> list[str]:
    """src/href attributes or CSS url() pointing outside the page (data: URIs are inside
    it: SVG embeds raster images, such as the best map, that way). The
    xmlns namespace declarations of inline SVG are names, never fetched."""
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)["\']', text)
    refs += re.findall(r"url\(\s*['\"]?([^)'\"]*)", text)
    return [r for r in refs if not r.startswith(("#", "data:"))]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    a = write_model_run(base / "run-a", **SMALL)
    b = write_model_run(base / "run-b", scale=1.4, machine_id="ffee001122334455",
                        cpu_model="Other <CPU> & co", **SMALL)
    return a, b


def test_single_run_report_is_self_contained(two_runs, tmp_path):
    path = write_report([two_runs[0]], tmp_path / "out")
    text = path.read_text(encoding="utf-8")
    assert path.name == "report.html" and text.startswith("<!DOCTYPE html>")
    assert text.count("data:image/png;base64,") == 1  # the best-channel map
    assert "class='explorer'" in text and "<script src" not in text.lower()
    assert _external_references(text) == []
    assert "Synthetic CPU @ 2.0GHz" in text and "Best channel per cell" in text
    assert "<nav class='toc'>" in text and "href='#run-A-explore'" in text
    assert "<details><summary>All " in text
    assert "rows not drawn (status != ok)" in text and "deadline of 60 s exceeded" in text
    assert "Comparison" not in text


def test_several_runs_add_comparison_and_escape_metadata(two_runs, tmp_path):
    text = write_report(list(two_runs), tmp_path / "out").read_text(encoding="utf-8")
    assert "Comparison (baseline A)" in text
    assert "Other &lt;CPU&gt; &amp; co" in text and "Other <CPU>" not in text
    assert 'class="slower"' in text
    assert text.count("data:image/png;base64,") == 2 + 3  # best maps + overlays
    assert text.count("class='explorer'") == 2
    assert _external_references(text) == []


def test_cli_report(two_runs, tmp_path, capsys):
    assert _cli(["report", *map(str, two_runs), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").is_file()
    assert "report.html" in capsys.readouterr().out


def test_report_refuses_a_run_without_ok_rows(two_runs, tmp_path):
    bad = write_run(tmp_path / "bad", [bad_row("pipe", "bytes", "stream", 64, 1)])
    with pytest.raises(ResultsError, match="no ok rows") as info:
        write_report([two_runs[0], bad], tmp_path / "out")
    assert str(bad) in str(info.value)
    assert not (tmp_path / "out" / "report.html").exists()


def test_report_refuses_runs_with_nothing_in_common(tmp_path):
    a = write_run(tmp_path / "a", [ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4)])
    b = write_run(tmp_path / "b", [ok_row("shm", "segment", "pingpong", 64, 1, 1e4)])
    with pytest.raises(ResultsError, match="no case in common"):
        write_report([a, b], tmp_path / "out")


def test_explorer_data_is_formatted_by_units_and_kept_apart(two_runs):
    from ipcbench.analysis.runs import load_run
    from ipcbench.render.interactive import run_data

    data = run_data(load_run(two_runs[0]))
    rows = [dict(zip(data["fields"], r, strict=True)) for r in data["rows"]]
    assert {r["placement"] for r in rows} == {"unpinned"}
    assert all(r["text"] and r["text"] != "–" for r in rows)
    assert any(r["text"].endswith("µs") for r in rows if r["pattern"] == "pingpong")
    assert all(r["low"] <= r["value"] <= r["high"] for r in rows if r["low"] is not None)


def test_tooltip_p99_is_a_messages_latency_and_the_repeat_figure_is_the_spread(tmp_path):
    """One meaning per label: "p99" is what the run table's p99 is (the round trip's,
    a message's one-way latency), never the p99 of repeat times, which is named the
    repeat spread."""
    from dataclasses import replace
    from importlib import resources

    from ipcbench.analysis.runs import load_run
    from ipcbench.render.interactive import SPREAD_LABEL, run_data

    one_way = replace(ok_row("pipe", "bytes", "stream", 1024, 1, 10_000.0),
                      lat_samples=500, lat_p50_ns=40_000.0, lat_p99_ns=90_000.0)
    data = run_data(load_run(write_run(tmp_path / "r", [
        ok_row("pipe", "bytes", "pingpong", 64, 1, 20_000.0),  # p99 = 1.8x: 36 µs
        one_way, ok_row("queue", "default", "stream", 1024, 1, 30_000.0),
        ok_row("value", "locked", "counter", 8, 1, 800.0)])))
    rows = {(r["pattern"], data["channels"][r["channel"]]["name"]): r
            for r in (dict(zip(data["fields"], row, strict=True)) for row in data["rows"])}
    assert (rows[("pingpong", "pipe/bytes")]["p99"], rows[("pingpong", "pipe/bytes")]["spread"]
            ) == ("36 µs", "")
    assert (rows[("stream", "pipe/bytes")]["p99"], rows[("stream", "pipe/bytes")]["spread"]
            ) == ("90 µs", "18 µs")
    assert rows[("stream", "queue/default")]["p99"] == ""  # no one-way latency recorded
    assert rows[("counter", "value/locked")]["spread"] == "1.44 µs"
    labels = {name: (p["p99"], p["spread"]) for name, p in data["patterns"].items()}
    assert labels == {"pingpong": ("p99 round trip", SPREAD_LABEL),
                      "stream": ("p99 one-way", SPREAD_LABEL), "counter": ("", SPREAD_LABEL)}
    script = resources.files("ipcbench.render").joinpath("report.js").read_text("utf-8")
    assert '"p99: "' not in script and "p.spread" in script


def test_reference_sized_report_is_small_and_quick(tmp_path):
    import time
    from pathlib import Path

    reference = Path(__file__).resolve().parent.parent / "results" / "reference"
    started = time.monotonic()
    path = write_report([reference], tmp_path / "ref")
    assert time.monotonic() - started < 30
    assert path.stat().st_size <= 3 * 1024 * 1024


def test_the_answer_comes_before_the_machines_metadata(two_runs, tmp_path):
    """The first screen holds where each run ran in one line and the best-channel map;
    the metadata table (25 rows a run) is at the end."""
    text = write_report(list(two_runs), tmp_path / "out").read_text()
    machines = text.index("<h2 id='machines'>")
    assert text.index("id='comparison'") < machines
    assert text.index("id='run-A-best'") < machines
    assert text.index("Other &lt;CPU&gt; &amp; co") < text.index("<nav class='toc'>")


def test_a_runs_resolution_reads_as_percents(tmp_path):
    import json

    from ipcbench.analysis.runs import load_runs, metadata_table

    folder = write_model_run(tmp_path / "run", **SMALL)
    machine = json.loads((folder / "machine.json").read_text())
    machine["resolution"] = {"absolute": 0.4391, "probe": 0.0375, "rows": 229}
    (folder / "machine.json").write_text(json.dumps(machine))
    table = metadata_table(load_runs([folder]), ["A"])
    assert table.loc["resolution", "A"] == "absolute 43.9%, probe 3.75%, rows 229"
