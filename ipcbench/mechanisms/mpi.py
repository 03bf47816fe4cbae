"""MPI through mpi4py (optional extra `ipcbench[mpi]`: mpi4py and the `mpich` package,
whose own mpiexec starts the ranks; a system MPI is never looked for).

MPI ranks do not fit the fork-a-peer model: `mpiexec` starts them. So this mechanism
brings its own session (INFO.session): it listens on a unix socket in a private temp
folder, starts `mpiexec -n N python -m ipcbench.peer.mpi_rank SPEC` in a process group
of its own, and rank 0 connects back (authenticated by a random per-case key). The
rules of every other peer hold:
- handshake before the clock: every rank pins itself, builds its buffers and passes a
  barrier before rank 0 says ready; the start is bounded by the start deadline;
- every wait is bounded and watches mpiexec's exit (a pidfd) beside rank 0's socket: a
  rank that dies makes mpiexec take the others down and exit, and the case fails with
  mpiexec's last words;
- no rank outlives its session: close() asks rank 0 to stop, waits (bounded), then
  SIGKILLs mpiexec's process group and every process of the job it saw start (hydra
  puts its proxy and each rank in a process group of their own, so the group alone is
  not enough). mpiexec dies with the harness (a parent-death signal), its proxy then
  ends the ranks; ranks carry a parent-death signal of their own, and rank 0 aborts
  the job when the harness's socket closes.

Variants (peer/mpi_rank.py): `buffer` = Send/Recv of a numpy buffer, `pickle` =
send/recv of a bytes object, `window` = a shared-memory window (Win.Allocate_shared)
with a zero-byte message saying a message is there. MPICH's progress engine busy-polls
a blocking receive, so every variant counts as busy-polling: it runs with every rank on
a CPU of its own (cross-core and the topology placements), never oversubscribed.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from multiprocessing.connection import Listener, wait
from pathlib import Path

import numpy as np
import psutil

from ipcbench.core.faults import Fault
from ipcbench.core.patterns import PINGPONG, STREAM
from ipcbench.core.schema import Case
from ipcbench.mechanisms.base import PeerFailed, RepeatOutcome, Workload
from ipcbench.mechanisms.info import MechanismInfo, Variant
from ipcbench.system import hygiene
from ipcbench.system.affinity import allowed_cpus, cpus_for_peer
from ipcbench.system.deadlines import (
    CaseTimeout,
    call_within,
    kill_group,
    kill_processes,
    seconds_text,
)

STOP_S = 5.0  # bound on a polite stop before the process group is killed
KEY_ENV = "IPCBENCH_MPI_KEY"  # as peer/mpi_rank.py reads them
ADDRESS_ENV = "IPCBENCH_MPI_ADDRESS"
# Faults the ranks can play (the project's tests): which rank plays a role's peer #0.
_serial = itertools.count()
_FAULT_RANKS = {"pong": 1, "ping": 0, "producer": 1, "consumer": 0}


def mpiexec_path() -> str:
    """The mpiexec installed beside this Python (the mpich package's), or ""."""
    found = Path(sys.executable).with_name("mpiexec")
    return str(found) if found.exists() else ""


def _parent_death_guard() -> None:
    """In the forked child, before exec: SIGKILL mpiexec when the harness dies (a
    parent-death signal survives exec), so its proxy ends and takes the ranks with it."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _mapped_segments(ranks: list[psutil.Process]) -> list[str]:
    """The /dev/shm files MPICH made for these ranks (as their memory maps name them,
    still linked): a job that is killed or aborts leaves them behind, 2 MB each, so
    close() removes them. Read from the ranks' own maps, never guessed by name, so
    another MPI job's segments are never touched."""
    found = set()
    for rank in ranks:
        try:
            with open(f"/proc/{rank.pid}/maps") as maps:
                for line in maps:
                    path = line.split(None, 5)[-1].strip() if line.count(" ") >= 5 else ""
                    if path.startswith("/dev/shm/mpich_shm_") and not path.endswith(
                            "(deleted)"):
                        found.add(path)
        except OSError:
            continue
    return sorted(found)


def _is_rank(process: psutil.Process) -> bool:
    try:
        return "ipcbench.peer.mpi_rank" in process.cmdline()
    except psutil.Error:
        return False


def limit_reason(case: Case) -> str:
    if case.kind not in (PINGPONG, STREAM):  # fanout comes with every stream variant
        return f"mpi ranks here run ping-pong and stream only, not {case.pattern}"
    if case.rate_per_s:
        return "mpi ranks keep no sender schedule (--rate); measured closed-loop only"
    if not mpiexec_path():
        return ("mpi needs the mpiexec of the mpich package beside this Python "
                "(pip install 'ipcbench[mpi]'); a system MPI is not used")
    return ""


def ranks_for(case: Case) -> int:
    return case.kind.peers(case.procs)


class MpiSession:
    """The ranks of one session of a case (see the module doc)."""

    def __init__(self, case: Case, workload: Workload, seed: int = 0,
                 fault: Fault | None = None) -> None:
        self.case = case
        self.workload = workload
        self.seed = seed
        self.fault = fault
        self.process: subprocess.Popen | None = None
        self.conn = None
        self._pidfd = -1
        self._tempdir = ""
        self._log = None
        # mpiexec's proxy and the ranks, once rank 0 said ready: killed in close()
        # even if mpiexec is gone by then (they are no longer its children). The
        # runner reads the ranks' run delay from this list too.
        self.processes: list[psutil.Process] = []
        self._tree: list[psutil.Process] = []  # every process of the job seen
        self._segments: list[str] = []  # /dev/shm files the ranks had mapped

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> MpiSession:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spec(self) -> str:
        case, cpus = self.case, allowed_cpus()
        ranks = ranks_for(case)
        per_rank = [list(cpus_for_peer(case.placement, r, cpus)) for r in range(ranks)]
        fault_rank = -1
        if self.fault is not None:
            fault_rank = _FAULT_RANKS.get(self.fault.role, -1)
        return json.dumps({
            "pattern": case.pattern, "variant": case.variant, "size_bytes": case.size_bytes,
            "procs": case.procs, "seed": self.seed, "cpus": per_rank,
            "fault": self.fault.kind if self.fault else "", "fault_rank": fault_rank,
        })

    def _start(self) -> None:
        # Named like every entry of this run, so `ipcbench clean` can tell a dead run's.
        prefix = f"{hygiene.run_prefix()}{next(_serial)}_mpi"
        self._tempdir = tempfile.mkdtemp(prefix=prefix, dir=hygiene.temp_root(len(prefix) + 16))
        address = os.path.join(self._tempdir, "s")
        key = secrets.token_bytes(16)
        listener = Listener(address, family="AF_UNIX", authkey=key)
        self._log = open(os.path.join(self._tempdir, "mpiexec.log"), "w+b")  # noqa: SIM115
        env = dict(os.environ, **{KEY_ENV: key.hex(), ADDRESS_ENV: address})
        command = [mpiexec_path(), "-n", str(ranks_for(self.case)), sys.executable, "-m",
                   "ipcbench.peer.mpi_rank", self._spec()]
        try:
            # A session of its own, so no signal meant for the harness's group reaches
            # it; hydra gives its proxy and each rank a group of their own, so close()
            # kills the processes it saw, not only this group.
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                            stdout=self._log, stderr=subprocess.STDOUT,
                                            start_new_session=True,
                                            preexec_fn=_parent_death_guard)
            self._pidfd = os.pidfd_open(self.process.pid)
            deadline_s = self.workload.start_deadline_s
            self.conn = self._accept(listener, deadline_s)
        finally:
            listener.close()
        reply = self._receive(deadline_s, "ready")
        try:
            self._tree = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            self._tree = []
        self.processes = [p for p in self._tree if _is_rank(p)]
        self._segments = _mapped_segments(self.processes)
        if reply[0] != "ready":
            raise PeerFailed(f"mpi rank 0 said {reply[0]!r} instead of ready")

    def _accept(self, listener: Listener, deadline_s: float):
        """Listener.accept() has no timeout: wait for the socket to be readable (or
        mpiexec to end) first, so a job that never connects ends the case in time."""
        sock = listener._listener._socket
        ready = wait([sock, self._pidfd], deadline_s)
        if sock not in ready:
            self._raise_ended(f"waiting for rank 0 to connect ({seconds_text(deadline_s)})")
        # The key's challenge and answer: bounded too (a rank 0 stopped half-way).
        return call_within(listener.accept, deadline_s, "rank 0's handshake", self._kill_job)

    def _kill_job(self) -> None:
        try:
            job = psutil.Process(self.process.pid)
            kill_processes([*job.children(recursive=True), job], STOP_S)
        except psutil.Error:
            pass

    def _receive(self, deadline_s: float, what: str):
        ready = wait([self.conn, self._pidfd], deadline_s)
        if self.conn in ready:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                self._raise_ended(what)
            if message[0] == "error":
                raise PeerFailed(f"mpi rank 0: {message[1]}")
            return message
        self._raise_ended(f"waiting for {what} ({seconds_text(deadline_s)})")

    def _raise_ended(self, what: str):
        """mpiexec ended (a rank died or failed): PeerFailed with its last words; or it
        still runs and the deadline passed: CaseTimeout."""
        if self.process.poll() is None:
            try:
                self.process.wait(1.0)  # it may be taking the other ranks down
            except subprocess.TimeoutExpired:
                raise CaseTimeout(f"deadline passed {what}: the mpi ranks are silent") from None
        raise PeerFailed(f"mpiexec exited with code {self.process.returncode} {what}: "
                         f"{self._last_words()}")

    def _last_words(self) -> str:
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read().decode(errors="replace")
                 .splitlines() if line.strip() and not set(line.strip()) <= set("=")]
        return " | ".join(lines[-3:])[-400:] or "no output"

    def close(self) -> None:
        """Bounded: a polite stop, then SIGKILL to the whole process group (mpiexec, its
        proxy, every rank), then reap mpiexec. Nothing of the job outlives this."""
        if self.conn is not None:
            try:
                self.conn.send(("stop",))
            except OSError:
                pass
        if self.process is not None:
            try:
                self.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                pass
            try:  # seen now too: a job killed before rank 0 said ready
                self._tree += psutil.Process(self.process.pid).children(recursive=True)
            except psutil.Error:
                pass
            kill_group(self.process.pid)  # leftovers of the group
            self.process.wait()
            self.process = None
        kill_processes(self._tree, STOP_S)  # a gone one is skipped
        self._tree, self.processes = [], []
        for path in self._segments:  # MPICH unlinks them at MPI_Finalize, not at abort
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self._segments = []
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = ""

    # -- one repeat ------------------------------------------------------------------------
    def run_repeat(self, index: int, messages: int | None = None) -> RepeatOutcome:
        messages = self.workload.messages if messages is None else messages  # short: warm-up
        try:
            self.conn.send(("go", index, messages))
        except OSError:
            self._raise_ended("when a repeat was to start")
        _, results, cpu_s = self._receive(self.workload.repeat_deadline_s, "a repeat")
        arrays = {rank: np.frombuffer(raw, dtype=np.int64) for rank, raw in results}
        if self.case.kind is PINGPONG:
            timing = [arrays[r] for r in sorted(arrays) if r % 2 == 0]
            samples = np.concatenate(timing)
            if samples.size != messages * self.case.procs:
                raise PeerFailed(f"mpi pings timed {samples.size} round trips, expected "
                                 f"{messages * self.case.procs}")
            return RepeatOutcome(samples, int(samples.size), int(max(t.sum() for t in timing)),
                                 cpu_s=float(cpu_s))
        total = messages * self.case.procs
        duration_ns = int(arrays[0][0])
        return RepeatOutcome(np.array([duration_ns / total]), total, duration_ns,
                             cpu_s=float(cpu_s))


_PATTERNS = (PINGPONG.name, STREAM.name)

INFO = MechanismInfo(
    name="mpi",
    description="mpi4py over the mpich package's mpiexec (optional; ranks busy-poll): "
                "'buffer' = Send/Recv of a numpy buffer, 'pickle' = send/recv of a bytes "
                "object, 'window' = a shared-memory window (Win.Allocate_shared) and a "
                "zero-byte message; pingpong between ranks 2i and 2i+1, stream into rank 0",
    variants=tuple(Variant(name, _PATTERNS, busy_polls=True)
                   for name in ("buffer", "pickle", "window")),
    session=MpiSession,
    requires="mpi4py",
    payloads=("bytes",),
    why_not={"fanout": "mpi ranks here run ping-pong and stream only",
             "workqueue": "mpi ranks here run ping-pong and stream only",
             "counter": "mpi ranks here run ping-pong and stream only"},
    limit_reason=limit_reason,
)
