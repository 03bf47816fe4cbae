"""One benchmark per case of the matrix (see conftest.py).

pedantic mode: the peers are started and handshaken by the session before
pytest-benchmark's clock runs; each round is one repeat of the case's first session.
pytest-benchmark's own columns (Min, Mean, ..., OPS) are therefore per REPEAT of many
messages, seen from the parent (waking the peers included), and OPS is repeats per
second. The figures per message, from the peers' own timestamps over every session of the
case (what ipcbench reports), are in extra_info (`per_message`, `p50_per_message`, ...:
scaled by ipcbench.core.units) and in the ipcbench summary printed at the end of the session.
Unlike `ipcbench run`, a case's sessions run back to back here."""

from __future__ import annotations

import pytest

from ipcbench.core.schema import CASE_KEYS, DEFAULT_PAYLOAD
from ipcbench.core.sizes import format_size
from ipcbench.core.units import format_rate_msgs, format_time_ns
from ipcbench.harness.rows import base_row
from ipcbench.harness.runner import run_case

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
    "lat_p50_ns",
    "lat_p99_ns",
    "bytes_per_s",
    "msgs_per_s",
)


def group_name(case) -> str:
    """Cases that compete: one workload, every channel (sizes written as in the ids)."""
    return "-".join([case.pattern, format_size(case.size_bytes), f"p{case.procs}",
                     case.placement] + ([] if case.payload == DEFAULT_PAYLOAD else [case.payload]))


def per_message_info(row) -> dict:
    """What a reader wants from a row, per message and written for people."""
    return {
        "messages_per_repeat": row.messages // row.repeats if row.repeats else 0,
        "per_message": format_time_ns(row.median_ns),
        "p50_per_message": format_time_ns(row.p50_ns),
        "p99_per_message": format_time_ns(row.p99_ns),
        "messages_per_s": format_rate_msgs(row.msgs_per_s),
    }


def test_ipc(benchmark, planned, ipcbench_sink, ipcbench_settings) -> None:
    case = planned.case
    benchmark.group = group_name(case)
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
    benchmark.extra_info.update(per_message_info(row))
    if row.status != "ok":
        pytest.fail(f"{case.label}: {row.status}: {row.reason}", pytrace=False)
