"""Synthetic run folders for the analysis tests (plotting, compare, report, notebooks).

Rows go through ResultRow/CsvAppender, so they obey the real schema and validation.
The numbers follow a simple latency = overhead + size / bandwidth model with seeded
noise: plausible shapes, never real measurements.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from ipcbench.core.results import COLUMNS, SCHEMA_VERSION, CsvAppender, ResultRow

# (mechanism, variant) -> (overhead ns per message, bandwidth bytes per ns)
MODEL = {
    ("pipe", "bytes"): (9_000.0, 2.0),
    ("pipe", "pickle"): (14_000.0, 1.1),
    ("queue", "default"): (40_000.0, 0.9),
    ("value", "array"): (25_000.0, 3.0),
    ("shm", "segment"): (22_000.0, 5.0),
}
SIZES = (64, 1024, 16384, 262144, 4194304)
PROCS = (1, 2, 4)

MACHINE = {
    "machine_id": "a1b2c3d4e5f60718",
    "hostname": "bench-box",
    "cpu_model": "Synthetic CPU @ 2.0GHz",
    "logical_cpus": 2,
    "physical_cpus": 1,
    "ram_bytes": 8 << 30,
    "os": "Linux",
    "kernel": "6.1.0",
    "python_implementation": "CPython",
    "python_version": "3.11.7",
    "numpy_version": "2.0",
    "default_start_method": "fork",
    "cpu_affinity": [0, 1],
    "cpu_governor": "performance",
    "dev_shm_bytes": 1 << 30,
    "ipcbench_version": "0.1.0",
    "collected_utc": "2025-01-01T00:00:00Z",
}


def _schema_extras(**values) -> dict:
    """Only the fields this checkout's schema has (the helpers outlive schema bumps)."""
    return {k: v for k, v in values.items() if k in COLUMNS}


def ok_row(mechanism, variant, pattern, size_bytes, procs, per_msg_ns, *, stdev_frac=0.02,
           repeats=5, start_method="fork", machine_id=MACHINE["machine_id"],
           placement="unpinned", efficiency=float("nan"), cpu_s_per_msg=None,
           noisy=False) -> ResultRow:
    messages = 1000
    stdev = per_msg_ns * stdev_frac
    rate = 1e9 / per_msg_ns
    return ResultRow(
        schema_version=SCHEMA_VERSION, run_id="synthetic", timestamp_utc="2025-01-01T00:00:00Z",
        machine_id=machine_id, mechanism=mechanism, variant=variant, pattern=pattern,
        size_bytes=size_bytes, procs=procs, start_method=start_method, status="ok",
        repeats=repeats, warmup=1, messages=messages, duration_ns=per_msg_ns * messages,
        median_ns=per_msg_ns, mean_ns=per_msg_ns, stdev_ns=stdev, min_ns=per_msg_ns * 0.9,
        p50_ns=per_msg_ns, p90_ns=per_msg_ns * 1.2, p99_ns=per_msg_ns * 1.8,
        p999_ns=per_msg_ns * 2.5, max_ns=per_msg_ns * 3, cv=stdev_frac,
        bytes_per_s=rate * size_bytes, msgs_per_s=rate, verified=True, python="3.11.7",
        ipcbench_version="0.1.0",
        **_schema_extras(placement=placement, ci_low_ns=per_msg_ns - 2 * stdev,
                         ci_high_ns=per_msg_ns + 2 * stdev, efficiency=efficiency, noisy=noisy,
                         cpu_s_per_msg=(per_msg_ns * 1.2e-9 if cpu_s_per_msg is None
                                        else cpu_s_per_msg)),
    )


def bad_row(mechanism, variant, pattern, size_bytes, procs, status="failed",
            reason="peer exited with code 1", start_method="fork",
            placement="unpinned") -> ResultRow:
    return ResultRow(
        schema_version=SCHEMA_VERSION, run_id="synthetic", timestamp_utc="2025-01-01T00:00:00Z",
        machine_id=MACHINE["machine_id"], mechanism=mechanism, variant=variant, pattern=pattern,
        size_bytes=size_bytes, procs=procs, start_method=start_method, status=status,
        reason=reason, python="3.11.7", **_schema_extras(placement=placement),
    )


# In-run baselines of the model machine: memcpy bytes/ns, os.pipe RTT ns, lock ns/inc.
BASELINES = {"copy": 10.0, "rtt": 12_000.0, "lock": 500.0}


def baseline_rows(scale: float = 1.0, placement: str = "unpinned") -> list[ResultRow]:
    """The four in-run baseline rows (mechanism 'baseline'), like baselines.measure_set."""
    size = 64 << 20
    return [
        ok_row("baseline", "memcpy", "stream", size, 1, size / BASELINES["copy"] * scale,
               placement=placement, efficiency=1.0),
        ok_row("baseline", "os-pipe", "pingpong", 64, 1, BASELINES["rtt"] * scale,
               placement=placement, efficiency=1.0),
        ok_row("baseline", "os-pipe", "stream", 1 << 20, 1, (1 << 20) / 2.0 * scale,
               placement=placement, efficiency=1.0),
        ok_row("baseline", "lock", "counter", 8, 1, BASELINES["lock"] * scale,
               placement=placement, efficiency=1.0),
    ]


