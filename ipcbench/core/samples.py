"""`run --samples`: every message's one-way latency, kept in the run folder.

Sessions of a case are interleaved with every other case, so each finished session is
saved at once (samples/<case label>.s<k>.npy: a kill loses nothing, and --resume keeps
them), and when the case's row is written its sessions are gathered into one
samples/<case label>.npz (arrays session0, session1, ... of int64 ns), named in the
row's `samples_file`. Off by default: a default run would add some 50 MB.

    import numpy as np
    with np.load("results/.../samples/pipe-bytes-stream-4KiB-p1-fork-same-core.npz") as f:
        latencies_ns = np.concatenate([f[k] for k in f.files])
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ipcbench.core.schema import Case
from ipcbench.core.session_stats import SessionResult
from ipcbench.system.safefile import safe_dir, write_via_temp

DIRNAME = "samples"


def _session_path(run_dir: Path, case: Case, index: int) -> Path:
    return Path(run_dir) / DIRNAME / f"{case.label}.s{index}.npy"


def save_session(run_dir: Path, case: Case, result: SessionResult) -> None:
    """Keep one session's latencies (nothing for a pattern without them)."""
    if result.latencies_ns is None or not len(result.latencies_ns):
        return
    path = _session_path(run_dir, case, result.index)
    safe_dir(path.parent)
    latencies = np.asarray(result.latencies_ns, dtype=np.int64)
    write_via_temp(path, lambda handle: np.save(handle, latencies))


def gather(run_dir: Path, case: Case) -> str:
    """Merge a finished case's session files into one .npz; its path relative to the
    run folder ('' when the case kept no latencies)."""
    folder = Path(run_dir) / DIRNAME
    prefix = f"{case.label}.s"
    parts = {int(p.name[len(prefix):-len(".npy")]): p
             for p in folder.glob(f"{_glob_escape(prefix)}*.npy")}
    if not parts:
        return ""
    arrays = {f"session{k}": np.load(parts[k]) for k in sorted(parts)}
    target = folder / f"{case.label}.npz"
    write_via_temp(target, lambda handle: np.savez_compressed(handle, **arrays))
    for part in parts.values():
        os.unlink(part)
    return f"{DIRNAME}/{target.name}"


def load(run_dir: Path, samples_file: str) -> np.ndarray:
    """Every latency of a row's samples file, sessions in order."""
    with np.load(Path(run_dir) / samples_file) as data:
        names = sorted(data.files, key=lambda n: int(n.removeprefix("session")))
        return np.concatenate([data[name] for name in names])


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
