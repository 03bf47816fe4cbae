"""The end-of-run summary table: one block per workload (pattern, size, procs, placement,
payload), channels best first, the winner highlighted, sized to the real terminal.

A run's rows arrive in shuffled order and include skipped cases the matrix could not
run; a reader wants the opposite: cases grouped so a channel's figures sit next to its
competitors', and the combinations a mechanism does not support counted, not listed.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from ipcbench.core import patterns
from ipcbench.core.results import ResultRow
from ipcbench.core.schema import BASELINE_MECHANISM, DEFAULT_PAYLOAD, placement_rank
from ipcbench.core.sizes import format_size
from ipcbench.core.units import (
    MISSING,
    format_fraction,
    format_rate_msgs,
    format_time_ns,
)
from ipcbench.mechanisms import REGISTRY, channel_traits

BEST_STYLE = "bold green"
# What the mechanisms declare of their channels (procs meanings), read once.
_TRAITS = channel_traits()
# Below this width full placement names ("cross-core") cost a column we would rather keep.
_ROOMY_COLUMNS = 110
SHORT_PLACEMENT = {"same-core": "same", "cross-core": "cross", "unpinned": "free"}


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[ResultRow], str]
    numeric: bool = False
    # Lower = dropped first when the terminal is too narrow; None = always kept.
    keep: int | None = None
    # Part of the workload key: written on a block's first row only.
    workload: bool = False


def _figure(row: ResultRow) -> str:
    if row.status != "ok":
        return row.status
    kind = patterns.get(row.pattern)
    return kind.format(getattr(row, kind.metric))


def _ci(row: ResultRow) -> str:
    """Half-width of the median's CI as a share of the median: how far it may move."""
    low, high, mid = row.ci_low_ns, row.ci_high_ns, row.median_ns
    if not all(map(math.isfinite, (low, high, mid))) or mid <= 0:
        return MISSING
    return "±" + format_fraction((high - low) / 2 / mid)


def _apart(row: ResultRow) -> bool:
    """Its procs mean something else than its pattern's (core/traits.py): no rival."""
    return _TRAITS.unlike(row.mechanism, row.pattern, row.procs)


def _note(row: ResultRow) -> str:
    """Why the figure may not reproduce, in one word (NOISE_LEGEND), empty when it
    should; `saturated` first for an open-loop case that did not keep its rate."""
    words = ["saturated"] if row.saturated else []
    if row.noisy:
        kinds = [kind.split("-")[0] for kind in row.noise.split("+") if kind]
        words.append("+".join(kinds) if kinds else "yes")
    return " ".join(words)


def _p99(row: ResultRow) -> str:
    """The tail a user feels: one message's one-way latency where the pattern has it
    (stream, fanout), else the round trip's (pingpong)."""
    one_way = patterns.get(row.pattern).open_loop
    return format_time_ns(row.lat_p99_ns if one_way else row.p99_ns)


def _rate(row: ResultRow) -> str:
    return format_rate_msgs(row.rate_per_s) if row.rate_per_s else "max"


NOISE_LEGEND = ("noisy (may not reproduce within 10%): between = sessions disagree, "
                "within = repeats already disagree")
APART_MARK = "*"
APART_LEGEND = (f"{APART_MARK} its procs mean something else than the pattern's (`ipcbench "
                "list` says what): listed after its workload's ranked channels, not ranked")
SATURATED_LEGEND = ("saturated: the senders fell below 95% of their --rate (a backlog "
                    "grew; its latencies are a queue's)")


def channel(row: ResultRow) -> str:
    """mechanism/variant, without a variant that only says "default"."""
    return row.mechanism if row.variant == "default" else f"{row.mechanism}/{row.variant}"


def _columns(short: bool, payloads: bool, rates: bool = False) -> list[Column]:
    place = (lambda r: SHORT_PLACEMENT.get(r.placement, r.placement)) if short else (
        lambda r: r.placement)
    columns = [
        Column("pattern", lambda r: r.pattern, workload=True),
        Column("size", lambda r: format_size(r.size_bytes) if patterns.get(r.pattern).sized
               else MISSING, numeric=True, workload=True),
        Column("n", lambda r: str(r.procs), numeric=True, workload=True),
        Column("place" if short else "placement", place, workload=True),
    ]
    if payloads:
        columns.append(Column("payload", lambda r: r.payload, workload=True))
    if rates:
        columns.append(Column("rate", _rate, numeric=True, workload=True))
    return columns + [
        Column("channel", lambda r: channel(r) + (APART_MARK if _apart(r) else "")),
        Column("figure", _figure, numeric=True),
        Column("CI", _ci, numeric=True, keep=4),
        Column("p99", _p99, numeric=True, keep=2),
        Column("msgs/s", lambda r: format_rate_msgs(r.msgs_per_s), numeric=True, keep=1),
        Column("CPU/msg", lambda r: format_time_ns(r.cpu_s_per_msg * 1e9), numeric=True,
               keep=0),
        Column("eff", lambda r: format_fraction(r.efficiency), numeric=True, keep=3),
        Column("noisy", _note, keep=5),
    ]


