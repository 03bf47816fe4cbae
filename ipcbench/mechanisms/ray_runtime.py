"""Ray's runtime for a run of ray cases (mechanisms/ray_store.py): started once, lazily
at the first ray case, stopped at the run's end, both bounded.

ray.init runs in the harness's bounded-call thread (deadlines.call_within), which never
exits: Ray's daemons die with the thread that started them (a parent-death signal), so
never a short-lived one. Past START_S the processes it started are killed, the case is a
timeout row, and every later ray case of the run fails at once with the same reason
(no second wait of START_S). Ray's session folder is named with the run's prefix in the
temp folder, so the sweep (`ipcbench clean`) removes a killed run's and ends the helpers
still holding files there. This module imports Ray only inside its functions.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
from dataclasses import dataclass, field

import psutil

from ipcbench.mechanisms.base import PeerFailed
from ipcbench.system import hygiene
from ipcbench.system.affinity import allowed_cpus
from ipcbench.system.deadlines import CaseTimeout, call_within, kill_processes

STORE_BYTES = 256 << 20  # object store memory
# Ray's deepest socket: <temp>/<run>_0_ray/session_<date>_<time>_<pid>/sockets/plasma_store
RAY_PATH_ROOM_BYTES = 96
START_S = 90.0  # bound on starting Ray (about 3 s on the 2-core VM)
STOP_S = 30.0  # bound on stopping actors, and Ray at the run's end


@dataclass
class _Runtime:
    up: bool = False
    error: str = ""  # why Ray could not start in this run: later cases fail at once
    top: list[psutil.Process] = field(default_factory=list)  # the processes ray.init started
    temp_dir: str = ""
    remote_classes: dict = field(default_factory=dict)  # class -> its ray.remote
    exit_hook: bool = False


_RUNTIME = _Runtime()


def _children() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def ray_processes() -> list[psutil.Process]:
    """Every live process of Ray's runtime: its daemons and their workers (actors)."""
    found = {}
    for process in _RUNTIME.top:
        try:
            if process.is_running():
                found[process.pid] = process
                found.update((p.pid, p) for p in process.children(recursive=True))
        except psutil.Error:
            continue
    return list(found.values())


def kill(processes: list[psutil.Process]) -> None:
    kill_processes(processes, STOP_S)


def start_runtime() -> None:
    """Start Ray for this run if it is not up (bounded: see the module doc)."""
    rt = _RUNTIME
    if rt.error:
        raise PeerFailed(f"Ray could not start in this run: {rt.error}")
    if rt.up:
        return
    # No usage report is sent anywhere. The node is addressed as 127.0.0.1, so all of
    # Ray's traffic stays on loopback (its gRPC ports still listen on every interface,
    # behind the token authentication Ray enables by default).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Read when ray is first imported: Ray's C++ core would otherwise install a SIGTERM
    # handler in the harness that prints a stack trace before the harness's own clean
    # shutdown.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    import ray

    rt.temp_dir = str(hygiene.temp_root(RAY_PATH_ROOM_BYTES) / f"{hygiene.run_prefix()}0_ray")
    before = {p.pid for p in _children()}

    def started_by_ray() -> list[psutil.Process]:
        return [p for p in _children() if p.pid not in before]

    def start() -> None:
        # address="local": always a new instance of our own, never a cluster that
        # RAY_ADDRESS or a running `ray start` would otherwise connect to.
        ray.init(address="local", num_cpus=len(allowed_cpus()), num_gpus=0,
                 object_store_memory=STORE_BYTES,
                 include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 namespace="ipcbench", _node_ip_address="127.0.0.1", _temp_dir=rt.temp_dir)

    if not rt.exit_hook:  # a run that never reaches its end still stops Ray
        atexit.register(stop_runtime)
        rt.exit_hook = True
    try:
        # In the harness's bounded-call thread, which never exits: Ray's daemons die with
        # the thread that started them (parent-death signal), so never a short-lived one.
        call_within(start, START_S, "starting Ray", lambda: kill(started_by_ray()))
    except Exception as exc:
        rt.error = f"{type(exc).__name__}: {exc}"
        kill(started_by_ray())
        shutil.rmtree(rt.temp_dir, ignore_errors=True)
        if isinstance(exc, CaseTimeout):
            raise
        raise PeerFailed(f"Ray did not start: {rt.error}") from None
    rt.top = started_by_ray()
    rt.up = True


def stop_runtime() -> None:
    """Stop Ray (bounded; survivors are killed) and remove its session folder. The next
    run starts it again."""
    rt = _RUNTIME
    if rt.up or rt.error:
        import ray

        processes = ray_processes()
        try:
            call_within(ray.shutdown, STOP_S, "stopping Ray", lambda: kill(ray_processes()))
        except Exception:  # noqa: BLE001 - at the run's end: whatever failed, kill below
            pass
        kill([p for p in processes if p.is_running()])
    if rt.temp_dir:
        shutil.rmtree(rt.temp_dir, ignore_errors=True)
    rt.up, rt.error, rt.top, rt.temp_dir = False, "", [], ""
    rt.remote_classes.clear()


def remote_class(cls, **options):
    """`ray.remote(**options)(cls)`, made once per Ray instance."""
    if cls not in _RUNTIME.remote_classes:
        import ray

        _RUNTIME.remote_classes[cls] = ray.remote(**options)(cls)
    return _RUNTIME.remote_classes[cls]


def cpu_of(processes: list[psutil.Process]) -> tuple[float, int]:
    """(CPU seconds, context switches) of these processes so far; gone ones count 0."""
    cpu_s, switches = 0.0, 0
    for process in processes:
        try:
            times = process.cpu_times()
            ctx = process.num_ctx_switches()
        except psutil.Error:
            continue
        cpu_s += times.user + times.system
        switches += ctx.voluntary + ctx.involuntary
    return cpu_s, switches
