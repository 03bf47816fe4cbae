"""--json PATH of run, compare and advise: strict JSON that parses, a schema string, and
the same facts (fields and counts) the terminal shows; `-` is stdout alone; a path that
cannot be written is refused in one line (exit 2) before the command does any work."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace

import pytest
from rich.console import Console
from synthetic_runs import SMALL, bad_row, ok_row, write_model_run, write_run

from ipcbench.analysis.advise import advise_run
from ipcbench.analysis.compare import compare_runs, verdict_counts
from ipcbench.analysis.runs import load_run
from ipcbench.cli import main
from ipcbench.core.faults import SLOW_NS
from ipcbench.core.schema import CASE_KEYS
from ipcbench.core.units import format_fraction
from ipcbench.render.json_out import dumps, run_document
from ipcbench.render.run_table import groups, print_summary


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """A synthetic run and its twin with the `slow` fault's known slowdown."""
    base = tmp_path_factory.mktemp("json")
    return (write_model_run(base / "a", **SMALL),
            write_model_run(base / "slow", slow_ns=SLOW_NS, **SMALL))


def _strict(text: str) -> dict:
    """json.loads refusing NaN/Infinity, which strict parsers (jq, browsers) reject."""
    def refuse(name: str):
        raise AssertionError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


# --- compare ---------------------------------------------------------------------------


def test_compare_json_holds_the_terminal_facts_and_the_gate(twins, tmp_path, capsys):
    a, slow = twins
    path = tmp_path / "compare.json"
    assert main(["compare", str(a), str(slow), "--out", str(tmp_path / "o"), "--no-charts",
                 "--fail-slower", "10", "--json", str(path)]) == 1
    out = " ".join(capsys.readouterr().out.split())  # the console may wrap its lines
    document = _strict(path.read_text())
    assert document["schema"] == "ipcbench-compare/1"
    assert [r["tag"] for r in document["runs"]] == ["A", "B"]
    assert document["metric"] == "time" and document["min_effect"] == 0.1
    (pairing,) = document["pairings"]
    table = compare_runs([load_run(a), load_run(slow)]).tables[0]
    counts = verdict_counts(table)
    assert pairing["verdict_counts"] == counts and pairing["matched"] == len(table)
    shown = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    assert f"B vs A ({load_run(slow).label}): {shown}; 3 ok in neither" in out
    assert pairing["not_measured"] == 3 and pairing["only_in_a"] == pairing["only_in_run"] == 0
    cases = pairing["cases"]
    assert len(cases) == len(table)
    assert sum(c["slower"] for c in cases) == counts["slower"] == 5
    assert sum(c["significant"] for c in cases) == 5
    assert all(c["slower"] for c in cases[:5])  # significant changes first, as printed
    for case in cases:
        assert set(CASE_KEYS) <= set(case) and {"a", "b", "ratio", "p_value", "verdict",
                                                "reason", "basis"} <= set(case)
    first = cases[0]
    assert (first["mechanism"], first["size_bytes"], first["procs"]) == ("pipe", 64, 1)
    assert first["b"]["median_ns"] - first["a"]["median_ns"] == pytest.approx(SLOW_NS)
    assert first["a"]["ci_low_ns"] < first["a"]["median_ns"] < first["a"]["ci_high_ns"]
    gate = document["gate"]
    assert gate["threshold_pct"] == 10 and gate["passed"] is False
    assert len(gate["failures"]) == 5
    listed = out[out.index("gate failed: 5 case(s)"):]
    for failure in gate["failures"]:
        assert failure["run"] == "B" and failure["slower_pct"] > 10
        assert f"+{failure['slower_pct']:.0f}%" in listed


def test_compare_json_without_gate_says_null(twins, tmp_path):
    a, _ = twins
    path = tmp_path / "c.json"
    assert main(["compare", str(a), str(a), "--out", str(tmp_path / "o"), "--no-charts",
                 "--json", str(path)]) == 0
    document = _strict(path.read_text())
    assert document["gate"] is None
    assert not any(c["significant"] for c in document["pairings"][0]["cases"])


