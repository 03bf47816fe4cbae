"""SIGINT/SIGTERM during a run: turned into an exception so every `finally` and context
manager (peers, segments, the folder lock) runs, and backed by a watchdog so that a
cleanup stuck in code the harness does not own can never keep the run alive.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

# After the first signal, the run has this long to clean up before the watchdog kills
# every process it started and exits: SIGTERM always ends a run.
SHUTDOWN_GRACE_S = 20.0


class Interrupted(BaseException):
    """SIGINT/SIGTERM turned into an exception, so every `finally` and context manager
    (peers, segments) runs; SIGTERM's default handler would skip them all."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


_pending_signal: list[int] = []


def _force_exit(exit_code: int) -> None:
    """The watchdog: the cleanup overran its grace period (e.g. a wait inside a library
    swallowed the interruption). Kill what this run started, then leave at once."""
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        try:
            child.kill()  # SIGKILL also ends a stopped child
        except psutil.Error:
            pass
    psutil.wait_procs(children, timeout=2.0)
    print(f"ipcbench: cleanup took over {SHUTDOWN_GRACE_S:.0f}s after the signal; "
          "killed the run's processes", file=sys.stderr)
    os._exit(exit_code)


def _arm_watchdog(exit_code: int) -> None:
    timer = threading.Timer(SHUTDOWN_GRACE_S, _force_exit, args=(exit_code,))
    timer.daemon = True  # runs even while atexit handlers block the main thread
    timer.start()


def install_signal_handlers() -> None:
    harness_pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != harness_pid:
            return  # a peer forked before it set its own handlers: the harness decides
        if not _pending_signal:
            _arm_watchdog(128 + signum)
        _pending_signal.append(signum)
        raise Interrupted(signum)

    def unraisable(info, default=sys.unraisablehook):
        # Raised inside a callback that cannot propagate it (e.g. an at-fork hook): keep
        # quiet, check_interrupted raises it again at the next case boundary.
        if not isinstance(info.exc_value, Interrupted):
            default(info)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    sys.unraisablehook = unraisable


def check_interrupted(*_ignored) -> None:
    """Raise again at a case boundary: an exception raised by the handler inside a
    callback that swallows exceptions (e.g. an at-fork hook) must not be lost."""
    if _pending_signal:
        raise Interrupted(_pending_signal[0])
