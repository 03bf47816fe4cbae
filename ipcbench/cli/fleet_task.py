"""What `ipcbench fleet` runs on each node, as a streaming Ray task pinned to it: one
ordinary `ipcbench run` (a child process, in a temp folder of that node), bounded by a
timeout; the rows it writes are streamed back as they come, and its whole result set
at the end, as bytes for the driver to write.

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
# The files streamed while the run goes on (appended row by row), and how often: rows a
# node finished are on the driver's disk even if the node dies later.
STREAMED = ("results.csv", "sessions.csv")
STREAM_EVERY_S = 5.0


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


def measure_on_node(run_argv: list[str], timeout_s: float, every_s: float = STREAM_EVERY_S):
    """Run `ipcbench run RUN_ARGV --out <temp>` here. A generator (a streaming Ray task):
    while the run goes on, every `every_s` the lines its CSVs gained, {"append": {name:
    bytes}} (whole lines only: rows are written whole, so these are whole rows); at the
    end {"final": {...}}: every file, the exit code, stderr's tail. Past timeout_s the
    run's whole process group is killed (its peers with it)."""
    began = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="ipcbench-fleet-")
    out = os.path.join(scratch, "run")
    argv = [sys.executable, "-c", _LAUNCH, str(os.getpid()), "run", *run_argv, "--out", out,
            "--no-progress", "--no-charts"]
    timed_out = False
    sent = dict.fromkeys(STREAMED, 0)
    try:
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 start_new_session=True)
        while True:
            try:
                _, stderr = child.communicate(timeout=every_s)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - began > timeout_s:
                    timed_out = True
                    _kill_group(child.pid)
                    _, stderr = child.communicate()
                    break
            grown = _new_lines(out, sent)
            if grown:
                yield {"append": grown}
        files = {}
        for name in RESULT_FILES:
            path = os.path.join(out, name)
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    files[name] = handle.read()
        yield {"final": {"exit_code": child.returncode, "timed_out": timed_out,
                         "stderr_tail": stderr[-STDERR_TAIL_BYTES:].decode("utf-8", "replace"),
                         "files": files, "hostname": socket.gethostname(),
                         "seconds": time.monotonic() - began}}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _new_lines(out: str, sent: dict) -> dict:
    """The whole lines each streamed file gained since `sent` (offsets, updated)."""
    grown = {}
    for name in STREAMED:
        try:
            with open(os.path.join(out, name), "rb") as handle:
                handle.seek(sent[name])
                data = handle.read()
        except OSError:
            continue
        data = data[: data.rfind(b"\n") + 1]
        if data:
            grown[name] = data
            sent[name] += len(data)
    return grown


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
