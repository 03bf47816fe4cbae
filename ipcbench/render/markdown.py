"""compare.md: the comparison of several runs as one markdown file, with the overlay
charts written beside it."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ipcbench.analysis.compare import (
    ALPHA,
    MIN_EFFECT,
    Comparison,
    compare_runs,
    one_sided,
    ranking,
)
from ipcbench.analysis.runs import load_runs, metadata_table
from ipcbench.core.units import format_ratio
from ipcbench.plotting import FORMATS, save_figure
from ipcbench.plotting.overlay import overlay_set, skipped_line
from ipcbench.render.machines import machines_markdown, view_of
from ipcbench.render.tables import (
    display_table,
    one_sided_table,
    ratio_note,
    summary_sentences,
    summary_table,
    verdict_summary,
)
from ipcbench.system.safefile import write_atomic


def md_text(value: object) -> str:
    """Text from a CSV or machine.json, safe inside Markdown: HTML is escaped (a viewer
    renders raw HTML: `<script>` or `<img onerror>` from a CSV must stay text), and the
    characters that would open a link or an image, start code or end a table cell."""
    text = html.escape(str(value), quote=True).replace("\n", " ").replace("\r", " ")
    for char in "\\`[]|":
        text = text.replace(char, "\\" + char)
    return text


def _md_cell(value: object) -> str:
    return md_text(value)


def markdown_table(frame: pd.DataFrame, index: bool = False) -> str:
    if index:
        frame = frame.reset_index(names="")
    header = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False, name=None)]
    return "\n".join([header, rule, *body])


def _summary_lines(comparison: Comparison) -> list[str]:
    tags = comparison.tags
    lines = ["## Summary", ""]
    sentences = summary_sentences(tags, comparison.tables, comparison.min_effect)
    # How far the runs agree (an A/A test reads this) and what change each pairing can
    # call at all (what "no significant difference" could not have seen).
    notes = [a.line(tag) for tag, a in zip(tags[1:], comparison.agreements, strict=False)]
    notes += [d.line(tag) for tag, d in zip(tags[1:], comparison.detectables, strict=False)
              if d.cases]
    sentences = [*sentences, *("; ".join(part.strip() for part in note.splitlines())
                               for note in notes)]
    lines += [f"- {md_text(line)}" for line in sentences] + [""]
    lines += [markdown_table(summary_table(tags, comparison.tables)), ""]
    order = ranking(tags, comparison.tables, comparison.metric)
    by = "efficiency" if comparison.metric == "efficiency" else "speed"
    lines += [f"Ranked by {by}: " + " > ".join(f"{md_text(t)} ({format_ratio(v)})"
                                               for t, v in order),
              ""]
    lines += ["### Verdicts per case", "", markdown_table(verdict_summary(comparison)), ""]
    return lines


def comparison_markdown(comparison: Comparison, chart_files: Sequence[str] = (),
                        skipped_charts: Sequence[str] = ()) -> str:
    tags, runs = comparison.tags, comparison.runs
    lines = ["# ipcbench comparison", ""]
    lines += [f"- **{md_text(tag)}**: {md_text(run.label)} ({md_text(run.csv_path)})"
              for tag, run in zip(tags, runs, strict=True)]
    lines += ["", *[f"**{note}**" for note in comparison.settings_details]]
    lines += ["", ratio_note(comparison), "", *_summary_lines(comparison)]
    view = view_of(comparison)
    if view is not None:
        lines += machines_markdown(view)
    lines += ["## Machines", "", markdown_table(metadata_table(runs, tags), index=True), ""]
    if chart_files or skipped_charts:
        lines += ["## Charts", ""] + [f"![{name}]({name})" for name in chart_files] + [""]
    if skipped_charts:
        lines += [f"{skipped_line(skipped_charts)}: "
                  f"{', '.join(md_text(stem) for stem in skipped_charts)}.", ""]
    lines += ["## Cases (significant changes first, largest effect first)", "",
              markdown_table(display_table(comparison)), ""]
    lines += ["## Cases on one side only", ""]
    sided = one_sided(comparison)
    if not sided:
        lines += ["None: every case was measured in every run.", ""]
    for title, keys in sided:
        lines += [f"### {md_text(title)} ({len(keys)})", "",
                  markdown_table(one_sided_table(keys)), ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class ComparisonFiles:
    """What write_comparison wrote, and the overlay charts it did not draw (fewer than
    two runs had data for them)."""

    paths: tuple[Path, ...]
    skipped_charts: tuple[str, ...] = ()


def write_comparison(comparison: Comparison, out_dir: str | os.PathLike[str], *,
                     formats: Sequence[str] = FORMATS, charts: bool = True) -> ComparisonFiles:
    """Write compare.md (and overlay charts) for a computed comparison."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    chart_names = []
    skipped: tuple[str, ...] = ()
    if charts:
        overlays = overlay_set(comparison.runs, metric=comparison.metric,
                               mechanisms=comparison.mechanisms or None)
        skipped = overlays.skipped
        for stem, figure in overlays.figures.items():
            written += save_figure(figure, out, stem, formats)
            chart_names.append(f"{stem}.{'png' if 'png' in formats else formats[0]}")
    markdown = write_atomic(out / "compare.md", comparison_markdown(
        comparison, chart_names, skipped).encode("utf-8"))
    return ComparisonFiles((markdown, *written), skipped)


def write_compare(paths: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                  formats: Sequence[str] = FORMATS, charts: bool = True,
                  min_effect: float = MIN_EFFECT, alpha: float = ALPHA, metric: str = "time",
                  mechanisms: Sequence[str] = ()) -> list[Path]:
    """Read the runs, write compare.md and overlay charts; return the files written."""
    comparison = compare_runs(load_runs(paths), min_effect=min_effect, alpha=alpha,
                              metric=metric, mechanisms=mechanisms)
    return list(write_comparison(comparison, out_dir, formats=formats, charts=charts).paths)
