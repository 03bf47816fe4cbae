"""The run folder (issue 11): manifest.json makes `--resume DIR` run exactly the planned
cases without a complete row, each once, with the original settings and seed (also after
a kill before the first row and after a torn row); an exclusive lock refuses a second
run or resume on a live folder; default names never collide; planted links are refused.
Every run here is a real, tiny one in a tmp folder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ipcbench.core.results import CASE_KEYS, read_results
from ipcbench.harness.runfolder import RunLock, new_default_folder

# The reproduction, made tiny: 2 mechanisms x 2 patterns x 1 size (x 2 variants
# of pipe) = 6 cases, one session of one repeat each.
MATRIX = ["-m", "pipe", "shm", "--variant", "bytes", "pickle", "segment",
          "-p", "pingpong", "stream", "-s", "4KiB", "-n", "1",
          "--sessions", "1", "--repeats", "1", "--warmup", "0", "--placement", "unpinned",
          "--payload", "bytes", "--no-baselines", "--seed", "7"]
QUIET = ["--no-charts", "--no-progress"]


def ipcbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ipcbench", *args], capture_output=True,
                          text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "r1"
    result = ipcbench("run", *MATRIX, *QUIET, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def _keys(frame) -> list[tuple]:
    return sorted(frame[list(CASE_KEYS)].itertuples(index=False, name=None))


def _copy(src, dst):
    dst.mkdir()
    for name in ("manifest.json", "machine.json", "results.csv", "sessions.csv"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_manifest_lists_the_planned_cases_and_settings(finished):
    manifest = json.loads((finished / "manifest.json").read_text())
    frame = read_results(finished)
    planned = sorted(tuple(p[k] for k in CASE_KEYS) for p in manifest["planned"])
    assert planned == _keys(frame) and len(planned) == 6
    assert manifest["order_seed"] == 7 and manifest["settings"]["repeats"] == 1
    assert manifest["flags"]["mechanism"] == ["pipe", "shm"]


def test_resume_alone_runs_nothing_more(finished, tmp_path):
    run = _copy(finished, tmp_path / "copy")
    before = (run / "results.csv").read_bytes()
    result = ipcbench("run", "--resume", str(run), *QUIET)
    assert result.returncode == 0, result.stderr
    assert "6 cases done, 0 to run" in result.stderr  # not the default matrix
    assert (run / "results.csv").read_bytes() == before


@pytest.mark.parametrize("damage", ["killed-before-first-row", "torn-last-row"])
def test_resume_runs_exactly_the_missing_cases_once(finished, tmp_path, damage):
    run = _copy(finished, tmp_path / "copy")
    lines = (run / "results.csv").read_text().splitlines(keepends=True)
    if damage == "killed-before-first-row":
        (run / "results.csv").unlink()
        (run / "sessions.csv").unlink()
        missing = 6
    else:  # disk full while appending the last row: half of it on disk
        (run / "results.csv").write_text("".join(lines[:-1]) + lines[-1][:40])
        missing = 1
    result = ipcbench("run", "--resume", str(run), *QUIET)
    assert result.returncode == 0, result.stderr
    assert f"{6 - missing} cases done, {missing} to run" in result.stderr
    frame = read_results(run)
    assert _keys(frame) == _keys(read_results(finished))  # each planned case exactly once
    assert set(frame["order_seed"]) == {7} and set(frame["repeats"]) <= {1}


def test_a_live_folder_is_refused(finished, tmp_path):
    run = _copy(finished, tmp_path / "copy")
    lock = RunLock(run)  # as a live run holds it
    try:
        resumed = ipcbench("run", "--resume", str(run), *QUIET)
        again = ipcbench("run", *MATRIX, *QUIET, "--out", str(run))
    finally:
        lock.release()
    for result in (resumed, again):
        assert result.returncode == 2
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "in use by another ipcbench run" in lines[0], result.stderr


def test_out_folder_holding_a_finished_run_is_refused(finished):
    before = (finished / "results.csv").read_bytes()
    result = ipcbench("run", *MATRIX, *QUIET, "--out", str(finished))
    assert result.returncode == 2 and "already holds a run" in result.stderr
    assert (finished / "results.csv").read_bytes() == before


def test_default_folder_names_never_collide(tmp_path):
    folders = [new_default_folder(tmp_path) for _ in range(50)]
    assert len(set(folders)) == 50 and all(f.is_dir() for f in folders)


@pytest.mark.parametrize("name", ["results.csv", "sessions.csv", "machine.json.tmp",
                                  "manifest.json.tmp", "charts"])
def test_planted_links_are_refused(tmp_path, name):
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (out / name).symlink_to(victim)
    result = ipcbench("run", *MATRIX, *QUIET, "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and name in lines[0] and "symbolic link" in lines[0], result.stderr
    assert victim.read_text() == "precious"
    assert not (out / "results.csv").exists() or name == "results.csv"


def test_planted_chart_link_is_not_followed(tmp_path):
    out = tmp_path / "run"
    (out / "charts").mkdir(parents=True)
    victim = tmp_path / "victim.png"
    victim.write_text("precious")
    (out / "charts" / "latency.png").symlink_to(victim)
    result = ipcbench("run", *MATRIX, "--no-progress", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "latency.png" in result.stderr and "symbolic link" in result.stderr
    assert "no charts drawn" not in result.stderr  # every other chart was
    assert victim.read_text() == "precious"
    drawn = sorted(p.name for p in (out / "charts").iterdir() if not p.is_symlink())
    assert "best.png" in drawn and f"{len(drawn)} file(s) drawn" in result.stderr
    # `ipcbench plot` draws the others too, then exits 2 naming the refused chart.
    for chart in drawn:
        (out / "charts" / chart).unlink()
    replot = ipcbench("plot", str(out), "--out", str(out / "charts"))
    assert replot.returncode == 2
    assert replot.stderr.splitlines() == [
        f"ipcbench: error: 1 chart(s) not drawn (refusing "
        f"'{out / 'charts' / 'latency.png'}': it is a symbolic link (remove it first)); "
        f"{len(drawn)} file(s) drawn"]
    assert sorted(p.name for p in (out / "charts").iterdir() if not p.is_symlink()) == drawn
    assert victim.read_text() == "precious"
