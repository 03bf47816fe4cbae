"""A queue served by a multiprocessing Manager: peers hold proxies, and every put() and
get() is a request/response round trip over a socket to the manager's server process
(which holds a queue.Queue). The manager process is part of the case: it is started
with the case's context and shut down in close().

Every exchange with the manager process is bounded (deadlines.call_within): a stopped
or wedged manager would otherwise hang its start, a proxy's handshake or shutdown()
forever. Past the deadline the manager is SIGKILLed, which ends the blocked call."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
from multiprocessing.managers import SyncManager

from ipcbench.mechanisms.base import PutGetEndpoint, QueueMechanism
from ipcbench.mechanisms.info import SHARED, MechanismInfo, Variant
from ipcbench.system.deadlines import call_within, kill_pid
from ipcbench.system.heap import steady_heap
from ipcbench.system.parent_death import die_with_parent

# Generous for a loaded 2-core machine (a spawn start imports the interpreter), short
# enough that a wedged manager costs seconds, not the run.
_MANAGER_DEADLINE_S = 10.0
_SHUTDOWN_DEADLINE_S = 5.0


def _server_setup() -> None:
    """Runs in the manager process. Ctrl-C reaches the whole process group: the harness
    decides when the manager stops (as it does for peers), and on Linux the manager
    dies with its parent instead of outliving a SIGKILLed harness."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    steady_heap()  # as every peer (heap.py)
    die_with_parent()


def _remove_socket_folder(address) -> None:
    """A killed manager never runs its cleanup: its listening socket's pymp-* folder
    (its own, not this process's) would stay in the temp folder for good."""
    if not isinstance(address, str):
        return
    folder = os.path.dirname(address)
    ours = multiprocessing.process.current_process()._config.get("tempdir")
    if os.path.basename(folder).startswith("pymp-") and folder != ours:
        shutil.rmtree(folder, ignore_errors=True)


class ProxyQueueEndpoint(PutGetEndpoint):
    """put/get on manager proxies: each call is a round trip to the manager process."""


class ManagerQueueMechanism(QueueMechanism):
    endpoint_class = ProxyQueueEndpoint

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._manager: SyncManager | None = None
        self._starting: SyncManager | None = None
        self._proxies = []

    def _queue(self):
        if self._manager is None:
            # ctx.Manager() without an initializer hook; this is the same thing plus one.
            manager = SyncManager(ctx=self.ctx)
            # Kept before start, so that close() can kill a manager whose start hangs.
            self._starting = manager
            call_within(lambda: manager.start(initializer=_server_setup), _MANAGER_DEADLINE_S,
                        "the manager process start", self._kill_manager)
            # Kept only once started: shutdown() exists only on a started manager.
            self._manager = manager
        q = call_within(self._manager.Queue, _MANAGER_DEADLINE_S, "a manager queue",
                        self._kill_manager)
        # The parent's proxies keep the queues alive on the server until peers hold theirs.
        self._proxies.append(q)
        return q

    def _kill_manager(self) -> None:
        process = getattr(self._starting, "_process", None)
        kill_pid(getattr(process, "pid", None))

    def close(self) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            # shutdown() connects to the manager, then joins it (terminating it after a
            # grace period): a stopped manager never answers, SIGKILL ends it.
            try:
                call_within(manager.shutdown, _SHUTDOWN_DEADLINE_S, "the manager shutdown",
                            self._kill_manager)
            except (OSError, EOFError, RuntimeError):
                pass  # killed or already gone: nothing left to free
        elif self._starting is not None:
            self._kill_manager()  # its start failed part-way
        process = getattr(self._starting, "_process", None)
        if process is not None and process.pid is not None:
            process.join(_SHUTDOWN_DEADLINE_S)  # reap it; SIGKILL ends even a stopped one
            if process.exitcode is not None:
                _remove_socket_folder(getattr(self._starting, "address", None))
        self._starting = None
        # Last: a proxy's finalizer talks to a manager still marked as running.
        self._proxies.clear()


INFO = MechanismInfo(
    name="manager-queue",
    description="a Manager().Queue() proxy: every put/get is a round trip to the manager "
                "process",
    variants=(Variant("default", SHARED),),
    mechanism=ManagerQueueMechanism,
)
