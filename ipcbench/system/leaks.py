"""multiprocessing's own leftovers of killed runs: named semaphores (/dev/shm/sem.mp-*)
and temp folders (pymp-*) that a SIGKILLed process group never cleans up.

Their names say nothing about who made them, and other Python programs on the machine
use the same names, so one is removed only when it is provably stale:
- owned by this user, a plain file (semaphore) or folder (pymp-*), never a link;
- private (no group/other permission bits): no other non-root user can have it open;
- untouched for STALE_AFTER_S (a starting program is never raced);
- referenced by no process this user can inspect: no mapping (/proc/*/maps: a live
  semaphore is always mapped), open descriptor or working folder inside it, and a pymp
  folder only when every entry in it is a socket nobody listens on (/proc/net/unix) or
  an unreferenced file; an empty one could be a live program's, so it stays.
If a process of this user cannot be inspected, nothing is decided and nothing removed.
(Root's processes could open anything; a root program holding another user's private
multiprocessing semaphore is not a case this tool serves.)
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

STALE_AFTER_S = 600.0
SEMAPHORE_PREFIX = "sem.mp-"
TEMP_PREFIX = "pymp-"


def _candidates(folder: Path, prefix: str, want_dir: bool, now_s: float,
                min_age_s: float) -> list[Path]:
    found = []
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)]
    except OSError:
        return found
    for name in names:
        try:
            info = os.lstat(folder / name)
        except OSError:
            continue
        kind_ok = stat.S_ISDIR(info.st_mode) if want_dir else stat.S_ISREG(info.st_mode)
        private = info.st_mode & 0o077 == 0
        old = now_s - info.st_mtime > min_age_s
        if kind_ok and private and old and info.st_uid == os.getuid():
            found.append(folder / name)
    return found


def process_paths(pid_dir: Path) -> set[str]:
    """Every path a process maps, holds open or works in (raises OSError if hidden)."""
    paths = set()
    with open(pid_dir / "maps", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.split(maxsplit=5)
            if len(fields) == 6:
                paths.add(fields[5].strip().removesuffix(" (deleted)"))
    for fd in os.listdir(pid_dir / "fd"):
        try:
            paths.add(os.readlink(pid_dir / "fd" / fd))
        except FileNotFoundError:
            continue  # closed in between
    paths.add(os.readlink(pid_dir / "cwd"))
    return paths


def referenced_paths(proc: Path = Path("/proc")) -> set[str] | None:
    """Paths in use by any process this user can inspect; None when a process of this
    user cannot be inspected (then nothing can be called unreferenced)."""
    paths: set[str] = set()
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        pid_dir = proc / name
        owner = -1
        try:
            owner = os.stat(pid_dir).st_uid
            paths |= process_paths(pid_dir)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
        except OSError:
            if owner == os.getuid():
                return None  # our own process, hidden from us: cannot decide
    return paths


def bound_socket_paths(net_unix: Path = Path("/proc/net/unix")) -> set[str] | None:
    try:
        lines = net_unix.read_text(encoding="utf-8", errors="replace").splitlines()[1:]
    except OSError:
        return None
    return {fields[7] for fields in (line.split() for line in lines) if len(fields) >= 8}


def _folder_stale(folder: Path, refs: set[str], bound: set[str]) -> bool:
    inside = str(folder) + os.sep
    if str(folder) in refs or any(path.startswith(inside) for path in refs):
        return False
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    for entry in entries:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISSOCK(info.st_mode):
            if entry.path in bound:
                return False  # someone still listens there
        elif not stat.S_ISREG(info.st_mode):
            return False  # not what multiprocessing puts there
    return bool(entries)


def sweep(shm_dir: Path, tmp_dir: Path, min_age_s: float = STALE_AFTER_S,
          proc: Path = Path("/proc")) -> list[str]:
    """Remove the provably stale semaphores and pymp folders; returns their names."""
    now_s = time.time()
    sems = _candidates(shm_dir, SEMAPHORE_PREFIX, False, now_s, min_age_s)
    folders = _candidates(tmp_dir, TEMP_PREFIX, True, now_s, min_age_s)
    if not sems and not folders:
        return []
    refs, bound = referenced_paths(proc), bound_socket_paths()
    if refs is None or bound is None:
        return []
    removed = []
    for sem in sems:
        if str(sem) not in refs:
            try:
                sem.unlink()
                removed.append(sem.name)
            except OSError:
                pass
    for folder in folders:
        if _folder_stale(folder, refs, bound):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed
