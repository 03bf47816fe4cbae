"""The host probe of a run: a short raw os.pipe echo either side of every session
(runner.py), against which a drift of the host cancels between runs.

baselines.probe_ns forks a fresh echo child for every probe; on a slow host that fork
and the child's exit were most of a probe's 12 ms, and a quick run takes ~600 probes.
EchoProbe keeps one echo child per placement for the whole run instead: each probe is
then its round trips only. A long-lived echo sees the host as a fresh one does (sampled
ms apart, the two correlated at 0.7 and spread alike on the 2-vCPU VM); the child sleeps
in read() between probes, so it costs the sessions nothing.

Every wait is bounded: a probe whose child stalls (stopped, starved) past
PROBE_DEADLINE_S has the child killed, sees EOF or EPIPE and raises ChildStalled (an
OSError: the runner's session then goes without a probe), and the next probe of that
placement starts a fresh child. close() kills and reaps every child; the harness dying
kills them too (PR_SET_PDEATHSIG), and where that is missing the child ends at EOF.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ipcbench.harness.baselines import (
    PROBE_ROUND_TRIPS,
    PROBE_WARMUP,
    RTT_SIZE_BYTES,
    close_all,
    fork_context,
    read_exact,
    round_trips_ns,
    write_all,
)
from ipcbench.system.affinity import ChildStalled, allowed_cpus, cpus_for_peer, pinned
from ipcbench.system.parent_death import die_with_parent

# A probe takes milliseconds; one that outlasts this is stalled.
PROBE_DEADLINE_S = 10.0
# A kept echo is warm after its first probe (PROBE_WARMUP round trips): later probes
# take KEPT_WARMUP, then KEPT_ROUND_TRIPS. A quick run takes ~1000 probes; at 200 + 50
# round trips they cost 5 s of its 62 s on an AMD EPYC VM (11 us a round trip). Two
# probes back to back agreed as closely at 100 + 10 (ratio p10-p90 0.991-1.010, 150
# pairs) as at 200 + 50 (0.992-1.014), in 1.9 ms instead of 3.5: the host's state,
# not the probe's length, is what moves it.
KEPT_ROUND_TRIPS = 100
KEPT_WARMUP = 10
REAP_S = 5.0


def _echo_until_eof(rfd: int, wfd: int, harness_fds: tuple[int, ...],
                    cpus: tuple[int, ...]) -> None:
    """The child: echo RTT_SIZE_BYTES messages until the harness closes its end (the
    child's copies of the harness's ends closed first, or that EOF would never come)."""
    die_with_parent()
    close_all(harness_fds)
    if cpus:
        os.sched_setaffinity(0, cpus)
    view = memoryview(bytearray(RTT_SIZE_BYTES))
    while True:
        try:
            read_exact(rfd, view)
        except RuntimeError:  # EOF: the run is over
            return
        write_all(wfd, view)


class _Echo:
    """One echo child on `there_cpus` and the harness's ends of its two pipes."""

    def __init__(self, there_cpus: tuple[int, ...]) -> None:
        there, back = os.pipe(), os.pipe()
        self.send_fd, self.reply_fd = there[1], back[0]
        self.child = fork_context().Process(target=_echo_until_eof,
                                     args=(there[0], back[1], (there[1], back[0]),
                                           there_cpus), daemon=True,
                                     name="ipcbench-probe-echo")
        try:
            self.child.start()
        except BaseException:
            close_all((*there, *back))
            raise
        # The child holds its own copies: with ours closed, either side dying gives the
        # other EOF or EPIPE instead of a wait forever.
        close_all((there[0], back[1]))

    def close(self) -> None:
        # Killed, not asked: an echo holds nothing, and a run's end must not wait on it.
        self.child.kill()
        self.child.join(REAP_S)
        self.close_ends()

    def close_ends(self) -> None:
        """Close the harness's ends once (a number closed twice may be another file's by
        then); the child sees EOF."""
        close_all(fd for fd in (self.send_fd, self.reply_fd) if fd >= 0)
        self.send_fd = self.reply_fd = -1


class EchoProbe:
    """probe(placement) -> the median ns of `round_trips` round trips after `warmup`
    (a fresh echo: PROBE_ROUND_TRIPS after PROBE_WARMUP, as baselines.probe_ns; a kept
    one: `kept_round_trips` after `kept_warmup`), with echo children kept for the run.
    A context manager: leaving it ends every child."""

    def __init__(self, round_trips: int = PROBE_ROUND_TRIPS, warmup: int = PROBE_WARMUP,
                 deadline_s: float = PROBE_DEADLINE_S,
                 kept_round_trips: int = KEPT_ROUND_TRIPS,
                 kept_warmup: int = KEPT_WARMUP) -> None:
        self.round_trips, self.warmup, self.deadline_s = round_trips, warmup, deadline_s
        self.kept_round_trips, self.kept_warmup = kept_round_trips, kept_warmup
        self._echoes: dict[str, _Echo] = {}

    def __enter__(self) -> EchoProbe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __call__(self, placement: str) -> float:
        cpus = allowed_cpus()
        echo = self._echoes.get(placement)
        warmup, round_trips = self.kept_warmup, self.kept_round_trips
        if echo is None:
            echo = self._echoes[placement] = _Echo(cpus_for_peer(placement, 1, cpus))
            warmup, round_trips = self.warmup, self.round_trips
        stalled = threading.Event()

        def kill_stalled() -> None:
            stalled.set()
            echo.child.kill()  # SIGKILL also ends a stopped child

        timer = threading.Timer(self.deadline_s, kill_stalled)
        timer.daemon = True
        timer.start()
        try:
            samples = pinned(cpus_for_peer(placement, 0, cpus),
                             lambda: round_trips_ns(echo.send_fd, echo.reply_fd,
                                                    warmup + round_trips))
        except BaseException as exc:
            # Whatever went wrong, this child is not trusted again: the next probe of
            # this placement starts a fresh one.
            self._drop(placement)
            if stalled.is_set() and isinstance(exc, Exception):
                raise ChildStalled(f"probe echo made no progress within "
                                   f"{self.deadline_s:g} s; killed it") from exc
            raise
        finally:
            timer.cancel()
        return float(np.median(samples[warmup:]))

    def _drop(self, placement: str) -> None:
        echo = self._echoes.pop(placement, None)
        if echo is not None:
            echo.close()

    def close(self) -> None:
        for placement in list(self._echoes):
            self._drop(placement)