def _workload(row: ResultRow) -> tuple:
    order = list(patterns.PATTERN_NAMES)
    return (order.index(row.pattern), row.size_bytes, row.procs,
            placement_rank(row.placement), row.payload != DEFAULT_PAYLOAD, row.payload,
            row.rate_per_s or math.inf)


def _rank(row: ResultRow) -> tuple:
    """Best first inside a workload, channels kept apart after the ranked ones, rows
    without a figure (failed) last."""
    kind = patterns.get(row.pattern)
    value = getattr(row, kind.metric) if row.status == "ok" else math.nan
    if not math.isfinite(value):
        return (2, 0.0)
    return (int(_apart(row)), -value if kind.higher_is_better else value)


def groups(rows: Sequence[ResultRow]) -> list[list[ResultRow]]:
    """Measured rows (ok, failed, timeout) by workload in case order, best first."""
    shown = [r for r in rows if r.status != "skipped" and r.mechanism != BASELINE_MECHANISM]
    by_workload: dict[tuple, list[ResultRow]] = {}
    for row in sorted(shown, key=_workload):
        by_workload.setdefault(_workload(row), []).append(row)
    return [sorted(g, key=_rank) for g in by_workload.values()]


def _title(columns: list[Column]) -> str:
    """Names only the columns the table has (at 80 columns p99 is dropped)."""
    p99 = "; p99 of stream and fanout: one way" if any(c.header == "p99" for c in columns) else ""
    return f"per message (pingpong: round trip{p99}), best first in each workload"


def _table(blocks: list[list[ResultRow]], columns: list[Column]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), show_edge=False,
                  collapse_padding=True, title=_title(columns),
                  title_justify="left", title_style="")
    for column in columns:
        table.add_column(column.header, justify="right" if column.numeric else "left",
                         no_wrap=True, overflow="ellipsis")
    for block in blocks:
        for index, row in enumerate(block):
            cells = ["" if index and c.workload else c.cell(row) for c in columns]
            best = index == 0 and row.status == "ok" and len(block) > 1 and not _apart(row)
            table.add_row(*cells, style=BEST_STYLE if best else None,
                          end_section=index == len(block) - 1)
    return table


def fitted_table(blocks: list[list[ResultRow]], console: Console) -> Table:
    """The widest table that fits the console: drop low-priority columns first, then
    abbreviate placements."""
    payloads = len({r.payload for b in blocks for r in b}) > 1
    rates = any(r.rate_per_s for b in blocks for r in b)
    short = console.width < _ROOMY_COLUMNS
    columns = _columns(short, payloads, rates)
    droppable = sorted((c for c in columns if c.keep is not None), key=lambda c: c.keep)
    while True:
        table = _table(blocks, columns)
        width = Measurement.get(console, console.options.update_width(10_000), table).maximum
        if width <= console.width or not droppable:
            return table
        columns = [c for c in columns if c is not droppable[0]]
        droppable = droppable[1:]


def unsupported(row: ResultRow) -> bool:
    """A skipped row for a combination the mechanism does not implement (not a problem
    with this machine, so it is counted rather than listed)."""
    info = REGISTRY.get(row.mechanism)
    if info is None or row.status != "skipped":
        return False
    return all(row.pattern not in variant.patterns for variant in info.variants)


def _other_lines(rows: Sequence[ResultRow], noted: bool = True) -> list[str]:
    """The skipped and failed cases in a few lines, then the legends of what the table
    shows (`noted`: its note column was kept at this width)."""
    lines = []
    skipped = [r for r in rows if unsupported(r)]
    if skipped:
        lines.append(f"{len(skipped)} combinations skipped: pattern not supported by the "
                     "mechanism (`ipcbench list` shows which)")
    # Other reasons are long; each distinct one once instead of widening the table.
    reasons: dict[str, int] = {}
    for row in rows:
        if row.status != "ok" and not unsupported(row):
            key = f"{row.status}: {row.reason}"
            reasons[key] = reasons.get(key, 0) + 1
    lines += [f"{count} x {reason}" for reason, count in reasons.items()]
    if noted and any(r.noisy for r in rows):
        lines.append(NOISE_LEGEND)
    if noted and any(r.saturated for r in rows):
        lines.append(SATURATED_LEGEND)
    if any(_apart(r) for r in rows if r.status == "ok"):
        lines.append(APART_LEGEND)
    return lines


def print_summary(rows: Sequence[ResultRow], console: Console | None = None) -> None:
    """The end-of-run table at the console's real width (80 columns and up), then the
    skipped and failed cases in a few lines."""
    console = console or Console(file=sys.stdout)
    blocks = groups(rows)
    table = fitted_table(blocks, console) if blocks else None
    if table is not None:
        console.print(table)
    headers = {str(c.header) for c in table.columns} if table is not None else set()
    for line in _other_lines(rows, noted="noisy" in headers):
        console.print(line, markup=False, highlight=False)
