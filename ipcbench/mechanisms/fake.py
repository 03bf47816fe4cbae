"""An in-process fake with an injected clock: the runner's logic, tested without
processes or real timings. Each "transfer" copies the payload once and reads the
clock twice, so with a FakeClock every sample is known exactly in advance."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

import numpy as np

from ipcbench.cases import Case
from ipcbench.payload import PayloadMismatch, PayloadSpec, verify
from ipcbench.session import PeerFailed, RepeatOutcome, Workload


class FakeClock:
    """Returns start, start + step, start + 2*step, ... (nanoseconds)."""

    def __init__(self, step_ns: int = 1000, start_ns: int = 0) -> None:
        self.step_ns = step_ns
        self.now_ns = start_ns

    def __call__(self) -> int:
        value = self.now_ns
        self.now_ns += self.step_ns
        return value


class FakeSession:
    """Same interface as CaseSession (context manager + run_repeat), no processes."""

    def __init__(
        self,
        case: Case,
        workload: Workload,
        seed: int = 0,
        clock: Callable[[], int] = time.perf_counter_ns,
        corrupt: bool = False,
    ) -> None:
        self.case = case
        self.workload = workload
        self.clock = clock
        self.payload = PayloadSpec(case.size_bytes, seed)
        self.corrupt = corrupt
        self.started = self.closed = False

    def __enter__(self) -> FakeSession:
        self.started = True
        self._data = self.payload.raw()
        self._checksum = zlib.crc32(self._data)
        return self

    def __exit__(self, *exc) -> None:
        self.closed = True

    def run_repeat(self, index: int) -> RepeatOutcome:
        # As the real session: pingpong = procs pairs, stream = procs producers, counter =
        # procs incrementers, each doing workload.messages per repeat.
        count = self.workload.messages * self.case.procs
        samples = np.empty(count, dtype=np.int64)
        received = b""
        for i in range(count):
            start = self.clock()
            received = bytes(self._data) if not self.corrupt else self._data[:-1] + b"\0"
            samples[i] = self.clock() - start
        try:
            verify(received, self.case.size_bytes, self._checksum, "fake receiver")
        except PayloadMismatch as exc:
            raise PeerFailed(f"peer fake raised PayloadMismatch: {exc}") from None
        duration_ns = int(samples.sum())
        if self.case.pattern == "pingpong":
            return RepeatOutcome(samples, count, duration_ns)
        return RepeatOutcome(np.array([duration_ns / count]), count, duration_ns)


MECHANISM = None  # the fake has no process-side Mechanism; runner.session_for uses FakeSession
