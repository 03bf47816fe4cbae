"""report.html: one self-contained page per set of runs, a place to explore: a table of
contents, the best-channel map as the headline picture, interactive charts (hover,
toggle channels, switch workload; render/interactive.py + report.js), long tables folded
into <details>, machine metadata, and the comparison when several runs are given.

Self-contained means no external URL and no separate file: the script and the data are
inline, pictures are data: URIs, so the page can be mailed, attached to an issue or
opened offline years later.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ipcbench.analysis.compare import Comparison, compare_runs, one_sided, run_tags
from ipcbench.analysis.frames import unique_cases
from ipcbench.analysis.peer_kinds import kinds_table
from ipcbench.analysis.runs import Run, load_runs, metadata_table, require_ok_rows
from ipcbench.core import patterns
from ipcbench.core.sizes import format_size
from ipcbench.core.units import (
    MISSING,
    format_fraction,
    format_lead,
    format_rate_bytes,
    format_rate_msgs,
    format_time_ns,
)
from ipcbench.plotting.best import best_map_figure, best_table
from ipcbench.plotting.open_loop import load_figures
from ipcbench.plotting.overlay import overlay_figures
from ipcbench.plotting.startup import startup_figures
from ipcbench.render.interactive import explorer_html, script_html
from ipcbench.render.machines import machines_html, view_of
from ipcbench.render.tables import (
    display_table,
    one_sided_table,
    ratio_note,
    sized_keys,
    summary_sentences,
    summary_table,
    verdict_summary,
)
from ipcbench.system.safefile import safe_dir, write_atomic

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1.5em; color: #222; }
h1, h2, h3 { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
.chart img { max-width: 100%; height: auto; }
nav.toc { background: #f7f7f7; padding: 0.5em 1.5em; border: 1px solid #ddd; }
nav.toc ul { margin: 0.2em 0; }
.controls label { margin-right: 1em; font-size: 0.9em; }
.controls .buttons button { margin-left: 0.3em; }
.legend { margin: 0.6em 0; }
.legend button { border: 1px solid #bbb; background: #fff; margin: 0 0.3em 0.3em 0;
  padding: 0.1em 0.5em; border-radius: 3px; cursor: pointer; font-size: 0.85em; }
.legend button.off { opacity: 0.45; text-decoration: line-through; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.35em; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.charts h4 { margin: 0.2em 0; font-size: 0.9em; font-weight: 600; }
.charts svg { font-size: 11px; }
.charts .grid { stroke: #e4e4e4; }
.charts .ci { stroke: #222; stroke-width: 1.2; }
.tip { position: absolute; background: #fffff4; border: 1px solid #999; padding: 0.3em 0.6em;
  font-size: 0.8em; pointer-events: none; box-shadow: 1px 1px 3px #0003; }
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
    return MISSING if pd.isna(value) else format_lead(value)


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


def peer_kinds_summary(run: Run) -> pd.DataFrame:
    """analysis.peer_kinds.kinds_table for people: per kind 'channel figure (x cost)'."""
    table = kinds_table(run.frame)
    if table.empty:
        return table
    out = pd.DataFrame({"pattern": table["pattern"], "placement": table["placement"],
                        "start method": table["start_method"],
                        "size": table["size_bytes"].map(format_size),
                        "procs": table["procs"]})
    for peer_kind in [c for c in table.columns if f"{c}_value" in table.columns]:
        cells = []
        for _, row in table.iterrows():
            if not row[peer_kind]:
                cells.append(MISSING)
                continue
            figure = patterns.get(row["pattern"]).format(row[f"{peer_kind}_value"])
            text = f"{row[peer_kind]} {figure}"
            ratio = row[f"{peer_kind}_vs_processes"]
            cells.append(text if pd.isna(ratio) or peer_kind == "processes"
                         else f"{text} ({ratio:.3g}×)")
        if any(cell != MISSING for cell in cells):  # a kind no workload ran: no column
            out[peer_kind] = cells
    return out.drop(columns=[c for c in ("placement", "start method")
                             if out[c].nunique() < 2])


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


def figure_img(figure, alt: str) -> str:
    """A matplotlib figure as an inline PNG (a data: URI): one picture, whatever the
    number of points, at a fraction of an SVG's size and rendering time."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def folded(summary: str, body: str, open_: bool = False) -> list[str]:
    """A long table behind a one-line summary the reader opens on demand."""
    return [f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary>",
            body, "</details>"]


def _run_section(run: Run, tag: str) -> list[str]:
    anchor = f"run-{html.escape(tag)}"
    parts = [f"<h2 id='{anchor}'>{html.escape(tag)}: {html.escape(run.label)}</h2>",
             f"<p class='note'>{html.escape(str(run.csv_path))} · {len(run.ok)} ok rows of "
             f"{len(run.frame)}</p>"]
    figure = best_map_figure(run)
    if figure is not None:
        parts += [f"<h3 id='{anchor}-best'>Best channel per message size and process count</h3>",
                  f"<div class='chart'>{figure_img(figure, 'best channel map')}</div>"]
    started = startup_figures(run)
    if started:
        parts += [f"<h3 id='{anchor}-startup'>What starting a worker costs</h3>"]
        parts += [f"<div class='chart'>{figure_img(f, stem)}</div>" for stem, f in started.items()]
    kinds = peer_kinds_summary(run)
    if not kinds.empty:
        parts += [f"<h3 id='{anchor}-kinds'>Processes, interpreters, threads</h3>",
                  "<p class='note'>Per workload the best channel between each kind of peer; "
                  "&times; = its cost against the best between processes (time over "
                  "time, or rate under rate: below 1 is cheaper).</p>",
                  html_table(kinds)]
    loaded = load_figures(run)
    if loaded:
        parts += [f"<h3 id='{anchor}-load'>One-way latency under load (run --rate)</h3>"]
        parts += [f"<div class='chart'>{figure_img(f, stem)}</div>" for stem, f in loaded.items()]
    parts += [f"<h3 id='{anchor}-explore'>Explore the measurements</h3>",
              explorer_html(run, tag)]
    best = best_summary(run)
    if not best.empty:
        parts += folded(f"Best channel per cell: {len(best)} cells, with runner-up and margin",
                        html_table(best))
    if not run.ok.empty:
        parts += folded(f"All {len(unique_cases(run.ok))} ok cases with CPU time, context "
                        "switches and efficiency per message", html_table(cases_table(run)))
    bad = not_ok_rows(run)
    if not bad.empty:
        parts += folded(f"{len(bad)} rows not drawn (status != ok)", html_table(bad))
    return parts


