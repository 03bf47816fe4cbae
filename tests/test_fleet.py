"""`ipcbench fleet`: the node loop over a fake backend (pinning rules, a dead node, a
hung node, all bounded), the flags handed to each node, and one real run against a
two-node Ray cluster on this machine (started once)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ipcbench.cli import build_parser, main
from ipcbench.cli.fleet import node_argv
from ipcbench.cli.fleet_nodes import Node, alive_nodes, measure_fleet

# Some of these start a local Ray cluster: never beside test_ray.py's (pytest -n 2).
pytestmark = pytest.mark.usefixtures("one_ray_at_a_time")

RESULTS = {"results.csv": b"x", "machine.json": b"{}"}


class FakeBackend:
    """Tasks that stream one row a poll, then their result after `ticks` polls; a node
    in `dies` raises after its first row, one in `hangs` never finishes. Records which
    nodes ran at the same time."""

    def __init__(self, ticks=3, dies=(), hangs=()):
        self.ticks, self.dies, self.hangs = ticks, set(dies), set(hangs)
        self.running: dict[int, list] = {}
        self.overlaps: list[set[str]] = []
        self.cancelled: list[str] = []
        self._next = 0

    def submit(self, node):
        self._next += 1
        self.running[self._next] = [node, 0]
        self.overlaps.append({n.node_id for n, _ in self.running.values()})
        return self._next

    def ready(self, handles, timeout_s):
        return [h for h in handles if self.running[h][0].node_id not in self.hangs]

    def take(self, handle):
        entry = self.running[handle]
        entry[1] += 1
        node = entry[0]
        if node.node_id in self.dies and entry[1] > 1:
            del self.running[handle]
            raise RuntimeError("The node with node id: abc has been marked dead\nmore")
        if entry[1] < self.ticks:
            return {"append": {"results.csv": f"row {entry[1]}\n".encode()}}
        del self.running[handle]
        return {"final": {"exit_code": 0, "files": RESULTS, "hostname": node.host}}

    def cancel(self, handle):
        self.cancelled.append(self.running.pop(handle)[0].node_id)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0  # every look at the clock is a second later
        return self.now


NODES = [Node("a1", "10.0.0.1", 2), Node("a2", "10.0.0.1", 2), Node("b1", "10.0.0.2", 4)]


def test_nodes_of_one_host_measure_in_turn_others_at_once():
    backend, seen = FakeBackend(), []
    results = measure_fleet(NODES, backend, 1000, seen.append, clock=Clock())
    assert [r.status for r in results] == ["ok"] * 3
    assert [r.node.node_id for r in results] == ["a1", "a2", "b1"]  # the nodes' order
    assert {r.node.node_id for r in seen} == {"a1", "a2", "b1"}
    assert all(not {"a1", "a2"} <= running for running in backend.overlaps)
    assert {"a1", "b1"} in backend.overlaps  # other hosts do not wait


def test_a_dead_node_and_a_hung_node_become_entries_and_the_rest_go_on():
    backend, rows = FakeBackend(dies={"a1"}, hangs={"b1"}), []
    results = measure_fleet(NODES, backend, 50, lambda r: None,
                            on_append=lambda node, grown: rows.append((node.node_id, grown)),
                            clock=Clock())
    by_id = {r.node.node_id: r for r in results}
    # The dead node's row streamed before it died is kept; the others' as they came.
    assert rows == [("a1", {"results.csv": b"row 1\n"}), ("a2", {"results.csv": b"row 1\n"}),
                    ("a2", {"results.csv": b"row 2\n"})]
    assert by_id["a1"].status == "failed" and "marked dead" in by_id["a1"].reason
    assert "\n" not in by_id["a1"].reason
    assert by_id["a2"].status == "ok"  # its host's turn came after the dead one
    assert by_id["b1"].status == "timeout" and "cancelled" in by_id["b1"].reason
    assert backend.cancelled == ["b1"]


def test_a_failed_run_names_its_last_error_line():
    class Failing(FakeBackend):
        def take(self, handle):
            self.running.pop(handle)
            return {"final": {"exit_code": 2, "files": {},
                              "stderr_tail": "x\nipcbench: error: bad\n"}}

    (result,) = measure_fleet(NODES[:1], Failing(), 100, lambda r: None, clock=Clock())
    assert result.status == "failed" and result.reason.endswith("ipcbench: error: bad")


def test_alive_nodes_keeps_live_nodes_with_cpus():
    listing = [{"NodeID": "n2", "Alive": True, "NodeManagerAddress": "h", "Resources": {"CPU": 2}},
               {"NodeID": "n1", "Alive": False, "NodeManagerAddress": "h", "Resources": {"CPU": 2}},
               {"NodeID": "n3", "Alive": True, "NodeManagerAddress": "h", "Resources": {}}]
    assert alive_nodes(listing) == [Node("n2", "h", 2.0)]


def test_each_node_gets_the_matrix_flags_only():
    parser = build_parser()
    args = parser.parse_args(["fleet", "--address", "x:1", "--out", "o", "-m", "pipe", "shm",
                              "-s", "64", "--no-baselines", "--sessions", "2", "--seed", "7"])
    argv = node_argv(args, args.parser_actions)
    assert argv == ["--mechanism", "pipe", "shm", "--size", "64", "--seed", "7",
                    "--sessions", "2", "--no-baselines"]
    reparsed = parser.parse_args(["run", *argv])
    assert reparsed.mechanism == ["pipe", "shm"] and reparsed.no_baselines


def test_bad_flags_are_refused_before_any_node(tmp_path, capsys):
    assert main(["fleet", "--address", "127.0.0.1:1", "--out", str(tmp_path / "o"),
                 "-m", "nosuch"]) == 2
    assert "unknown mechanism 'nosuch'" in capsys.readouterr().err
    assert main(["fleet", "--address", "127.0.0.1:1", "--out", str(tmp_path / "o"),
                 "-m", "pipe", "--samples"]) == 2
    assert "does not bring --samples back" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["fleet", "--address", "127.0.0.1:1", "--out", str(tmp_path / "full"),
                 "-m", "pipe"]) == 2
    assert "is not empty" in capsys.readouterr().err
    if importlib.util.find_spec("ray") is not None:  # nothing listens there: said at once
        assert main(["fleet", "--address", "127.0.0.1:1", "--out", str(tmp_path / "o"),
                     "-m", "pipe"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot join the Ray cluster at '127.0.0.1:1'" in err


@pytest.mark.integration
@pytest.mark.timeout(240)
@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="needs Ray: pip install 'ipcbench[ray]'")
def test_fleet_on_a_two_node_local_cluster(tmp_path, capsys):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out = tmp_path / "fleet"
        code = main(["fleet", "--address", cluster.address, "--out", str(out),
                     "--node-timeout", "150", "-m", "pipe", "-p", "pingpong", "-s", "64",
                     "-n", "1", "--placement", "same-core", "--payload", "bytes",
                     "--variant", "bytes", "--sessions", "1", "--repeats", "2",
                     "--budget", "0.2"])
    finally:
        cluster.shutdown()
    text = capsys.readouterr().out
    assert code == 0, text
    fleet = json.loads((out / "fleet.json").read_text())
    assert [n["status"] for n in fleet["nodes"]] == ["ok", "ok"]
    assert len({n["node_id"] for n in fleet["nodes"]}) == 2
    folders = [out / n["folder"] for n in fleet["nodes"]]
    for folder in folders:
        assert {"results.csv", "sessions.csv", "machine.json", "manifest.json"} <= {
            p.name for p in Path(folder).iterdir()}
    assert (out / "compare" / "compare.md").is_file() and "comparison:" in text
