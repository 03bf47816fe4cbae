"""Display frames and sentences shared by the terminal, markdown and HTML writers.

Every number goes through ipcbench.core.units, so a figure reads the same in compare.md,
report.html and on the terminal.
"""

from __future__ import annotations

import math

import pandas as pd

from ipcbench.analysis.compare import (
    Comparison,
    by_effect,
    not_measured,
    pair_summary,
    verdict_counts,
)
from ipcbench.analysis.verdict import MIN_EFFECT
from ipcbench.core.sizes import format_size
from ipcbench.core.units import MISSING, format_fraction, format_ratio, format_time_ns

SUMMARY_COLUMNS = ("run", "cases", "speed vs A", "efficiency vs A", "faster", "more efficient")


def _winner(ratio: float, tag: str, word: str) -> str:
    if not math.isfinite(ratio):
        return MISSING
    if abs(ratio - 1) < MIN_EFFECT:
        return f"about as {word}"
    return tag if ratio > 1 else "A"


def change_text(ratio: float, min_effect: float = MIN_EFFECT, metric: str = "time") -> str:
    """A ratio in words: "1.52x slower", "1.3x faster", or "about as fast" inside the
    smallest effect that counts (never "1.00x faster"). Time ratios are B / A (> 1 =
    slower); efficiency ratios are B / A (> 1 = more efficient)."""
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio > 0):
        return MISSING
    word = ("more efficient", "less efficient", "about as efficient") if \
        metric == "efficiency" else ("faster", "slower", "about as fast")
    if abs(ratio - 1) < min_effect:
        return word[2]
    better = ratio > 1 if metric == "efficiency" else ratio < 1
    factor = max(ratio, 1 / ratio)
    return f"{format_ratio(factor)} {word[0] if better else word[1]}"


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


def summary_sentences(tags: list[str], tables: list[pd.DataFrame],
                      min_effect: float = MIN_EFFECT) -> list[str]:
    """Plain-language verdicts, e.g. 'B is 1.5x faster than A but 1.3x less efficient:
    A is closer to its own hardware (geometric means over 40 cases).' A ratio inside
    min_effect reads "about as fast" / "about as efficient", never "1x"."""
    lines = []
    for tag, table in zip(tags[1:], tables, strict=True):
        s = pair_summary(table)
        if not math.isfinite(s["speed"]):
            lines.append(f"{tag} vs A: no case measured ok in both.")
            continue
        # pair_summary's speed is A's time over B's (> 1: B is faster); change_text
        # reads time ratios B / A.
        speed = f"{tag} is {change_text(1 / s['speed'], min_effect)}"
        speed += " as A" if speed.endswith("about as fast") else " than A"
        if not math.isfinite(s["efficiency"]):
            lines.append(f"{speed} (geometric mean over {s['speed_cases']} cases); no "
                         "efficiency (a run without in-run baselines).")
            continue
        eff = change_text(s["efficiency"], min_effect, "efficiency")
        closer = _winner(s["efficiency"], tag, "efficient")
        same = abs(s["efficiency"] - 1) < min_effect
        faster_and_less = (s["speed"] > 1) != (s["efficiency"] > 1)
        joint = " but " if faster_and_less and not same and abs(s["speed"] - 1) >= min_effect \
            else " and "
        tail = "" if same else f": {closer} is closer to its own hardware"
        lines.append(f"{speed}{joint}{eff}{tail} (geometric means over "
                     f"{s['speed_cases']} cases).")
    return lines


def verdict_summary(comparison: Comparison) -> pd.DataFrame:
    """Matched cases and cases per verdict, one row per run vs A."""
    return pd.DataFrame(
        [{"run": f"{tag} vs A", "matched cases": len(t), **verdict_counts(t, comparison.metric),
          "not measured in either": not_measured(t)}
         for tag, t in zip(comparison.tags[1:], comparison.tables, strict=True)]
    )


def display_table(comparison: Comparison) -> pd.DataFrame:
    """All matched cases, one row each, with every run's time/msg, ratio, change and
    verdict against the baseline (tag A) as display strings, significant changes first by
    effect size (of B vs A). Used by compare.md and report.html."""
    keys = comparison.keys
    merged = None
    for index, (tag, table) in enumerate(zip(comparison.tags[1:], comparison.tables,
                                             strict=True)):
        table = by_effect(table) if index == 0 else table
        part = table[keys].copy()
        part["A time/msg"] = table["median_ns_a"].map(format_time_ns)
        part["A eff"] = table["efficiency_a"].map(format_fraction)
        part[f"{tag} time/msg"] = table["median_ns_b"].map(format_time_ns)
        part[f"{tag} eff"] = table["efficiency_b"].map(format_fraction)
        part[f"{tag}/A" + (" eff" if comparison.metric == "efficiency" else "")] = table[
            "ratio"].map(format_ratio)
        part[f"{tag} change"] = table["ratio"].map(
            lambda r: change_text(r, comparison.min_effect, comparison.metric))
        part[f"{tag} verdict"] = table["verdict"]
        part[f"{tag} why"] = table["reason"]
        if merged is None:
            merged = part.assign(_order=range(len(part)))
        else:  # an outer merge sorts its keys: keep B's effect order, C's extras after
            merged = merged.merge(part.drop(columns=["A time/msg", "A eff"]), on=keys,
                                  how="outer").sort_values("_order", na_position="last")
    merged = merged.drop(columns="_order")
    merged = merged.fillna(MISSING)
    merged["size_bytes"] = merged["size_bytes"].map(lambda s: format_size(int(s)))
    return merged.rename(columns={"size_bytes": "size", "start_method": "start"})


def sized_keys(keys: pd.DataFrame) -> pd.DataFrame:
    """Case keys with the size written for people (one-sided case lists)."""
    return keys.assign(size_bytes=keys["size_bytes"].map(lambda s: format_size(int(s))))


# Above this many one-sided cases a list is noise: they are counted by group instead.
ONE_SIDED_LIST_MAX = 40


def one_sided_table(keys: pd.DataFrame) -> pd.DataFrame:
    """One-sided case keys for display: listed when few, else counted per pattern,
    placement and payload (with the channels and sizes they span)."""
    if len(keys) <= ONE_SIDED_LIST_MAX:
        return sized_keys(keys)
    groups = [c for c in ("pattern", "placement", "payload") if c in keys]
    counted = keys.groupby(groups, sort=True).agg(
        cases=("mechanism", "size"), channels=("mechanism", "nunique"),
        smallest=("size_bytes", "min"), largest=("size_bytes", "max")).reset_index()
    for column in ("smallest", "largest"):
        counted[column] = counted[column].map(lambda s: format_size(int(s)))
    return counted


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
            f"need disjoint session-level confidence intervals and a Welch test on the "
            f"session values at p < {comparison.alpha:g}; cases ok in neither run are "
            f"\"not measured\" and not counted.{picked}")
