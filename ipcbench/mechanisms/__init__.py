"""Registry of IPC mechanisms: names, variants, and the patterns each variant supports.

This module is metadata only (cheap to import): the implementation module of a
mechanism is imported on first use by `load()`, so `ipcbench list` and the plotting
side never pay for, or depend on, mechanism code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

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


def _info(name: str, description: str, module: str, variants: dict, hidden: bool = False):
    return MechanismInfo(name, description, module, MappingProxyType(variants), hidden)


REGISTRY: dict[str, MechanismInfo] = {
    info.name: info
    for info in (
        _info(
            "pipe",
            "multiprocessing.Pipe; 'bytes' = send_bytes/recv_bytes, 'pickle' = send/recv",
            "ipcbench.mechanisms.pipe",
            {"bytes": ("pingpong", "stream"), "pickle": ("pingpong", "stream")},
        ),
        _info(
            "queue",
            "multiprocessing.Queue (put/get; a feeder thread pickles and writes)",
            "ipcbench.mechanisms.queue",
            {"default": ("pingpong", "stream")},
        ),
        _info(
            "value",
            "multiprocessing.Value/Array: 'array' = payload in a RawArray handed off with a "
            "sequence counter and semaphores; 'locked' = the seed's shared counter "
            "under get_lock()",
            "ipcbench.mechanisms.value",
            {"array": ("pingpong", "stream"), "locked": ("counter",)},
        ),
        _info(
            "shm",
            "multiprocessing.shared_memory.SharedMemory segment, handoff signalled by semaphores",
            "ipcbench.mechanisms.shm",
            {"segment": ("pingpong", "stream")},
        ),
        _info(
            "fake",
            "in-process fake with an injected clock, for the project's own tests",
            "ipcbench.mechanisms.fake",
            {"ideal": ("pingpong", "stream", "counter")},
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


def load(name: str) -> type[Mechanism]:
    """Import and return the Mechanism class registered under `name`."""
    module = importlib.import_module(REGISTRY[name].module)
    return module.MECHANISM
