"""Bad inputs to the reading commands (plot, report, advise, compare): one line naming
the problem and exit 2, never a traceback or a silently wrong figure; CSV text escaped
in compare.md; a BOM CSV accepted; charts never left truncated or written via a link."""

from __future__ import annotations

import errno
import math
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest
from synthetic_runs import bad_row, baseline_rows, ok_row, write_run

from ipcbench.analysis.runs import load_run
from ipcbench.core.results import read_results
from ipcbench.plotting import run_figures, save_figure
from ipcbench.render.markdown import write_compare

ROWS = [ok_row("pipe", "bytes", "pingpong", 64, 1, 9000.0),
        ok_row("shm", "segment", "pingpong", 64, 1, 7000.0),
        ok_row("pipe", "bytes", "stream", 4096, 1, 2000.0)]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ipcbench", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def _edited_run(tmp_path, edit) -> str:
    folder = write_run(tmp_path / "run", ROWS)
    frame = pd.read_csv(folder / "results.csv", dtype=str, keep_default_na=False)
    edit(frame)
    frame.to_csv(folder / "results.csv", index=False)
    return str(folder)


def _drop_p50(frame):
    del frame["p50_ns"]


def _set(column, value):
    def edit(frame):
        frame[column] = value
    return edit


READERS = {
    "plot": lambda run, tmp: ("plot", run, "--out", str(tmp / "charts")),
    "report": lambda run, tmp: ("report", run, "--out", str(tmp / "report")),
    "advise": lambda run, tmp: ("advise", run, "--size", "64", "--procs", "1", "--pattern",
                                "pingpong"),
}


