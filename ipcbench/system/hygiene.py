"""What killed runs leave behind, and how to remove it without touching anyone else's.

Every harness process names what it creates system-wide (shared-memory segments and
mmap files in /dev/shm, zmq socket folders and Ray's session folder in the temp folder,
POSIX message queues) with one prefix, `ipcb_<pid>_<random tag>_`, and holds an exclusive
flock on `/dev/shm/<prefix>.lock` for its whole life (forked peers inherit the lock, so it
lasts while any of them runs).

POSIX message queues live in their own namespace, which can only be listed where the
mqueue file system is mounted (often not in containers). So every queue has a marker: an
empty file of the same name (`..._mq<n>`) in /dev/shm, created before the queue and
removed after it. The sweep treats a marker like a segment of its run, and unlinks the
queue (mq_unlink) before the marker, so a killed run's queues go with its segments.

An entry is removed only when all of these hold:
- its name has ipcbench's form (odd names, such as a directory called like a segment or
  a pid too large for any kernel, are skipped, never parsed into a crash);
- it is a plain file (a folder, for the temp folder) owned by this user (st_uid);
- its run is dead: the sweeper can take that run's lock, or the run has no lock file.
  A lock says more than a pid: it holds across PID namespaces, where pid numbers repeat.
Before a dead run's temp folder is removed, this user's processes still holding files
in it are killed: helpers of that run (Ray's daemons) that outlived its harness.
The multiprocessing leftovers (sem.mp-*, pymp-*) have no owner in their name: leaks.py
decides those.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import functools
import os
import re
import secrets
import shutil
import signal
import stat
import tempfile
from pathlib import Path

from ipcbench.system import leaks

SHM_DIR = Path("/dev/shm")
SEGMENT_PREFIX = "ipcb_"
_RUN = rf"{SEGMENT_PREFIX}\d{{1,10}}_[0-9a-f]{{8}}"  # one harness process
# The entry's own part: letters, digits, "_", and "." with room for iceoryx2's file
# names under the case's prefix (`<hash>_<id>.data`, `.dynamic`, `.connection`).
_ENTRY_RE = re.compile(rf"^({_RUN})_\d{{1,12}}_[\w.]{{1,200}}$")
_LOCK_RE = re.compile(rf"^({_RUN})\.lock$")
# A POSIX message queue's marker: the queue is named "/" + the marker's name.
_QUEUE_RE = re.compile(rf"^{_RUN}_\d{{1,12}}_mq\d{{1,6}}$")
_LOCK_SUFFIX = ".lock"

_held: dict[int, tuple[str, int]] = {}  # pid -> (this process's prefix, its lock's fd)


def run_prefix(shm_dir: Path = SHM_DIR) -> str:
    """This process's name prefix, its lock taken on first use (before any entry with
    the prefix exists, so a live run's entries always have a held lock)."""
    held = _held.get(os.getpid())
    if held is None:
        held = _take_lock(shm_dir)
        _held.clear()  # a forked child's copy of its parent's entry is not its own
        _held[os.getpid()] = held
        atexit.register(_drop_lock, shm_dir / f"{held[0].rstrip('_')}{_LOCK_SUFFIX}", held[1])
    return held[0]


def _take_lock(shm_dir: Path) -> tuple[str, int]:
    while True:
        run = f"{SEGMENT_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        path = shm_dir / f"{run}{_LOCK_SUFFIX}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
        except FileExistsError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a sweeper took it in between: try another name
            os.close(fd)
            continue
        # A sweeper may have taken and removed the file between create and flock: then
        # this lock guards nothing; start over under another name.
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return f"{run}_", fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _drop_lock(path: Path, fd: int) -> None:
    """At a normal exit (the segments are gone by then): remove the lock file."""
    if _held.get(os.getpid(), ("", -1))[1] != fd:
        return  # a forked child exiting: the lock is its parent's
    try:
        os.unlink(path)
    except OSError:
        pass


def _owned(info: os.stat_result, want_dir: bool) -> bool:
    kind_ok = stat.S_ISDIR(info.st_mode) if want_dir else stat.S_ISREG(info.st_mode)
    return kind_ok and info.st_uid == os.getuid()