def test_compare_json_to_stdout_is_the_document_alone(twins, tmp_path, capsys):
    a, slow = twins
    assert main(["compare", str(a), str(slow), "--out", str(tmp_path / "o"), "--no-charts",
                 "--fail-slower", "10", "--json", "-"]) == 1
    captured = capsys.readouterr()
    document = _strict(captured.out)
    assert document["gate"]["passed"] is False
    # The human output went to stderr meanwhile, whole.
    assert "gate failed: 5 case(s)" in captured.err and "compare.md" in captured.err


# --- advise ----------------------------------------------------------------------------


def test_advise_json_matches_what_the_terminal_shows(tmp_path, capsys):
    run = write_model_run(tmp_path / "run", **SMALL)
    path = tmp_path / "advice.json"
    # 3 procs were not measured: the answer comes from the nearest cell, with a caveat.
    assert main(["advise", str(run), "--size", "64KiB", "--procs", "3", "--pattern",
                 "stream", "--json", str(path)]) == 0
    text = capsys.readouterr().out
    document = _strict(path.read_text())
    expected = advise_run(run, 65536, 3, "stream")
    assert document["schema"] == "ipcbench-advise/1" and document["mode"] == "full-speed"
    assert document["asked"] == {"pattern": "stream", "size_bytes": 65536, "procs": 3}
    assert document["cell"]["procs"] == expected.cell.procs != 3
    assert document["best"]["channel"] == expected.best.name
    assert f"use {document['best']['channel']}:" in text
    assert f"Runner-up: {document['runner_up']['channel']}" in text
    assert document["margin"] == pytest.approx(expected.margin)
    assert document["unit"] == "B/s" and document["exact"] is False
    flowing = " ".join(text.split())  # the same words however the text is wrapped
    assert flowing.count("caveat: ") == len(document["caveats"]) > 0
    assert all(f"caveat: {caveat}" in flowing for caveat in document["caveats"])
    ranked = [line.split()[1] for line in text.splitlines() if line[:1].isdigit()]
    assert [c["channel"] for c in document["ranking"]] == ranked
    assert document["ranking"][0]["vs_best"] == 1.0


def _rate_row(mechanism, rate, p99_ns, saturated=False):
    row = ok_row(mechanism, "bytes" if mechanism == "pipe" else "segment", "stream", 1024, 1,
                 10_000.0)
    return replace(row, rate_per_s=rate, achieved_per_s=rate * (0.5 if saturated else 1.0),
                   saturated=saturated, lat_samples=1000, lat_p50_ns=p99_ns / 3,
                   lat_p90_ns=p99_ns / 2, lat_p99_ns=p99_ns, lat_p999_ns=p99_ns * 2,
                   lat_max_ns=p99_ns * 3)


def test_advise_rate_json_lists_ranking_and_saturated(tmp_path, capsys):
    run = write_run(tmp_path / "rate", [_rate_row("pipe", 1000, 30_000.0),
                                        _rate_row("shm", 1000, 20_000.0),
                                        _rate_row("queue", 1000, 90_000.0, saturated=True)])
    assert main(["advise", str(run), "--size", "1KiB", "--procs", "1", "--pattern", "stream",
                 "--rate", "1000", "--json", "-"]) == 0
    captured = capsys.readouterr()
    document = _strict(captured.out)
    assert document["schema"] == "ipcbench-advise/1" and document["mode"] == "rate"
    assert document["best"] == "shm/segment"
    assert [c["channel"] for c in document["ranking"]] == ["shm/segment", "pipe/bytes"]
    assert document["ranking"][0]["p99_ns"] == 20_000.0
    assert document["saturated"] == ["queue/segment"]
    assert "shm/segment has the lowest one-way p99" in captured.err


# --- run -------------------------------------------------------------------------------


@pytest.fixture()
def summary_rows():
    rows = []
    for size in (64, 1 << 20):
        rows += [ok_row("queue", "default", "pingpong", size, 1, 40_000.0,
                        placement="same-core"),
                 ok_row("pipe", "bytes", "pingpong", size, 1, 9_000.0, placement="same-core",
                        noisy=True)]
    rows += [bad_row("pipe", "bytes", "stream", 64, 1, "timeout", "deadline exceeded"),
             bad_row("queue", "default", "counter", 8, 1, "skipped", "not supported"),
             ok_row("baseline", "os-pipe", "pingpong", 64, 1, 6_000.0)]
    return rows[::-1]


