"""The run folder: owned by one run at a time, named so two runs never collide, and
described by manifest.json so `--resume DIR` knows exactly what the run planned.

- Ownership: `RunLock` takes a non-blocking flock on DIR/run.lock for the run's whole
  life; a second run or a resume on a live folder is refused in one line. flock belongs
  to the open file, so it holds across PID namespaces and dies with the last holder
  (a SIGKILL releases it: a killed run's folder is resumable at once).
- Names: the default folder carries the time to the microsecond and is created with
  mkdir (exclusive); a clash gets a numbered suffix instead of a shared folder.
- manifest.json (written atomically before the first case): the matrix flags, the
  settings, the order seed, every planned case (skipped ones too, with the reason), the
  ipcbench and Python versions and the machine.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from ipcbench import __version__
from ipcbench.core.schema import CASE_KEYS, Case
from ipcbench.core.settings import Settings
from ipcbench.harness.plan import PlannedCase
from ipcbench.system.safefile import open_fd, read_text, refuse_link, safe_dir, write_atomic

LOCK_NAME = "run.lock"
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
# Every name a run writes in its folder: each must be a plain file (or folder), never a
# planted link.
RUN_FILES = ("results.csv", "sessions.csv", "machine.json", "machine.json.tmp",
             MANIFEST_NAME, MANIFEST_NAME + ".tmp", LOCK_NAME, "charts")
_MAX_SUFFIX = 1000


class RunLock:
    """An exclusive, non-blocking flock on DIR/run.lock, held until release()."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._fd = open_fd(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise ValueError(
                f"run folder {str(folder)!r} is in use by another ipcbench run "
                f"(it holds {LOCK_NAME}); wait for it or use another folder"
            ) from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = -1


def check_no_links(folder: Path) -> None:
    """Refuse a folder where one of the run's file names is a symbolic link."""
    refuse_link(folder)
    for name in RUN_FILES:
        refuse_link(Path(folder) / name)


def new_default_folder(parent: Path) -> Path:
    """results/<machine_id>/<UTC time to the microsecond>, created exclusively."""
    safe_dir(parent)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    for attempt in range(_MAX_SUFFIX):
        folder = parent / (stamp if attempt == 0 else f"{stamp}-{attempt + 1}")
        try:
            os.mkdir(folder)
            return folder
        except FileExistsError:
            continue
    raise ValueError(f"cannot create a new run folder in {str(parent)!r}: every name is taken")


def claim_new_folder(folder: Path) -> RunLock:
    """`--out DIR`: create it if needed and lock it; then refuse planted links and a
    folder that already holds a run (two runs appending to one results.csv would write
    every case twice). Locking first: of two runs started together, one is refused."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output folder {str(folder)!r} is not a folder")
    safe_dir(folder)
    lock = RunLock(folder)
    check_no_links(folder)
    for name in (MANIFEST_NAME, "results.csv", "sessions.csv"):
        if (folder / name).exists():
            lock.release()
            raise ValueError(f"output folder {str(folder)!r} already holds a run ({name}); "
                             "use --resume to continue it or choose another folder")
    return lock


@dataclass(frozen=True)
class Manifest:
    planned: list[PlannedCase]
    settings: Settings
    order_seed: int
    machine_id: str
    baselines: bool
    flags: dict


def _settings_dict(settings: Settings) -> dict:
    # The test-only fault is never part of a run's settings.
    return {k: v for k, v in asdict(settings).items() if k != "fault"}


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    document = {
        "manifest_version": MANIFEST_VERSION,
        "ipcbench_version": __version__,
        "python": platform.python_version(),
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine_id": manifest.machine_id,
        "order_seed": manifest.order_seed,
        "baselines": manifest.baselines,
        "flags": manifest.flags,
        "settings": _settings_dict(manifest.settings),
        "planned": [{**asdict(p.case), "skip_reason": p.skip_reason} for p in manifest.planned],
    }
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    return write_atomic(Path(folder) / MANIFEST_NAME, text.encode("utf-8"))


def read_manifest(folder: Path) -> Manifest:
    """The manifest of a run folder; a one-line ValueError when missing or unusable."""
    path = Path(folder) / MANIFEST_NAME
    if not Path(folder).is_dir():
        raise ValueError(f"cannot resume {str(folder)!r}: no such run folder")
    try:
        document = json.loads(read_text(path))
    except FileNotFoundError:
        raise ValueError(f"cannot resume {str(folder)!r}: no {MANIFEST_NAME} (not an ipcbench "
                         "run folder, or written by an ipcbench without manifests)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot resume {str(folder)!r}: {path} is malformed ({exc})") from None
    try:
        return _parse_manifest(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot resume {str(folder)!r}: {path} is unusable ({exc})") from None


def _parse_manifest(document: dict) -> Manifest:
    version = document["manifest_version"]
    if version > MANIFEST_VERSION:
        raise ValueError(f"manifest_version {version} is newer than this ipcbench reads")
    known = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in document["settings"].items() if k in known})
    # Keys a manifest of an older version lacks (rate_per_s, depth) take the Case default.
    planned = [PlannedCase(Case(**{k: item[k] for k in CASE_KEYS if k in item}),
                           item["skip_reason"])
               for item in document["planned"]]
    return Manifest(planned, settings, int(document["order_seed"]),
                    str(document["machine_id"]), bool(document["baselines"]),
                    dict(document["flags"]))
