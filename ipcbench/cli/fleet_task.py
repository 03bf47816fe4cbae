"""What `ipcbench fleet` runs on each node, as a Ray task pinned to it: one ordinary
`ipcbench run` (a child process, in a temp folder of that node), bounded by a
timeout, and its result set read back as bytes for the driver to write.

Standard library only, and nothing ipcbench at import time: Ray imports this module
in a worker of every node. The measuring is `ipcbench run`'s own, so a node's figures
are what that node's `ipcbench run` would have given (its own CPUs, its own baselines,
its own machine.json).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# The files of a run folder a result set is made of (charts are drawn where they are read).
RESULT_FILES = ("results.csv", "sessions.csv", "machine.json", "manifest.json")
# Bytes of the run's stderr sent back with a failure (its last lines say why).
STDERR_TAIL_BYTES = 4000


# `python -m ipcbench` with a parent-death signal: a task Ray cancels (its worker killed)
# must not leave the run measuring on the node. SIGTERM, so the run ends cleanly (its
# handler, its peers' own guards); checked against the parent it was started by, in
# case that one died before the guard was set.
_LAUNCH = (
    "import ctypes, os, runpy, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(143)\n"
    "sys.argv = ['ipcbench', *sys.argv[2:]]\n"
    "runpy.run_module('ipcbench', run_name='__main__', alter_sys=True)\n"
)


def measure_on_node(run_argv: list[str], timeout_s: float) -> dict:
    """Run `ipcbench run RUN_ARGV --out <temp>` here; its files, exit code and stderr's
    tail. Past timeout_s the run's whole process group is killed (its peers with it)."""
    began = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="ipcbench-fleet-")
    out = os.path.join(scratch, "run")
    argv = [sys.executable, "-c", _LAUNCH, str(os.getpid()), "run", *run_argv, "--out", out,
            "--no-progress", "--no-charts"]
    timed_out = False
    try:
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 start_new_session=True)
        try:
            _, stderr = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(child.pid)
            _, stderr = child.communicate()
        files = {}
        for name in RESULT_FILES:
            path = os.path.join(out, name)
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    files[name] = handle.read()
        return {"exit_code": child.returncode, "timed_out": timed_out,
                "stderr_tail": stderr[-STDERR_TAIL_BYTES:].decode("utf-8", "replace"),
                "files": files, "hostname": socket.gethostname(),
                "seconds": time.monotonic() - began}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