def test_run_document_has_every_summary_row_in_the_tables_order(summary_rows, tmp_path):
    document = _strict(dumps(run_document(summary_rows, tmp_path)))
    assert document["schema"] == "ipcbench-run/1"
    assert document["run_folder"] == str(tmp_path)
    cases = document["cases"]
    blocks = groups(summary_rows)
    assert len(cases) == sum(len(b) for b in blocks) == 5  # the baseline is not a case
    assert [(c["workload"], c["rank"], c["channel"]) for c in cases] == [
        (0, 1, "pipe/bytes"), (0, 2, "queue"), (1, 1, "pipe/bytes"), (1, 2, "queue"),
        (2, 1, "pipe/bytes")]
    assert [c["best"] for c in cases] == [True, False, True, False, False]
    assert cases[-1]["status"] == "timeout" and cases[-1]["figure"] is None
    assert cases[0]["figure"] == 9_000.0 and cases[0]["unit"] == "ns" and cases[0]["noisy"]
    assert [s["mechanism"] for s in document["skipped"]] == ["queue"]
    buffer = io.StringIO()
    print_summary(summary_rows, Console(file=buffer, width=120))
    text = buffer.getvalue()
    # The table's CI cell is the half-width the document gives as a fraction.
    assert f"±{format_fraction(cases[0]['ci_half_width'])}" in text
    assert sum(line.split()[0] in ("pingpong", "stream") for line in text.splitlines()
               if line.strip()) == 3  # one line per workload starts with it
    assert "1 x timeout: deadline exceeded" in text


@pytest.mark.parametrize("to_stdout", [False, True])
def test_run_json_writes_the_summary_of_the_rows_it_measured(summary_rows, tmp_path,
                                                             monkeypatch, capsys, to_stdout):
    """The command's wiring, without measuring: the measuring step hands back rows."""
    import ipcbench.cli.run as run_command

    def measured(args, job, rows):
        rows.extend(summary_rows)

    monkeypatch.setattr(run_command, "_measure", measured)
    out, path = tmp_path / "run", tmp_path / "run.json"
    assert main(["run", "-m", "pipe", "-p", "pingpong", "-s", "64", "-n", "1", "--no-charts",
                 "--no-progress", "-o", str(out),
                 "--json", "-" if to_stdout else str(path)]) == 0
    captured = capsys.readouterr()
    document = _strict(captured.out if to_stdout else path.read_text())
    assert document["run_folder"] == str(out)
    assert document["results_csv"] == str(out / "results.csv")
    assert len(document["cases"]) == 5
    text = captured.err if to_stdout else captured.out
    assert f"results: {out / 'results.csv'}" in text and "pipe/bytes" in text


# --- unwritable paths ------------------------------------------------------------------


def _bad_targets(tmp_path) -> dict[str, str]:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    return {"missing folder": str(tmp_path / "nope" / "out.json"),
            "under a file": str(tmp_path / "a-file" / "out.json"),
            "a folder": str(tmp_path / "a-folder"),
            "empty": ""}


@pytest.mark.parametrize("target", ["missing folder", "under a file", "a folder", "empty"])
@pytest.mark.parametrize("command", ["run", "compare", "advise"])
def test_unwritable_json_path_is_one_line_exit_2_before_any_work(twins, tmp_path, capsys,
                                                                 command, target):
    a, slow = twins
    bad = _bad_targets(tmp_path)[target]
    argv = {
        "run": ["run", "-m", "pipe", "-p", "pingpong", "-s", "64", "-n", "1", "--no-charts",
                "-o", str(tmp_path / "run")],
        "compare": ["compare", str(a), str(slow), "--out", str(tmp_path / "o")],
        "advise": ["advise", str(a), "--size", "64", "--procs", "1", "--pattern",
                   "pingpong"],
    }[command]
    assert main([*argv, "--json", bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert re.match(r"ipcbench: error: (invalid|cannot write) --json ", captured.err)
    assert repr(bad) in captured.err
    assert not (tmp_path / "run").exists() and not (tmp_path / "o").exists()
