"""Bad inputs to the reading commands (plot, report, advise, compare): one line naming
the problem and exit 2, never a traceback or a silently wrong figure; CSV text escaped
in compare.md; a BOM CSV accepted; charts never left truncated or written via a link."""

from __future__ import annotations

import errno
import subprocess
import sys

import pandas as pd
import pytest
from synthetic_runs import bad_row, ok_row, write_run

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


def test_compare_against_only_failed_rows_reports_no_speed_ratio(tmp_path):
    a = write_run(tmp_path / "a", ROWS)
    b = write_run(tmp_path / "b", [bad_row(r.mechanism, r.variant, r.pattern, r.size_bytes,
                                           r.procs) for r in ROWS])
    write_compare([a, b], tmp_path / "out", charts=False)
    text = (tmp_path / "out" / "compare.md").read_text()
    assert "B vs A: no case measured ok in both." in text
    assert "faster than A" not in text and "as fast as A" not in text


def test_compare_md_escapes_text_from_csvs(tmp_path):
    evil = [bad_row("pipe", "bytes", "pingpong", 64, 1,
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
