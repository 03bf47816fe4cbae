"""Plain text for the terminal: the end-of-run summary table (rich), advise's answer,
and compare's one-screen verdict lines. Numbers only through ipcbench.core.units."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping

from rich import box
from rich.console import Console
from rich.table import Table

from ipcbench.analysis.advise import Advice, chosen_line
from ipcbench.analysis.compare import Comparison, by_effect, not_measured, verdict_counts
from ipcbench.analysis.gate import Gate
from ipcbench.analysis.verdict import SIGNIFICANT
from ipcbench.core.schema import DEFAULT_PAYLOAD
from ipcbench.core.sizes import format_size
from ipcbench.core.units import (
    MISSING,
    format_fraction,
    format_ratio,
    format_time_ns,
)
from ipcbench.render.run_table import SHORT_PLACEMENT, print_summary
from ipcbench.render.tables import change_text, summary_sentences

__all__ = ["advice_text", "compare_lines", "print_summary", "wrapped"]


def _advice_paragraph(advice: Advice, size_bytes: int, procs: int) -> str:
    best, runner, kind = advice.best, advice.runner_up, advice.kind
    text = (f"For {advice.pattern} of {format_size(size_bytes)} with {procs} procs, use "
            f"{best.name}: {kind.metric_label} {kind.format(best.figure)}")
    if math.isfinite(best.efficiency):
        text += (f" (efficiency {format_fraction(best.efficiency)} of the run's "
                 f"{kind.baseline.label})")
    text += "."
    if runner is not None:
        text += (f" Runner-up: {runner.name} at {kind.format(runner.figure)}; "
                 f"{best.name} is {format_ratio(advice.margin)} "
                 f"({format_fraction(advice.margin - 1)}) faster.")
    return text + (f" Based on {'the' if advice.exact else 'the nearest'} measured cell: "
                   f"{advice.cell.describe()}.")


def _advice_table(advice: Advice) -> list[str]:
    best, kind = advice.best, advice.kind
    header = ("rank", "mechanism/variant", "figure", "vs best", "median CI", "noisy")
    table = [header]
    for rank, c in enumerate(advice.ranking, 1):
        ratio = best.figure / c.figure if kind.higher_is_better else c.figure / best.figure
        spread = (c.high_ns - c.low_ns) / (c.high_ns + c.low_ns)
        interval = f"±{format_fraction(spread)}" if math.isfinite(spread) else MISSING
        table.append((str(rank), c.name, kind.format(c.figure),
                      "best" if rank == 1 else f"{format_ratio(ratio)} slower", interval,
                      "yes" if c.noisy else ""))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
            for r in table]


def advice_text(advice: Advice, size_bytes: int, procs: int) -> str:
    """What was chosen for the open dimensions, a short paragraph, the caveats and a
    table of the top candidates (plain text; wrapped() fits it to a terminal)."""
    lines = [chosen_line(advice.chosen)] if advice.chosen else []
    lines += [_advice_paragraph(advice, size_bytes, procs),
              *(f"  caveat: {c}" for c in advice.caveats), ""]
    return "\n".join(lines + _advice_table(advice))


def wrapped(text: str, width: int) -> str:
    """Each line of `text` wrapped at `width` columns (at least 40), continuation lines
    indented two spaces past the line's own indent; lines that fit are kept as they are
    (a table's rows)."""
    import textwrap

    width = max(width, 40)
    out = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        out += textwrap.wrap(line.strip(), width, initial_indent=indent,
                             subsequent_indent=indent + "  ", break_on_hyphens=False)
    return "\n".join(out)


# Significant changes listed on the terminal; the rest are in compare.md.
TOP_CHANGES = 20


def compare_lines(comparison: Comparison) -> list[str]:
    """A one-screen verdict summary of a comparison (the details are in compare.md):
    settings warnings, verdict counts, the plain-language summary."""
    lines = list(comparison.settings_notes)
    for tag, run, table in zip(comparison.tags[1:], comparison.runs[1:], comparison.tables,
                               strict=True):
        counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(table).items() if n)
        unmeasured = not_measured(table)
        lines.append(f"{tag} vs A ({run.label}): {counts}"
                     + (f"; {unmeasured} ok in neither (not counted)" if unmeasured else ""))
    # A Comparison built by hand may carry no agreements: then there is nothing to add.
    lines += [a.line(tag) for tag, a in zip(comparison.tags[1:], comparison.agreements,
                                            strict=False)]
    # What "no significant difference" could not have seen (detectable.py).
    lines += [d.line(tag) for tag, d in zip(comparison.tags[1:], comparison.detectables,
                                            strict=False) if d.cases]
    return lines + summary_sentences(comparison.tags, comparison.tables, comparison.min_effect)


