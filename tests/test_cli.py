"""The `ipcbench` command: one-line errors with exit code 2, list/machine output, and
small end-to-end runs that write results.csv + machine.json."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ipcbench.cli import main
from ipcbench.results import CASE_KEYS, read_results

REQUIRED_COLUMNS = (
    "schema_version", "run_id", "timestamp_utc", "machine_id", "mechanism", "variant", "pattern",
    "size_bytes", "procs", "start_method", "status", "reason", "repeats", "messages", "median_ns",
    "mean_ns", "stdev_ns", "min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
    "bytes_per_s", "msgs_per_s",
)
FAKE_RUN = ["run", "--mechanism", "fake", "--size", "64", "--procs", "1", "--repeats", "2",
            "--warmup", "1", "--placement", "unpinned", "--payload", "bytes",
            "--pattern", "pingpong", "stream", "counter", "--no-charts", "--no-progress"]


def ipcbench(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    """The real entry point in a child process (so signal handlers stay out of pytest)."""
    return subprocess.run([sys.executable, "-m", "ipcbench", *args], capture_output=True,
                          text=True, timeout=timeout_s, check=False)


@pytest.mark.parametrize(
    ("args", "bad_value"),
    [
        (["--size", "0"], "'0'"),
        (["--size", "-5"], "'-5'"),
        (["--size", "12XB"], "'12XB'"),
        (["--size", "64", "abc"], "'abc'"),
        (["--mechanism", "nope"], "'nope'"),
        (["--pattern", "broadcast"], "'broadcast'"),
        (["--variant", "nope"], "'nope'"),
        (["--procs", "0"], "'0'"),
        (["--procs", "two"], "'two'"),
        (["--start-method", "nope"], "'nope'"),
        (["--placement", "nope"], "'nope'"),
        (["--repeats", "0"], "repeats 0"),
        (["--deadline", "-1"], "deadline -1"),
        (["--out", "/proc/x"], "/proc/x"),
        (["--resume", "/nonexistent/run"], "/nonexistent/run"),
        (["--procs", "100000"], "'100000'"),
        (["--payload", "json"], "'json'"),
        (["--seed", "-1"], "seed -1"),
        (["--mechanism", "shm", "--size", "1GiB", "--procs", "64"], "1GiB"),
    ],
)
def test_bad_run_arguments_give_one_line_and_exit_2(capsys, args, bad_value):
    base = ["run", "--mechanism", "fake", "--size", "64", "--procs", "1", "--no-charts",
            "--no-progress"]
    code = main([*base, *args])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("ipcbench: error: ")
    assert bad_value in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_bad_size_through_the_real_entry_point():
    result = ipcbench("run", "--size", "12XB", "--no-progress")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "ipcbench: error: invalid size '12XB': unknown unit 'XB' (use B, KiB, MiB, GiB)"
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_list_shows_mechanisms_variants_and_patterns(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for mechanism in ("pipe:", "queue:", "value:", "shm:"):
        assert any(line.startswith(mechanism) for line in out.splitlines()), mechanism
    variant_lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(" ")}
    assert variant_lines["bytes"].endswith("patterns: pingpong, stream, fanout")
    assert variant_lines["pickle"].endswith("patterns: pingpong, stream, fanout")
    assert variant_lines["default"].endswith("patterns: pingpong, stream, fanout")
    assert variant_lines["array"].endswith("patterns: pingpong, stream, fanout")
    assert variant_lines["locked"].endswith("patterns: counter")
    assert variant_lines["segment"].endswith("patterns: pingpong, stream, fanout")
    assert "fake" not in out  # the test double is hidden


def test_machine_prints_json_with_machine_id(capsys):
    assert main(["machine"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert isinstance(meta["machine_id"], str) and meta["machine_id"]
    assert meta["logical_cpus"] >= 1


def test_fake_run_writes_results_and_machine_json(tmp_path):
    out = tmp_path / "run"
    result = ipcbench(*FAKE_RUN, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert set(REQUIRED_COLUMNS) <= set(header)
    frame = read_results(out)
    assert set(frame["status"]) == {"ok"}
    assert frame["run_id"].nunique() == 1
    fake = frame[frame["mechanism"] == "fake"]  # other rows: the run's baselines
    assert sorted(fake["pattern"]) == ["counter", "pingpong", "stream"]
    assert set(fake["placement"]) == {"unpinned"}
    assert (fake["repeats"] >= 2).all()
    assert fake["verified"].all()
    machine = json.loads((out / "machine.json").read_text())
    assert set(frame["machine_id"]) == {machine["machine_id"]}


@pytest.mark.integration
def test_real_pipe_run_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = ipcbench("run", "--mechanism", "pipe", "--pattern", "pingpong", "--size", "64",
                      "--procs", "1", "--repeats", "2", "--warmup", "1", "--placement",
                      "unpinned", "--payload", "bytes", "--out", str(out), "--no-charts",
                      "--no-progress")
    assert result.returncode == 0, result.stderr
    frame = read_results(out)
    pipe = frame[frame["mechanism"] == "pipe"]
    assert sorted(pipe["variant"]) == ["bytes", "pickle"]
    assert set(pipe["status"]) == {"ok"}
    assert set(pipe["pattern"]) == {"pingpong"}
    assert pipe["verified"].all()
    assert (pipe["messages"] > 0).all()
    assert (out / "machine.json").is_file()


def test_resume_skips_cases_already_done(tmp_path):
    out = tmp_path / "run"
    first = ipcbench(*FAKE_RUN, "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = (out / "results.csv").read_text()

    again = ipcbench(*FAKE_RUN, "--resume", str(out))
    assert again.returncode == 0, again.stderr
    assert "0 to run" in again.stderr
    assert (out / "results.csv").read_text() == before

    # A wider matrix only adds the missing cases (counter ignores size: nothing new there).
    wider = ipcbench(*FAKE_RUN, "--size", "64", "128", "--resume", str(out))
    assert wider.returncode == 0, wider.stderr
    frame = read_results(out)
    # Baselines are measured once per placement and reused by a resumed run.
    case_keys = list(frame[list(CASE_KEYS)].itertuples(index=False, name=None))
    assert len(case_keys) == len(set(case_keys)), "a resumed run duplicated a case"
    fake = frame[frame["mechanism"] == "fake"]
    keys = sorted(zip(fake["pattern"], fake["size_bytes"], strict=True))
    assert keys == [("counter", 8), ("pingpong", 64), ("pingpong", 128), ("stream", 64),
                    ("stream", 128)]


def test_resume_refuses_a_run_from_another_machine(tmp_path):
    out = tmp_path / "run"
    first = ipcbench(*FAKE_RUN, "--no-baselines", "--out", str(out))
    assert first.returncode == 0, first.stderr
    csv_path = out / "results.csv"
    machine_id = read_results(out)["machine_id"].iloc[0]
    csv_path.write_text(csv_path.read_text().replace(machine_id, "elsewhere-00000000"))
    again = ipcbench(*FAKE_RUN, "--resume", str(out))
    assert again.returncode == 2
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "elsewhere-00000000" in lines[0] and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a,b\n1,2\n", "not an ipcbench results CSV"),
        ("schema_version,mechanism,variant,pattern,size_bytes,procs,start_method,status\n"
         "99,pipe,bytes,pingpong,64,1,fork,ok\n", "schema_version 99"),
        ("", "not an ipcbench results CSV"),
    ],
)
def test_resume_from_a_bad_results_file_gives_one_line(tmp_path, capsys, content, expected):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.csv").write_text(content)
    code = main([*FAKE_RUN, "--resume", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