def _entries(folder: Path, want_dir: bool) -> dict[str, list[Path]]:
    """Run name -> this user's entries of that run in `folder` (lstat: links are skipped)."""
    runs: dict[str, list[Path]] = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return runs
    for name in names:
        match = _ENTRY_RE.match(name) or (None if want_dir else _LOCK_RE.match(name))
        if not match:
            continue
        try:
            info = os.lstat(folder / name)
        except OSError:
            continue
        if _owned(info, want_dir):
            entries = runs.setdefault(match.group(1), [])
            if not name.endswith(_LOCK_SUFFIX):
                entries.append(folder / name)
    return runs


def _take_dead_lock(lock: Path) -> tuple[bool, int]:
    """(is the run dead, fd of its lock now held by us or -1)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return True, -1  # no lock: its run ended (a live run's lock exists first)
    except OSError:
        return False, -1  # a link, or not ours to open: leave the run alone
    try:
        if os.fstat(fd).st_uid != os.getuid():
            raise BlockingIOError(errno.EPERM, "another user's lock")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False, -1  # held: the run (or one of its peers) is alive
    return True, fd


@functools.cache
def _libc_mq_unlink():
    """mq_unlink from the C library (glibc < 2.34 keeps it in librt), without needing
    the optional posix_ipc module: a killed run's queues are swept wherever they were made."""
    for library in ("librt.so.1", None):
        try:
            function = ctypes.CDLL(library, use_errno=True).mq_unlink
        except (OSError, AttributeError):
            continue
        function.argtypes = [ctypes.c_char_p]
        return function
    return None


def is_queue_marker(name: str) -> bool:
    return bool(_QUEUE_RE.match(name))


def unlink_queue(name: str) -> bool:
    """mq_unlink("/" + name); True once no such queue exists (also when there was none)."""
    mq_unlink = _libc_mq_unlink()
    if mq_unlink is None:
        return False
    if mq_unlink(f"/{name}".encode()) == 0:
        return True
    return ctypes.get_errno() == errno.ENOENT