def _machines_line(runs: Sequence[Run], tags: list[str]) -> str:
    """One line a run: where it ran (the full metadata is at the end of the page)."""
    lines = []
    for tag, run in zip(tags, runs, strict=True):
        machine = run.machine
        python = " ".join(str(machine.get(k, "")) for k in ("python_implementation",
                                                           "python_version")).strip()
        where = " · ".join(str(part) for part in (
            machine.get("cpu_model"), f"{machine.get('logical_cpus', '?')} CPUs", python,
            machine.get("collected_utc")) if part)
        lines.append(f"<li>{html.escape(tag)}: {html.escape(run.name)} — {html.escape(where)}"
                     f" · {len(run.ok)} ok rows of {len(run.frame)}</li>")
    return f"<ul class='note'>{''.join(lines)}</ul>"


def _toc(runs: Sequence[Run], tags: list[str], comparison: Comparison | None) -> str:
    items = []
    if comparison is not None:
        items.append("<li><a href='#comparison'>Comparison (baseline A)</a></li>")
    for tag, run in zip(tags, runs, strict=True):
        anchor = f"run-{html.escape(tag)}"
        extra = ""
        if run.ok["pattern"].map(lambda p: patterns.get(p).starts_workers).any():
            extra += f"<li><a href='#{anchor}-startup'>start-up cost</a></li>"
        if not kinds_table(run.frame).empty:
            extra += (f"<li><a href='#{anchor}-kinds'>processes, interpreters, "
                      "threads</a></li>")
        items.append(f"<li><a href='#{anchor}'>{html.escape(tag)}: {html.escape(run.name)}</a>"
                     f"<ul><li><a href='#{anchor}-best'>best channel map</a></li>{extra}"
                     f"<li><a href='#{anchor}-explore'>explore (interactive)</a></li></ul></li>")
    items.append("<li><a href='#machines'>Machines</a></li>")
    return f"<nav class='toc'><strong>Contents</strong><ul>{''.join(items)}</ul></nav>"


def _matched_only(comparison: Comparison) -> list[Run]:
    """The runs cut down to the cases every pairing matched: an overlay of cases one
    run never measured shows one line and costs a picture."""
    keys = comparison.keys
    common = comparison.tables[0][keys]
    for table in comparison.tables[1:]:
        common = common.merge(table[keys], on=keys)
    common = common.drop_duplicates()
    return [dataclasses.replace(run, frame=run.frame.merge(common, on=keys))
            for run in comparison.runs]


def _comparison_section(comparison: Comparison) -> list[str]:
    tags = comparison.tags
    note = html.escape(ratio_note(comparison).replace("**", ""))
    parts = [
        "<h2 id='comparison'>Comparison (baseline A)</h2>",
        *[f"<p class='slower'>{html.escape(note)}</p>" for note in comparison.settings_details],
        "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in summary_sentences(
            tags, comparison.tables, comparison.min_effect)) + "</ul>",
        html_table(summary_table(tags, comparison.tables)),
        f"<p class='note'>{note}</p>",
        html_table(verdict_summary(comparison)),
    ]
    view = view_of(comparison)
    if view is not None:
        parts += machines_html(view)
    overlays = overlay_figures(_matched_only(comparison))
    parts += folded(f"Overlay charts: {len(overlays)} (each channel, runs overlaid)",
                    "".join(f"<div class='chart' id='{stem}'>{figure_img(figure, stem)}</div>"
                            for stem, figure in overlays.items()))
    cases = display_table(comparison)
    parts += folded(f"All {len(cases)} matched cases, largest effect first",
                    html_table(cases))
    for title, keys in one_sided(comparison):
        parts += folded(f"{title} ({len(keys)})", html_table(one_sided_table(keys)))
    return parts


def report_html(runs: Sequence[Run], comparison: Comparison | None = None) -> str:
    tags = run_tags(len(runs))
    # The answer first (the comparison, then each run's best-channel map); the machines'
    # metadata, 25 rows a run, last: one line each at the top says where they ran.
    body = ["<h1>ipcbench report</h1>", _machines_line(runs, tags), _toc(runs, tags, comparison)]
    if comparison is not None:
        body += _comparison_section(comparison)
    for tag, run in zip(tags, runs, strict=True):
        body += _run_section(run, tag)
    body += ["<h2 id='machines'>Machines</h2>",
             html_table(metadata_table(runs, tags), index=True)]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>ipcbench report</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + script_html()
        + "\n</body></html>\n"
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
