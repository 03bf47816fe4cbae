"""One benchmark per case of the matrix (see conftest.py).

pedantic mode: the peers are started and handshaken by the session before
pytest-benchmark's clock runs; each round is one repeat. pytest-benchmark's own figure
is the parent's view of a repeat (it includes waking the peers); the row written to
the CSV uses the peers' own timestamps, which is what ipcbench reports."""

from __future__ import annotations

import pytest

from ipcbench.runner import base_row, run_case


def test_ipc(benchmark, planned, ipcbench_sink, ipcbench_settings) -> None:
    case = planned.case
    benchmark.group = f"{case.pattern}-{case.size_bytes}B"
    if planned.skip_reason:
        ipcbench_sink.append(base_row(case, ipcbench_sink.meta, "skipped", planned.skip_reason))
        pytest.skip(planned.skip_reason)

    def drive(repeat, count: int) -> None:
        benchmark.pedantic(repeat, rounds=count, iterations=1, warmup_rounds=0)

    row = run_case(case, ipcbench_settings, ipcbench_sink.meta, drive=drive)
    ipcbench_sink.append(row)
    benchmark.extra_info.update(
        mechanism=case.mechanism,
        variant=case.variant,
        pattern=case.pattern,
        size_bytes=case.size_bytes,
        procs=case.procs,
        start_method=case.start_method,
        status=row.status,
        p50_ns=row.p50_ns,
        p99_ns=row.p99_ns,
        bytes_per_s=row.bytes_per_s,
        msgs_per_s=row.msgs_per_s,
    )
    if row.status != "ok":
        pytest.fail(f"{case.label}: {row.status}: {row.reason}", pytrace=False)
