"""Find and remove shared-memory segments left by ipcbench runs that no longer exist
(a SIGKILLed process group never runs its cleanup)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ipcbench.session import SEGMENT_PREFIX

SHM_DIR = Path("/dev/shm")
_NAME_RE = re.compile(rf"^{SEGMENT_PREFIX}(\d+)_\d+_\w+$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def stale_segments(shm_dir: Path = SHM_DIR) -> list[Path]:
    """Segments named by an ipcbench harness whose process is gone."""
    if not shm_dir.is_dir():
        return []
    stale = []
    for entry in shm_dir.iterdir():
        match = _NAME_RE.match(entry.name)
        if match and not _alive(int(match.group(1))):
            stale.append(entry)
    return sorted(stale)


def sweep(shm_dir: Path = SHM_DIR) -> list[str]:
    """Unlink stale segments; returns the names removed."""
    removed = []
    for path in stale_segments(shm_dir):
        try:
            path.unlink()
            removed.append(path.name)
        except FileNotFoundError:
            pass
    return removed


def own_segments(shm_dir: Path = SHM_DIR) -> list[str]:
    """Segments of this very process (for tests asserting nothing was left behind)."""
    if not shm_dir.is_dir():
        return []
    prefix = f"{SEGMENT_PREFIX}{os.getpid()}_"
    return sorted(e.name for e in shm_dir.iterdir() if e.name.startswith(prefix))
