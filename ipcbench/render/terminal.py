"""Plain text for the terminal: the end-of-run summary table (rich), advise's answer,
and compare's one-screen verdict lines. Numbers only through ipcbench.units."""

from __future__ import annotations

import math

from ipcbench.analysis.advise import Advice
from ipcbench.analysis.compare import Comparison, verdict_counts
from ipcbench.render.runsummary import print_summary
from ipcbench.render.tables import summary_sentences
from ipcbench.sizes import format_size
from ipcbench.units import (
    MISSING,
    format_fraction,
    format_ratio,
)

__all__ = ["advice_text", "compare_lines", "print_summary"]


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
    """A short paragraph, the caveats and a table of the top candidates (plain text)."""
    lines = [_advice_paragraph(advice, size_bytes, procs),
             *(f"  caveat: {c}" for c in advice.caveats), ""]
    return "\n".join(lines + _advice_table(advice))


def compare_lines(comparison: Comparison) -> list[str]:
    """A one-screen verdict summary of a comparison (the details are in compare.md)."""
    lines = []
    for tag, run, table in zip(comparison.tags[1:], comparison.runs[1:], comparison.tables,
                               strict=True):
        counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(table).items() if n)
        lines.append(f"{tag} vs A ({run.label}): {counts}")
    return lines + summary_sentences(comparison.tags, comparison.tables)
