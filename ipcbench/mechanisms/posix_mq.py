"""POSIX message queues (mq_open / mq_send / mq_receive) through the posix_ipc package
(optional extra `ipcbench[posix-mq]`).

A queue carries whole messages (no framing, no partial reads) and takes several writers:
a pingpong pair is two queues, a stream one queue shared by every producer (the kernel
keeps each message whole), a fanout one queue per consumer. Each queue holds up to
`depth` messages (RING_SLOTS, or fs.mqueue.msg_max if lower) of exactly the wire size,
so a sender runs up to that many messages ahead, like the `ring8` slot mechanisms.
mq_receive copies each message into a new bytes object: the receiver's own memory.

Limits (Linux): a message may not exceed /proc/sys/fs/mqueue/msgsize_max (8 KiB by
default), a queue may not hold more than msg_max messages, and all queues of a user share
RLIMIT_MSGQUEUE bytes (800 KiB by default; `ulimit -q`), counted as depth x (message +
the kernel's bookkeeping) per queue. Cases beyond them are skipped rows naming the limit
(limit_reason), decided before any process starts.

Hygiene: the parent creates every queue (named with the case's prefix, so it is
run-specific) and unlinks it after every peer ended; peers open them by name in
attach(). Each queue has a marker file in /dev/shm (hygiene.mark_queue), so the start-up
sweep and `ipcbench clean` unlink the queues of a killed run.
"""

from __future__ import annotations

import errno
import resource
from dataclasses import dataclass
from pathlib import Path

from ipcbench.core import patterns
from ipcbench.core.schema import Case
from ipcbench.core.sizes import format_size
from ipcbench.mechanisms.base import RING_SLOTS, Endpoint, QueueMechanism
from ipcbench.mechanisms.info import SHARED, MechanismInfo, Variant
from ipcbench.payload.spec import PayloadSpec
from ipcbench.system import hygiene

LIMITS_DIR = Path("/proc/sys/fs/mqueue")
# What the kernel charges against RLIMIT_MSGQUEUE per message beyond its bytes (a struct
# msg_msg and a priority-tree node, 96 bytes on x86-64; rounded up to stay on the safe
# side: a case planned to fit must not fail on a few bytes).
MESSAGE_OVERHEAD_BYTES = 128


@dataclass(frozen=True)
class MqLimits:
    msgsize_max: int  # largest message, bytes
    msg_max: int  # most messages a queue may hold
    queues_max: int  # queues on the system
    rlimit_bytes: int  # this user's RLIMIT_MSGQUEUE (soft), -1 = unlimited

    @property
    def depth(self) -> int:
        """Messages each queue holds."""
        return max(1, min(RING_SLOTS, self.msg_max))


def _read_int(name: str, default: int) -> int:
    try:
        return int((LIMITS_DIR / name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def read_limits() -> MqLimits:
    """This machine's limits (the kernel's defaults where /proc does not say)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
    return MqLimits(
        msgsize_max=_read_int("msgsize_max", 8192),
        msg_max=_read_int("msg_max", 10),
        queues_max=_read_int("queues_max", 256),
        rlimit_bytes=-1 if soft == resource.RLIM_INFINITY else soft,
    )


def queues_for(case: Case) -> int:
    """Queues one session of the case opens (see the module doc)."""
    if case.kind is patterns.STREAM:
        return 1
    if case.kind is patterns.REQREP:  # one request queue, one reply queue per client
        return 1 + case.procs
    return case.kind.channels(case.procs)


def queue_bytes(limits: MqLimits, message_bytes: int, depth: int = 0) -> int:
    """What one queue of `depth` messages (0: the default) counts against
    RLIMIT_MSGQUEUE."""
    return (depth or limits.depth) * (message_bytes + MESSAGE_OVERHEAD_BYTES)


def limit_reason(case: Case, limits: MqLimits | None = None) -> str:
    """Why the system's message-queue limits rule this case out ("" when they do not)."""
    limits = limits or read_limits()
    message = PayloadSpec(case.size_bytes, kind=case.payload).wire_bytes
    if message > limits.msgsize_max:
        # Not naming the size (the row has it): one line for every size in a summary.
        return ("posix-mq: the message exceeds the system's largest, "
                f"/proc/sys/fs/mqueue/msgsize_max = {limits.msgsize_max} bytes")
    if case.depth > limits.msg_max:
        return (f"posix-mq: a depth of {case.depth} exceeds /proc/sys/fs/mqueue/msg_max = "
                f"{limits.msg_max}")
    queues = queues_for(case)
    if queues > limits.queues_max:
        return (f"posix-mq: {queues} queues exceed /proc/sys/fs/mqueue/queues_max = "
                f"{limits.queues_max}")
    need = queues * queue_bytes(limits, message, case.depth)
    if 0 <= limits.rlimit_bytes < need:
        depth = case.depth or limits.depth
        return (f"posix-mq: {queues} queue(s) of {depth} x {format_size(message)} "
                f"need about {need} bytes, above RLIMIT_MSGQUEUE = {limits.rlimit_bytes} "
                "bytes (ulimit -q)")
    return ""


class MqEndpoint(Endpoint):
    """Sends to the queue named `outbox`, receives from `inbox` (either may be None).
    Only names travel to peers; each opens its queues in attach()."""

    def __init__(self, outbox: str | None, inbox: str | None) -> None:
        self.outbox = outbox
        self.inbox = inbox
        self._out = self._in = None

    def attach(self) -> None:
        import posix_ipc

        if self.outbox:
            self._out = posix_ipc.MessageQueue(self.outbox, read=False)
        if self.inbox:
            self._in = posix_ipc.MessageQueue(self.inbox, write=False)

    def send(self, payload) -> None:
        self._out.send(payload)  # blocks while the queue is full

    def recv(self) -> bytes:
        message, _priority = self._in.receive()  # a new bytes object: ours
        return message

    def close(self) -> None:
        for queue in (self._out, self._in):
            if queue is not None:
                queue.close()
        self._out = self._in = None


class PosixMqMechanism(QueueMechanism):
    endpoint_class = MqEndpoint

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits = read_limits()
        self._names: list[str] = []

    def _queue(self) -> str:
        import posix_ipc

        name = f"{self.name_prefix}mq{len(self._names)}"
        hygiene.mark_queue(name)  # first: from here on a sweep can find the queue
        self._names.append(name)
        try:
            queue = posix_ipc.MessageQueue(
                f"/{name}", posix_ipc.O_CREX, mode=0o600,
                max_messages=self.depth or self.limits.depth,
                max_message_size=self.size_bytes)
        except OSError as exc:
            if exc.errno == errno.EMFILE or "maximum number of files" in str(exc):
                raise OSError(
                    f"posix-mq: RLIMIT_MSGQUEUE ({self.limits.rlimit_bytes} bytes, ulimit -q) "
                    "is used up by this user's message queues") from None
            raise
        queue.close()  # the name keeps it; peers open it by name
        return f"/{name}"

    def close(self) -> None:
        kept = [name for name in self._names if not hygiene.remove_queue(name)]
        self._names = kept  # a queue that could not be unlinked keeps its marker


INFO = MechanismInfo(
    name="posix-mq",
    description="POSIX message queues through posix_ipc (optional): mq_send / mq_receive of "
                "whole messages, a queue per direction and pair, one shared by every "
                "producer; up to the system's msgsize_max (8 KiB by default)",
    variants=(Variant("default", SHARED, depth="queue depth (mq_maxmsg)"),),
    mechanism=PosixMqMechanism,
    requires="posix_ipc",
    limit_reason=limit_reason,
)
