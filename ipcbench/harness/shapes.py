"""How the peers of the newer shapes are wired: broadcast, pipeline, request-reply and
bidirectional (core/patterns.py says what each measures; peer/roles.py what each role
does). Each takes its channels from the case's Mechanism and gives every peer its spec
(made by the session's `spec(role, index, messages, fan=...)`, which pins and arms it)
and its endpoint, in start (and pinning) order."""

from __future__ import annotations

from collections.abc import Callable

from ipcbench.core import patterns
from ipcbench.core.patterns import Pattern
from ipcbench.mechanisms.base import Mechanism

RELAY_ROLE = "relay"  # a pipeline's stages between its source and its sink
SHAPES = (patterns.BROADCAST, patterns.PIPELINE, patterns.REQREP, patterns.BIDIR)


def shape_peers(kind: Pattern, mechanism: Mechanism, procs: int, n: int,
                spec: Callable) -> list[tuple]:
    """(spec, endpoint) of every peer of a case of `kind` with `procs` and `n` messages
    per timing step."""
    if kind is patterns.BROADCAST:  # the publisher's n messages reach every subscriber
        sender, receivers = mechanism.broadcast(procs)
        peers = [(spec(kind.sender, 0, n), sender)]
        return peers + [(spec(kind.receiver, i, n), ep) for i, ep in enumerate(receivers)]
    if kind is patterns.PIPELINE:  # source, procs relays, sink: n messages end to end
        ends = mechanism.pipeline(procs)
        peers = [(spec(kind.sender, 0, n), ends[0])]
        peers += [(spec(RELAY_ROLE, i, n), ep) for i, ep in enumerate(ends[1:-1])]
        return peers + [(spec(kind.receiver, 0, n, fan=1), ends[-1])]
    if kind is patterns.REQREP:  # procs clients of n requests each, one server
        clients, server = mechanism.request_reply(procs)
        peers = [(spec(kind.sender, i, n), ep) for i, ep in enumerate(clients)]
        return peers + [(spec(kind.receiver, 0, n * procs), server)]
    if kind is patterns.BIDIR:  # pairs, n messages each way
        peers = []
        for i, (a, b) in enumerate(mechanism.pairs(procs)):
            peers += [(spec(kind.sender, i, n), a), (spec(kind.receiver, i, n), b)]
        return peers
    raise ValueError(f"{kind.name} is not one of the shapes wired here")
