"""Registry of IPC mechanisms: names, variants, and the patterns each variant supports.

This module is metadata only (cheap to import): the implementation module of a
mechanism is imported on first use by `load()`, so `ipcbench list` and the plotting
side never pay for, or depend on, mechanism code.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from ipcbench.core.patterns import COUNTER, FANOUT, PATTERN_NAMES, PINGPONG, STREAM, WORKQUEUE
from ipcbench.mechanisms.base import RING_SLOTS, busy_polls, ring_slots  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from ipcbench.mechanisms.base import Mechanism


@dataclass(frozen=True)
class MechanismInfo:
    name: str
    description: str
    module: str
    # variant -> patterns it supports; the first variant is the default one.
    variants: MappingProxyType
    # Hidden mechanisms (the in-process fake) are for tests and never in a default run.
    hidden: bool = False
    # Optional third-party module the mechanism needs ("" = standard library only);
    # when it is not installed the mechanism's cases become skipped rows, not errors.
    requires: str = ""
    # Payload kinds it can carry (None = all); others become skipped rows with the reason.
    payloads: tuple[str, ...] | None = None
    # pattern -> why this channel cannot run it, for the skipped rows (when not obvious).
    why_not: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    # True: the module has `limit_reason(case) -> str`, the machine's limits that rule a
    # case out (a message-size cap, a per-item cap), decided while planning; its module
    # then must import cheaply (optional modules only inside functions).
    limits: bool = False
    # True: its first case starts a runtime inside the harness that stays for the rest
    # of the run (Ray's driver: the harness went from ~170 MB to ~430 MB). Its cases run
    # after every other case, so those fork their peers from a lean harness (a fork
    # copies the page tables of all of it).
    runs_last: bool = False


def _info(
    name: str,
    description: str,
    module: str,
    variants: dict,
    hidden: bool = False,
    requires: str = "",
    payloads: tuple[str, ...] | None = None,
    why_not: dict | None = None,
    limits: bool = False,
    runs_last: bool = False,
):
    # Every channel that can stream can fan out (Mechanism.fan_out builds one stream
    # channel per consumer), so `fanout` is added wherever `stream` is. Patterns are
    # listed in the reading order of patterns.PATTERN_NAMES.
    variants = {
        variant: tuple(p for p in PATTERN_NAMES
                       if p in patterns or (p == FANOUT.name and STREAM.name in patterns))
        for variant, patterns in variants.items()
    }
    return MechanismInfo(name, description, module, MappingProxyType(variants), hidden, requires,
                         payloads, MappingProxyType(why_not or {}), limits, runs_last)


# Optional module -> the ipcbench extra that installs it (pyproject optional-dependencies).
_EXTRAS = {"zmq": "zmq", "faster_fifo": "fifo", "posix_ipc": "posix-mq", "ray": "ray"}
_STREAMS = (PINGPONG.name, STREAM.name)
# Channels several processes can read from, message by message: a work queue as well.
_SHARED = (*_STREAMS, WORKQUEUE.name)
# Why the others cannot be one work queue (skipped rows say so).
_BYTE_STREAM = {WORKQUEUE.name: "several readers of one byte stream can split a message "
                                "between them; a lock per message is what SimpleQueue adds"}
_MAILBOX = {WORKQUEUE.name: "each of its channels is a mailbox or ring with exactly one "
                            "reader, handed over by that reader's semaphores"}
# A pool: one task's round trip, and one submitter mapping over N workers (1 -> N).
_TASKS = (PINGPONG.name, FANOUT.name)


REGISTRY: dict[str, MechanismInfo] = {
    info.name: info
    for info in (
        _info(
            "pipe",
            "multiprocessing.Pipe; 'bytes' = send_bytes/recv_bytes, 'pickle' = send/recv",
            "ipcbench.mechanisms.pipe",
            {"bytes": _STREAMS, "pickle": _STREAMS},
            why_not={WORKQUEUE.name: "a Connection read by several processes at once can "
                     "split a message between them; Queue adds the lock that prevents it"},
        ),
        _info(
            "queue",
            "multiprocessing.Queue (put/get; a feeder thread pickles and writes)",
            "ipcbench.mechanisms.queue",
            {"default": _SHARED},
        ),
        _info(
            "value",
            "multiprocessing.Value/Array: 'array' = payload in a RawArray handed off with a "
            "sequence counter and semaphores; 'locked' = the seed's shared counter "
            "under get_lock()",
            "ipcbench.mechanisms.value",
            {"array": _STREAMS, "locked": (COUNTER.name,)},
            why_not=_MAILBOX,
        ),
        _info(
            "shm",
            "multiprocessing.shared_memory.SharedMemory segment, handoff signalled by "
            "semaphores: 'segment' = one slot (every message waits for a wakeup); 'ring8' = "
            f"a ring of {RING_SLOTS} slots per channel (counting semaphores, sender and "
            "receiver overlap); 'ring8-spin' = the same ring busy-polled on its sequence "
            "words, no semaphores (cross-core, peers <= CPUs, x86 only)",
            "ipcbench.mechanisms.shm",
            {"segment": _STREAMS, f"ring{RING_SLOTS}": _STREAMS,
             f"ring{RING_SLOTS}-spin": _STREAMS},
            why_not=_MAILBOX,
        ),
        _info(
            "simplequeue",
            "multiprocessing.SimpleQueue (put/get pickle and write in the caller, no feeder "
            "thread)",
            "ipcbench.mechanisms.simplequeue",
            {"default": _SHARED},
        ),
        _info(
            "manager-queue",
            "a Manager().Queue() proxy: every put/get is a round trip to the manager process",
            "ipcbench.mechanisms.manager_queue",
            {"default": _SHARED},
        ),
        _info(
            "os-pipe",
            "raw os.pipe, fixed-size frames: os.write loops / os.readv into a private buffer",
            "ipcbench.mechanisms.os_pipe",
            {"raw": _STREAMS},
            why_not=_BYTE_STREAM,
        ),
        _info(
            "socketpair",
            "socket.socketpair(AF_UNIX, SOCK_STREAM): sendall / recv_into loops",
            "ipcbench.mechanisms.socketpair",
            {"unix": _STREAMS},
            why_not=_BYTE_STREAM,
        ),
        _info(
            "tcp",
            "loopback TCP on 127.0.0.1 with TCP_NODELAY: sendall / recv_into loops",
            "ipcbench.mechanisms.tcp",
            {"nodelay": _STREAMS},
            why_not=_BYTE_STREAM,
        ),
        _info(
            "fifo",
            "named pipes (os.mkfifo) in a private temp folder, opened by path in each peer; "
            "fixed-size frames, os.write loops / os.readv",
            "ipcbench.mechanisms.fifo",
            {"named": _STREAMS},
            why_not=_BYTE_STREAM,
        ),
        _info(
            "mmap",
            "mmap MAP_SHARED (anonymous under fork, a run-named /dev/shm file under "
            "spawn/forkserver), handoff signalled by semaphores: 'shared' = one slot, "
            f"'ring8' = a ring of {RING_SLOTS} slots per channel",
            "ipcbench.mechanisms.mmap_slot",
            {"shared": _STREAMS, f"ring{RING_SLOTS}": _STREAMS},
            why_not=_MAILBOX,
        ),
        _info(
            "array",
            "multiprocessing.Array mailbox: 'synchronized' = Array(lock=True), copied through "
            "get_obj() under get_lock(); 'raw' = RawArray; semaphores signal",
            "ipcbench.mechanisms.array",
            {"synchronized": _STREAMS, "raw": _STREAMS},
            why_not=_MAILBOX,
        ),
        _info(
            "value-raw",
            "RawValue counter guarded by an explicit ctx.Lock() (vs Value's built-in RLock)",
            "ipcbench.mechanisms.value_raw",
            {"lock": (COUNTER.name,)},
        ),
        _info(
            "executor",
            "a no-op task through multiprocessing.Pool ('pool': apply_async / map) or "
            "concurrent.futures.ProcessPoolExecutor ('ppe': submit / map); pingpong = one "
            "task's round trip, fanout = map over procs workers; '-chunk16' = chunksize 16",
            "ipcbench.mechanisms.executor",
            {"pool": _TASKS, "pool-chunk16": (FANOUT.name,), "ppe": _TASKS,
             "ppe-chunk16": (FANOUT.name,)},
            payloads=("bytes", "object", "numpy"),
            why_not={WORKQUEUE.name: "a pool has one submitter; its map over procs workers "
                                    "is the fanout pattern"},
        ),
        _info(
            "zmq",
            "pyzmq (optional): PAIR for pingpong, PUSH/PULL for stream, every producer's "
            "PUSH connected to every consumer's PULL for workqueue; 'ipc' = ipc:// in a "
            "temp dir, 'tcp' = tcp://127.0.0.1",
            "ipcbench.mechanisms.zeromq",
            {"ipc": _SHARED, "tcp": _SHARED},
            requires="zmq",
        ),
        _info(
            "faster-fifo",
            "faster_fifo.Queue (optional): a shared-memory ring buffer, pickled messages",
            "ipcbench.mechanisms.fasterfifo",
            {"default": _SHARED},
            requires="faster_fifo",
        ),
        _info(
            "posix-mq",
            "POSIX message queues through posix_ipc (optional): mq_send / mq_receive of whole "
            "messages, a queue per direction and pair, one shared by every producer; up to "
            "the system's msgsize_max (8 KiB by default)",
            "ipcbench.mechanisms.posix_mq",
            {"default": _SHARED},
            requires="posix_ipc",
            limits=True,
        ),
        _info(
            "shareable-list",
            "multiprocessing.shared_memory.ShareableList as a one-slot mailbox [sequence, "
            "message bytes], item get/set through its own API, semaphores signal; items "
            "up to 9,999,991 bytes",
            "ipcbench.mechanisms.shareable_list",
            {"mailbox": _STREAMS},
            why_not=_MAILBOX,
            limits=True,
        ),
        _info(
            "ray",
            "Ray's object store (optional): an actor ray.puts a numpy array and passes its "
            "ObjectRef in an actor call, the receiving actor ray.gets it and copies it out; "
            "Ray starts once per run (256 MB store, no dashboard)",
            "ipcbench.mechanisms.ray_store",
            {"actors": _STREAMS},
            requires="ray",
            why_not={WORKQUEUE.name: "Ray schedules its own tasks: a work queue of actors "
                                     "would measure Ray's scheduler, not a channel"},
            payloads=("numpy",),
            runs_last=True,
        ),
        _info(
            "fake",
            "in-process fake with an injected clock, for the project's own tests",
            "ipcbench.testing",
            {"ideal": (*_SHARED, COUNTER.name)},
            hidden=True,
        ),
    )
}


def public_names() -> list[str]:
    return [name for name, info in REGISTRY.items() if not info.hidden]


def patterns_of(name: str) -> list[str]:
    seen: dict[str, None] = {}
    for patterns in REGISTRY[name].variants.values():
        seen.update(dict.fromkeys(patterns))
    return list(seen)


@functools.cache
def _installed(module: str) -> bool:
    # Cached: a matrix asks once per case, and a miss scans all of sys.path.
    return importlib.util.find_spec(module) is not None


def pattern_reason(name: str, pattern: str) -> str:
    """Why no variant of `name` runs `pattern`, for its skipped rows."""
    why = REGISTRY[name].why_not.get(pattern)
    return (f"{name} does not support the {pattern} pattern (it supports: "
            f"{', '.join(patterns_of(name))})" + (f": {why}" if why else ""))


def payload_reason(name: str, payload: str) -> str:
    """Why `name` cannot carry payload kind `payload` ("" when it can)."""
    allowed = REGISTRY[name].payloads
    if allowed is None or payload in allowed:
        return ""
    return f"{name} does not carry the {payload} payload (it carries: {', '.join(allowed)})"


def unavailable_reason(name: str) -> str:
    """Why `name` cannot run here ("" when it can): a missing optional module."""
    module = REGISTRY[name].requires
    if not module or _installed(module):
        return ""
    return f"{name} needs the optional module {module!r} ({install_hint(module)})"


def install_hint(module: str) -> str:
    return f"pip install 'ipcbench[{_EXTRAS.get(module, module)}]'"


def install_state(name: str) -> str:
    """For people: "" (standard library only), else whether its optional module is
    installed, and how to install it when it is not."""
    module = REGISTRY[name].requires
    if not module:
        return ""
    if _installed(module):
        return f"module {module!r} installed"
    return f"module {module!r} not installed ({install_hint(module)})"


def limit_reason(case) -> str:
    """Why this machine's limits rule `case` out ("" when they do not; see `limits`)."""
    info = REGISTRY[case.mechanism]
    if not info.limits:
        return ""
    return importlib.import_module(info.module).limit_reason(case)


def end_run() -> None:
    """Release what a mechanism keeps for a whole run (Ray's runtime): calls the END_RUN
    of every mechanism module this process imported (never imports one to do so)."""
    for info in REGISTRY.values():
        hook = getattr(sys.modules.get(info.module), "END_RUN", None)
        if hook is not None:
            hook()


def load(name: str) -> type[Mechanism]:
    """Import and return the Mechanism class registered under `name`."""
    module = importlib.import_module(REGISTRY[name].module)
    return module.MECHANISM


def runs_last(name: str) -> bool:
    """Whether `name`'s cases run after all others (MechanismInfo.runs_last)."""
    info = REGISTRY.get(name)
    return bool(info and info.runs_last)


def session_class(name: str):
    """The session class a mechanism's module brings (SESSION), or None for the real
    peer-process session (the test fake, the executors and Ray bring one)."""
    return getattr(importlib.import_module(REGISTRY[name].module), "SESSION", None)
