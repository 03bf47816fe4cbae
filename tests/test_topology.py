"""Placement by topology: sysfs parsing on synthetic trees (SMT pairs, two L3s, two
sockets), the CPU pair each placement picks or the reason it is skipped, explicit
--cpus, the plan's skipped rows, machine.json's summary and the core-to-core matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipcbench.core.schema import Case, check_placement, explicit_cpus, placement_rank
from ipcbench.harness.core_to_core import measure_matrix, write_matrix
from ipcbench.harness.plan import expand
from ipcbench.system import affinity
from ipcbench.system.topology import (
    format_cpu_list,
    parse_cpu_list,
    read_topology,
)


def make_sysfs(root: Path, sockets: int, l3_per_socket: int, cores_per_l3: int,
               threads: int, *, l3: bool = True, offline: tuple[int, ...] = ()) -> Path:
    """A sysfs cpu folder numbered the Linux way: first threads of every core, then the
    second threads (cpu N and N + cores are siblings)."""
    cores = sockets * l3_per_socket * cores_per_l3
    total = cores * threads
    for cpu in range(total):
        core = cpu % cores
        socket = core // (l3_per_socket * cores_per_l3)
        domain = core // cores_per_l3
        siblings = [core + t * cores for t in range(threads)]
        l3_cpus = [c for c in range(total) if (c % cores) // cores_per_l3 == domain]
        topo = root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text(f"{socket}\n")
        (topo / "core_id").write_text(f"{core}\n")
        (topo / "thread_siblings_list").write_text(format_cpu_list(siblings) + "\n")
        for index, (level, kind) in enumerate(((1, "Data"), (2, "Unified"), (3, "Unified"))):
            if level == 3 and not l3:
                continue
            cache = root / f"cpu{cpu}" / "cache" / f"index{index}"
            cache.mkdir(parents=True)
            (cache / "level").write_text(f"{level}\n")
            (cache / "type").write_text(f"{kind}\n")
            shared = l3_cpus if level == 3 else siblings
            (cache / "shared_cpu_list").write_text(format_cpu_list(shared) + "\n")
    online = [c for c in range(total) if c not in offline]
    (root / "online").write_text(format_cpu_list(online) + "\n")
    return root


def test_cpu_lists_round_trip_and_bad_text_is_named():
    assert parse_cpu_list("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert format_cpu_list([11, 0, 1, 2, 3, 8, 10]) == "0-3,8,10-11"
    with pytest.raises(ValueError, match="'0-x'"):
        parse_cpu_list("0-x")
    with pytest.raises(ValueError, match="runs backwards"):
        parse_cpu_list("3-1")


def test_server_tree_gives_every_relation(tmp_path):
    # 2 sockets x 2 L3 x 2 cores x 2 threads = 16 CPUs; siblings are N and N + 8.
    topo = read_topology(make_sysfs(tmp_path, 2, 2, 2, 2))
    assert len(topo.cpus) == 16
    assert topo.packages == (0, 1) and len(topo.cores) == 8 and len(topo.l3_domains) == 4
    assert topo.get(0).core == (0, 8) and topo.get(0).l3 == (0, 1, 8, 9)
    assert topo.relation(0, 0) == "same-core"
    assert topo.relation(0, 8) == "smt-sibling"
    assert topo.relation(0, 1) == "same-l3"
    assert topo.relation(0, 2) == "cross-l3"
    assert topo.relation(0, 4) == "cross-socket"
    everything = range(16)
    assert topo.pair_for("smt-sibling", everything) == ((0, 8), "")
    assert topo.pair_for("same-l3", everything) == ((0, 1), "")
    assert topo.pair_for("cross-l3", everything) == ((0, 2), "")
    assert topo.pair_for("cross-socket", everything) == ((0, 4), "")
    # Affinity narrows the choice: only CPUs this process may use are paired.
    assert topo.pair_for("same-l3", [2, 3, 9]) == ((2, 3), "")
    pair, reason = topo.pair_for("cross-socket", [0, 1, 2, 3])
    assert pair == () and "needs two sockets" in reason and "1 socket" in reason
    summary = topo.summary()
    assert summary["sockets"] == 2 and summary["threads_per_core"] == 2
    assert summary["l3_caches"] == ["0-1,8-9", "2-3,10-11", "4-5,12-13", "6-7,14-15"]
    assert summary["placements"] == {"smt-sibling": "cpus 0,8", "same-l3": "cpus 0,1",
                                     "cross-l3": "cpus 0,2", "cross-socket": "cpus 0,4"}


def test_small_vm_tree_skips_what_it_lacks(tmp_path):
    # This project's VM: one socket, one L3, two cores without SMT.
    topo = read_topology(make_sysfs(tmp_path, 1, 1, 2, 1))
    placements = topo.summary()["placements"]
    assert placements["same-l3"] == "cpus 0,1"
    assert "needs two SMT threads of one core" in placements["smt-sibling"]
    assert "1 thread a core" in placements["smt-sibling"]
    assert "needs two L3 caches in one socket" in placements["cross-l3"]
    assert "needs two sockets" in placements["cross-socket"]


def test_missing_l3_and_offline_cpus(tmp_path):
    topo = read_topology(make_sysfs(tmp_path, 1, 2, 2, 2, l3=False, offline=(1, 5)))
    assert [c.cpu for c in topo.cpus] == [0, 2, 3, 4, 6, 7]
    assert topo.relation(0, 2) == ""  # no L3 reported: unknown, never guessed
    assert topo.pair_for("smt-sibling", range(8)) == ((0, 4), "")
    assert "reports no L3 cache" in topo.pair_for("same-l3", range(8))[1]


def test_explicit_placement_vocabulary():
    assert explicit_cpus("cpus:0,2") == (0, 2) and explicit_cpus("same-core") == ()
    assert check_placement("cpus:3") == "cpus:3"
    for bad in ("cpus:0,x", "cpus:", "elsewhere"):
        with pytest.raises(ValueError, match="invalid CPU list|unknown placement"):
            check_placement(bad)
    assert placement_rank("cross-socket") < placement_rank("cpus:0,1")
    assert Case("pipe", "bytes", "pingpong", 64, 1, "fork", "cpus:0,1").placement == "cpus:0,1"


def test_peers_get_the_pair_or_their_listed_cpu(tmp_path):
    topo = read_topology(make_sysfs(tmp_path, 2, 2, 2, 2))
    cpus = list(range(16))
    assert [affinity.cpus_for_peer("cross-l3", i, cpus, topo) for i in range(2)] == [(0,), (2,)]
    assert [affinity.cpus_for_peer("cpus:5,1", i, cpus) for i in range(3)] == [(5,), (1,), (5,)]
    assert affinity.placement_skip_reason("cross-socket", cpus, topo) == ""
    assert "CPU 3 is not one" in affinity.placement_skip_reason("cpus:0,3", [0, 1])
    assert affinity.peers_skip_reason("smt-sibling", 3) == (
        "placement smt-sibling places two peers (one pair); this case has 3")
    assert affinity.busy_poll_skip_reason("same-l3", 2, cpus, "x86_64") == ""
    assert "listed CPUs" in affinity.busy_poll_skip_reason("cpus:0,1", 3, cpus, "x86_64")
    assert "own CPU" in affinity.busy_poll_skip_reason("cpus:0,0", 2, cpus, "x86_64")


def test_plan_skips_topology_placements_this_machine_lacks(monkeypatch, tmp_path):
    topo = read_topology(make_sysfs(tmp_path, 1, 1, 2, 1))
    monkeypatch.setattr(affinity, "machine_topology", lambda: topo)
    planned = expand(["pipe"], ["pingpong", "stream"], [64], [1, 2], ["fork"],
                     placements=["same-l3", "cross-socket", "cpus:0,1", "cpus:0,7"],
                     cpus=[0, 1])
    reasons = {(p.case.placement, p.case.pattern, p.case.procs): p.skip_reason
               for p in planned if p.case.variant == "bytes"}
    assert reasons[("same-l3", "pingpong", 1)] == ""
    assert reasons[("same-l3", "stream", 1)] == ""
    assert "places two peers" in reasons[("same-l3", "pingpong", 2)]
    assert "needs two sockets" in reasons[("cross-socket", "pingpong", 1)]
    assert reasons[("cpus:0,1", "stream", 2)] == ""
    assert "CPU 7 is not one" in reasons[("cpus:0,7", "pingpong", 1)]


def test_machine_json_holds_the_topology():
    from ipcbench.system.machine import collect_metadata

    topology = collect_metadata()["topology"]
    assert set(topology) >= {"sockets", "physical_cores", "threads_per_core", "l3_caches",
                             "placements"}
    assert set(topology["placements"]) == {"smt-sibling", "same-l3", "cross-l3",
                                           "cross-socket"}


def test_core_to_core_matrix_is_mirrored_and_charted(tmp_path):
    from ipcbench.plotting.core_to_core import heatmap_figure, read_matrix

    topo = read_topology(make_sysfs(tmp_path / "sys", 2, 1, 1, 2))  # 4 CPUs
    calls = []

    def fake(a, b, round_trips):
        calls.append((a, b))
        return 1000.0 * (1 + topo.relation(a, b).count("-"))

    cells = measure_matrix([0, 1, 2, 3], topo, measure=fake)
    assert len(calls) == 10 and len(cells) == 16  # unordered pairs measured, mirrored
    by_pair = {(c.cpu_a, c.cpu_b): c for c in cells}
    assert by_pair[0, 2].relation == "smt-sibling" and by_pair[1, 0].relation == "cross-socket"
    assert by_pair[1, 0].p50_ns == by_pair[0, 1].p50_ns
    frame = read_matrix(write_matrix(tmp_path / "out", cells))
    assert len(frame) == 16 and set(frame["relation"]) == {
        "same-core", "smt-sibling", "cross-socket"}
    figure = heatmap_figure(frame)
    assert len(figure.axes[0].texts) == 16


def test_machine_topology_command_prints_every_placement(capsys):
    from ipcbench.cli import main

    assert main(["machine", "--topology"]) == 0
    out = capsys.readouterr().out
    for placement in ("smt-sibling", "same-l3", "cross-l3", "cross-socket"):
        assert placement in out


@pytest.mark.parametrize("argv, message", [
    (["run", "--cpus", "0,x"], "invalid cpus '0,x'"),
    (["run", "--placement", "cross-rack"], "unknown placement 'cross-rack'"),
    (["machine", "--c2c", "out", "--cpus", "9999"], "CPU 9999 is not one"),
])
def test_bad_placement_input_is_one_line(tmp_path, capsys, monkeypatch, argv, message):
    from ipcbench.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cpus_alone_plans_the_explicit_placement_only():
    from ipcbench.cli import build_parser
    from ipcbench.cli.run import plan_from_args

    args = build_parser().parse_args(["run", "-m", "pipe", "-p", "pingpong", "-s", "64",
                                      "-n", "1", "--cpus", "0"])
    planned, _ = plan_from_args(args)
    assert {p.case.placement for p in planned} == {"cpus:0"}
