"""The run's answer block (render/answer.py) and `ipcbench show`: a line per workload
with the best channel, its figure, the runner-up and its lag or a tie, a caveat under a
busy-polling winner, the executor's pool kept apart, one screen at 80 columns."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from synthetic_runs import bad_row, model_rows, ok_row, write_run

from ipcbench.analysis.advise import advise
from ipcbench.analysis.answer import answers
from ipcbench.cli import main
from ipcbench.core.results import read_results, rows_from_frame
from ipcbench.mechanisms import channel_traits
from ipcbench.render.answer import MAX_LINES, answer_lines

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"


def _tight(mechanism, variant, pattern, size, procs, per_msg_ns, **kw):
    """A row whose CI is ±0.2%, without paired ratios (ties by the 5% rule)."""
    return ok_row(mechanism, variant, pattern, size, procs, per_msg_ns, stdev_frac=0.001,
                  **kw)


@pytest.fixture(scope="module")
def rows():
    same = {"placement": "same-core"}
    return [
        _tight("pipe", "bytes", "pingpong", 64, 1, 9_000.0, **same),
        _tight("shm", "segment", "pingpong", 64, 1, 22_000.0, **same),
        # 4 pairs: the pool's one task in flight is faster, and no rival.
        _tight("executor", "pool", "pingpong", 64, 4, 5_000.0, **same),
        _tight("pipe", "bytes", "pingpong", 64, 4, 9_000.0, **same),
        _tight("shm", "segment", "pingpong", 64, 4, 9_200.0, **same),  # 2% behind: a tie
        _tight("shm", "ring8-spin", "stream", 65536, 1, 4_000.0, placement="cross-core",
               cpu_s_per_msg=9e-6),
        _tight("pipe", "bytes", "stream", 65536, 1, 8_000.0, placement="cross-core"),
        _tight("value", "locked", "counter", 8, 2, 800.0, **same),
        bad_row("queue", "default", "stream", 1 << 20, 1, "timeout", "deadline exceeded",
                placement="same-core"),
        bad_row("value-raw", "lock", "pingpong", 64, 1, "skipped", "no pingpong",
                placement="same-core"),
    ]


def test_one_line_per_workload_exactly(rows):
    assert answer_lines(rows, 80, "my-run") == [
        "Answer: the best channel per workload; runner-up trails by +N% or tie (noise)",
        "pingpong · same-core: p50 round trip, lower is better; n = pairs of processes",
        "  64B     x1  pipe/bytes              9 µs  shm/segment            +144%",
        "  64B     x4  pipe/bytes              9 µs  shm/segment            tie",
        "stream · same-core: throughput, higher is better; n = producer processes",
        "  1MiB    x1  no ok row (1 failed or timed out)",
        "stream · cross-core: throughput, higher is better; n = producer processes",
        "  64KiB   x1  shm/ring8-spin     16.4 GB/s  pipe/bytes             +100%",
        "              ^ busy-polls: burns a CPU per peer; CPU 9 µs/msg",
        "counter · same-core: increments/s, higher is better; n = incrementing processes",
        "          x2  value/locked   1.25 M msgs/s  only one channel measured",
        "not ranked at 2+ procs: executor/pool (pingpong procs = pool workers, one",
        "  request in flight)",
        "cases: 1 skipped, 1 failed or timed out; every row and why:",
        "  ipcbench show my-run --all",
    ]


def test_answers_agree_with_advise(rows):
    import pandas as pd

    frame = pd.DataFrame([r.as_dict() for r in rows])
    traits = channel_traits()
    for answer in answers(rows, traits):
        if answer.best is None or answer.runner_up is None:
            continue
        advice = advise(frame, answer.size_bytes, answer.procs, answer.pattern,
                        answer.placement, answer.payload, answer.start_method, traits)
        assert (advice.best.mechanism, advice.best.variant) == (
            answer.best.mechanism, answer.best.variant)
        assert (advice.runner_up.mechanism, advice.runner_up.variant) == (
            answer.runner_up.mechanism, answer.runner_up.variant)


def _quick_like():
    """The quick matrix's shape: 3 sizes, 1 and 2 procs, one placement."""
    return model_rows(sizes=(64, 65536, 1 << 20), procs=(1, 2), placements=("same-core",))


