"""The nodes of a fleet and the loop that measures on them, over a small backend (Ray's
in RayBackend, a fake in the tests).

Rules the loop keeps:
- one task per node, pinned to it, asking for all of the node's CPUs, so Ray schedules
  nothing else there meanwhile and no two measuring runs share a node;
- nodes on one host (one IP: Ray's local test clusters, several raylets of a big
  machine) measure one after the other, never at once: they share the CPUs;
- every wait is bounded: a node without a result NODE_TIMEOUT past its start is
  cancelled and becomes a "timeout" entry; a node that dies (Ray's error) a "failed"
  entry; the rows a node writes are streamed back as it goes (on_append), so a node
  that dies late still leaves what it finished, and its result goes to on_result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

WAIT_SLICE_S = 1.0  # one ray.wait; a signal is noticed between slices
CONNECT_S = 60.0  # bound on joining the cluster
CANCEL_GRACE_S = 10.0


@dataclass(frozen=True)
class Node:
    node_id: str
    host: str  # its IP address: nodes sharing one measure in turn
    cpus: float

    @property
    def name(self) -> str:
        return f"{self.host}-{self.node_id[:8]}"


@dataclass(frozen=True)
class NodeResult:
    node: Node
    status: str  # "ok", "failed" or "timeout"
    reason: str = ""
    files: dict = field(default_factory=dict)  # file name -> bytes
    seconds: float = 0.0
    hostname: str = ""


class Backend(Protocol):
    """submit starts a node's task; ready says which have an item waiting; take returns
    the next item ({"append": ...} or {"final": ...}, fleet_task.py), raises
    StopIteration when the task ended, or the task's error (a dead node)."""

    def submit(self, node: Node): ...
    def ready(self, handles: list, timeout_s: float) -> list: ...
    def take(self, handle) -> dict: ...
    def cancel(self, handle) -> None: ...


def alive_nodes(listing: Sequence[dict]) -> list[Node]:
    """Ray's ray.nodes() entries that are alive and have a CPU, as Nodes, by host."""
    nodes = [Node(str(n["NodeID"]), str(n.get("NodeManagerAddress") or "?"),
                  float((n.get("Resources") or {}).get("CPU", 0)))
             for n in listing if n.get("Alive") and (n.get("Resources") or {}).get("CPU", 0) >= 1]
    return sorted(nodes, key=lambda n: (n.host, n.node_id))


def _judge(node: Node, outcome: dict, seconds: float) -> NodeResult:
    files = outcome.get("files") or {}
    host = str(outcome.get("hostname") or "")
    if outcome.get("timed_out"):
        return NodeResult(node, "timeout", f"the run passed its {seconds:.0f} s bound",
                          files, seconds, host)
    if outcome.get("exit_code") != 0 or "results.csv" not in files:
        tail = str(outcome.get("stderr_tail") or "").strip().splitlines()
        why = tail[-1] if tail else f"exit code {outcome.get('exit_code')}"
        return NodeResult(node, "failed", f"ipcbench run failed: {why}", files, seconds, host)
    return NodeResult(node, "ok", "", files, seconds, host)


def measure_fleet(nodes: Sequence[Node], backend: Backend, node_timeout_s: float,
                  on_result: Callable[[NodeResult], None],
                  on_append: Callable[[Node, dict], None] = lambda node, grown: None,
                  clock: Callable[[], float] = time.monotonic) -> list[NodeResult]:
    """Measure on every node (see the module doc); results in the nodes' order. Rows a
    node streams go to on_append as they come, its end to on_result."""
    queues: dict[str, list[Node]] = {}
    for node in nodes:
        queues.setdefault(node.host, []).append(node)
    running: dict[object, tuple[Node, float]] = {}
    results: dict[str, NodeResult] = {}

    def finish(result: NodeResult) -> None:
        results[result.node.node_id] = result
        on_result(result)

    def start_next(host: str) -> None:
        while queues[host]:
            node = queues[host].pop(0)
            try:
                running[backend.submit(node)] = (node, clock())
                return
            except Exception as exc:  # noqa: BLE001 - Ray's errors are many; each is an entry
                finish(NodeResult(node, "failed", f"could not start: {_one_line(exc)}"))

    try:
        for host in list(queues):
            start_next(host)
        _drain(running, backend, node_timeout_s, finish, start_next, on_append, clock)
    except BaseException:
        # Ctrl-C, SIGTERM: nothing keeps measuring on a node for a driver that is gone.
        for handle in running:
            backend.cancel(handle)
        raise
    return [results[n.node_id] for n in nodes]


def _take(backend: Backend, handle, node: Node, began: float, clock,
          on_append) -> NodeResult | None:
    """The node's next item: None while it streams rows, its NodeResult at its end."""
    try:
        item = backend.take(handle)
    except StopIteration:
        return NodeResult(node, "failed", "its task ended without a result",
                          seconds=clock() - began)
    except Exception as exc:  # noqa: BLE001 - a dead node, a crashed worker
        return NodeResult(node, "failed", _one_line(exc), seconds=clock() - began)
    if "final" in item:
        return _judge(node, item["final"], clock() - began)
    on_append(node, item.get("append") or {})
    return None


def _drain(running: dict, backend: Backend, node_timeout_s: float,
           finish: Callable[[NodeResult], None], start_next: Callable[[str], None],
           on_append: Callable[[Node, dict], None], clock: Callable[[], float]) -> None:
    """Wait for the running tasks (each next one of a host started as one ends)."""
    while running:
        for handle in backend.ready(list(running), WAIT_SLICE_S):
            node, began = running[handle]
            result = _take(backend, handle, node, began, clock, on_append)
            if result is not None:
                running.pop(handle)
                finish(result)
                start_next(node.host)
        for handle, (node, began) in list(running.items()):
            if clock() - began > node_timeout_s:
                running.pop(handle)
                backend.cancel(handle)
                finish(NodeResult(node, "timeout", f"no result {node_timeout_s:.0f} s after "
                                                   "it started (cancelled)",
                                  seconds=clock() - began))
                start_next(node.host)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class RayBackend:
    """Ray behind the Backend protocol. Imported only by `fleet` ([ray] extra)."""

    def __init__(self, run_argv: list[str], node_timeout_s: float) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from ipcbench.cli.fleet_task import measure_on_node

        self._ray, self._strategy = ray, NodeAffinitySchedulingStrategy
        self._task = ray.remote(measure_on_node)
        self._argv, self._timeout_s = run_argv, node_timeout_s

    def submit(self, node: Node):
        # Pinned (soft=False: never moved elsewhere), all the node's CPUs, no retry: a
        # measurement repeated on whatever node is left would be another node's figure.
        return self._task.options(
            num_cpus=node.cpus, max_retries=0, num_returns="streaming",
            scheduling_strategy=self._strategy(node_id=node.node_id, soft=False),
        ).remote(self._argv, self._timeout_s)

    def ready(self, handles: list, timeout_s: float) -> list:
        done, _ = self._ray.wait(handles, num_returns=len(handles), timeout=timeout_s)
        return done

    def take(self, handle) -> dict:
        # Ready: next() returns at once, and get only fetches what is already there.
        return self._ray.get(next(handle), timeout=CANCEL_GRACE_S)

    def cancel(self, handle) -> None:
        try:
            self._ray.cancel(handle, force=True)
        except Exception:  # noqa: BLE001, S110 - already gone: nothing left to cancel
            pass
