"""Stale shared-memory segments: found by the harness pid in their name, swept only
when that process is gone."""

from __future__ import annotations

import os
import subprocess
import sys

from ipcbench import hygiene


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_sweep_removes_only_segments_of_dead_harnesses(tmp_path):
    dead = _dead_pid()
    names = [f"ipcb_{dead}_0_0", f"ipcb_{dead}_3_1", f"ipcb_{os.getpid()}_0_0",
             "ipcb_notapid_0_0", "someone_else", f"ipcb_{dead}_0"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")

    assert [p.name for p in hygiene.stale_segments(tmp_path)] == [f"ipcb_{dead}_0_0",
                                                                  f"ipcb_{dead}_3_1"]
    assert sorted(hygiene.sweep(tmp_path)) == [f"ipcb_{dead}_0_0", f"ipcb_{dead}_3_1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
    assert hygiene.own_segments(tmp_path) == [f"ipcb_{os.getpid()}_0_0"]


def test_missing_shm_dir_is_not_an_error(tmp_path):
    assert hygiene.stale_segments(tmp_path / "absent") == []
    assert hygiene.own_segments(tmp_path / "absent") == []
