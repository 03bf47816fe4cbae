"""`ipcbench fleet --address RAY_ADDRESS [run flags]`: the same matrix on every node of a
running Ray cluster (fleet_nodes.py: one pinned task per node, nodes of one host in
turn, bounded waits), each node's rows streamed into --out as it writes them and its
result set written whole at its end, side by side (<host>-<node>/ run folders and
fleet.json), then compared when two or more came back (--out/compare). Ray is the
[ray] extra: without it, one line says so.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

from ipcbench.cli.run import add_matrix_flags

EXIT_SOME_FAILED = 1
DEFAULT_NODE_TIMEOUT_S = 3600.0
# The driver waits this much past a node's own bound before cancelling it: the node's
# run is killed at its bound and still has to send its files back.
DRIVER_GRACE_S = 30.0
FLEET_FILE = "fleet.json"


def node_argv(args: argparse.Namespace, parser_actions) -> list[str]:
    """The matrix flags given to `fleet`, as `ipcbench run` arguments for each node."""
    from ipcbench.cli.run_job import MATRIX_FLAGS

    argv: list[str] = []
    for action in parser_actions:
        if action.dest not in MATRIX_FLAGS or not action.option_strings:
            continue
        value = getattr(args, action.dest)
        if value is None or value is False:
            continue
        flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") \
            else action.option_strings[0]
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def cmd_fleet(args: argparse.Namespace) -> int:
    from ipcbench.cli.run import plan_from_args

    if args.samples:  # the nodes send back their CSVs and metadata, not samples/*.npz
        raise ValueError("fleet does not bring --samples back from the nodes: run "
                         "`ipcbench run --samples` on a node instead")
    if not args.node_timeout > 0:
        raise ValueError(f"invalid --node-timeout {args.node_timeout!r}: must be seconds above 0")
    if args.seed is None:  # one order for every node: their rows read alike
        args.seed = random.SystemRandom().randrange(1 << 31)
    plan_from_args(args)  # every flag refused here, before any node starts
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"output folder {str(out)!r} is not empty")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError("fleet needs Ray: pip install 'ipcbench[ray]'") from None
    return _fleet(args, out, node_argv(args, args.parser_actions))


def _reachable(address: str) -> None:
    """A host:port nothing listens at is refused in one line at once (Ray itself retries
    for a minute); other address forms are left to Ray."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ValueError(f"cannot join the Ray cluster at {address!r}: "
                         f"{exc.strerror or exc}") from None


def _connect(address: str) -> None:
    import logging

    import ray

    from ipcbench.cli.fleet_nodes import CONNECT_S
    from ipcbench.system.deadlines import CaseTimeout, call_within

    # In a thread of its own (bounded): there Ray leaves ipcbench's SIGTERM handler in
    # place, and says so in a warning nobody needs.
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        call_within(lambda: ray.init(address=address, logging_level=logging.ERROR,
                                     log_to_driver=False, configure_logging=False),
                    CONNECT_S, f"joining the Ray cluster at {address}")
    except CaseTimeout as exc:
        raise ValueError(str(exc)) from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ValueError(f"cannot join the Ray cluster at {address!r}: {first}") from None


def _fleet(args: argparse.Namespace, out: Path, argv: list[str]) -> int:
    import ray

    from ipcbench.cli.fleet_nodes import RayBackend, alive_nodes, measure_fleet
    from ipcbench.system.safefile import safe_dir

    _reachable(args.address)
    _connect(args.address)
    try:
        nodes = alive_nodes(ray.nodes())
        if not nodes:
            raise ValueError(f"the Ray cluster at {args.address!r} has no live node with a CPU")
        safe_dir(out)
        print(f"fleet: {len(nodes)} node(s) on {len({n.host for n in nodes})} host(s); "
              f"each runs: ipcbench run {' '.join(argv)}", file=sys.stderr)
        entries: list[dict] = []

        def on_result(result) -> None:
            entries.append(_write_node(out, result))
            _write_fleet_file(out, args, argv, entries)  # kept current: a crash keeps it
            line = f"{result.node.name}: {result.status}"
            print(line + (f" ({result.reason})" if result.reason else
                          f", {result.seconds:.0f} s -> {out / result.node.name}"))

        backend = RayBackend(argv, args.node_timeout)
        results = measure_fleet(nodes, backend, args.node_timeout + DRIVER_GRACE_S, on_result,
                                on_append=lambda node, grown: _append_rows(out, node, grown))
    finally:
        ray.shutdown()
    ok = [out / r.node.name for r in results if r.status == "ok"]
    if len(ok) >= 2:
        _compare(ok, out / "compare")
    elif ok:
        print("fleet: one result set came back: nothing to compare")
    return 0 if len(ok) == len(results) else EXIT_SOME_FAILED


