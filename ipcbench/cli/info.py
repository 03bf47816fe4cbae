"""The small commands: `list` (mechanisms, variants, patterns, payload kinds), `machine`
(metadata as JSON), `clean` (what dead runs of this user left), `selfcheck` (harness vs
hand-written loops)."""

from __future__ import annotations

import argparse
import sys

from ipcbench.cli.args import choices, split
from ipcbench.core import patterns, payload_kinds
from ipcbench.core.schema import PLACEMENTS
from ipcbench.core.units import format_rate_bytes
from ipcbench.mechanisms import REGISTRY, install_state, public_names


def cmd_list(args: argparse.Namespace) -> int:
    for name in public_names():
        info = REGISTRY[name]
        print(f"{name}: {info.description}")
        if install_state(name):
            print(f"    optional: {install_state(name)}")
        if info.payloads:
            print(f"    payloads: {', '.join(info.payloads)}")
        for variant in info.variants:
            print(f"    {variant.name:<10} patterns: {', '.join(variant.patterns)}")
        for pattern, meaning in info.procs_meaning.items():
            print(f"    {pattern} --procs N: N {meaning} (not "
                  f"{patterns.get(pattern).procs_label}; ranked apart)")
    for kind in patterns.PATTERNS.values():
        print(f"pattern {kind.name}: {kind.summary} (--procs N: N {kind.procs_label})")
    for payload in payload_kinds.PAYLOADS.values():
        missing = payload.unavailable_reason()
        print(f"payload {payload.name}: {payload.summary}"
              + (f" [needs {payload.module}: {payload.install_hint}]" if missing else ""))
    return 0


def cmd_machine(args: argparse.Namespace) -> int:
    import json

    from ipcbench.system.machine import collect_metadata, warn_unfit

    if args.topology:
        return _print_topology()
    if args.c2c:
        return _core_to_core(args)
    meta = collect_metadata(("same-core", "cross-core"))
    warn_unfit(meta)
    print(json.dumps(meta, indent=2, sort_keys=True))
    return 0


def _print_topology() -> int:
    from ipcbench.system.affinity import allowed_cpus
    from ipcbench.system.topology import format_cpu_list, read_topology

    topology = read_topology()
    summary = topology.summary(allowed_cpus() or None)
    print(f"online CPUs {summary['online_cpus']}: {summary['sockets']} socket(s), "
          f"{summary['physical_cores']} physical core(s), {summary['threads_per_core']} "
          f"thread(s) a core, L3 caches: {', '.join(summary['l3_caches']) or 'none reported'}")
    print(f"{'cpu':>4} {'socket':>6}  {'core (its threads)':<20} L3 (its CPUs)")
    for cpu in topology.cpus:
        print(f"{cpu.cpu:>4} {cpu.package:>6}  {format_cpu_list(cpu.core):<20} "
              f"{format_cpu_list(cpu.l3) or '-'}")
    for placement, where in summary["placements"].items():
        print(f"{placement:<13} {where}")
    return 0


def _core_to_core(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ipcbench.cli.args import cpu_numbers
    from ipcbench.harness.core_to_core import measure_matrix, write_matrix
    from ipcbench.plotting import save_figure
    from ipcbench.plotting.core_to_core import heatmap_figure, read_matrix
    from ipcbench.system.affinity import allowed_cpus
    from ipcbench.system.topology import read_topology

    allowed = allowed_cpus()
    cpus = cpu_numbers(args.cpus) if args.cpus else allowed
    foreign = [c for c in cpus if c not in allowed]
    if foreign or not cpus:
        raise ValueError(f"invalid cpus {args.cpus!r}: CPU {foreign[0] if foreign else '-'} "
                         f"is not one this process may use ({allowed})")
    print(f"measuring {len(cpus) * (len(cpus) + 1) // 2} CPU pairs...", file=sys.stderr)
    out = Path(args.c2c)
    csv_path = write_matrix(out, measure_matrix(cpus, read_topology()))
    written = save_figure(heatmap_figure(read_matrix(csv_path)), out, "core_to_core", ["png"])
    print(f"wrote {csv_path} and {written[0]}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from ipcbench.system import hygiene

    # Only this user's entries of dead runs (see hygiene.py for how that is decided).
    removed = hygiene.sweep()
    print(
        f"removed {len(removed)} stale entr{'y' if len(removed) == 1 else 'ies'}"
        + (f": {', '.join(removed)}" if removed else "")
    )
    return 0


def cmd_selfcheck(args: argparse.Namespace) -> int:
    from ipcbench.harness.selfcheck import copy_bandwidth_bytes_per_s, run_selfcheck

    if args.rounds < 1:
        raise ValueError(f"invalid rounds {args.rounds!r}: must be at least 1")
    placements = choices("placement", split(args.placement) or ["same-core"], PLACEMENTS)
    print(f"interleaving harness and hand-written loops, {args.rounds} rounds...", file=sys.stderr)
    for placement in placements:
        for item in run_selfcheck(args.rounds, placement):
            # Raw figures side by side (the ratio is the point), in selfcheck's own unit.
            print(
                f"{item.what:<40} harness {item.harness:>10.4g} {item.unit:<4} "
                f"hand-written {item.hand:>10.4g} {item.unit:<4} ratio {item.ratio:.3f}"
            )
    copy = copy_bandwidth_bytes_per_s()
    print(f"numpy copy bandwidth (16 MiB, one core): {format_rate_bytes(copy)}; an shm stream "
          "copies twice per message (in and out), so it can reach at most about half of it")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("list", help="mechanisms, their variants and patterns, what each "
                               "pattern measures, and the payload kinds").set_defaults(
        func=cmd_list
    )
    machine = sub.add_parser("machine", help="print this machine's metadata (JSON, with its "
                                              "CPU topology)")
    machine.add_argument("--topology", action="store_true",
                         help="print the CPU topology as a table: sockets, cores, L3 caches "
                              "and the CPUs each topology placement uses")
    machine.add_argument("--c2c", metavar="DIR",
                         help="measure the core-to-core round-trip matrix (raw os.pipe, 64 B) "
                              "into DIR/core_to_core.csv and its heatmap core_to_core.png")
    machine.add_argument("--cpus", metavar="LIST",
                         help="with --c2c: these CPUs only, e.g. 0,2,4 (default: all allowed)")
    machine.set_defaults(func=cmd_machine)
    check = sub.add_parser("selfcheck", help="harness figures vs minimal hand-written loops")
    check.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    check.add_argument("--placement", nargs="+", help="same-core (default), cross-core, unpinned")
    check.set_defaults(func=cmd_selfcheck)
    sub.add_parser("clean", help="remove what dead runs of this user left in /dev/shm and "
                                 "the temp folder").set_defaults(
        func=cmd_clean
    )
