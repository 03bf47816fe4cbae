"""Files in a run folder, opened without following symbolic links.

A run may write as root into a folder another user can write to: a link planted there as
`results.csv` or `charts/latency.png` would make the run overwrite or create a file
elsewhere. Every file ipcbench writes goes through here: O_NOFOLLOW on the last component,
O_EXCL for temporary files, os.replace into place (which replaces a link, never its
target), and a planted link is refused with a one-line ValueError naming it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class LinkRefused(ValueError):
    """A path that must be a plain file or folder is a symbolic link."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"refusing {str(path)!r}: it is a symbolic link (remove it first)")


def refuse_link(path: Path) -> Path:
    if os.path.islink(path):
        raise LinkRefused(Path(path))
    return Path(path)


def safe_dir(path: Path) -> Path:
    """`path` as a real folder (created if missing), never a link to one."""
    path = Path(path)
    refuse_link(path)
    path.mkdir(parents=True, exist_ok=True)
    refuse_link(path)  # created by someone else in between
    return path


def open_fd(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open without following a link at `path` (ELOOP becomes LinkRefused)."""
    try:
        return os.open(path, flags | _NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkRefused(Path(path)) from None
        raise


def read_text(path: Path) -> str:
    fd = open_fd(path, os.O_RDONLY)
    with os.fdopen(fd, encoding="utf-8") as handle:
        return handle.read()


def write_atomic(path: Path, data: bytes) -> Path:
    """Write `path` whole or not at all: `<name>.tmp` created exclusively, fsynced, then
    os.replace. A leftover temp file of a crashed run is removed first; a link is refused."""
    path = Path(path)
    refuse_link(path)
    tmp = path.with_name(path.name + ".tmp")
    refuse_link(tmp)
    try:
        os.unlink(tmp)  # a crash's leftover (a plain file: links were refused above)
    except FileNotFoundError:
        pass
    fd = open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def write_via_temp(path: Path, write) -> Path:
    """Call `write(binary file)` on a fresh, exclusively created temp file beside `path`,
    then os.replace it into place. On any error the temp file is removed and the error
    names `path` (a full disk must not leave half a chart under the real name)."""
    path = Path(path)
    refuse_link(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(Path(tmp))
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _remove_quietly(Path(tmp))
        raise
    return path


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
