"""pytest-benchmark front end: the same matrix and harness as `ipcbench run`.

Select the matrix with `--ipcbench-matrix quick|default|full` or IPCBENCH_MATRIX
(default: quick, a few minutes at most on 2 cores). Rows are appended to
results/<machine_id>/<utc time>/results.csv as each case finishes."""

from __future__ import annotations

import io
import multiprocessing
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.console import Console

from ipcbench.core.results import CsvAppender
from ipcbench.core.settings import MATRICES
from ipcbench.core.sizes import format_size
from ipcbench.harness.baselines import BaselineCache
from ipcbench.harness.plan import Axes, plan
from ipcbench.harness.rows import RunMeta
from ipcbench.mechanisms import end_run
from ipcbench.render.run_table import print_summary
from ipcbench.system import hygiene
from ipcbench.system.machine import collect_metadata, write_machine_json


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


# One pytest parameter per case-key field, each a plain str/int, so pytest-benchmark can
# save them and group by any of them (--benchmark-group-by=param:mechanism); sizes are
# written as in the ids and groups ("1MiB").
PARAMS = ("mechanism", "variant", "pattern", "size", "procs", "start_method", "placement",
          "payload", "rate_per_s")
_PLANNED = pytest.StashKey[dict]()


def case_params(case) -> tuple:
    return (case.mechanism, case.variant, case.pattern, format_size(case.size_bytes),
            case.procs, case.start_method, case.placement, case.payload, case.rate_per_s)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "planned" in metafunc.fixturenames:
        matrix = _matrix(metafunc.config)
        planned = plan(matrix, Axes([multiprocessing.get_start_method(allow_none=False)]))
        metafunc.config.stash[_PLANNED] = {case_params(p.case): p for p in planned}
        metafunc.parametrize(PARAMS, [case_params(p.case) for p in planned],
                             ids=[p.case.label for p in planned])


@pytest.fixture
def planned(request: pytest.FixtureRequest, mechanism, variant, pattern, size, procs,
            start_method, placement, payload, rate_per_s):
    """The planned case these parameters name."""
    key = (mechanism, variant, pattern, size, procs, start_method, placement, payload,
           rate_per_s)
    return request.config.stash[_PLANNED][key]


class RunSink:
    """Where the session's rows go: one CSV in the schema `ipcbench run` writes, with
    the run's baselines measured (per placement) before the first case that needs them."""

    def __init__(self, out: Path, meta: dict) -> None:
        self.out = out
        self.meta = RunMeta(meta["machine_id"])
        write_machine_json(out, meta)
        self.appender = CsvAppender(out / "results.csv")
        self.written: list = []  # every row, for the summary at the end of the session
        self.baselines = BaselineCache(self.meta, self.append)

    @property
    def rows(self) -> int:
        return len(self.written)

    def append(self, row) -> None:
        self.appender.append(row)
        self.written.append(row)


@pytest.fixture(scope="session")
def ipcbench_sink(request: pytest.FixtureRequest):
    config = request.config
    meta = collect_metadata()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    default = config.rootpath / "results" / meta["machine_id"] / stamp
    sink = RunSink(Path(config.getoption("--ipcbench-out") or default), meta)
    hygiene.sweep()
    config.stash[_SINK] = sink
    yield sink
    end_run()  # what a mechanism keeps for the whole run (Ray's runtime)


@pytest.fixture(scope="session")
def ipcbench_settings(request: pytest.FixtureRequest):
    return _matrix(request.config).settings


_SINK = pytest.StashKey[RunSink]()


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables, as their reading key
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
    terminalreporter.write_sep("-", "ipcbench: per message (pingpong: per round trip)")
    # pytest-benchmark's table above times whole repeats (many messages each, as seen by
    # the parent); this is ipcbench's own figure per message, as `ipcbench run` prints it.
    buffer = io.StringIO()
    print_summary(sink.written, Console(file=buffer, width=terminalreporter._tw.fullwidth))
    for line in buffer.getvalue().splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"ipcbench: {sink.rows} rows written to {sink.out / 'results.csv'}")
