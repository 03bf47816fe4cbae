"""One benchmark per case of the matrix (see conftest.py).

pedantic mode: the peers are started and handshaken by the session before
pytest-benchmark's clock runs; each round is one repeat of the case's first session.
pytest-benchmark's own figure is the parent's view of a repeat (it includes waking the
peers); the row written to the CSV uses the peers' own timestamps over every session of
the case (pedantic can run once per test, so the later sessions run after it), which is
what ipcbench reports. Unlike `ipcbench run`, a case's sessions run back to back here."""

from __future__ import annotations

import pytest

from ipcbench.rows import base_row
from ipcbench.runner import run_case
from ipcbench.schema import CASE_KEYS

# The row's case key and the figures a pytest-benchmark reader most wants, by column name.
EXTRA_INFO = (
    *CASE_KEYS,
    "status",
    "sessions",
    "repeats",
    "noisy",
    "noise",
    "cv",
    "ci_low_ns",
    "ci_high_ns",
    "cpu_s_per_msg",
    "ctx_switches_per_msg",
    "efficiency",
    "p50_ns",
    "p99_ns",
    "bytes_per_s",
    "msgs_per_s",
)


def test_ipc(benchmark, planned, ipcbench_sink, ipcbench_settings) -> None:
    case = planned.case
    benchmark.group = f"{case.pattern}-{case.size_bytes}B"
    if planned.skip_reason:
        ipcbench_sink.append(base_row(case, ipcbench_sink.meta, "skipped", planned.skip_reason))
        pytest.skip(planned.skip_reason)

    def drive(repeat, count: int) -> None:
        benchmark.pedantic(repeat, rounds=count, iterations=1, warmup_rounds=0)

    # Baselines first (outside any timing), so the case row can carry its efficiency.
    ipcbench_sink.baselines.get(case.placement, case.start_method)
    row = run_case(case, ipcbench_settings, ipcbench_sink.meta, drive=drive)
    row = ipcbench_sink.baselines.annotate(row)
    ipcbench_sink.append(row)
    fields = row.as_dict()
    benchmark.extra_info.update({name: fields[name] for name in EXTRA_INFO})
    if row.status != "ok":
        pytest.fail(f"{case.label}: {row.status}: {row.reason}", pytrace=False)
