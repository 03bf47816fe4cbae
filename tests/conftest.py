"""Shared fixtures. The autouse `no_leftovers` fixture checks after every test that no
child process and no shared-memory segment (nor POSIX message queue, through its marker
in /dev/shm) of this process survived it, and cleans up whatever did (also after a
failing test), so one leak does not cascade into the next.

The hidden `fake` mechanism (fake_mechanism.py) is registered for the whole test process
here, before any test plans a case with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time

import fake_mechanism
import psutil
import pytest
from process_groups import describe

from ipcbench import mechanisms
from ipcbench.harness.rows import RunMeta
from ipcbench.system import hygiene
from ipcbench.system.deadlines import kill_processes

# multiprocessing's fork server and resource tracker are started on first use and
# live as long as the test process: they are helpers, not leaks.
_LONG_LIVED_HELPERS = ("forkserver", "resource_tracker")
_EXIT_GRACE_S = 3.0

mechanisms.register(fake_mechanism.INFO)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: starts real peer processes (slower)")


def _is_helper(process: psutil.Process) -> bool:
    try:
        cmdline = " ".join(process.cmdline())
    except psutil.Error:  # gone or a zombie: not a helper
        return False
    return any(name in cmdline for name in _LONG_LIVED_HELPERS)


def _running(process: psutil.Process) -> bool:
    """Alive and not merely an unreaped zombie (an exited process holds nothing)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def leftover_children() -> list[psutil.Process]:
    """Children still running after a bounded grace period for ones on their way out.
    Children of a helper (peers forked by the fork server) count: only helpers are exempt."""
    deadline = time.monotonic() + _EXIT_GRACE_S
    while True:
        children = psutil.Process().children(recursive=True)
        alive = [p for p in children if _running(p) and not _is_helper(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _unlink(names: list[str]) -> None:
    for name in names:
        if hygiene.is_queue_marker(name):
            hygiene.remove_queue(name)  # the queue first, then (below) its marker
        try:
            (hygiene.SHM_DIR / name).unlink()
        except FileNotFoundError:
            pass


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    children = leftover_children()
    described = [describe(p) for p in children]
    kill_processes(children, _EXIT_GRACE_S)
    segments = hygiene.own_segments()
    _unlink(segments)
    assert not described, f"child processes left running: {described}"
    assert not segments, f"shared-memory segments left in /dev/shm: {segments}"


@pytest.fixture
def meta() -> RunMeta:
    return RunMeta(machine_id="test-machine", run_id="testrun0001", python="3.11.0")


@pytest.fixture
def no_temp_dirs_left():
    """zmq's ipc:// sockets (and Ray's session folders) live in temp dirs named with the
    harness's prefix: none may outlive a test. Used by the modules that start them."""
    yield
    prefix = f"ipcb_{os.getpid()}_"
    left = [n for n in os.listdir(tempfile.gettempdir()) if n.startswith(prefix)]
    assert not left, f"temp directories left behind: {left}"


@contextlib.contextmanager
def _machine_lock(name: str):
    """One test at a time on this machine holding `name`, across the test workers of
    `pytest -n 2` (an flock: released however the holder ends)."""
    path = os.path.join(tempfile.gettempdir(), f"ipcbench-tests-{name}.lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def one_ray_at_a_time():
    """Tests that start Ray (test_ray.py, test_fleet.py): never two local clusters at once."""
    with _machine_lock("ray"):
        yield


@pytest.fixture
def one_mpi_job_at_a_time():
    """Tests that start MPI jobs: their MPICH segment check sees the whole machine."""
    with _machine_lock("mpi"):
        yield
