"""report.html: one self-contained page per set of runs: charts inline as SVG, summary
tables, machine metadata, and the comparison when several runs are given.

Self-contained means no external URL, no script, no separate image file: the page can
be mailed, attached to an issue or opened offline years later.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ipcbench import patterns
from ipcbench.analysis.compare import Comparison, compare_runs, one_sided, run_tags
from ipcbench.analysis.frames import unique_cases
from ipcbench.analysis.runs import Run, load_runs, metadata_table, require_ok_rows
from ipcbench.plotting import figure_to_svg, run_figures
from ipcbench.plotting.best import best_table
from ipcbench.plotting.overlay import overlay_figures
from ipcbench.render.tables import (
    display_table,
    ratio_note,
    sized_keys,
    summary_sentences,
    summary_table,
    verdict_summary,
)
from ipcbench.safefile import safe_dir, write_atomic
from ipcbench.sizes import format_size
from ipcbench.units import (
    MISSING,
    format_fraction,
    format_rate_bytes,
    format_rate_msgs,
    format_time_ns,
)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
h1, h2, h3 { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
.chart svg { max-width: 100%; height: auto; }
.faster { color: #1a7f37; font-weight: 600; }
.slower { color: #c62828; font-weight: 600; }
.note { color: #555; font-size: 0.9em; }
details { margin: 0.5em 0 1.5em; }
"""

_VERDICT_CLASSES = {"faster": "faster", "slower": "slower", "more efficient": "faster",
                    "less efficient": "slower"}


def html_table(frame: pd.DataFrame, index: bool = False) -> str:
    """Escape every cell; verdict cells get a class so faster/slower stand out."""
    if index:
        frame = frame.reset_index(names="")
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for value in record:
            css = _VERDICT_CLASSES.get(str(value))
            attr = f' class="{css}"' if css else ""
            cells.append(f"<td{attr}>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cpu_time(cpu_s: pd.Series) -> pd.Series:
    return (pd.to_numeric(cpu_s, errors="coerce") * 1e9).map(format_time_ns)


def _margin(value: float) -> str:
    return MISSING if pd.isna(value) else f"+{format_fraction(value)}"


def best_summary(run: Run) -> pd.DataFrame:
    """The 'which channel' answer as a table: winner, its CPU cost and efficiency,
    runner-up and margin per cell (and placement / payload kind when several)."""
    parts = []
    for name in patterns.sized_names():
        table = best_table(run.frame, name)
        if table.empty:
            continue
        parts.append(pd.DataFrame({
            "pattern": name,
            "placement": table["placement"],
            "payload": table["payload"],
            "size": table["size_bytes"].map(format_size),
            "procs": table["procs"],
            "best": table["winner"],
            "value": table["value"].map(patterns.get(name).format),
            "CPU/msg": _cpu_time(table["cpu_s_per_msg"]),
            "efficiency": table["efficiency"].map(format_fraction),
            "runner-up": table["runner_up"].replace("", MISSING),
            "margin": table["margin"].map(_margin),
        }))
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts, ignore_index=True)
    return frame.drop(columns=[c for c in ("placement", "payload") if frame[c].nunique() < 2])


def _rate(pattern: str, msgs_per_s: float, bytes_per_s: float) -> str:
    """Bytes/s for patterns that move a payload, increments/s for the counter."""
    if patterns.get(pattern).sized:
        return format_rate_bytes(bytes_per_s)
    return format_rate_msgs(msgs_per_s)


