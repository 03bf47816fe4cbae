"""Machine metadata: small collect_* functions filling one dict (pyperf's pattern),
and a stable machine_id that names a machine, not a run."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import platform
import shutil
import sys
import sysconfig
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil

from ipcbench import __version__

NA = "n/a"


def collect_cpu(meta: dict) -> None:
    meta["cpu_model"] = _cpu_model()
    meta["logical_cpus"] = psutil.cpu_count(logical=True) or os.cpu_count() or 0
    meta["physical_cpus"] = psutil.cpu_count(logical=False) or NA
    try:
        meta["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        meta["cpu_affinity"] = NA
    meta["cpu_governor"] = _read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


def collect_topology(meta: dict) -> None:
    """Sockets, cores, threads a core, L3 domains, and the CPU pair each topology
    placement uses here (or why there is none): topology.Topology.summary."""
    from ipcbench.system.topology import read_topology

    allowed = meta.get("cpu_affinity")
    try:
        meta["topology"] = read_topology().summary(allowed if isinstance(allowed, list)
                                                   else None)
    except (OSError, ValueError) as exc:  # a sysfs this parser cannot read
        meta["topology"] = {"error": str(exc)}


def collect_memory(meta: dict) -> None:
    meta["ram_bytes"] = psutil.virtual_memory().total
    try:
        meta["dev_shm_bytes"] = shutil.disk_usage("/dev/shm").total
    except OSError:
        meta["dev_shm_bytes"] = NA


def collect_system(meta: dict) -> None:
    meta["hostname"] = platform.node()
    meta["os"] = f"{platform.system()} {_os_release()}".strip()
    meta["kernel"] = platform.release()
    meta["arch"] = platform.machine()


def gil_state() -> tuple[bool, bool]:
    """(GIL in force, free-threaded build) of this interpreter: a free-threaded build
    (3.13t+) can still run with the GIL (PYTHON_GIL=1, or an extension that needs it);
    sys._is_gil_enabled says which, and before 3.13 every build has it."""
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return (bool(is_enabled()) if is_enabled is not None else True), free_threaded


def collect_python(meta: dict) -> None:
    meta["gil_enabled"], meta["free_threaded"] = gil_state()
    meta["python_implementation"] = platform.python_implementation()
    meta["python_version"] = platform.python_version()
    meta["numpy_version"] = np.__version__
    meta["default_start_method"] = multiprocessing.get_start_method(allow_none=False)
    meta["ipcbench_version"] = __version__
    meta["executable"] = sys.executable


def machine_id(meta: dict) -> str:
    """Same machine, same id across runs and Python versions: hostname + CPU + RAM + arch.
    Readable prefix for folder names, short hash for uniqueness."""
    key = "|".join(
        str(meta.get(k)) for k in ("hostname", "cpu_model", "logical_cpus", "ram_bytes", "arch")
    )
    host = "".join(c if c.isalnum() else "-" for c in str(meta.get("hostname", "host")))[:24]
    return f"{host or 'host'}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def collect_fitness(meta: dict, placements=(), max_procs: int = 1) -> None:
    """Problems that make figures unstable right now (fitness.py), as sentences."""
    from ipcbench.system.fitness import check_machine

    cpus = len(meta["cpu_affinity"]) if isinstance(meta.get("cpu_affinity"), list) else 1
    meta["fitness_problems"] = check_machine(cpus, placements, max_procs)


def warn_unfit(meta: dict) -> None:
    """One line on stderr per reason this machine may not give stable numbers now."""
    for problem in meta.get("fitness_problems", []):
        print(f"ipcbench: warning: {problem}", file=sys.stderr)


def collect_metadata(placements=(), max_procs: int = 1) -> dict:
    meta: dict = {}
    for collect in (collect_system, collect_cpu, collect_topology, collect_memory,
                    collect_python):
        collect(meta)
    collect_fitness(meta, placements, max_procs)
    meta["machine_id"] = machine_id(meta)
    meta["collected_utc"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return meta


def write_machine_json(directory: Path, meta: dict) -> Path:
    """Write atomically (temp file + os.replace): a crash never leaves half a file; a
    planted link at machine.json(.tmp) is refused, never followed."""
    from ipcbench.system.safefile import safe_dir, write_atomic

    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    return write_atomic(safe_dir(directory) / "machine.json", text.encode("utf-8"))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or NA


def _os_release() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except (OSError, AttributeError):
        return platform.version()


def _read_first(path: str) -> str:
    try:
        return Path(path).read_text().strip() or NA
    except OSError:
        return NA
