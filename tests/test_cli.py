"""The `ipcbench` command: one-line errors with exit code 2, list/machine output, and
small end-to-end runs that write results.csv + machine.json."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ipcbench.cli import main
from ipcbench.core.results import read_results

REQUIRED_COLUMNS = (
    "schema_version", "run_id", "timestamp_utc", "machine_id", "mechanism", "variant", "pattern",
    "size_bytes", "procs", "start_method", "status", "reason", "repeats", "messages", "median_ns",
    "mean_ns", "stdev_ns", "min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
    "bytes_per_s", "msgs_per_s",
)
# A real, cheap run: the hidden test fake is not reachable from the CLI. value-raw has
# only the counter pattern and pipe no counter, so two cases are skipped rows.
TINY_RUN = ["run", "--mechanism", "pipe", "value-raw", "--variant", "bytes", "lock",
            "--size", "64", "--procs", "1", "--sessions", "1", "--repeats", "2", "--warmup", "1",
            "--placement", "unpinned", "--payload", "bytes", "--pattern", "pingpong", "stream",
            "counter", "--no-charts", "--no-progress"]


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
        (["--pattern", "multicast"], "'multicast'"),
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
        # Empty values are mistakes, not "the default" (nor zero cases and exit 0).
        (["--size", ""], "size ''"),
        (["--size", ","], "size ','"),
        (["--size", "64,"], "size '64,'"),
        (["--mechanism", ""], "mechanism ''"),
        (["--procs", ""], "procs ''"),
        (["--pattern", ""], "pattern ''"),
        (["--placement", ""], "placement ''"),
        (["--payload", ""], "payload ''"),
        (["--start-method", ""], "start method ''"),
        (["--variant", ""], "variant ''"),
        (["--mechanism", "fake"], "'fake'"),  # the test double is not a CLI choice
        (["--deadline", "inf"], "deadline inf"),
        (["--deadline", "1e308"], "deadline 1e+308"),
        (["--deadline", "nan"], "deadline nan"),
        (["--deadline", "0"], "deadline 0"),
        (["--rate", "-5"], "rate '-5'"),
        (["--rate", "1.5"], "rate '1.5'"),
        (["--rate", "fast"], "rate 'fast'"),
        (["--rate", "1e9"], "rate '1e9'"),
        (["--rate", ""], "rate ''"),
        (["--load", "0%"], "load '0%'"),
        (["--load", "300%"], "load '300%'"),
        (["--load", "half"], "load 'half'"),
        (["--load", ""], "load ''"),
    ],
)
def test_bad_run_arguments_give_one_line_and_exit_2(capsys, tmp_path, args, bad_value):
    base = ["run", "--mechanism", "pipe", "--size", "64", "--procs", "1", "--no-charts",
            "--no-progress"]
    if "--out" not in args and "--resume" not in args:
        base += ["--out", str(tmp_path / "never")]  # should a bad value slip through
    code = main([*base, *args])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("ipcbench: error: ")
    assert bad_value in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert "fake" not in lines[0] or "'fake'" in bad_value  # never offered as a choice
    assert not (tmp_path / "never" / "results.csv").exists()


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
    variant_lines = {}  # the first of each name: pipe's pickle, not mpi's
    for line in out.splitlines():
        if line.startswith(" "):
            variant_lines.setdefault(line.split()[0], line)
    shapes = "broadcast, pipeline, reqrep, bidir"
    assert variant_lines["bytes"].endswith(f"patterns: pingpong, stream, fanout, {shapes}")
    assert variant_lines["pickle"].endswith(f"patterns: pingpong, stream, fanout, {shapes}")
    # The first `default` variant listed is Queue's: it can be a work queue.
    assert variant_lines["default"].endswith(
        f"patterns: pingpong, stream, fanout, workqueue, {shapes}")
    assert variant_lines["array"].endswith(f"patterns: pingpong, stream, fanout, {shapes}")
    assert variant_lines["locked"].endswith("patterns: counter")
    assert variant_lines["segment"].endswith(f"patterns: pingpong, stream, fanout, {shapes}")
    assert "fake" not in out  # the test double is hidden
    patterns = [line for line in out.splitlines() if line.startswith("pattern ")]
    assert [line.split()[1] for line in patterns] == [
        "pingpong:", "stream:", "fanout:", "workqueue:", "counter:", "broadcast:",
        "pipeline:", "reqrep:", "bidir:", "startup:", "churn:"]
    assert "(--procs N: N producers (and as many consumers))" in patterns[3]


def test_machine_prints_json_with_machine_id(capsys):
    assert main(["machine"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert isinstance(meta["machine_id"], str) and meta["machine_id"]
    assert meta["logical_cpus"] >= 1


def test_tiny_run_writes_results_manifest_and_machine_json(tmp_path):
    out = tmp_path / "run"
    result = ipcbench(*TINY_RUN, "--no-baselines", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert set(REQUIRED_COLUMNS) <= set(header)
    frame = read_results(out)
    assert frame["run_id"].nunique() == 1
    ok = frame[frame["status"] == "ok"]
    assert sorted(ok["pattern"]) == ["counter", "pingpong", "stream"]
    assert len(frame[frame["status"] == "skipped"]) == 3
    assert set(ok["placement"]) == {"unpinned"} and ok["verified"].all()
    machine = json.loads((out / "machine.json").read_text())
    assert set(frame["machine_id"]) == {machine["machine_id"]}
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["planned"]) == len(frame)
    assert manifest["settings"]["repeats"] == 2 and manifest["machine_id"] == machine["machine_id"]


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


def test_resume_of_a_finished_run_runs_nothing_and_refuses_matrix_flags(tmp_path):
    out = tmp_path / "run"
    first = ipcbench(*TINY_RUN, "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = (out / "results.csv").read_text()

    again = ipcbench("run", "--resume", str(out), "--no-progress", "--no-charts")
    assert again.returncode == 0, again.stderr
    assert "6 cases done, 0 to run" in again.stderr
    assert (out / "results.csv").read_text() == before

    wider = ipcbench("run", "--size", "128", "--resume", str(out))
    assert wider.returncode == 2
    assert wider.stderr.splitlines() == [
        f"ipcbench: error: --resume {str(out)!r} runs the matrix and settings in its "
        "manifest.json; drop --size"]
    assert (out / "results.csv").read_text() == before


def test_resume_refuses_a_run_from_another_machine(tmp_path):
    out = tmp_path / "run"
    first = ipcbench(*TINY_RUN, "--no-baselines", "--out", str(out))
    assert first.returncode == 0, first.stderr
    csv_path = out / "results.csv"
    machine_id = read_results(out)["machine_id"].iloc[0]
    csv_path.write_text(csv_path.read_text().replace(machine_id, "elsewhere-00000000"))
    again = ipcbench("run", "--resume", str(out))
    assert again.returncode == 2
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "elsewhere-00000000" in lines[0] and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a,b\n1,2\n", "not an ipcbench results CSV"),
        ("schema_version,mechanism,variant,pattern,size_bytes,procs,start_method,status\n"
         "99,pipe,bytes,pingpong,64,1,fork,ok\n", "schema_version 99"),
    ],
)
def test_resume_from_a_bad_results_file_gives_one_line(tmp_path, capsys, content, expected):
    run = tmp_path / "run"
    assert ipcbench(*TINY_RUN, "--no-baselines", "--out", str(run)).returncode == 0
    (run / "results.csv").write_text(content)
    code = main(["run", "--resume", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err


def test_resume_without_a_manifest_gives_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.csv").write_text("")
    assert main(["run", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"ipcbench: error: cannot resume {str(run)!r}: no manifest.json "
                                "(not an ipcbench run folder, or written by an ipcbench without "
                                "manifests)"]


def test_list_shows_optional_mechanisms_with_their_install_state(capsys, monkeypatch):
    import dataclasses

    from ipcbench.mechanisms import REGISTRY, unavailable_reason

    monkeypatch.setitem(REGISTRY, "ray",
                        dataclasses.replace(REGISTRY["ray"], requires="ipcbench_no_ray"))
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()

    def block(name: str) -> list[str]:
        """The mechanism's line and the indented lines under it."""
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")),
                   len(lines))
        return lines[start:end]

    assert any("optional: module 'ipcbench_no_ray' not installed (pip install 'ipcbench["
               in line for line in block("ray"))
    assert "    payloads: numpy" in block("ray")
    posix = "installed" if not unavailable_reason("posix-mq") else "not installed"
    assert any(line.startswith(f"    optional: module 'posix_ipc' {posix}")
               for line in block("posix-mq"))
    assert not any("optional:" in line for line in block("shareable-list"))  # stdlib
    assert any(line.split()[:1] == ["mailbox"] for line in block("shareable-list"))
