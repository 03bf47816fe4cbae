"""The bodies of the workers the start-up pattern starts (mechanisms/startup.py).

Standard library only, and in the lowest floor: a spawned or forkserver worker has to
import the module of its target before it can run it, and this one costs it what the
module of a hand-written loop's worker would (ipcbench/__init__ and this file), not the
harness's mechanisms, numpy and all. Each worker pins itself where the placement puts it
(the first thing it does, inside the clock, alike for every kind), answers its first
message with that message, and ends.
"""

from __future__ import annotations

import os


def pin(cpus: tuple[int, ...]) -> None:
    """Run where the placement says (Linux pins the calling thread); () = anywhere."""
    if cpus:
        os.sched_setaffinity(0, cpus)


def echo_once(conn, cpus: tuple[int, ...]) -> None:
    """A Process's target: the first message back over its end of a Pipe, then exit."""
    pin(cpus)
    conn.send_bytes(conn.recv_bytes())
    conn.close()


def echo_task(message: bytes) -> bytes:
    """A pool's first task (and every churn task): the message back."""
    return message


def echo_thread(inbox, outbox, cpus: tuple[int, ...]) -> None:
    """A thread's target: its first message back as a copy (threads share the message
    object; a copy is what a channel between processes delivers)."""
    pin(cpus)
    outbox.put(bytes(bytearray(inbox.get())))
