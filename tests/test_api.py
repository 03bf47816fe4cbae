"""The Python API (ipcbench/api.py): the commands as functions returning what the commands
print, with the commands' validation, and `import ipcbench` still cheap."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest
from synthetic_runs import SMALL, write_model_run

import ipcbench
from ipcbench import api
from ipcbench.analysis.advise import Advice, advise_run
from ipcbench.analysis.compare import Comparison
from ipcbench.analysis.verdict import NOT_MEASURED, SAME, SLOWER
from ipcbench.core.results import ResultsError, read_results
from ipcbench.harness.runfolder import RunLock


@pytest.fixture()
def run_a(tmp_path):
    return write_model_run(tmp_path / "a", **SMALL)


def test_the_api_is_reexported_lazily():
    code = ("import sys, ipcbench; heavy = [m for m in ('pandas', 'numpy', 'ipcbench.api', "
            "'ipcbench.cli') if m in sys.modules]; ipcbench.run_matrix; "
            "print(heavy, 'ipcbench.api' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["[]", "True"]
    for name in ("run_matrix", "load_run", "advise", "compare", "RunStopped"):
        assert getattr(ipcbench, name) is getattr(api, name)
        assert name in dir(ipcbench) and name in ipcbench.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ipcbench.nope  # noqa: B018


def test_load_run_is_the_validating_reader(run_a, tmp_path):
    frame = ipcbench.load_run(run_a)
    assert isinstance(frame, pd.DataFrame)
    pd.testing.assert_frame_equal(frame, read_results(run_a / "results.csv"))
    with pytest.raises(ResultsError, match="no results file"):
        ipcbench.load_run(tmp_path / "missing")


def test_advise_returns_the_record_the_command_prints(run_a):
    advice = ipcbench.advise(run_a, pattern="pingpong", size="64", procs=1)
    assert isinstance(advice, Advice)
    assert repr(advice) == repr(advise_run(run_a, 64, 1, "pingpong"))  # NaN != NaN
    assert advice.exact and advice.best.name == "pipe/bytes"  # the model's fastest
    # A size in bytes or as text, and the narrowing flags, as on the command line.
    given = ipcbench.advise(run_a, pattern="pingpong", size=64, procs=1,
                            placement="unpinned")
    # The same answer; only the line saying what advise chose for the user goes.
    assert advice.chosen[0] == "placement unpinned"
    assert repr(given) == repr(replace(advice, chosen=advice.chosen[1:]))
    stream = ipcbench.advise(run_a, pattern="stream", size="64KiB", procs=2)
    assert stream.pattern == "stream" and stream.cell.size_bytes == 65536
    assert stream.cell.procs == 2


@pytest.mark.parametrize(("query", "message"), [
    ({"pattern": "pingpong", "procs": 1}, "size is required"),
    ({"pattern": "nope", "size": 64, "procs": 1}, "nope"),
    ({"pattern": "pingpong", "size": "12XB", "procs": 1}, "invalid size '12XB'"),
    ({"pattern": "pingpong", "size": 64, "procs": 0}, "invalid procs '0'"),
    ({"pattern": "pingpong", "size": 64, "procs": True}, "invalid procs True"),
    ({"pattern": "pingpong", "size": 64, "procs": 1, "placement": "moon"}, "moon"),
    ({"pattern": "stream", "size": 64, "procs": 1, "rate": "max"}, "invalid rate 'max'"),
])
def test_advise_refuses_bad_queries_in_one_line(run_a, query, message):
    with pytest.raises(ValueError, match=message) as caught:
        ipcbench.advise(run_a, **query)
    assert "\n" not in str(caught.value)


def test_compare_returns_the_comparison_the_command_prints(run_a, tmp_path):
    same = write_model_run(tmp_path / "same", **SMALL)
    slower = write_model_run(tmp_path / "slower", scale=2.0, **SMALL)
    comparison = ipcbench.compare(run_a, same, slower)
    assert isinstance(comparison, Comparison)
    assert comparison.tags == ["A", "B", "C"] and len(comparison.tables) == 2
    identical, doubled = comparison.tables
    judged = identical[identical["verdict"] != NOT_MEASURED]
    assert len(judged) > 0 and (judged["verdict"] == SAME).all()
    measured = doubled[doubled["both_ok"]]
    assert len(measured) > 0 and (measured["verdict"] == SLOWER).all()
    only_pipe = ipcbench.compare(run_a, slower, mechanisms="pipe")
    assert set(only_pipe.tables[0]["mechanism"]) == {"pipe"}
    # Nothing written: the command's compare.md is the command's.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "same", "slower"]


@pytest.mark.parametrize(("options", "message"), [
    ({"min_effect": 0.0}, "invalid min_effect 0.0"),
    ({"alpha": 1.5}, "invalid alpha 1.5"),
    ({"metric": "speed"}, "unknown metric 'speed'"),
    ({"mechanisms": ["nope"]}, "no rows of mechanism 'nope'"),
])
def test_compare_refuses_bad_options(run_a, options, message):
    with pytest.raises(ValueError, match=message):
        ipcbench.compare(run_a, run_a, **options)


TINY = {"mechanisms": "pipe", "variants": "bytes", "patterns": "pingpong", "sizes": 64,
        "procs": 1, "placements": "same-core", "payloads": "bytes", "sessions": 1,
        "repeats": 1, "baselines": False, "charts": False, "progress": False}


@pytest.mark.integration
def test_run_matrix_measures_in_process_and_returns_the_folder(tmp_path, capsys):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    folder = ipcbench.run_matrix(out=tmp_path / "run", **TINY)
    assert folder == tmp_path / "run"
    assert {s: signal.getsignal(s) for s in before} == before  # the caller's handlers back
    frame = ipcbench.load_run(folder)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["mechanism"], row["variant"], row["pattern"], row["size_bytes"],
            row["procs"], row["placement"], row["status"]) == (
        "pipe", "bytes", "pingpong", 64, 1, "same-core", "ok")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["flags"]["mechanism"] == ["pipe"] and manifest["flags"]["sessions"] == 1
    assert f"results: {folder / 'results.csv'}" in capsys.readouterr().out
    RunLock(folder).release()  # the run's lock was released: the folder is free
    with pytest.raises(ValueError, match="already holds a run"):
        ipcbench.run_matrix(out=folder, **TINY)


@pytest.mark.parametrize(("options", "message"), [
    ({"matrix": "huge"}, "invalid matrix 'huge'"),
    ({"sizes": []}, r"invalid sizes \[\]"),
    ({"sizes": "12XB"}, "invalid size '12XB'"),
    ({"mechanisms": ["nope"]}, "nope"),
    ({"sessions": True}, "invalid sessions True"),
    ({"sessions": 0}, "invalid sessions 0"),
    ({"deadline_s": "soon"}, "invalid deadline_s 'soon'"),
    ({"procs": [None]}, "invalid procs None"),
    ({"resume": "elsewhere"}, "not both"),
])
def test_run_matrix_refuses_bad_input_before_anything_starts(tmp_path, options, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        ipcbench.run_matrix(**{**TINY, "out": out, **options})
    assert not out.exists()


def test_a_stopped_run_raises_with_its_folder_and_frees_it(tmp_path, monkeypatch):
    import ipcbench.cli.run as run_command

    monkeypatch.setattr(run_command, "run_job", lambda args, job: 130)
    with pytest.raises(api.RunStopped, match="exit code 130") as caught:
        ipcbench.run_matrix(out=tmp_path / "run", **TINY)
    assert caught.value.folder == tmp_path / "run" and caught.value.exit_code == 130
    RunLock(tmp_path / "run").release()  # resumable from this very process


# A signal during an in-process run: the run's handlers raise Interrupted and arm the
# watchdog; once the call is over the caller's handler is back, the watchdog cancelled
# (it would end the caller's process 20 s later) and no signal left pending. Run in a
# fresh interpreter: the test process may hold the command's own handlers already.
_SIGNAL_DRIVER = """
import signal
# The caller's own handler, whatever the test runner inherited (a shell's background
# job starts with SIGINT ignored, and Python then installs none).
signal.signal(signal.SIGINT, signal.default_int_handler)
from ipcbench.cli import signals
armed = []
arm = signals._arm_watchdog
signals._arm_watchdog = lambda code: (arm(code), armed.append(signals._watchdogs[-1]))
try:
    with signals.handlers_for_call():
        signal.raise_signal(signal.SIGINT)
except signals.Interrupted as exc:
    print("interrupted", exc.exit_code)
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,
      [t.finished.is_set() for t in armed], signals._watchdogs, signals._pending_signal)
try:
    signal.raise_signal(signal.SIGINT)
except KeyboardInterrupt:
    print("the caller's own handler")
"""


def test_a_signal_in_a_call_leaves_nothing_armed():
    done = subprocess.run([sys.executable, "-c", _SIGNAL_DRIVER], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.splitlines() == ["interrupted 130", "True [True] [] []",
                                        "the caller's own handler"]