def _append_rows(out: Path, node, grown: dict) -> None:
    """Whole lines a node's CSVs gained, appended to its folder as they stream in."""
    from ipcbench.system.safefile import refuse_link, safe_dir

    folder = safe_dir(out / node.name)
    for name, data in grown.items():
        path = folder / Path(name).name
        refuse_link(path)
        with open(path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def _write_node(out: Path, result) -> dict:
    """The node's whole files into out/<node name>/ over what streamed in; a node that
    failed keeps what streamed (whole rows) and whatever files it sent."""
    from ipcbench.system.safefile import safe_dir, write_atomic

    folder = out / result.node.name
    if result.files:
        safe_dir(folder)
        for name, data in result.files.items():
            write_atomic(folder / Path(name).name, data)
    return {"node_id": result.node.node_id, "host": result.node.host,
            "hostname": result.hostname, "cpus": result.node.cpus, "status": result.status,
            "reason": result.reason, "seconds": round(result.seconds, 1),
            "folder": result.node.name if folder.is_dir() else None}


def _write_fleet_file(out: Path, args: argparse.Namespace, argv: list[str],
                      entries: list[dict]) -> None:
    from ipcbench.system.safefile import write_atomic

    document = {"schema": "ipcbench-fleet/1", "address": args.address, "run_argv": argv,
                "nodes": entries}
    write_atomic(out / FLEET_FILE, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


def _compare(folders: list[Path], where: Path) -> None:
    from ipcbench.analysis.compare import compare_runs
    from ipcbench.analysis.runs import load_runs
    from ipcbench.core.results import ResultsError
    from ipcbench.render.machines import machines_lines, view_of
    from ipcbench.render.markdown import write_comparison
    from ipcbench.render.terminal import print_compare

    try:
        comparison = compare_runs(load_runs(folders))
    except ResultsError as exc:
        print(f"fleet: no comparison: {exc}")
        return
    written = write_comparison(comparison, where, charts=False)
    print_compare(comparison)
    view = view_of(comparison)
    if view is not None:
        print("\n".join(machines_lines(view)))
    print(f"comparison: {written.paths[0]}")


def register(sub: argparse._SubParsersAction) -> None:
    fleet = sub.add_parser(
        "fleet", help="run the matrix on every node of a Ray cluster, side by side",
        description="One `ipcbench run` per node of a running Ray cluster (pinned to it, "
                    "all its CPUs; nodes of one host in turn), each node's rows "
                    "streamed into --out as it measures, then compared. Needs the [ray] "
                    "extra on this machine and ipcbench on every node.")
    fleet.add_argument("--address", required=True, metavar="RAY_ADDRESS",
                       help="the cluster to join, e.g. 10.0.0.5:6379 (as `ray start` printed)")
    fleet.add_argument("--out", "-o", required=True, metavar="DIR",
                       help="new or empty folder for the nodes' run folders and fleet.json")
    fleet.add_argument("--node-timeout", type=float, default=DEFAULT_NODE_TIMEOUT_S,
                       metavar="S", help="seconds a node's run may take before it is "
                                         f"killed and listed as a timeout "
                                         f"(default {DEFAULT_NODE_TIMEOUT_S:.0f})")
    add_matrix_flags(fleet)
    fleet.set_defaults(func=cmd_fleet, parser_actions=fleet._actions)  # noqa: SLF001