def _efficiency(pattern: str, size: int, per_msg_ns: float, baseline_scale: float) -> float:
    if pattern == "pingpong":
        return BASELINES["rtt"] * baseline_scale / per_msg_ns
    if pattern == "counter":
        return BASELINES["lock"] * baseline_scale / per_msg_ns
    return (size / per_msg_ns) / (BASELINES["copy"] / baseline_scale)


def model_rows(scale: float = 1.0, seed: int = 0, sizes=SIZES, procs=PROCS,
               with_failures: bool = True, baseline_scale: float | None = None,
               placements=("unpinned",), slow_ns: float = 0.0) -> list[ResultRow]:
    """A full-matrix run; `scale` multiplies every time (2.0 = a machine twice as slow).
    `baseline_scale` multiplies the hardware baselines' times (default: `scale`), so a
    machine can be faster yet less efficient (its hardware is faster still). `slow_ns`
    models the test-only `slow` fault (core/faults.py) on the ping-pong sender: every
    channel's round trip grows by it, nothing else moves; with the same seed the run
    is its unslowed twin's, that one known difference apart."""
    rng = random.Random(seed)
    baseline_scale = scale if baseline_scale is None else baseline_scale
    rows = []
    for placement in placements:
        rows += baseline_rows(baseline_scale, placement)
    rows += [r for placement in placements
             for r in _case_rows(rng, scale, baseline_scale, sizes, procs, with_failures,
                                 placement, slow_ns)]
    return rows


def _case_rows(rng, scale, baseline_scale, sizes, procs, with_failures, placement,
               slow_ns=0.0):
    rows = []
    for (mechanism, variant), (overhead, bandwidth) in MODEL.items():
        for pattern in ("pingpong", "stream"):
            for n in procs:
                for size in sizes:
                    if with_failures and (mechanism, size, n) == ("queue", sizes[-1], procs[-1]):
                        rows.append(bad_row(mechanism, variant, pattern, size, n, "timeout",
                                            "deadline of 60 s exceeded", placement=placement))
                        continue
                    per_msg = overhead + size / bandwidth
                    if pattern == "pingpong":
                        per_msg *= 2 * (1 + 0.3 * (n - 1))  # round trip, contention
                    else:
                        per_msg /= min(n, 2) * 0.9  # two cores: parallel producers help a bit
                    per_msg *= scale * rng.uniform(0.97, 1.03)
                    if pattern == "pingpong":
                        per_msg += slow_ns
                    noisy = size == sizes[0] and mechanism == "queue"
                    rows.append(ok_row(
                        mechanism, variant, pattern, size, n, per_msg, placement=placement,
                        efficiency=_efficiency(pattern, size, per_msg, baseline_scale),
                        noisy=noisy, stdev_frac=0.08 if noisy else 0.02))
    for n in (1, 2, 4, 8):
        per_inc = 800.0 * (1 + 0.8 * (n - 1)) / n * scale
        rows.append(ok_row("value", "locked", "counter", 8, n, per_inc, placement=placement,
                           efficiency=_efficiency("counter", 8, per_inc, baseline_scale)))
    if with_failures:
        rows.append(bad_row("shm", "segment", "stream", 64, 8, "skipped",
                            "procs 8 > 2 CPUs: busy-waiting would be unfair",
                            placement=placement))
    return rows


def write_run(folder: Path, rows: Iterable[ResultRow], machine: dict | None = MACHINE) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    appender = CsvAppender(folder / "results.csv")
    for row in rows:
        appender.append(row)
    if machine is not None:
        (folder / "machine.json").write_text(json.dumps(machine, indent=2), encoding="utf-8")
    return folder


def write_model_run(folder: Path, scale: float = 1.0, seed: int = 0, *, sizes=SIZES,
                    procs=PROCS, baseline_scale: float | None = None,
                    placements=("unpinned",), slow_ns: float = 0.0,
                    **machine_changes) -> Path:
    rows = model_rows(scale, seed, sizes, procs, baseline_scale=baseline_scale,
                      placements=placements, slow_ns=slow_ns)
    return write_run(folder, rows, {**MACHINE, **machine_changes})


# Small enough to draw in well under a second, big enough to have every chart.
SMALL = {"sizes": (64, 65536), "procs": (1, 2)}


if __name__ == "__main__":  # manual checks: python tests/synthetic_runs.py /tmp/run
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ipcbench-synthetic")
    write_model_run(target / "run-a")
    write_model_run(target / "run-b", scale=1.3, seed=1, machine_id="ffee0011aabbccdd",
                    cpu_model="Other CPU @ 3.1GHz")
    print(target)
