"""The report's interactive charts: a run's ok rows as compact JSON for report.js, a
small hand-written SVG layer (hover for values, toggle channels, switch pattern,
placement, payload, procs and size) that works offline from the one HTML file.

Every number the page shows is written here by ipcbench.core.units (the one formatter) and
shipped as text; the script only positions and draws. Tick labels likewise come as a
table of formatted 1-2-5 steps per unit.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources

import pandas as pd

from ipcbench.analysis.frames import in_reading_order, unique_cases
from ipcbench.analysis.runs import Run
from ipcbench.core import patterns, units
from ipcbench.core.sizes import format_size
from ipcbench.plotting.ranking import metric_interval
from ipcbench.plotting.style import channel_color

FIELDS = ("channel", "pattern", "size", "procs", "placement", "payload", "value", "low",
          "high", "text", "ci", "p99", "spread", "cpu_ns", "cpu", "eff", "eff_text", "noisy")
# The tooltip's words for a row's figures, one meaning each: "p99" is a message's
# latency (as in the run table), "repeat spread" the p99 of the repeats' times.
SPREAD_LABEL = "repeat spread (p99 of repeat times)"
# Tick steps per decade: 1-2-5 from 10^-3 to 10^13 covers ns..s, B/s..TB/s, 0.1%..
_TICK_EXPONENTS = range(-3, 14)


def _number(value: float) -> float | None:
    """JSON has no NaN: missing figures travel as null. Four significant digits place
    points on a chart exactly enough and keep the page small."""
    value = float(value)
    return float(f"{value:.4g}") if math.isfinite(value) else None


def _ci_text(low: float, high: float, kind: patterns.Pattern) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return units.MISSING
    return f"{kind.format(low)} – {kind.format(high)}"


def p99_label(kind: patterns.Pattern) -> str:
    """What the row's p99 is, or "" when it has none (the counter)."""
    return "p99 round trip" if kind.round_trip else "p99 one-way" if kind.open_loop else ""


def _p99_text(record: pd.Series, kind: patterns.Pattern) -> str:
    """A message's p99, as the run table writes it: the round trip's (ping-pong, whose
    samples are round trips), the one-way latency's where receivers recorded it."""
    if kind.round_trip:
        return units.format_time_ns(record.get("p99_ns", math.nan))
    if kind.open_loop and float(record.get("lat_samples", 0) or 0) > 0:
        return units.format_time_ns(record.get("lat_p99_ns", math.nan))
    return ""


def _spread_text(record: pd.Series, kind: patterns.Pattern) -> str:
    """p99_ns where each sample is one repeat's mean time per message (every pattern
    but ping-pong): how the repeats spread, not how slow one message can be."""
    return "" if kind.round_trip else units.format_time_ns(record.get("p99_ns", math.nan))


def _row(record: pd.Series, channel: int, kind: patterns.Pattern) -> list:
    value = float(record[kind.metric])
    low, high = metric_interval(record, kind)
    cpu_ns = float(record.get("cpu_s_per_msg", math.nan)) * 1e9
    eff = float(record.get("efficiency", math.nan))
    return [channel, kind.name, int(record["size_bytes"]), int(record["procs"]),
            record["placement"], record["payload"], _number(value), _number(low),
            _number(high), kind.format(value), _ci_text(low, high, kind),
            _p99_text(record, kind), _spread_text(record, kind), _number(cpu_ns),
            units.format_time_ns(cpu_ns), _number(eff), units.format_fraction(eff),
            int(str(record.get("noisy", "")).lower() == "true")]


def _ticks() -> dict[str, list[tuple[float, str, bool]]]:
    """Per unit: (value, label, is a power of ten) for every 1-2-5 step."""
    steps = [(m, float(f"{m * 10.0 ** e:g}")) for e in _TICK_EXPONENTS for m in (1, 2, 5)]
    unit_names = (units.TIME_NS, units.BYTES_PER_S, units.MSGS_PER_S, units.FRACTION)
    return {u: [(v, units.format_value(v, u), m == 1) for m, v in steps] for u in unit_names}


def run_data(run: Run) -> dict:
    """Everything the explorer of one run needs, as JSON-ready values."""
    rows = unique_cases(run.ok)
    # A run of several start methods (start-up's fork, forkserver, spawn) makes each a
    # channel of its own: one line per channel must never join two start methods' figures.
    methods = (rows["start_method"] if rows["start_method"].nunique() > 1
               else pd.Series("", index=rows.index))
    channels = sorted(set(zip(rows["mechanism"], rows["variant"], methods, strict=True)))
    index = {c: i for i, c in enumerate(channels)}
    data_rows = []
    for (_, record), method in zip(rows.iterrows(), methods, strict=True):
        kind = patterns.get(record["pattern"])
        value = pd.to_numeric(record[kind.metric], errors="coerce")
        if value > 0:
            channel = index[(record["mechanism"], record["variant"], method)]
            data_rows.append(_row(record, channel, kind))
    present = {r[1] for r in data_rows}
    return {
        "fields": FIELDS,
        "channels": [{"name": f"{m}/{v}" + (f" · {method}" if method else ""),
                      "color": channel_color(m, v)} for m, v, method in channels],
        "patterns": {p.name: {"unit": p.unit, "label": p.metric_label, "title": p.title,
                              "higher": p.higher_is_better, "sized": p.sized,
                              "procs": p.procs_label, "p99": p99_label(p),
                              "spread": SPREAD_LABEL}
                     for p in patterns.PATTERNS.values() if p.name in present},
        "placements": in_reading_order("placement", rows["placement"]),
        "payloads": in_reading_order("payload", rows["payload"]),
        "sizes": {str(int(s)): format_size(int(s)) for s in sorted(rows["size_bytes"].unique())},
        "ticks": _ticks(),
        "rows": data_rows,
    }


def explorer_html(run: Run, tag: str) -> str:
    """The explorer's container and its data; report.js fills the container."""
    payload = json.dumps(run_data(run), separators=(",", ":"), allow_nan=False)
    # "</" inside a script element would end it early; JSON allows "<\\/".
    payload = payload.replace("</", "<\\/")
    ident = html.escape(tag)
    return (f"<div class='explorer' data-source='data-{ident}'>"
            "<p class='note'>Pick a workload; hover a point or bar for its figures; click a "
            "channel to show or hide it.</p></div>"
            f"<script type='application/json' id='data-{ident}'>{payload}</script>")


def script_html() -> str:
    """report.js inline (the page must work offline, from one file)."""
    source = resources.files("ipcbench.render").joinpath("report.js").read_text("utf-8")
    return f"<script>\n{source}\n</script>"
