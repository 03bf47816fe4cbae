"""The hidden `fake` mechanism of the project's own tests: an in-process fake session and
an injected clock, so the runner's logic is tested without processes or real timings.

conftest.py registers INFO for the test process (mechanisms.register); the runner starts
the session a mechanism's record names (mechanisms.session_class), so no harness code
branches on the fake, and the CLI never offers it (it is hidden). Each "transfer" copies
the payload once and reads the clock twice, so with a FakeClock every sample is known
exactly in advance."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

import numpy as np

from ipcbench.core.faults import Fault
from ipcbench.core.patterns import COUNTER
from ipcbench.core.schema import Case
from ipcbench.mechanisms.base import PeerFailed, RepeatOutcome, Workload
from ipcbench.mechanisms.info import SHARED, MechanismInfo, Variant
from ipcbench.payload.spec import PayloadMismatch, PayloadSpec, verify


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

    cpu_s_per_repeat = 0.0  # what the peers' CPU would be (the interference tests set it)

    def __init__(
        self,
        case: Case,
        workload: Workload,
        seed: int = 0,
        fault: Fault | None = None,
        clock: Callable[[], int] = time.perf_counter_ns,
        corrupt: bool = False,
    ) -> None:
        self.case = case
        self.workload = workload
        self.clock = clock
        self.payload = PayloadSpec(case.size_bytes, seed)
        self.corrupt = corrupt or (fault is not None and fault.kind == "corrupt")
        self.started = self.closed = False
        self.repeat_messages: list[int] = []  # each repeat's messages per peer, in order

    def __enter__(self) -> FakeSession:
        self.started = True
        self._data = self.payload.raw()
        self._checksum = zlib.crc32(self._data)
        return self

    def __exit__(self, *exc) -> None:
        self.closed = True

    def run_repeat(self, index: int, messages: int | None = None) -> RepeatOutcome:
        # As the real session: pingpong = procs pairs, stream = procs producers, counter =
        # procs incrementers, each doing workload.messages (or `messages`) per repeat.
        each = self.workload.messages if messages is None else messages
        self.repeat_messages.append(each)
        count = each * self.case.procs
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
        cpu_s = self.cpu_s_per_repeat
        if self.case.kind.round_trip:
            return RepeatOutcome(samples, count, duration_ns, cpu_s=cpu_s)
        return RepeatOutcome(np.array([duration_ns / count]), count, duration_ns, cpu_s=cpu_s)


INFO = MechanismInfo(
    name="fake",
    description="in-process fake with an injected clock, for the project's own tests",
    variants=(Variant("ideal", (*SHARED, COUNTER.name)),),
    session=FakeSession,
    hidden=True,
)
