"""SIGINT/SIGTERM during a run: turned into an exception so every `finally` and context
manager (peers, segments, the folder lock) runs, and backed by a watchdog so that a
cleanup stuck in code the harness does not own can never keep the run alive.

The entry point installs the handlers as its first step (cli/__init__.py imports only
this module before it), so a signal at any moment, even while the commands' modules
are still being imported, is one line on stderr and exit 128 + signal (130 / 143); a
signal while the interpreter exits is noted and turned into the same at the very end.
Standard library only at module level: this runs before anything heavy is imported.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


_watchdogs: list[threading.Timer] = []  # armed ones, cancelled by handlers_for_call


def _arm_watchdog(exit_code: int) -> None:
    timer = threading.Timer(SHUTDOWN_GRACE_S, _force_exit, args=(exit_code,))
    timer.daemon = True  # runs even while atexit handlers block the main thread
    timer.start()
    _watchdogs.append(timer)


_installed_in: list[int] = []  # the pid that installed them (a fork must not inherit it)
_exiting: list[bool] = []  # set by begin_exit: from then on a signal is noted, not raised
_late_signal: list[int] = []
_reported: list[bool] = []


def install_signal_handlers() -> None:
    """Once per process (the entry point, then `run` again: the second call is a no-op)."""
    harness_pid = os.getpid()
    if harness_pid in _installed_in:
        return
    _installed_in.append(harness_pid)
    # Registered before multiprocessing registers its own exit hook (it joins the
    # children), so this one runs after it: the very last step of the exit.
    atexit.register(_exit_for_late_signal)
    _set_handlers(harness_pid)


def _set_handlers(harness_pid: int) -> None:
    def handler(signum, frame):
        if os.getpid() != harness_pid:
            return  # a peer forked before it set its own handlers: the harness decides
        if not _pending_signal and not _late_signal:
            _arm_watchdog(128 + signum)  # also bounds an exit that a helper holds up
        if _exiting:  # the command is over: let the exit finish, then say it
            _late_signal.append(signum)
            return
        _pending_signal.append(signum)
        raise Interrupted(signum)

    def unraisable(info, default=sys.unraisablehook):
        # Raised inside a callback that cannot propagate it (e.g. an at-fork hook): keep
        # quiet, check_interrupted raises it again at the next case boundary.
        if not isinstance(info.exc_value, Interrupted) and not _cut_by_the_signal(info):
            default(info)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    sys.unraisablehook = unraisable


def _cut_by_the_signal(info) -> bool:
    """A multiprocessing finalizer whose constructor the interruption cut short, after it
    hooked itself to its object and before it set its key: when the object dies, the
    finalizer fails on the missing key and Python prints "Exception ignored in:
    <Finalize object, dead>" with a traceback under the run's one line (seen once in 10
    runs of a SIGINT 10 ms into a run, beside a noisy neighbour). Its callback never ran;
    what it would have closed, the process's exit closes. Quiet only once a signal is
    pending: any other failure of a finalizer is still printed."""
    if not _pending_signal or not isinstance(info.exc_value, AttributeError):
        return False
    finalize = getattr(sys.modules.get("multiprocessing.util"), "Finalize", None)
    return (finalize is not None and isinstance(info.object, finalize)
            and getattr(info.exc_value, "name", None) == "_key")


def check_interrupted(*_ignored) -> None:
    """Raise again at a case boundary: an exception raised by the handler inside a
    callback that swallows exceptions (e.g. an at-fork hook) must not be lost."""
    if _pending_signal:
        raise Interrupted(_pending_signal[0])


def pending_interrupt() -> Interrupted | None:
    """The interruption a signal raised, if one did (another exception may have taken
    its place on the way up)."""
    return Interrupted(_pending_signal[0]) if _pending_signal else None


def report_interrupt(exc: Interrupted, detail: str = "") -> None:
    """The line saying the run was interrupted (once: a signal while exiting adds none)."""
    _reported.append(True)
    print(f"ipcbench: interrupted by {exc}{detail}", file=sys.stderr)


def begin_exit() -> None:
    """The command returned (or was interrupted): from now on a signal is only noted, so
    neither main's last lines nor the interpreter's own exit (multiprocessing joining
    its helpers, buffers flushed) is cut short by an exception; _exit_for_late_signal
    turns a noted signal into its line and exit code at the very end."""
    _exiting.append(True)  # one step: a signal lands before it (raised) or after (noted)


def _exit_for_late_signal() -> None:
    if os.getpid() not in _installed_in:
        return
    # Ignored from here: the interpreter's last steps restore the default action of
    # signals with a Python handler, which would end the process by the signal
    # (exit -2 / -15) after everything was done and said.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not _late_signal:
        return
    signum = _late_signal[0]
    if not _reported:
        print(f"ipcbench: interrupted by {signal.Signals(signum).name} while exiting",
              file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(128 + signum)  # the exit code a signal promises, even this late


@contextmanager
def handlers_for_call() -> Iterator[None]:
    """The handlers for one run inside a process ipcbench does not own (ipcbench.api):
    installed for the call, the caller's own back afterwards, and nothing left armed. A
    watchdog still pending after the run cleaned up would end the caller's process
    20 s later, and a pending signal would stop its next run at the first case. In a
    process whose entry point installed them (the `ipcbench` command) they stay as
    they are."""
    pid = os.getpid()
    if pid in _installed_in or threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers: elsewhere the caller's stay
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    saved_hook = sys.unraisablehook
    _set_handlers(pid)
    try:
        yield
    finally:
        for signum, previous in saved.items():
            if previous is None:  # set outside Python: Python's own default instead
                previous = (signal.default_int_handler if signum == signal.SIGINT
                            else signal.SIG_DFL)
            signal.signal(signum, previous)
        sys.unraisablehook = saved_hook
        for timer in _watchdogs:
            timer.cancel()
        _watchdogs.clear()
        _pending_signal.clear()
