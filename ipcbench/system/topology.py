"""CPU topology from sysfs: which CPUs are SMT threads of one core, share an L3 cache,
or sit in one socket; and the pair of CPUs each topology placement puts two peers on.

On a real server the round trip between two peers moves 2-10x between an SMT sibling,
another core of the same L3, another L3 (chiplet) of the same socket and another socket,
so those relations are placements of their own (core/schema.TOPOLOGY_PLACEMENTS).

Pure parsing of a sysfs root passed in (default the machine's own): the tests build
synthetic trees (SMT pairs, two L3s, two sockets) in a temp folder. A file that is
missing or unreadable (containers, other kernels) leaves its relation unknown, never
guessed: a placement that needs it is then skipped with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SYSFS_CPU_ROOT = "/sys/devices/system/cpu"
# The placements named by a relation of two CPUs, nearest first (core/schema.PLACEMENTS
# holds them with the others), and the prefix of an explicit per-peer CPU list.
TOPOLOGY_PLACEMENTS = ("smt-sibling", "same-l3", "cross-l3", "cross-socket")
EXPLICIT_PREFIX = "cpus:"


def explicit_cpus(placement: str) -> tuple[int, ...]:
    """The CPUs of an explicit placement ("cpus:0,2" -> (0, 2)); () for a named one.
    ValueError naming the value when it is malformed."""
    if not placement.startswith(EXPLICIT_PREFIX):
        return ()
    parts = placement[len(EXPLICIT_PREFIX):].split(",")
    if not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"invalid CPU list {placement[len(EXPLICIT_PREFIX):]!r}: "
                         "want CPU numbers separated by commas, e.g. 0,2")
    return tuple(int(p) for p in parts)


def explicit_placement(cpus) -> str:
    """The placement value pinning peer i to cpus[i] (cycling when there are more peers)."""
    return EXPLICIT_PREFIX + ",".join(str(int(c)) for c in cpus)


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """Pure: the kernel's list format ("0-3,8,10-11") as sorted CPU numbers; ValueError
    naming the text when it is not one."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not match:
            raise ValueError(f"invalid CPU list {text.strip()!r}")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if high < low:
            raise ValueError(f"invalid CPU list {text.strip()!r}: {part} runs backwards")
        cpus.update(range(low, high + 1))
    return tuple(sorted(cpus))


def format_cpu_list(cpus: Sequence[int]) -> str:
    """Pure: the inverse of parse_cpu_list, runs folded ("0-3,8")."""
    runs: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


@dataclass(frozen=True)
class Cpu:
    """One online logical CPU and the domains it belongs to (-1 = not reported)."""

    cpu: int
    package: int  # physical_package_id: the socket
    core: tuple[int, ...]  # the logical CPUs of its physical core (thread_siblings_list)
    l3: tuple[int, ...]  # the logical CPUs sharing its L3 cache; () = no L3 reported


