"""The machines-side-by-side view of `compare` (analysis/machines.py) in every output:
terminal lines, a compare.md section, a report section and the JSON part. Pure."""

from __future__ import annotations

import html
import math
import textwrap

import pandas as pd

from ipcbench.analysis.machines import MachinesRow, MachinesView
from ipcbench.core.sizes import format_size
from ipcbench.core.units import MISSING, format_fraction

TITLE = "Machines side by side"
NOTE = ("per workload, each machine's best channel and its figure; eff = that figure "
        "over the same machine's own in-run baseline (how close it gets to its own "
        "hardware); * = the fastest machine, + = the most efficient, ~ = its best ties "
        "its runner-up")


def workload_text(row: MachinesRow) -> str:
    w = row.workload
    text = f"{w['pattern']} {format_size(int(w['size_bytes']))} x{w['procs']} {w['placement']}"
    if w["payload"] != "bytes":
        text += f" {w['payload']}"
    if w["start_method"] != "fork":
        text += f" {w['start_method']}"
    return text


def cell_text(row: MachinesRow, index: int) -> str:
    cell = row.cells[index]
    if cell is None:
        return MISSING
    marks = ("*" if row.fastest == index else "") + ("+" if row.most_efficient == index else "")
    eff = f" eff {format_fraction(cell.efficiency)}" if math.isfinite(cell.efficiency) else ""
    tie = "~" if cell.tie else ""
    return f"{cell.channel}{tie} {row.kind.format(cell.figure)}{eff}{marks}".strip()


def machines_frame(view: MachinesView) -> pd.DataFrame:
    columns = [f"{tag}: {mid[:12]}" for tag, mid in zip(view.tags, view.machine_ids,
                                                        strict=True)]
    data = [[workload_text(row), *[cell_text(row, i) for i in range(len(view.tags))]]
            for row in view.rows]
    return pd.DataFrame(data, columns=["workload", *columns])


def machines_lines(view: MachinesView) -> list[str]:
    frame = machines_frame(view)
    header = list(frame.columns)
    body = frame.astype(str).values.tolist()
    widths = [max(len(str(r[k])) for r in [header, *body]) for k in range(len(header))]
    lines = [f"{TITLE} ({len(view.rows)} workloads):"]
    lines += ["  " + line for line in textwrap.wrap(NOTE[0].upper() + NOTE[1:] + ".", 96)]
    lines += ["  " + "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
              for r in [header, *body]]
    lines += [f"  wins: {summary(view)}"]
    return lines


def summary(view: MachinesView) -> str:
    """How many workloads each machine is fastest on / most efficient on."""
    fastest = [row.fastest for row in view.rows]
    efficient = [row.most_efficient for row in view.rows]
    return ", ".join(f"{tag} fastest in {fastest.count(i)}, most efficient in "
                     f"{efficient.count(i)}" for i, tag in enumerate(view.tags))


def machines_markdown(view: MachinesView) -> list[str]:
    from ipcbench.render.markdown import markdown_table

    return [f"## {TITLE}", "", NOTE[0].upper() + NOTE[1:] + ".", "", f"Wins: {summary(view)}.",
            "", markdown_table(machines_frame(view)), ""]


def machines_html(view: MachinesView) -> list[str]:
    from ipcbench.render.html import html_table

    return [f"<h2 id='machines-side-by-side'>{TITLE}</h2>",
            f"<p class='note'>{html.escape(NOTE[0].upper() + NOTE[1:])}.</p>",
            f"<p>Wins: {html.escape(summary(view))}.</p>", html_table(machines_frame(view))]


def machines_document(view: MachinesView) -> dict:
    return {
        "machines": [{"tag": t, "machine_id": m, "cpu_model": c}
                     for t, m, c in zip(view.tags, view.machine_ids, view.cpu_models,
                                        strict=True)],
        "workloads": [{
            **row.workload,
            "metric": row.kind.metric,
            "fastest": None if row.fastest is None else view.tags[row.fastest],
            "most_efficient": (None if row.most_efficient is None
                               else view.tags[row.most_efficient]),
            "cells": [None if c is None else {"tag": t, "channel": c.channel, "figure": c.figure,
                                              "efficiency": c.efficiency, "tie": c.tie}
                      for t, c in zip(view.tags, row.cells, strict=True)],
        } for row in view.rows],
    }


def view_of(comparison) -> MachinesView | None:
    """The view of a comparison whose runs span machines; None for one machine's runs
    (its A/B tables already say everything)."""
    from ipcbench.analysis.compare import run_tags
    from ipcbench.analysis.machines import machines_view, spans_machines
    from ipcbench.mechanisms import channel_traits

    runs = comparison.runs
    if not spans_machines(runs):
        return None
    return machines_view(runs, run_tags(len(runs)), channel_traits())
