"""`ipcbench history`: step detection on synthetic histories holding known steps, the
history of run folders (time order, machines apart, the probe basis), its outputs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from synthetic_runs import MACHINE, ok_row, write_run

from ipcbench.analysis.history import find_runs, history, load_history
from ipcbench.analysis.steps import detect_steps
from ipcbench.cli import main
from ipcbench.core.results import ResultsError
from ipcbench.core.schema import Case
from ipcbench.core.session_stats import SessionResult
from ipcbench.harness.sessionlog import SessionLog


def _history(levels, seed, sessions=3, noise=0.03):
    rng = np.random.default_rng(seed)
    return [list(level * np.exp(rng.normal(0, noise, sessions))) for level in levels]


def _found(levels, seed, **kwargs):
    """(index, ratio) of each step found, ratios snapped to the known levels' ratios
    when within 10% of one (the noise moves a fitted level by a few percent)."""
    known = {b / a for a, b in zip(levels, levels[1:], strict=False) if a != b}
    found = []
    for step in detect_steps(_history(levels, seed), **kwargs).steps:
        near = [k for k in known if abs(step.ratio / k - 1) < 0.1]
        found.append((step.index, round(near[0] if near else step.ratio, 3)))
    return found


@pytest.mark.parametrize("seed", range(4))
def test_a_regression_in_the_last_run_is_the_one_step(seed):
    assert _found([1, 1, 1, 1, 1.3], seed) == [(4, 1.3)]


@pytest.mark.parametrize("seed", range(4))
def test_flat_noise_has_no_step(seed):
    assert _found([1] * 12, seed) == []
    assert _found([1, 1.04, 0.97, 1.02, 1.0], seed) == []


@pytest.mark.parametrize("seed", range(4))
def test_a_lasting_step_and_a_one_run_blip(seed):
    assert _found([1] * 6 + [0.7] * 6, seed) == [(6, 0.7)]
    assert _found([1, 1, 1.5, 1, 1], seed) == [(2, 1.5), (3, 0.667)]


def test_a_change_below_min_effect_is_not_a_step():
    values = _history([1, 1, 1, 1.06, 1.06, 1.06], 0, noise=0.001)
    assert detect_steps(values).steps == ()
    assert [s.index for s in detect_steps(values, min_effect=0.03).steps] == [3]


def test_runs_without_values_are_gaps_fitted_around():
    values = _history([1, 1, 1, 1.4, 1.4], 1)
    values.insert(3, [])
    fit = detect_steps(values)
    assert [s.index for s in fit.steps] == [4]
    assert np.isnan(fit.levels[3]) and fit.levels[4] == pytest.approx(1.4, rel=0.05)
    empty = detect_steps([[], []])
    assert empty.steps == () and all(np.isnan(v) for v in empty.levels)


def test_one_wild_session_is_not_a_step():
    values = _history([1] * 6, 2)
    values[3][0] *= 5
    assert detect_steps(values).steps == ()


# ----- run folders ---------------------------------------------------------------------

CASES = [Case("pipe", "bytes", "pingpong", 64, 1, "fork", "same-core"),
         Case("shm", "segment", "pingpong", 64, 1, "fork", "same-core"),
         Case("pipe", "bytes", "stream", 65536, 1, "fork", "same-core")]
BASE_NS = {"pipe": 17_000.0, "shm": 10_000.0}
SLOW_NS = 5_000.0  # the test-only `slow` fault: every ping-pong round trip grows by it


def _session(index: int, value_ns: float, probe_ns: float) -> SessionResult:
    return SessionResult(index=index, samples=10, p50_ns=value_ns, p90_ns=value_ns,
                         p99_ns=value_ns, p999_ns=value_ns, min_ns=value_ns, max_ns=value_ns,
                         mean_ns=value_ns, stdev_ns=0.0, repeats=2, messages=100,
                         duration_ns=value_ns * 100, cpu_s=0.01, ctx_switches=1,
                         repeat_spread=0.01, wall_s=0.1, probe_ns=probe_ns)


def write_history_run(folder: Path, hour: int, *, seed: int, slow: bool = False,
                      host: float = 1.0, machine: dict = MACHINE, probes: bool = True) -> Path:
    """One run of CASES: 3 sessions each, host noise on channel and probe alike (the
    probe basis cancels `host`), the slow fault on the ping-pong cases when `slow`."""
    rng = np.random.default_rng(seed)
    rows, log = [], []
    for case in CASES:
        base = BASE_NS.get(case.mechanism, 17_000.0) if case.pattern == "pingpong" else 30_000.0
        values = []
        for index in range(3):
            drift = host * float(np.exp(rng.normal(0, 0.02)))
            value = base * drift + (SLOW_NS * drift if slow and case.pattern == "pingpong" else 0)
            values.append(value)
            log.append((case, _session(index, value, 7_000.0 * drift if probes else 0.0)))
        median = float(np.median(values))
        row = ok_row(case.mechanism, case.variant, case.pattern, case.size_bytes, case.procs,
                     median, placement=case.placement, machine_id=machine["machine_id"])
        rows.append(replace(row, timestamp_utc=f"2026-01-01T{hour:02d}:00:00Z"))
    write_run(folder, rows, machine)
    sessions = SessionLog(folder)
    for case, result in log:
        sessions.append(case, result)
    return folder


def _five_runs(root: Path, slow_at: int = 4, **kwargs) -> list[Path]:
    # Written in a shuffled order: history orders runs by time, not by argument.
    return [write_history_run(root / f"run-{i}", hour=i, seed=i, slow=i == slow_at, **kwargs)
            for i in (3, 0, 4, 1, 2)]


def test_history_finds_the_slow_run_and_nothing_else(tmp_path):
    hist = history(load_history(_five_runs(tmp_path, host=1.0)))
    assert hist.machines == {MACHINE["machine_id"]: tuple(f"run-{i}" for i in range(5))}
    steps = [(c.case["mechanism"], c.case["pattern"], c.runs[s.index]) for c, s in hist.steps()]
    assert sorted(steps) == [("pipe", "pingpong", "run-4"), ("shm", "pingpong", "run-4")]
    assert {c.basis for c in hist.cases} == {"probe"}
    shm = next(c for c in hist.cases if c.case["mechanism"] == "shm")
    assert shm.fit.steps[0].ratio == pytest.approx(1.5, rel=0.1)


def test_a_host_slower_in_one_run_is_no_step_over_the_probe(tmp_path):
    runs = [write_history_run(tmp_path / f"r{i}", hour=i, seed=i, host=1.4 if i == 2 else 1.0)
            for i in range(5)]
    assert history(load_history(runs)).steps() == []
    # Without probes the same host change is what the figures show: a blip, two steps.
    bare = [write_history_run(tmp_path / f"b{i}", hour=i, seed=i, probes=False,
                              host=1.4 if i == 2 else 1.0) for i in range(5)]
    hist = history(load_history(bare))
    assert {c.basis for c in hist.cases} == {"absolute"}
    assert {s.index for _, s in hist.steps()} == {2, 3}


def test_machines_are_kept_apart(tmp_path):
    other = {**MACHINE, "machine_id": "ffee0011aabbccdd"}
    runs = [write_history_run(tmp_path / "a" / f"r{i}", hour=i, seed=i) for i in range(3)]
    runs += [write_history_run(tmp_path / "b" / f"r{i}", hour=i, seed=10 + i, host=2.0,
                               machine=other, probes=False) for i in range(3)]
    hist = history(load_history([tmp_path]))  # a folder of folders of runs
    assert set(hist.machines) == {MACHINE["machine_id"], "ffee0011aabbccdd"}
    assert all(len(runs) == 3 for runs in hist.machines.values())
    assert hist.steps() == []  # twice as slow a machine is not a step
    assert len(hist.cases) == 2 * len(CASES)


def test_bad_inputs_are_one_line(tmp_path):
    with pytest.raises(ResultsError, match="holds none"):
        find_runs([tmp_path])
    run = write_history_run(tmp_path / "r", hour=1, seed=1)
    with pytest.raises(ResultsError, match="at least two runs"):
        history(load_history([run]))
    with pytest.raises(ResultsError, match="given twice"):
        load_history([run, tmp_path])


def test_cli_writes_history_md_trend_charts_and_json(tmp_path, capsys):
    _five_runs(tmp_path / "runs")
    out = tmp_path / "out"
    code = main(["history", str(tmp_path / "runs"), "--out", str(out),
                 "--json", str(tmp_path / "h.json")])
    text = capsys.readouterr().out
    assert code == 0
    assert "steps: 2 found in 3 case(s), 5 run(s) on 1 machine(s)" in text
    assert text.count("  step: ") == 2 and "from run run-4" in text
    charts = sorted(p.name for p in out.glob("*.png"))
    assert charts == ["trend-pingpong-64b-1-procs-same-core.png",
                      "trend-stream-64kib-1-procs-same-core.png"]
    assert (out / "history.md").read_text().count("**step**") == 2
    doc = json.loads((tmp_path / "h.json").read_text())
    assert doc["schema"] == "ipcbench-history/1" and len(doc["steps"]) == 2
    assert {s["run"] for s in doc["steps"]} == {"run-4"}
    assert len(doc["cases"]) == 3 and all(len(c["runs"]) == 5 for c in doc["cases"])


def test_cli_refuses_a_folder_without_runs(tmp_path, capsys):
    assert main(["history", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds none" in err


def test_a_long_table_lists_only_the_cases_with_a_step(tmp_path):
    from ipcbench.render.history import table_lines

    hist = history(load_history(_five_runs(tmp_path)))
    lines = table_lines(hist, most=2)
    assert "1 case(s) without a step not shown" in lines[0]
    assert len(lines) == 1 + 1 + 2  # the machine line, the header, the two stepped cases
    assert all("pingpong" in line for line in lines[2:])


def test_runs_without_sessions_csv_count_with_their_medians(tmp_path):
    runs = _five_runs(tmp_path)
    for run in runs:
        (run / "sessions.csv").unlink()
    hist = history(load_history(runs))
    assert {c.basis for c in hist.cases} == {"absolute"}
    assert sorted((c.case["mechanism"], c.runs[s.index]) for c, s in hist.steps()) == [
        ("pipe", "run-4"), ("shm", "run-4")]


def test_the_python_api_returns_the_history(tmp_path):
    import ipcbench

    _five_runs(tmp_path)
    hist = ipcbench.history(tmp_path)
    assert len(hist.steps()) == 2 and len(hist.cases) == 3
    with pytest.raises(ValueError, match="invalid min_effect 2"):
        ipcbench.history(tmp_path, min_effect=2)
