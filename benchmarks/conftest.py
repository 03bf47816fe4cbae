"""pytest-benchmark front end: the same matrix and harness as `ipcbench run`.

Select the matrix with `--ipcbench-matrix quick|default|full` or IPCBENCH_MATRIX
(default: quick, a few minutes at most on 2 cores). Rows are appended to
results/<machine_id>/<utc time>/results.csv as each case finishes."""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ipcbench import hygiene
from ipcbench.baselines import BaselineCache
from ipcbench.machine import collect_metadata, write_machine_json
from ipcbench.matrix import plan
from ipcbench.results import CsvAppender
from ipcbench.rows import RunMeta
from ipcbench.settings import MATRICES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipcbench")
    group.addoption(
        "--ipcbench-matrix",
        choices=sorted(MATRICES),
        default=os.environ.get("IPCBENCH_MATRIX", "quick"),
        help="which case matrix to run (env IPCBENCH_MATRIX; default quick)",
    )
    group.addoption(
        "--ipcbench-out",
        default=os.environ.get("IPCBENCH_OUT"),
        help="run folder (default results/<machine_id>/<utc time>)",
    )
    group.addoption("--ipcbench-no-charts", action="store_true", help="do not draw charts")


def _matrix(config: pytest.Config):
    return MATRICES[config.getoption("--ipcbench-matrix")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "planned" in metafunc.fixturenames:
        matrix = _matrix(metafunc.config)
        planned = plan(matrix, [multiprocessing.get_start_method(allow_none=False)])
        metafunc.parametrize("planned", planned, ids=[p.case.label for p in planned])


class RunSink:
    """Where the session's rows go: one CSV in the schema `ipcbench run` writes, with
    the run's baselines measured (per placement) before the first case that needs them."""

    def __init__(self, out: Path, meta: dict) -> None:
        self.out = out
        self.meta = RunMeta(meta["machine_id"])
        write_machine_json(out, meta)
        self.appender = CsvAppender(out / "results.csv")
        self.rows = 0
        self.baselines = BaselineCache(self.meta, self.append)

    def append(self, row) -> None:
        self.appender.append(row)
        self.rows += 1


@pytest.fixture(scope="session")
def ipcbench_sink(request: pytest.FixtureRequest) -> RunSink:
    config = request.config
    meta = collect_metadata()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    default = config.rootpath / "results" / meta["machine_id"] / stamp
    sink = RunSink(Path(config.getoption("--ipcbench-out") or default), meta)
    hygiene.sweep()
    config.stash[_SINK] = sink
    return sink


@pytest.fixture(scope="session")
def ipcbench_settings(request: pytest.FixtureRequest):
    return _matrix(request.config).settings


_SINK = pytest.StashKey[RunSink]()


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    sink = config.stash.get(_SINK, None)
    if sink is None or sink.rows == 0:
        return
    if not config.getoption("--ipcbench-no-charts"):
        from ipcbench.cli.plot import run_plots_after_run

        try:
            run_plots_after_run(sink.out)
        except ValueError as exc:
            terminalreporter.write_line(f"ipcbench: no charts drawn: {exc}")
    terminalreporter.write_sep("-", "ipcbench")
    terminalreporter.write_line(f"ipcbench: {sink.rows} rows written to {sink.out / 'results.csv'}")
