"""The start-up launcher: a lean Python process that starts the workers a start-up case
times (starters.py), so the figure is what a small application pays, not the harness.

Why a process of its own: forking copies the parent's page tables and the child's first
garbage collection touches the parent's heap, so a worker forked by the harness (numpy,
a run's rows, tens of MB) starts several times slower than one forked by a small script,
and slower as the run grows; and a spawned worker re-imports its parent's main module.
The launcher is `python -c` (no main module for a spawned worker to re-import) holding
only the standard library, starters.py and the workers' module, pinned where the harness
would be. The harness starts one a session (untimed), sends it an Order a repeat over a
socketpair and waits, bounded, for the Measured (or the reason it failed).

A launcher runs in a session of its own: past every deadline the harness kills its whole
process group (its workers, a fork server, a pool's helpers), so nothing outlives a case.
It exits on a None order, or when the harness's end of the socket closes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

from ipcbench.system.deadlines import CaseTimeout, kill_group, seconds_text

STOP_S = 5.0  # how long a launcher gets to exit after a None order
# The package's root, put first on the launcher's path: the harness may run from a
# checkout that is not installed (tests, CI), and the launcher must import this copy.
_ROOT = str(Path(__file__).resolve().parents[2])
_MAIN = ("import sys; from ipcbench.system.launcher import serve; "
         "serve(int(sys.argv[1]), sys.argv[2])")


class LauncherFailed(RuntimeError):
    """The launcher or a worker it started failed (the message says how)."""


def serve(fd: int, cpus_text: str) -> None:
    """The launcher's loop: an Order in, ("ok", Measured) | ("timeout" | "failed", why)
    out, until a None order or the harness's end closes."""
    from ipcbench.system.starters import WorkerFailed, measure

    if cpus_text:
        os.sched_setaffinity(0, [int(cpu) for cpu in cpus_text.split(",")])
    conn = Connection(fd)
    conn.send(("ready", os.getpid()))
    try:
        while (order := _next(conn)) is not None:
            try:
                reply = ("ok", measure(order))
            except CaseTimeout as exc:
                reply = ("timeout", str(exc))
            except WorkerFailed as exc:
                reply = ("failed", str(exc))
            except Exception as exc:  # reported as the case's reason, never a dead launcher
                reply = ("failed", f"{type(exc).__name__}: {exc}")
            conn.send(reply)
    finally:
        _stop_helpers()


def _next(conn: Connection):
    try:
        return conn.recv()
    except EOFError:
        return None


def _stop_helpers() -> None:
    """Stop and reap the fork server and the resource tracker multiprocessing started
    here (each would otherwise exit on its own a moment after the launcher, outliving
    the harness's wait for it). Private hooks, CPython's own tests use them."""
    import gc
    from multiprocessing import forkserver, resource_tracker

    gc.collect()  # finalizers unlink the named semaphores of the last repeat's objects
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            stop()


class Launcher:
    """The harness's handle on one launcher process (a context manager)."""

    def __init__(self, cpus: tuple[int, ...], ready_s: float) -> None:
        here, there = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()
        # multiprocessing's temporary folder (a fork server's socket) goes in one of the
        # harness's, removed at close: a launcher killed past its bound cannot remove it.
        self._tmp = tempfile.mkdtemp(prefix="ipcbench-launcher-")
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_ROOT, path))),
               "TMPDIR": self._tmp}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _MAIN, str(there.fileno()), ",".join(map(str, cpus))],
                pass_fds=(there.fileno(),), start_new_session=True, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr)
        except BaseException:
            here.close()
            self._stderr.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        finally:
            there.close()
        self.conn = Connection(here.detach())
        self.dead = False
        try:
            self._receive(ready_s, "starting the start-up launcher")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def measure(self, order, wait_s: float):
        """The launcher's Measured for `order`; CaseTimeout past `wait_s` (the launcher
        and its workers are then killed), LauncherFailed for a failed repeat."""
        if self.dead:
            raise LauncherFailed("the start-up launcher was stopped by an earlier failure")
        what = f"a {order.variant} start-up repeat"
        try:
            self.conn.send(order)
        except OSError:
            raise self._gone(what) from None
        status, value = self._receive(wait_s, what)
        if status == "ok":
            return value
        if status == "timeout":
            raise CaseTimeout(value)
        raise LauncherFailed(value)

    def _receive(self, wait_s: float, what: str) -> tuple[str, object]:
        try:
            if self.conn.poll(wait_s):
                return self.conn.recv()
        except (EOFError, OSError):
            raise self._gone(what) from None
        self._kill()
        raise CaseTimeout(f"{what} did not finish within {seconds_text(wait_s)}")

    def _gone(self, what: str) -> LauncherFailed:
        """The launcher's end closed under us: it died (reaped here, group killed)."""
        try:
            self.process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            pass  # closed its end but lives on: killed below
        self._kill()
        return LauncherFailed(f"the start-up launcher exited (code {self.process.returncode}) "
                              f"during {what}{self._tail()}")

    def _tail(self) -> str:
        """The last line the launcher wrote to stderr, as a reason's end."""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return f": {lines[-1][:200]}" if lines else ""

    def _kill(self) -> None:
        """SIGKILL the launcher's whole process group (workers, fork server, helpers)."""
        self.dead = True
        kill_group(self.process.pid)
        self.process.wait()

    def close(self) -> None:
        """Ask the launcher to exit, and kill its group if it has not within STOP_S. A
        clean exit lets multiprocessing's resource tracker unlink what it tracks, which
        a kill would leave in /dev/shm."""
        if not self.dead:
            try:
                self.conn.send(None)
                self.process.wait(STOP_S)
                self.dead = True
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        self.conn.close()
        self._stderr.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