def case_label(case: Mapping) -> str:
    """A compared case in a few words: channel, pattern, size, procs, placement, and
    the payload kind where it is not the default."""
    placement = case.get("placement", "")
    payload = case.get("payload", DEFAULT_PAYLOAD)
    return (f"{case['mechanism']}/{case['variant']} {case['pattern']} "
            f"{format_size(int(case['size_bytes']))} n{case['procs']} "
            f"{SHORT_PLACEMENT.get(placement, placement)}"
            + ("" if payload == DEFAULT_PAYLOAD else f" {payload}"))


def changes_table(comparison: Comparison, table, tag: str, top: int = TOP_CHANGES):
    """The significant changes of one pairing, largest effect first (as `pyperf
    compare_to` lists them): case, A, B, change, p."""
    changes = by_effect(table)
    changes = changes[changes["verdict"].isin(SIGNIFICANT)]
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                 title=f"{tag} vs A: {len(changes)} significant changes, largest first"
                       + (f" (top {top}; all in compare.md)" if len(changes) > top else ""),
                 title_justify="left", title_style="")
    for header in ("case", "A", tag, "change", "p"):
        grid.add_column(header, justify="left" if header == "case" else "right",
                        overflow="fold")
    for _, row in changes.head(top).iterrows():
        case = case_label(row)
        p_value = "" if math.isnan(row["p_value"]) else f"{row['p_value']:.2g}"
        grid.add_row(case, format_time_ns(row["median_ns_a"]), format_time_ns(row["median_ns_b"]),
                     change_text(row["ratio"], comparison.min_effect, comparison.metric),
                     p_value)
    return grid, len(changes)


def print_compare(comparison: Comparison, console: Console | None = None) -> None:
    """compare's terminal output: the summary lines, then per pairing a table of its
    significant changes sized to the console."""
    console = console or Console(file=sys.stdout)
    for line in compare_lines(comparison):  # wrapped here: indented, never past the width
        console.print(wrapped(line, console.width), markup=False, highlight=False,
                      soft_wrap=True)
    for tag, table in zip(comparison.tags[1:], comparison.tables, strict=True):
        grid, count = changes_table(comparison, table, tag)
        if count:
            console.print(grid)


GATE_WIDTH = 80  # a CI log's lines: one case a line, never wrapped


def gate_lines(gate: Gate, width: int = GATE_WIDTH) -> list[str]:
    """compare --fail-slower's verdict: one line, then one line per failing case
    (run tag, case, how much slower, p), each cut to `width` columns."""
    limit = f"by more than {gate.threshold_pct:g}%"
    if gate.passed:
        lines = [f"gate passed: none of {gate.judged} cases significantly slower than A "
                 f"{limit}"]
    else:
        lines = [f"gate failed: {len(gate.failures)} case(s) significantly slower than A "
                 f"{limit}:"]
    rows = []
    for failure in gate.failures:
        p_value = "" if math.isnan(failure.p_value) else f"p={failure.p_value:.2g}"
        rows.append((f"  {failure.tag} ", case_label(failure.case),
                     f"+{failure.slower_pct:.0f}%", p_value))
    # Columns aligned, the case cut (never the figures) where a line would be too wide.
    change_width = max((len(r[2]) for r in rows), default=0)
    p_width = max((len(r[3]) for r in rows), default=0)
    for head, label, change, p_value in rows:
        room = width - len(head) - change_width - p_width - 4
        label_width = min(room, max(len(r[1]) for r in rows))
        if len(label) > label_width:
            label = label[:label_width - 1] + "…"
        lines.append(f"{head}{label:<{label_width}}  {change:>{change_width}}  "
                     f"{p_value:>{p_width}}".rstrip())
    if gate.not_comparable:
        lines.append(f"  ({gate.not_comparable} case(s) measured ok in one run only: "
                     "not gated)")
    return [line[:width] for line in lines]