def mark_queue(name: str, shm_dir: Path = SHM_DIR) -> None:
    """Create the marker of queue "/" + name (before the queue itself: see the module doc)."""
    if not is_queue_marker(name):
        raise ValueError(f"{name!r} is not a queue name of ipcbench's form")
    fd = os.open(shm_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.close(fd)


def remove_queue(name: str, shm_dir: Path = SHM_DIR) -> bool:
    """Unlink queue "/" + name, then its marker (kept when the queue could not be
    unlinked, so a later sweep tries again). True when both are gone."""
    if not unlink_queue(name):
        return False
    try:
        os.unlink(shm_dir / name)
    except FileNotFoundError:
        pass
    return True


def end_helpers(folder: Path, proc: Path = Path("/proc")) -> list[int]:
    """SIGKILL this user's processes that hold a file open (or mapped, or as their
    working folder) inside `folder`, a dead run's temp folder: helpers that run started
    there and that outlive a SIGKILLed harness (Ray's agents are reparented to init and
    linger for minutes, their command lines overwritten). Returns their pids."""
    inside = str(folder) + os.sep
    ended = []
    for name in os.listdir(proc):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if os.stat(proc / name).st_uid != os.getuid():
                continue
            paths = leaks.process_paths(proc / name)
        except OSError:
            continue  # gone, or not ours to inspect
        if any(path.startswith(inside) for path in paths):
            try:
                os.kill(int(name), signal.SIGKILL)
                ended.append(int(name))
            except OSError:
                pass
    return ended


def _remove(path: Path) -> bool:
    if is_queue_marker(path.name) and not path.is_dir() and not unlink_queue(path.name):
        return False  # the queue is still there: keep its marker
    if path.is_dir() and not path.is_symlink():
        end_helpers(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False  # e.g. a sticky temp folder: not ours to remove after all
    return True


def stale_entries(shm_dir: Path = SHM_DIR, tmp_dir: Path | None = None) -> list[Path]:
    """This user's ipcbench entries whose run is dead (without removing them)."""
    stale = []
    for run, entries in _runs(shm_dir, tmp_dir).items():
        dead, fd = _take_dead_lock(shm_dir / f"{run}{_LOCK_SUFFIX}")
        if fd >= 0:
            os.close(fd)
        if dead:
            stale += entries
    return sorted(stale)


def stale_segments(shm_dir: Path = SHM_DIR) -> list[Path]:
    return [p for p in stale_entries(shm_dir, shm_dir) if p.parent == shm_dir]


# An AF_UNIX socket's path (zmq's ipc://, Ray's sockets) holds at most 107 bytes.
UNIX_PATH_MAX_BYTES = 107
_SHORT_TEMP = Path("/tmp")


def temp_root(room_bytes: int = 0) -> Path:
    """Where this run's temp folders go: the usual temp folder, or /tmp when the usual
    one's path leaves fewer than `room_bytes` for the socket paths made inside it (a
    long TMPDIR made Ray fail: "AF_UNIX path length cannot exceed 107 bytes")."""
    usual = Path(tempfile.gettempdir())
    if len(os.fsencode(usual)) + room_bytes <= UNIX_PATH_MAX_BYTES:
        return usual
    if _SHORT_TEMP.is_dir() and os.access(_SHORT_TEMP, os.W_OK | os.X_OK):
        return _SHORT_TEMP
    return usual


def _temp_roots(tmp_dir: Path | None) -> list[Path]:
    """The folders temp_root may have chosen (both are swept)."""
    if tmp_dir is not None:
        return [tmp_dir]
    usual = Path(tempfile.gettempdir())
    return [usual] + ([_SHORT_TEMP] if _SHORT_TEMP != usual and _SHORT_TEMP.is_dir() else [])


def _runs(shm_dir: Path, tmp_dir: Path | None) -> dict[str, list[Path]]:
    runs = _entries(shm_dir, want_dir=False)
    for folder in _temp_roots(tmp_dir):
        if folder != shm_dir:
            for run, entries in _entries(folder, want_dir=True).items():
                runs.setdefault(run, []).extend(entries)
    return runs


def sweep(shm_dir: Path = SHM_DIR, tmp_dir: Path | None = None) -> list[str]:
    """Remove the entries of dead runs (holding each run's lock while doing so) and the
    provably stale multiprocessing leftovers; returns the names removed."""
    removed = []
    for run, entries in sorted(_runs(shm_dir, tmp_dir).items()):
        lock = shm_dir / f"{run}{_LOCK_SUFFIX}"
        dead, fd = _take_dead_lock(lock)
        if not dead:
            continue
        removed += [path.name for path in entries if _remove(path)]
        if fd >= 0:
            try:
                if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                    os.unlink(lock)  # still the file we hold: no new run reuses it
            except OSError:
                pass
            os.close(fd)
    for folder in _temp_roots(tmp_dir):
        removed += leaks.sweep(shm_dir, folder)
    return removed


def remove_own(shm_dir: Path = SHM_DIR, tmp_dir: Path | None = None) -> list[str]:
    """At the end of a run (every peer gone): remove whatever is left under this
    process's own run name. A signal landing inside a segment's constructor (between
    shm_open and the return) leaves one that no list of things to unlink holds.
    Returns the names removed; nothing when this process never took a run name."""
    held = _held.get(os.getpid())
    if held is None:
        return []
    entries = _runs(shm_dir, tmp_dir).get(held[0].rstrip("_"), [])
    return [path.name for path in entries if _remove(path)]


def own_segments(shm_dir: Path = SHM_DIR) -> list[str]:
    """Segments of this very process (for tests asserting nothing was left behind)."""
    if not shm_dir.is_dir():
        return []
    prefix = f"{SEGMENT_PREFIX}{os.getpid()}_"
    return sorted(e.name for e in shm_dir.iterdir()
                  if e.name.startswith(prefix) and not e.name.endswith(_LOCK_SUFFIX))
