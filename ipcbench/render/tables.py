"""Display frames and sentences shared by the terminal, markdown and HTML writers.

Every number goes through ipcbench.units, so a figure reads the same in compare.md,
report.html and on the terminal.
"""

from __future__ import annotations

import math

import pandas as pd

from ipcbench.analysis.compare import Comparison, pair_summary, verdict_counts
from ipcbench.sizes import format_size
from ipcbench.units import MISSING, format_fraction, format_ratio, format_time_ns

SUMMARY_COLUMNS = ("run", "cases", "speed vs A", "efficiency vs A", "faster", "more efficient")


def _winner(ratio: float, tag: str, word: str) -> str:
    if not math.isfinite(ratio):
        return MISSING
    if abs(ratio - 1) < 0.01:
        return f"about as {word}"
    return tag if ratio > 1 else "A"


def summary_table(tags: list[str], tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per run vs A: speed and efficiency as geometric means, who wins each."""
    records = []
    for tag, table in zip(tags[1:], tables, strict=True):
        s = pair_summary(table)
        records.append({
            "run": f"{tag} vs A",
            "cases": s["speed_cases"],
            "speed vs A": format_ratio(s["speed"]),
            "efficiency vs A": format_ratio(s["efficiency"]),
            "faster": _winner(s["speed"], tag, "fast"),
            "more efficient": _winner(s["efficiency"], tag, "efficient"),
        })
    return pd.DataFrame(records, columns=list(SUMMARY_COLUMNS))


def summary_sentences(tags: list[str], tables: list[pd.DataFrame]) -> list[str]:
    """Plain-language verdicts, e.g. 'B is 1.4x faster than A and 0.8x as efficient
    (...) — faster: B; more efficient (closer to its own hardware): A.'"""
    lines = []
    for tag, table in zip(tags[1:], tables, strict=True):
        s = pair_summary(table)
        if not math.isfinite(s["speed"]):
            lines.append(f"{tag} vs A: no case measured ok in both.")
            continue
        speed = (f"{tag} is {format_ratio(s['speed'])} as fast as A" if s["speed"] < 1
                 else f"{tag} is {format_ratio(s['speed'])} faster than A")
        if math.isfinite(s["efficiency"]):
            eff = f"{format_ratio(s['efficiency'])} as efficient"
            faster = _winner(s["speed"], tag, "fast")
            efficient = _winner(s["efficiency"], tag, "efficient")
            verdict = (f"faster: {faster}; more efficient (closer to its own hardware): "
                       f"{efficient}")
            lines.append(f"{speed} and {eff} (geometric means over {s['speed_cases']} "
                         f"cases) — {verdict}.")
        else:
            lines.append(f"{speed} (geometric mean over {s['speed_cases']} cases); no "
                         f"efficiency (a run without in-run baselines).")
    return lines


def verdict_summary(comparison: Comparison) -> pd.DataFrame:
    """Matched cases and cases per verdict, one row per run vs A."""
    return pd.DataFrame(
        [{"run": f"{tag} vs A", "matched cases": len(t), **verdict_counts(t, comparison.metric)}
         for tag, t in zip(comparison.tags[1:], comparison.tables, strict=True)]
    )


def display_table(comparison: Comparison) -> pd.DataFrame:
    """All matched cases, one row each, with every run's time/msg, ratio and verdict
    against the baseline (tag A) as display strings. Used by compare.md and report.html."""
    keys = comparison.keys
    merged = None
    for tag, table in zip(comparison.tags[1:], comparison.tables, strict=True):
        part = table[keys].copy()
        part["A time/msg"] = table["median_ns_a"].map(format_time_ns)
        part["A eff"] = table["efficiency_a"].map(format_fraction)
        part[f"{tag} time/msg"] = table["median_ns_b"].map(format_time_ns)
        part[f"{tag} eff"] = table["efficiency_b"].map(format_fraction)
        part[f"{tag}/A" + (" eff" if comparison.metric == "efficiency" else "")] = table[
            "ratio"].map(format_ratio)
        part[f"{tag} verdict"] = table["verdict"]
        part[f"{tag} why"] = table["reason"]
        if merged is None:
            merged = part
        else:
            merged = merged.merge(part.drop(columns=["A time/msg", "A eff"]), on=keys,
                                  how="outer")
    merged = merged.fillna(MISSING)
    merged["size_bytes"] = merged["size_bytes"].map(lambda s: format_size(int(s)))
    return merged.rename(columns={"size_bytes": "size", "start_method": "start"})


def sized_keys(keys: pd.DataFrame) -> pd.DataFrame:
    """Case keys with the size written for people (one-sided case lists)."""
    return keys.assign(size_bytes=keys["size_bytes"].map(lambda s: format_size(int(s))))


def ratio_note(comparison: Comparison) -> str:
    """What the ratio and verdict columns mean, for the chosen metric (markdown)."""
    if comparison.metric == "efficiency":
        ratio = ("Ratios are efficiency (share of each run's own in-run baseline) vs A: "
                 f"{format_ratio(2.0)} = B gets twice as close to its hardware.")
    else:
        ratio = (f"Ratios are time per message (median) vs A: {format_ratio(0.5)} = twice "
                 "as fast.")
    picked = (f" Only mechanisms {', '.join(comparison.mechanisms)}."
              if comparison.mechanisms else "")
    return (f"Baseline is **A**. {ratio} Verdict: differences under "
            f"{format_fraction(comparison.min_effect)} count as no difference; larger ones "
            f"need disjoint confidence intervals or a Welch t-test (n = repeats) at p < "
            f"{comparison.alpha:g}.{picked}")
