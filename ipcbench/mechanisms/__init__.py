"""The registry of IPC mechanisms: every mechanism's metadata, from its own module.

Each module named in _MODULES ends with `INFO = MechanismInfo(...)` (info.py; the contract
is in base.py): name, description, variants with their patterns, payloads, optional
module, and references to its Mechanism class or session class, its limit_reason and its
end_run. The registry imports those modules (cheap: an optional third-party module is
imported only inside the functions that use it, `ipcbench list` and the plotting side
never load one) and answers every question about a mechanism from its record. Tests and
plugins add theirs with `register()`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from typing import TYPE_CHECKING

from ipcbench.core.traits import ChannelTraits
from ipcbench.mechanisms.info import RING_DEPTH, MechanismInfo, Variant

if TYPE_CHECKING:
    from ipcbench.core.schema import Case
    from ipcbench.mechanisms.base import Mechanism


# Optional module -> the ipcbench extra that installs it (pyproject optional-dependencies).
_EXTRAS = {"zmq": "zmq", "faster_fifo": "fifo", "posix_ipc": "posix-mq", "ray": "ray",
           "pynng": "nng", "mpi4py": "mpi", "iceoryx2": "iceoryx2"}
# The implementation modules, in the order `ipcbench list` shows them and the plotting
# colours are handed out: a new one goes at the end, so existing colours never shift.
_MODULES = ("pipe", "queue", "value", "shm", "simplequeue", "manager_queue", "os_pipe",
            "socketpair", "tcp", "fifo", "mmap_slot", "array", "value_raw", "executor",
            "zeromq", "fasterfifo", "posix_mq", "shareable_list", "ray_store", "nng", "mpi",
            "iox2", "thread_queue", "interp_queue", "startup")

# name -> record, in registration order; add to it with register().
REGISTRY: dict[str, MechanismInfo] = {}


def register(info: MechanismInfo) -> None:
    """Add a mechanism after the built-in ones, for tests (the fake) and plugins. Its
    name must be new. A hidden one (info.hidden) runs when a plan names it, but the CLI
    never offers it and a default run leaves it out."""
    if info.name in REGISTRY:
        raise ValueError(f"a mechanism named {info.name!r} is already registered")
    REGISTRY[info.name] = info


for _module in _MODULES:
    register(importlib.import_module(f"{__name__}.{_module}").INFO)


def public_names() -> list[str]:
    return [name for name, info in REGISTRY.items() if not info.hidden]


def patterns_of(name: str) -> list[str]:
    return list(REGISTRY[name].patterns)


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
    """Why `name` cannot run here ("" when it can): a missing optional module, or a
    Python without what it needs (MechanismInfo.unavailable)."""
    check = REGISTRY[name].unavailable
    if check is not None and (why := check()):
        return why
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


def limit_reason(case: Case) -> str:
    """Why this machine's limits rule `case` out ("" when they do not, or the mechanism
    has none: MechanismInfo.limit_reason)."""
    reason = REGISTRY[case.mechanism].limit_reason
    return reason(case) if reason is not None else ""


def end_run() -> None:
    """Release what a mechanism keeps for a whole run (Ray's runtime): every registered
    end_run, each of which releases only what this process started (never starts or
    imports anything)."""
    for info in REGISTRY.values():
        if info.end_run is not None:
            info.end_run()


def load(name: str) -> type[Mechanism]:
    """The Mechanism class registered under `name`."""
    mechanism = REGISTRY[name].mechanism
    if mechanism is None:
        raise TypeError(f"{name} has no Mechanism class: it brings its own session")
    return mechanism


def runs_last(name: str) -> bool:
    """Whether `name`'s cases run after all others (MechanismInfo.runs_last)."""
    info = REGISTRY.get(name)
    return bool(info and info.runs_last)


def session_class(name: str) -> type | None:
    """The session class a mechanism brings (MechanismInfo.session), or None for the
    harness's peer-process session (the executors, Ray and the tests' fake bring one)."""
    return REGISTRY[name].session


def variant_of(name: str, variant: str) -> Variant:
    """The record of mechanism `name`'s variant `variant` (KeyError when it has none)."""
    return REGISTRY[name].variant(variant)


def ring_slots(name: str, variant: str) -> int:
    """Slots per channel of that variant (1 = a mailbox; Variant.ring_slots)."""
    return variant_of(name, variant).ring_slots


def depth_reason(name: str, variant: str) -> str:
    """Why --depth cannot apply to that variant ("" when it can: Variant.depth)."""
    record = variant_of(name, variant)
    if record.depth:
        return ""
    settable = [f"{v.name} ({v.depth})" for v in REGISTRY[name].variants if v.depth]
    return (f"{name} {variant} has no in-flight limit to set"
            + (f"; --depth applies to {', '.join(settable)}" if settable else ""))


def depth_slots(name: str, variant: str, depth: int) -> int:
    """Slots per channel of a case: its depth where the variant's slots are what
    --depth sets, else the variant's own (ring_slots)."""
    record = variant_of(name, variant)
    return depth if depth and record.depth == RING_DEPTH else record.ring_slots


def busy_polls(name: str, variant: str) -> bool:
    """Whether that variant's peers busy-poll (Variant.busy_polls): only fair where
    every peer has its own CPU (affinity.busy_poll_skip_reason)."""
    return variant_of(name, variant).busy_polls


def channel_traits() -> ChannelTraits:
    """What the rankings need from every registered record (core/traits.py): whose procs
    mean something else than their pattern's (MechanismInfo.procs_meaning), and which
    variants busy-poll (Variant.busy_polls). Built anew each call: register() may add."""
    return ChannelTraits(
        procs_apart={(name, pattern): meaning for name, info in REGISTRY.items()
                     for pattern, meaning in info.procs_meaning.items()},
        busy_polling=frozenset((name, v.name) for name, info in REGISTRY.items()
                               for v in info.variants if v.busy_polls))


# MechanismInfo.in_process -> the rows' peer_kind.
_PEER_KINDS = {"": "processes", "thread": "threads", "interpreter": "interpreters"}


def peer_kind(name: str, variant: str) -> str:
    """What the peers of `name`'s `variant` are: processes, threads (of one process) or
    interpreters (of one process), for the rows' peer_kind. The in-run baselines and
    unknown names are processes."""
    info = REGISTRY.get(name)
    if info is None:
        return "processes"
    try:
        own = info.variant(variant).peer_kind
    except KeyError:
        own = ""
    return own or _PEER_KINDS[info.in_process]