@pytest.mark.parametrize("command", sorted(READERS))
@pytest.mark.parametrize(("edit", "expected"), [
    (_drop_p50, "missing p50_ns"),
    (_set("median_ns", ""), "median_ns 'nan'"),
    (_set("median_ns", "0.0"), "median_ns '0.0'"),
    (_set("p50_ns", "-5.0"), "p50_ns '-5.0'"),
    (_set("median_ns", "inf"), "median_ns 'inf'"),
], ids=["no-p50", "nan-median", "zero", "negative", "inf"])
def test_unusable_figures_give_one_line(tmp_path, command, edit, expected):
    run = _edited_run(tmp_path, edit)
    result = _cli(*READERS[command](run, tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipcbench: error: "), result.stderr
    assert expected in lines[0]


# compare reads both runs through the same reader: the bad one is given as the second.
ALL_READERS = {**READERS, "compare": lambda run, tmp: (
    "compare", str(write_run(tmp / "good", ROWS)), run, "--out", str(tmp / "cmp"),
    "--no-charts")}


def _one_error_line(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipcbench: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def _set_row(row, column, value):
    def edit(frame):
        frame.loc[row, column] = value
    return edit


@pytest.mark.parametrize("command", sorted(ALL_READERS))
@pytest.mark.parametrize(("edit", "expected"), [
    # The stream row (row 3, line 4): a NaN rate once ranked a slow channel first.
    (_set_row(2, "bytes_per_s", ""), "row 3 (line 4): ok row pipe/bytes stream has "
                                     "bytes_per_s 'nan'"),
    (_set_row(2, "bytes_per_s", "nan"), "row 3 (line 4)"),
    (_set_row(1, "msgs_per_s", "-1.0"), "row 2 (line 3): ok row shm/segment pingpong has "
                                        "msgs_per_s '-1.0'"),
    (_set_row(0, "msgs_per_s", "inf"), "row 1 (line 2)"),
], ids=["empty-rate", "nan-rate", "negative-msgs", "inf-msgs"])
def test_every_reader_refuses_an_unusable_rate_naming_the_row(tmp_path, command, edit,
                                                                expected):
    run = _edited_run(tmp_path, edit)
    line = _one_error_line(_cli(*ALL_READERS[command](run, tmp_path)))
    assert f"{run}/results.csv {expected}" in line


def test_a_counter_row_without_a_byte_rate_is_read(tmp_path):
    # The counter moves no payload: its bytes_per_s is empty in every real run.
    counter = ok_row("value", "locked", "counter", 8, 2, 500.0)
    folder = write_run(tmp_path / "run", [*ROWS, replace(counter, bytes_per_s=math.nan)])
    assert len(read_results(folder)) == len(ROWS) + 1


@pytest.mark.parametrize("command", sorted(ALL_READERS))
def test_every_reader_refuses_a_case_written_twice(tmp_path, command):
    folder = write_run(tmp_path / "run", [*ROWS, ROWS[1]])
    line = _one_error_line(_cli(*ALL_READERS[command](str(folder), tmp_path)))
    assert f"{folder}/results.csv row 2 (line 3) and row 4 (line 5) hold the same case" in line
    assert "mechanism=shm variant=segment pattern=pingpong size_bytes=64" in line


def test_baseline_rows_measured_again_by_a_resume_are_read(tmp_path):
    # --resume measures an incomplete or failed baseline set again: not a repeated case.
    again = baseline_rows()
    folder = write_run(tmp_path / "run", [*baseline_rows(), *ROWS, *again])
    assert len(load_run(folder).frame) == 2 * len(again) + len(ROWS)


def _torn(cut):
    """results.csv with a last row cut short as a killed run leaves it."""
    def make(path):
        text = path.read_text()
        last = text.rstrip("\n").rsplit("\n", 1)[1]
        path.write_text(text + cut(last))
    return make


@pytest.mark.parametrize("tear", [
    _torn(lambda line: line[:40]),  # no newline
    _torn(lambda line: line[:len(line) // 2]),  # mid-row, no newline
    _torn(lambda line: line[:40] + "\n"),  # too few fields, then a newline
    _torn(lambda line: line.rsplit(",", 1)[0]),  # cut at a field boundary, no newline
], ids=["no-newline", "mid-row", "few-fields", "field-boundary"])
def test_a_torn_last_row_is_dropped_with_a_one_line_warning(tmp_path, tear):
    folder = write_run(tmp_path / "run", ROWS)
    tear(folder / "results.csv")
    result = _cli("plot", str(folder), "--out", str(tmp_path / "c"), "--formats", "svg")
    assert result.returncode == 0, result.stderr
    warnings = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert warnings == [f"ipcbench: warning: {folder}/results.csv row 4 (line 5) is cut short "
                        "(a run killed mid-write?); read without it"]
    assert len(load_run(folder).frame) == len(ROWS)


def test_a_short_row_before_the_last_is_refused(tmp_path):
    folder = write_run(tmp_path / "run", ROWS)
    path = folder / "results.csv"
    header, *lines = path.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 3)[0]
    path.write_text("\n".join([header, *lines]) + "\n")
    line = _one_error_line(_cli("plot", str(folder), "--out", str(tmp_path / "c")))
    assert f"{path} row 2 (line 3) has " in line and "fields, the header" in line


@pytest.mark.parametrize("where", ["header", "row"])
def test_a_non_utf8_file_is_named(tmp_path, where):
    folder = write_run(tmp_path / "run", ROWS)
    path = folder / "results.csv"
    data = path.read_bytes()
    path.write_bytes(b"\xff" + data if where == "header" else data + b"\xff\xfe,\n")
    for command in sorted(ALL_READERS):
        line = _one_error_line(_cli(*ALL_READERS[command](str(folder), tmp_path)))
        assert f"{path} is not UTF-8 text" in line, command


def test_a_directory_named_results_csv_is_called_a_directory(tmp_path):
    as_file = tmp_path / "results.csv"
    as_file.mkdir()
    line = _one_error_line(_cli("plot", str(as_file), "--out", str(tmp_path / "c")))
    assert line == (f"ipcbench: error: {as_file} is a directory, not a results file "
                    "(pass a run folder or its results.csv)")
    folder = tmp_path / "run"
    (folder / "results.csv").mkdir(parents=True)
    line = _one_error_line(_cli("report", str(folder), "--out", str(tmp_path / "r")))
    assert line == f"ipcbench: error: {folder}/results.csv is a directory, not a results file"


def test_compare_against_only_failed_rows_reports_no_speed_ratio(tmp_path):
    a = write_run(tmp_path / "a", ROWS)
    b = write_run(tmp_path / "b", [bad_row(r.mechanism, r.variant, r.pattern, r.size_bytes,
                                           r.procs) for r in ROWS])
    write_compare([a, b], tmp_path / "out", charts=False)
    text = (tmp_path / "out" / "compare.md").read_text()
    assert "B vs A: no case measured ok in both." in text
    assert "faster than A" not in text and "as fast as A" not in text


def test_compare_md_escapes_text_from_csvs(tmp_path):
    evil = [bad_row("pipe", "bytes", "pingpong", 128, 1,  # a case of its own (no repeat)
                    reason="<script>alert(1)</script> <img src=x onerror=alert(2)> [x](y)")]
    a = write_run(tmp_path / "a", ROWS + evil)
    b = write_run(tmp_path / "b", ROWS)
    write_compare([a, b], tmp_path / "out", charts=False)
    text = (tmp_path / "out" / "compare.md").read_text()
    assert "<script" not in text and "<img" not in text


def test_utf8_bom_csv_is_read(tmp_path):
    folder = write_run(tmp_path / "run", ROWS)
    path = folder / "results.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(read_results(path)) == len(ROWS)
    assert _cli("plot", str(path), "--out", str(tmp_path / "c"), "--formats", "svg"
                ).returncode == 0


def test_chart_cut_short_by_a_full_disk_leaves_nothing_and_names_the_file(tmp_path):
    figure = run_figures(load_run(write_run(tmp_path / "run", ROWS)))["latency"]

    def full_disk(handle, **_kwargs):
        handle.write(b"\x89PNG half a chart")
        raise OSError(errno.ENOSPC, "No space left on device")

    figure.savefig = full_disk
    out = tmp_path / "charts"
    with pytest.raises(OSError, match=r"cannot write .*latency\.png.*No space left"):
        save_figure(figure, out, "latency", ("png",))
    assert list(out.iterdir()) == []  # neither the chart nor its temp file


def test_planted_chart_link_is_refused(tmp_path):
    figure = run_figures(load_run(write_run(tmp_path / "run", ROWS)))["latency"]
    out = tmp_path / "charts"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (out / "latency.png").symlink_to(victim)
    with pytest.raises(ValueError, match="latency.png.*symbolic link"):
        save_figure(figure, out, "latency", ("png",))
    assert victim.read_bytes() == b"precious"


# -- run's values, refused before any process starts ----------------------------------
RUN = ["run", "--mechanism", "pipe", "--pattern", "pingpong", "--size", "64", "--procs", "1",
       "--placement", "unpinned", "--no-charts", "--no-progress"]


@pytest.mark.parametrize(("args", "message"), [
    (["--repeats", "1000000000"],
     "invalid repeats 1000000000: must be a whole number from 1 to 1000"),
    (["--repeats", "1001"], "invalid repeats 1001: must be a whole number from 1 to 1000"),
    (["--sessions", "1001"], "invalid sessions 1001: must be a whole number from 1 to 1000"),
    (["--sessions", "0"], "invalid sessions 0: must be a whole number from 1 to 1000"),
    (["--warmup", "100000"], "invalid warmup 100000: must be a whole number from 0 to 1000"),
    # 0 is outside the promised range, exactly like -5 (max is the closed loop).
    (["--rate", "0"], "invalid rate '0': expected messages per second, a whole number from 1 "
                      "to 10000000, or max"),
    (["--rate", "-5"], "invalid rate '-5': expected messages per second, a whole number from "
                       "1 to 10000000, or max"),
    (["--rate", "0.0"], "invalid rate '0.0'"),
    (["--deadline", "1e-9"], "invalid deadline 1e-09: must be seconds from 0.001 to 3600"),
    (["--deadline", "0.0009"], "invalid deadline 0.0009: must be seconds from 0.001 to 3600"),
    (["--deadline", "3601"], "invalid deadline 3601.0: must be seconds from 0.001 to 3600"),
    (["--precision", "60%"], "invalid precision '60%': expected a CI half-width such as 5%"),
    (["--precision", "five"], "invalid precision 'five'"),
    (["--budget", "0"], "invalid budget '0': expected minutes, above 0"),
    # Each bound alone is fine; together at 64 MiB they are days even at memory speed.
    (["--repeats", "1000", "--sessions", "1000", "--size", "64MiB"],
     "this matrix would take at least 60 h even at memory speed (8 cases x 1000 sessions x "
     "1001 repeats)"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_run_values_out_of_bounds_are_one_line_and_exit_2(capsys, tmp_path, args, message):
    import psutil

    from ipcbench.cli import main

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    code = main([*RUN, "--out", str(tmp_path / "never"), *args])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"ipcbench: error: {message}"), lines
    assert not (tmp_path / "never").exists()  # no run folder, so no case was started
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before


@pytest.mark.parametrize(("args", "field", "value"), [
    (["--repeats", "1000"], "repeats", 1000),
    (["--sessions", "1000"], "sessions", 1000),
    (["--warmup", "0"], "warmup", 0),
    (["--deadline", "0.001"], "deadline_s", 0.001),
    (["--deadline", "0.25"], "deadline_s", 0.25),
    (["--deadline", "3600"], "deadline_s", 3600.0),
    (["--precision", "2.5%"], "target_ci", 0.025),
    (["--precision", "0.1"], "target_ci", 0.1),
    (["--budget", "1.5"], "run_budget_s", 90.0),
])
def test_run_values_at_the_bounds_are_accepted(args, field, value):
    from ipcbench.cli import build_parser
    from ipcbench.cli.run import plan_from_args

    _planned, settings = plan_from_args(build_parser().parse_args([*RUN, *args]))
    assert getattr(settings, field) == value


def test_a_sub_second_deadline_is_kept_not_rounded_to_whole_seconds():
    from ipcbench.core.schema import Case
    from ipcbench.harness.session import derive_workload
    from ipcbench.system.deadlines import seconds_text

    case = Case("pipe", "bytes", "pingpong", 64, 1, "fork", "unpinned")
    assert derive_workload(case, 10, 0.05).repeat_deadline_s == 0.05
    assert derive_workload(case, 10, 2.5).repeat_deadline_s == 2.5
    derived = derive_workload(case, 10, None).repeat_deadline_s  # derived: whole seconds
    assert derived == int(derived) > 0
    # ... and a timeout's reason says the deadline as given.
    assert [seconds_text(s) for s in (0.05, 0.001, 0.5, 2.0, 12.0)] == [
        "0.05s", "0.001s", "0.5s", "2.0s", "12.0s"]


def test_rate_max_is_the_closed_loop_and_advise_refuses_rate_0(tmp_path):
    from ipcbench.cli.args import rate

    assert rate("max") == rate("MAX") == 0 and rate("1") == 1
    folder = write_run(tmp_path / "run", ROWS)
    line = _one_error_line(_cli("advise", str(folder), "--size", "64", "--procs", "1",
                                "--pattern", "stream", "--rate", "0"))
    assert "invalid rate '0'" in line


def test_a_write_cut_short_by_a_full_disk_leaves_only_whole_lines(tmp_path, monkeypatch):
    from ipcbench.core import results

    appender = results.CsvAppender(tmp_path / "results.csv")
    appender.append(ROWS[0])
    before = (tmp_path / "results.csv").read_bytes()
    real_write = results.os.write

    def half(fd, data):
        return real_write(fd, data[: len(data) // 2])  # the disk filled mid-line

    monkeypatch.setattr(results.os, "write", half)
    with pytest.raises(OSError, match="short write"):
        appender.append(ROWS[1])
    monkeypatch.setattr(results.os, "write", real_write)
    assert (tmp_path / "results.csv").read_bytes() == before  # cut back to whole lines


def test_a_full_disk_mid_run_says_how_to_finish_it(tmp_path, monkeypatch, capsys):
    from ipcbench.cli import main
    from ipcbench.harness import sessionlog

    def full(self, case, result):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sessionlog.SessionLog, "append", full)
    out = tmp_path / "run"
    code = main(["run", "-m", "pipe", "--variant", "bytes", "-p", "pingpong", "-s", "64",
                 "-n", "1", "--payload", "bytes", "--placement", "same-core", "--sessions",
                 "2", "--no-baselines", "--no-charts", "--no-progress", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err
    assert f"ipcbench run --resume {out}" in err and "Traceback" not in err
