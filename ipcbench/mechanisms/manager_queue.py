"""A queue served by a multiprocessing Manager: peers hold proxies, and every put() and
get() is a request/response round trip over a socket to the manager's server process
(which holds a queue.Queue). The manager process is part of the case: it is started
with the case's context and shut down in close()."""

from __future__ import annotations

import signal
import sys
from multiprocessing.managers import SyncManager

from ipcbench.mechanisms.base import PutGetEndpoint, QueueMechanism


def _server_setup() -> None:
    """Runs in the manager process. Ctrl-C reaches the whole process group: the harness
    decides when the manager stops (as it does for peers), and on Linux the manager
    dies with its parent instead of outliving a SIGKILLed harness."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass


class ProxyQueueEndpoint(PutGetEndpoint):
    """put/get on manager proxies: each call is a round trip to the manager process."""


class ManagerQueueMechanism(QueueMechanism):
    endpoint_class = ProxyQueueEndpoint

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._manager: SyncManager | None = None
        self._proxies = []

    def _queue(self):
        if self._manager is None:
            # ctx.Manager() without an initializer hook; this is the same thing plus one.
            manager = SyncManager(ctx=self.ctx)
            manager.start(initializer=_server_setup)
            # Kept only once started: shutdown() exists only on a started manager.
            self._manager = manager
        q = self._manager.Queue()
        # The parent's proxies keep the queues alive on the server until peers hold theirs.
        self._proxies.append(q)
        return q

    def close(self) -> None:
        self._proxies.clear()
        if self._manager is not None:
            # Joins the server process (terminating it after a grace period).
            self._manager.shutdown()
            self._manager = None


MECHANISM = ManagerQueueMechanism
