"""SIGINT/SIGTERM in the first moments of `ipcbench run` (while the commands' modules
are still being imported, the run folder is claimed, the baselines run): one line on
stderr, exit 130/143, no traceback, no process and no /dev/shm segment left behind.

The moments count from when the interpreter has imported the `ipcbench` package (seen
on stderr through `-X importtime`): before ipcbench's first line runs, the
interpreter's own start-up decides, which no code of ipcbench can change, and the
start-up of a loaded machine varies too much for a fixed moment to land after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from process_groups import assert_group_gone

TINY_RUN = ["run", "-m", "pipe", "-p", "pingpong", "-s", "64", "-n", "1", "--variant", "bytes",
            "--payload", "bytes", "--placement", "unpinned", "--sessions", "1", "--repeats", "1",
            "--warmup", "0", "--no-charts", "--no-progress"]
# Seconds after the package is imported: the command modules take ~0.2 s to import
# (0.05 lands there), then the plan and the run folder, then the baselines (0.5).
MOMENTS_S = (0.05, 0.1, 0.2, 0.5)
_IMPORT_TIME = "import time:"


class _Stderr(threading.Thread):
    """Reads the child's stderr as it comes; `imported` is set once the interpreter has
    imported the ipcbench package (its `-X importtime` line)."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream, self.lines, self.imported = stream, [], threading.Event()
        self.start()

    def run(self) -> None:
        for line in self.stream:
            if line.startswith(_IMPORT_TIME):
                if line.rstrip().endswith("| ipcbench"):
                    self.imported.set()
            else:
                self.lines.append(line.rstrip("\n"))


@pytest.mark.parametrize("moment_s", MOMENTS_S)
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_an_early_signal_is_one_line_and_its_exit_code(tmp_path, signum, code, moment_s):
    # A session of its own: Ctrl-C reaches the whole foreground group, so SIGINT goes
    # to the group; SIGTERM (kill, a service manager) usually to the harness alone.
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "ipcbench", *TINY_RUN,
                             "--out", str(tmp_path / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    stderr = _Stderr(proc.stderr)
    try:
        assert stderr.imported.wait(30), "the ipcbench package was not imported within 30 s"
        time.sleep(moment_s)  # choosing the moment of the signal, not waiting out a race
        assert proc.poll() is None, f"the run ended before the signal: {stderr.lines}"
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        proc.wait(timeout=60)
        stderr.join(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = "\n".join(stderr.lines)
    assert proc.returncode == code, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    # Every line is ipcbench's own (a warning about a busy machine may come first), and
    # one says the run was interrupted (then, once the run folder holds a run, the
    # command that finishes it).
    assert all(line.startswith("ipcbench: ") for line in stderr.lines), text
    said = [line for line in stderr.lines if line.startswith("ipcbench: interrupted by ")]
    assert len(said) == 1 and said[0].startswith(
        f"ipcbench: interrupted by {signal.Signals(signum).name}"), text
    assert_group_gone(proc.pid)
    assert not [s for s in os.listdir("/dev/shm") if s.startswith(f"ipcb_{proc.pid}_")]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_once_the_command_is_over_lets_the_exit_finish_then_says_it(signum, code):
    # Sent to itself after begin_exit (main's last step): the exit's own work (here a
    # line printed by a later atexit hook) is not cut short, and the code says the signal.
    script = ("import atexit, os, signal; from ipcbench.cli import signals; "
              "signals.install_signal_handlers(); "
              "atexit.register(lambda: print('exit work done', flush=True)); "
              f"signals.begin_exit(); os.kill(os.getpid(), {int(signum)}); print('after')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == code, done.stderr
    assert done.stdout.splitlines() == ["after", "exit work done"]
    assert done.stderr.splitlines() == [
        f"ipcbench: interrupted by {signal.Signals(signum).name} while exiting"]


def test_main_called_with_arguments_keeps_the_callers_handlers(capsys):
    from ipcbench.cli import main

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["list"]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


_CUT_FINALIZER = """
import sys, weakref
from multiprocessing.util import Finalize
from ipcbench.cli import signals

signals.install_signal_handlers()
if sys.argv[1] == "pending":
    signals._pending_signal.append(2)

class Resource:
    pass

resource = Resource()
# A finalizer whose constructor was cut between hooking itself to its object and
# setting its key, as a signal can cut it.
cut = Finalize.__new__(Finalize)
cut._weakref = weakref.ref(resource, cut)
del resource
print("exited")
"""


@pytest.mark.parametrize(("state", "quiet"), [("pending", True), ("no-signal", False)])
def test_a_finalizer_the_signal_cut_short_prints_no_traceback(state, quiet):
    """Only while a signal is pending: any other failing finalizer is still printed."""
    done = subprocess.run([sys.executable, "-c", _CUT_FINALIZER, state], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.stdout == "exited\n"
    assert ("Traceback" not in done.stderr) is quiet, done.stderr
    assert ("_key" in done.stderr) is not quiet
