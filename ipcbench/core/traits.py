"""What the analysis side must know of channels beyond their rows, as the mechanisms
declare it: which channels' `procs` mean something other than their pattern's (so they
are no rivals of the others at more than one proc), and which busy-poll a CPU per peer.

The mechanisms declare both in their info records (MechanismInfo.procs_meaning,
Variant.busy_polls); the registry builds one ChannelTraits from them
(ipcbench.mechanisms.channel_traits). The analysis floor may not read the registry, so
its rankings take a ChannelTraits as an argument: the CLI and the plotting side pass the
registry's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ipcbench.core.units import format_time_ns


@dataclass(frozen=True)
class ChannelTraits:
    # (mechanism, pattern) -> what --procs counts for that channel, where it is not the
    # pattern's own (patterns.Pattern.procs_label): the executor's ping-pong is one task
    # at a time through a pool of `procs` workers, not `procs` pairs side by side.
    procs_apart: Mapping[tuple[str, str], str] = field(
        default_factory=lambda: MappingProxyType({}))
    # (mechanism, variant) whose peers spin on a CPU of their own while they wait.
    busy_polling: frozenset[tuple[str, str]] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "procs_apart", MappingProxyType(dict(self.procs_apart)))
        object.__setattr__(self, "busy_polling", frozenset(self.busy_polling))

    def procs_meaning(self, mechanism: str, pattern: str) -> str:
        """What procs count for that channel when it is not the pattern's ("" when it is)."""
        return self.procs_apart.get((mechanism, pattern), "")

    def unlike(self, mechanism: str, pattern: str, procs: int) -> bool:
        """Whether that channel's case is no rival of the pattern's other channels. With
        one proc every declared meaning is one of each side (one worker with one request
        in flight is one pair), so only more than one proc keeps a channel apart."""
        return procs > 1 and bool(self.procs_meaning(mechanism, pattern))

    def busy_polls(self, mechanism: str, variant: str) -> bool:
        return (mechanism, variant) in self.busy_polling


# No declared traits: every channel's procs mean its pattern's, none busy-polls.
PLAIN = ChannelTraits()


def busy_poll_note(cpu_s_per_msg: float) -> str:
    """The caveat of a busy-polling winner, with its CPU cost per message."""
    cost = (f"; CPU {format_time_ns(cpu_s_per_msg * 1e9)}/msg"
            if math.isfinite(cpu_s_per_msg) and cpu_s_per_msg > 0 else "")
    return f"busy-polls: burns a CPU per peer{cost}"