@dataclass(frozen=True)
class Topology:
    cpus: tuple[Cpu, ...]

    def get(self, cpu: int) -> Cpu | None:
        return next((c for c in self.cpus if c.cpu == cpu), None)

    @property
    def packages(self) -> tuple[int, ...]:
        return tuple(sorted({c.package for c in self.cpus}))

    @property
    def cores(self) -> tuple[tuple[int, ...], ...]:
        return tuple(sorted({c.core for c in self.cpus}))

    @property
    def l3_domains(self) -> tuple[tuple[int, ...], ...]:
        return tuple(sorted({c.l3 for c in self.cpus if c.l3}))

    def threads_per_core(self) -> int:
        return max((len(core) for core in self.cores), default=0)

    def relation(self, a: int, b: int) -> str:
        """How two CPUs relate, nearest first: same-core, smt-sibling, same-l3,
        cross-l3, cross-socket ('' when a CPU is unknown or the L3 is not reported)."""
        first, second = self.get(a), self.get(b)
        if first is None or second is None:
            return ""
        if a == b:
            return "same-core"
        if first.package != second.package:
            return "cross-socket"
        if first.core == second.core:
            return "smt-sibling"
        if not first.l3 or not second.l3:
            return ""
        return "same-l3" if first.l3 == second.l3 else "cross-l3"

    def pair_for(self, placement: str, allowed: Sequence[int]) -> tuple[tuple[int, int], str]:
        """The lowest pair of `allowed` CPUs in the relation `placement` names, and ""; or
        (), and why this machine has none (a sentence naming what is missing)."""
        usable = sorted(c for c in allowed if self.get(c) is not None)
        for i, a in enumerate(usable):
            for b in usable[i + 1:]:
                if self.relation(a, b) == placement:
                    return (a, b), ""
        return (), self._missing(placement, usable)

    def _missing(self, placement: str, usable: Sequence[int]) -> str:
        sub = Topology(tuple(c for c in self.cpus if c.cpu in usable))
        had = (f"{len(usable)} usable CPU{'s' if len(usable) != 1 else ''}, "
               f"{len(sub.packages)} socket{'s' if len(sub.packages) != 1 else ''}, "
               f"{len(sub.l3_domains)} L3 cache{'s' if len(sub.l3_domains) != 1 else ''}, "
               f"{sub.threads_per_core()} thread{'s' if sub.threads_per_core() != 1 else ''} "
               "a core")
        needs = {
            "smt-sibling": "two SMT threads of one core",
            "same-l3": "two cores sharing an L3 cache",
            "cross-l3": "two L3 caches in one socket",
            "cross-socket": "two sockets",
        }.get(placement, "a pair of CPUs it knows")
        if placement in ("same-l3", "cross-l3") and not sub.l3_domains:
            had += " (the kernel reports no L3 cache)"
        return f"placement {placement} needs {needs}; this machine has {had}"

    def summary(self, allowed: Sequence[int] | None = None) -> dict:
        """For machine.json and `ipcbench machine`: the domains, and the CPU pair each
        topology placement would use among `allowed` (or why there is none)."""
        allowed = [c.cpu for c in self.cpus] if allowed is None else list(allowed)
        pairs = {}
        for placement in TOPOLOGY_PLACEMENTS:
            pair, reason = self.pair_for(placement, allowed)
            pairs[placement] = f"cpus {pair[0]},{pair[1]}" if pair else reason
        return {
            "online_cpus": format_cpu_list([c.cpu for c in self.cpus]),
            "sockets": len(self.packages),
            "physical_cores": len(self.cores),
            "threads_per_core": self.threads_per_core(),
            "l3_caches": [format_cpu_list(d) for d in self.l3_domains],
            "placements": pairs,
        }


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _l3(cpu_dir: Path) -> tuple[int, ...]:
    for index in sorted(cpu_dir.glob("cache/index*")):
        if _read(index / "level") == "3" and _read(index / "type") in ("Unified", "Data"):
            shared = _read(index / "shared_cpu_list")
            return parse_cpu_list(shared) if shared else ()
    return ()


def read_topology(root: str | Path = SYSFS_CPU_ROOT) -> Topology:
    """The online CPUs under `root` (a sysfs cpu folder) and their domains. A CPU whose
    topology folder is missing counts as a core and a socket of its own (package -1)."""
    root = Path(root)
    online_text = _read(root / "online")
    if online_text:
        online = parse_cpu_list(online_text)
    else:
        online = tuple(sorted(int(p.name[3:]) for p in root.glob("cpu[0-9]*")))
    cpus = []
    for number in online:
        cpu_dir = root / f"cpu{number}"
        topo = cpu_dir / "topology"
        package_text = _read(topo / "physical_package_id")
        siblings = (_read(topo / "core_cpus_list") or _read(topo / "thread_siblings_list"))
        cpus.append(Cpu(
            cpu=number,
            package=int(package_text) if package_text.lstrip("-").isdigit() else -1,
            core=parse_cpu_list(siblings) if siblings else (number,),
            l3=_l3(cpu_dir),
        ))
    return Topology(tuple(cpus))