def test_a_quick_sized_run_shows_every_workload_in_one_screen():
    rows = _quick_like()
    every = answers(rows, channel_traits())
    lines = answer_lines(rows, 80, "RUN")
    # Title, a header per (pattern, placement), a line per workload, the tail.
    groups = {(a.pattern, a.placement) for a in every}
    assert sum(" is better" in line for line in lines) == len(groups) == 3
    assert sum(bool(re.match(r"^  \S*\s+x\d", line)) for line in lines) == len(every) == 16
    assert lines[-2:] == ["cases: 1 skipped, 2 failed or timed out; every row and why:",
                          "  ipcbench show RUN --all"]
    assert len(lines) == 1 + 3 + 16 + 2 <= MAX_LINES and max(map(len, lines)) <= 80
    assert not any(line.startswith("left out") for line in lines)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_a_big_run_leaves_whole_classes_out_and_counts_them(width):
    rows = model_rows(sizes=(64, 1024, 16384, 262144, 4194304), procs=(1, 2, 4, 8),
                      placements=("unpinned", "same-core", "cross-core"))
    every = answers(rows, channel_traits())
    lines = answer_lines(rows, width, "RUN")
    assert len(lines) <= MAX_LINES and max(map(len, lines)) <= width
    text = " ".join(line.strip() for line in lines)
    note = text[text.index("left out to fit one screen: "):text.index("; every row")]
    left = sum(int(part.split(" workloads")[0].split()[-1]) for part in note.split("; ")
               if " workloads" in part)
    shown = sum(bool(re.match(r"^  \S*\s+x\d", line)) for line in lines)
    assert shown + left == len(every)
    assert "more processes than the fewest" in note


def test_rate_rows_baselines_and_skipped_rows_are_no_workloads():
    from dataclasses import replace

    base = _tight("pipe", "bytes", "stream", 64, 1, 1_000.0)
    rows = [base, replace(base, rate_per_s=1000),
            _tight("baseline", "memcpy", "stream", 64, 1, 10.0),
            bad_row("shm", "segment", "stream", 128, 1, "skipped", "nope")]
    assert [(a.size_bytes, a.best.mechanism) for a in answers(rows)] == [(64, "pipe")]


def test_paired_cis_decide_the_tie():
    from dataclasses import replace

    def row(mechanism, time_ns, ratio, half):
        return replace(_tight(mechanism, "v", "pingpong", 64, 1, time_ns), ratio=ratio,
                       ratio_ci_low=ratio * (1 - half), ratio_ci_high=ratio * (1 + half))

    clear = answers([row("shm", 10_000.0, 0.97, 0.01), row("pipe", 10_300.0, 1.03, 0.01)])
    tie = answers([row("shm", 10_000.0, 0.8, 0.2), row("pipe", 13_000.0, 1.2, 0.2)])
    assert not clear[0].tie and tie[0].tie  # 3% ahead, clearly; 30% ahead, not surely


# --- ipcbench show ----------------------------------------------------------------------


def test_show_reprints_the_answer_from_the_folder(tmp_path, capsys, monkeypatch, rows):
    monkeypatch.setenv("COLUMNS", "80")
    run = write_run(tmp_path / "run", rows)
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == answer_lines(rows_from_frame(read_results(run)), 80, str(run))
    assert out[0].startswith("Answer:")


def test_show_all_prints_the_full_table_first(tmp_path, capsys, monkeypatch, rows):
    monkeypatch.setenv("COLUMNS", "80")
    run = write_run(tmp_path / "run", rows)
    assert main(["show", str(run / "results.csv"), "--all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("per message (pingpong: round trip)")
    assert "executor/pool*" in "\n".join(out)  # kept apart in the table too
    start = out.index(answer_lines(rows, 80)[0])
    assert out[start:] == answer_lines(rows_from_frame(read_results(run)), 80, str(run))
    assert max(map(len, out)) <= 80


def test_show_of_a_missing_run_is_one_line_exit_2(tmp_path, capsys):
    assert main(["show", str(tmp_path / "nope")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "no results file" in captured.err


def test_the_reference_answer_fits_one_screen(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["show", str(REFERENCE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) <= MAX_LINES and max(map(len, lines)) <= 80
    rows = rows_from_frame(read_results(REFERENCE))
    for answer in answers(rows, channel_traits()):
        if answer.best is not None and answer.pattern == "pingpong" and answer.procs > 1:
            assert answer.best.mechanism != "executor"


def test_print_answer_writes_to_the_given_file(rows):
    from ipcbench.render.answer import print_answer

    buffer = io.StringIO()
    print_answer(rows, "R", width=100, file=buffer)
    assert buffer.getvalue().splitlines() == answer_lines(rows, 100, "R")


def test_a_tiny_run_ends_with_its_answer_and_the_full_table_on_request(tmp_path):
    """A real, cheap run (pipe's two variants, one placement, one payload kind)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    argv = [sys.executable, "-m", "ipcbench", "run", "--mechanism", "pipe", "--pattern",
            "pingpong", "--size", "64", "--procs", "1", "--sessions", "1", "--repeats", "2",
            "--placement", "unpinned", "--payload", "bytes", "--no-charts", "--no-progress",
            "--no-baselines", "--full-table", "--out", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("per message (pingpong: round trip")  # the full table first
    start = next(i for i, line in enumerate(lines) if line.startswith("Answer:"))
    answer = answer_lines(rows_from_frame(read_results(out)), 80, str(out))
    assert lines[start:] == [*answer, f"results: {out / 'results.csv'}"]
    assert len(answer) == 1 + 1 + 1 + 1  # title, pingpong header, 64B x1, the hint
    assert max(map(len, lines[:-1])) <= 80  # all but the results path
