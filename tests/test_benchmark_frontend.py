"""The pytest-benchmark front end on one real case: parameters per case-key field (so
--benchmark-group-by=param:mechanism works and the JSON saves), groups named like the
ids, per-message figures in extra_info, ipcbench's summary at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _without_xdist(env: dict[str, str]) -> dict[str, str]:
    """A test run under `pytest -n 2` is an xdist worker (PYTEST_XDIST_WORKER), and a
    pytest started from it with that environment disables every benchmark."""
    return {k: v for k, v in env.items() if not k.startswith("PYTEST_XDIST")}


def test_benchmarks_group_by_param_and_report_per_message(tmp_path):
    report = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/", "--benchmark-only", "-q",
         "-p", "no:cacheprovider", "-k", "pipe-bytes-pingpong-64B-p1-",
         "--benchmark-group-by=param:mechanism", f"--benchmark-json={report}",
         "--ipcbench-out", str(tmp_path / "run"), "--ipcbench-no-charts"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env=_without_xdist({**os.environ, "PYTHONPATH": str(ROOT)}))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (bench,) = json.loads(report.read_text())["benchmarks"]
    assert bench["params"] == {"mechanism": "pipe", "variant": "bytes", "pattern": "pingpong",
                               "size": "64B", "procs": 1, "start_method": bench["params"][
                                   "start_method"], "placement": "same-core",
                               "payload": "bytes", "rate_per_s": 0}
    assert bench["group"] == "pingpong-64B-p1-same-core"  # sizes written like the ids
    assert "benchmark 'mechanism=pipe'" in result.stdout
    assert bench["extra_info"]["per_message"].endswith("µs")
    assert bench["extra_info"]["messages_per_repeat"] > 1
    assert "ipcbench: per message" in result.stdout and "pipe/bytes" in result.stdout