def cases_table(run: Run) -> pd.DataFrame:
    """Every ok case with what it costs: time and rate, CPU time and context switches
    per message (all peers), efficiency vs the run's baseline, noisy flag."""
    rows = unique_cases(run.ok).sort_values(["pattern", "placement", "mechanism", "variant",
                                             "size_bytes", "procs"])
    rate = [_rate(p, m, b) for p, m, b in zip(rows["pattern"], rows["msgs_per_s"],
                                              rows["bytes_per_s"], strict=True)]
    return pd.DataFrame({
        "pattern": rows["pattern"], "placement": rows["placement"],
        "payload": rows["payload"], "channel": rows["mechanism"] + "/" + rows["variant"],
        "size": rows["size_bytes"].map(format_size), "procs": rows["procs"],
        "time/msg": rows["median_ns"].map(format_time_ns), "rate": rate,
        "CPU/msg": _cpu_time(rows["cpu_s_per_msg"]),
        # A count, not a quantity with a unit: three significant digits like the rest.
        "ctx sw/msg": rows["ctx_switches_per_msg"].map(
            lambda v: MISSING if pd.isna(v) else f"{v:.3g}"),
        "efficiency": rows["efficiency"].map(format_fraction),
        "noisy": rows["noisy"].map(lambda v: "noisy" if str(v).lower() == "true" else ""),
    })


def not_ok_rows(run: Run) -> pd.DataFrame:
    bad = run.frame[run.frame["status"] != "ok"]
    columns = ["mechanism", "variant", "pattern", "size_bytes", "procs", "start_method",
               "status", "reason"]
    return sized_keys(bad[columns]).rename(columns={"size_bytes": "size"})


def _run_section(run: Run, tag: str) -> list[str]:
    parts = [f"<h2>{html.escape(tag)}: {html.escape(run.label)}</h2>",
             f"<p class='note'>{html.escape(str(run.csv_path))} · {len(run.ok)} ok rows of "
             f"{len(run.frame)}</p>"]
    for stem, figure in run_figures(run).items():
        parts.append(f"<div class='chart' id='{html.escape(tag)}-{stem}'>"
                     f"{figure_to_svg(figure)}</div>")
    best = best_summary(run)
    if not best.empty:
        parts += ["<h3>Best channel per cell</h3>", html_table(best)]
    if not run.ok.empty:
        parts += [f"<details><summary>All {len(unique_cases(run.ok))} ok cases with CPU "
                  "time, context switches and efficiency per message</summary>",
                  html_table(cases_table(run)), "</details>"]
    bad = not_ok_rows(run)
    if not bad.empty:
        parts += [f"<details><summary>{len(bad)} rows not drawn (status != ok)</summary>",
                  html_table(bad), "</details>"]
    return parts


def _comparison_section(comparison: Comparison) -> list[str]:
    tags = comparison.tags
    note = html.escape(ratio_note(comparison).replace("**", ""))
    parts = [
        "<h2>Comparison (baseline A)</h2>",
        "<ul>" + "".join(f"<li>{html.escape(line)}</li>"
                         for line in summary_sentences(tags, comparison.tables)) + "</ul>",
        html_table(summary_table(tags, comparison.tables)),
        f"<p class='note'>{note}</p>",
        html_table(verdict_summary(comparison)),
    ]
    for stem, figure in overlay_figures(comparison.runs).items():
        parts.append(f"<div class='chart' id='{stem}'>{figure_to_svg(figure)}</div>")
    parts += ["<h3>Cases</h3>", html_table(display_table(comparison))]
    for title, keys in one_sided(comparison):
        parts += [f"<h3>{html.escape(title)} ({len(keys)})</h3>", html_table(sized_keys(keys))]
    return parts


def report_html(runs: Sequence[Run], comparison: Comparison | None = None) -> str:
    tags = run_tags(len(runs))
    body = ["<h1>ipcbench report</h1>", "<h2>Machines</h2>",
            html_table(metadata_table(runs, tags), index=True)]
    if comparison is not None:
        body += _comparison_section(comparison)
    for tag, run in zip(tags, runs, strict=True):
        body += _run_section(run, tag)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>ipcbench report</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(paths: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]
                 ) -> Path:
    """Read every run (failing fast on a bad one), write out_dir/report.html."""
    runs = load_runs(paths)
    for run in runs:
        require_ok_rows(run)
    comparison = compare_runs(runs) if len(runs) > 1 else None
    # A reader never sees half a report; a planted link is refused, never followed.
    return write_atomic(safe_dir(Path(out_dir)) / "report.html",
                        report_html(runs, comparison).encode("utf-8"))
