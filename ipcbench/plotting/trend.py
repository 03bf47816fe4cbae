"""Trend charts of a history (analysis/history.py): one figure per workload, one panel
per machine (machines are never mixed in a panel), one line per channel: the median
time per message run after run with its 95% CI as error bars, the fitted levels as a
faint step line, and each step found marked where it starts with its ratio.
"""

from __future__ import annotations

import math
import re

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator

from ipcbench.analysis.history import CaseHistory, History
from ipcbench.core.paired import CHANNEL_KEYS
from ipcbench.core.schema import CASE_KEYS
from ipcbench.core.units import format_ratio, format_time_ns
from ipcbench.plotting.style import (
    dress,
    legend_below,
    new_figure,
    series_style,
    setup_log_y,
)

_WORKLOAD = tuple(k for k in CASE_KEYS if k not in CHANNEL_KEYS)
STEP_COLOR = "#d62728"


def workload_of(case: CaseHistory) -> tuple:
    return tuple(case.case[k] for k in _WORKLOAD)


def workload_title(workload: tuple) -> str:
    """The label of a case, minus its channel."""
    return _title_of(dict(zip(_WORKLOAD, workload, strict=True)))


def _title_of(w: dict) -> str:
    from ipcbench.core.sizes import format_size

    parts = [w["pattern"], format_size(int(w["size_bytes"])), f"{w['procs']} procs",
             w["placement"]]
    if w["payload"] != "bytes":
        parts.append(f"{w['payload']} payload")
    if w["start_method"] != "fork":
        parts.append(w["start_method"])
    if w["rate_per_s"]:
        parts.append(f"at {w['rate_per_s']}/s")
    return " · ".join(str(p) for p in parts)


def stem_of(workload: tuple) -> str:
    """A file stem for a workload: trend-<title with safe characters>."""
    text = re.sub(r"[^A-Za-z0-9.]+", "-", workload_title(workload)).strip("-").lower()
    return f"trend-{text}"


def trend_figures(hist: History) -> dict[str, Figure]:
    """One trend figure per workload, by file stem."""
    by_workload: dict[tuple, list[CaseHistory]] = {}
    for case in hist.cases:
        by_workload.setdefault(workload_of(case), []).append(case)
    return {stem_of(w): _figure(w, cases, hist) for w, cases in sorted(
        by_workload.items(), key=lambda item: tuple(str(v) for v in item[0]))}


def _figure(workload: tuple, cases: list[CaseHistory], hist: History) -> Figure:
    machines = [m for m in hist.machines if any(c.machine_id == m for c in cases)]
    widest = max(len(hist.machines[m]) for m in machines)
    fig, axes = new_figure(len(machines), width_in=max(5.0, 0.6 * widest + 2.5),
                           max_columns=2, sharey=False)
    steps = 0
    for ax, machine in zip(axes, machines, strict=True):
        mine = [c for c in cases if c.machine_id == machine]
        steps += sum(len(c.fit.steps) for c in mine)
        _panel(ax, mine, hist.machines[machine], machine)
    note = (f"error bars: median's 95% CI over sessions · faint line: fitted level · "
            f"red: a step (level change past {hist.min_effect:.0%} and the runs' noise) · "
            f"{steps} step(s) in this workload")
    dress(fig, f"History: {workload_title(workload)}", f"{len(machines)} machine(s), "
          f"{sum(len(hist.machines[m]) for m in machines)} run(s)", note)
    legend_below(fig, axes)
    return fig


def _panel(ax, cases: list[CaseHistory], runs: tuple[str, ...], machine: str) -> None:
    x = np.arange(len(runs))
    low, high = math.inf, 0.0
    labels: dict[int, int] = {}  # step index -> labels drawn there
    for case in sorted(cases, key=lambda c: c.key):
        key = {k: case.case[k] for k in CHANNEL_KEYS}
        style = series_style(key)
        y = np.array(case.median_ns, dtype=float)
        lo = np.array(case.ci_low_ns, dtype=float)
        hi = np.array(case.ci_high_ns, dtype=float)
        err = np.vstack([np.where(np.isfinite(lo), y - lo, 0),
                         np.where(np.isfinite(hi), hi - y, 0)])
        ax.errorbar(x, y, yerr=np.clip(err, 0, None),
                    label=f"{key['mechanism']}/{key['variant']}",
                    color=style["color"], marker=style["marker"], linestyle=style["linestyle"],
                    markersize=4, capsize=3, linewidth=1.2)
        _levels(ax, x, case, y)
        finite = y[np.isfinite(y)]
        if finite.size:
            low = min(low, float(np.nanmin(np.where(np.isfinite(lo), lo, y))))
            high = max(high, float(np.nanmax(np.where(np.isfinite(hi), hi, y))))
        for step in case.fit.steps:
            # One label per step, stacked down from the panel's top beside the step's
            # line, in the channel's colour: several channels stepping at one run stay
            # readable.
            stacked = labels.setdefault(step.index, 0)
            labels[step.index] += 1
            ax.axvline(step.index - 0.5, color=STEP_COLOR, linewidth=1, linestyle="--")
            ax.annotate(f"{key['mechanism']}/{key['variant']} {_step_text(step.ratio)}",
                        (step.index - 0.5, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(4, -12 - 11 * stacked), textcoords="offset points",
                        color=style["color"], fontsize=7.5,
                        ha="left" if step.index < len(runs) - 0.5 * len(runs) else "right")
    if high > 0:
        setup_log_y(ax, format_time_ns, low, high)
        if high / low < 4:  # a narrow range: label more than the 1-2-5 ticks
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 1.5, 2, 3, 4, 5, 6, 7, 8)))
        room = 1.1 + 0.06 * max(labels.values(), default=0)
        ax.set_ylim(low / 1.15, high * room ** 2)
    ax.set_xticks(x, [_short(r) for r in runs], rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(runs) - 0.5)
    ax.set_title(f"machine {machine}", fontsize=9)
    ax.set_ylabel("time per message")
    ax.grid(True, axis="y", alpha=0.3)


def _levels(ax, x, case: CaseHistory, y) -> None:
    """The fitted levels drawn in the figure's units: on the probe basis the levels are
    ratios, so each segment is drawn at the median of its runs' medians instead."""
    levels = np.array(case.fit.levels, dtype=float)
    if not np.isfinite(levels).any():
        return
    starts = [0, *[s.index for s in case.fit.steps], len(levels)]
    drawn = np.full(len(levels), np.nan)
    for a, b in zip(starts, starts[1:], strict=False):
        part = y[a:b]
        if np.isfinite(part).any():
            drawn[a:b] = np.nanmedian(part)
    drawn[~np.isfinite(y)] = np.nan
    ax.step(x, drawn, where="mid", color="#999999", alpha=0.6, linewidth=3, zorder=0)


def _step_text(ratio: float) -> str:
    return f"{format_ratio(ratio)} slower" if ratio >= 1 else f"{format_ratio(1 / ratio)} faster"


def _short(name: str) -> str:
    return name if len(name) <= 18 else f"…{name[-17:]}"
