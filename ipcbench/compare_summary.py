"""One line per run in a comparison: how much faster, and how much more efficient, than
the baseline run A, as geometric means over the cases both measured.

Speed and efficiency can disagree: a machine with a faster memory system is faster on
every case yet may get a smaller share of its own hardware (efficiency = figure / the
same run's in-run baseline, see ipcbench/baselines.py). Issue 5: "compare can rank two
machines by efficiency".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = ("run", "cases", "speed vs A", "efficiency vs A", "faster", "more efficient")


def geometric_mean(values) -> float:
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    array = array[np.isfinite(array) & (array > 0)]
    return float(np.exp(np.log(array).mean())) if array.size else math.nan


def pair_summary(table: pd.DataFrame) -> dict:
    """Geometric means over matched cases of one pairing (B vs A), baseline rows left
    out (they are the hardware, not channels): speed = time A / time B (> 1 = B faster),
    efficiency = efficiency B / efficiency A (> 1 = B gets closer to its hardware)."""
    rows = table[table["mechanism"] != "baseline"]
    speed_ratios = rows["median_ns_a"] / rows["median_ns_b"]
    efficiency_ratios = rows["efficiency_b"] / rows["efficiency_a"]
    return {
        "speed_cases": int(np.isfinite(speed_ratios).sum()),
        "speed": geometric_mean(speed_ratios),
        "efficiency_cases": int(np.isfinite(efficiency_ratios).sum()),
        "efficiency": geometric_mean(efficiency_ratios),
    }


def _times(ratio: float) -> str:
    return f"{ratio:.2f}×" if math.isfinite(ratio) else "–"


def _winner(ratio: float, tag: str, word: str) -> str:
    if not math.isfinite(ratio):
        return "–"
    if abs(ratio - 1) < 0.01:
        return f"about as {word}"
    return tag if ratio > 1 else "A"


def summary_table(tags: list[str], tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per run vs A (display strings)."""
    records = []
    for tag, table in zip(tags[1:], tables, strict=True):
        s = pair_summary(table)
        records.append({
            "run": f"{tag} vs A",
            "cases": s["speed_cases"],
            "speed vs A": _times(s["speed"]),
            "efficiency vs A": _times(s["efficiency"]),
            "faster": _winner(s["speed"], tag, "fast"),
            "more efficient": _winner(s["efficiency"], tag, "efficient"),
        })
    return pd.DataFrame(records, columns=list(SUMMARY_COLUMNS))


def summary_sentences(tags: list[str], tables: list[pd.DataFrame]) -> list[str]:
    """Plain-language verdicts, e.g. 'B is 1.40× faster than A but 0.80× as efficient:
    A is more efficient, B is faster.'"""
    lines = []
    for tag, table in zip(tags[1:], tables, strict=True):
        s = pair_summary(table)
        if not math.isfinite(s["speed"]):
            lines.append(f"{tag} vs A: no case measured ok in both.")
            continue
        speed = (f"{tag} is {_times(s['speed'])} as fast as A" if s["speed"] < 1
                 else f"{tag} is {_times(s['speed'])} faster than A")
        if math.isfinite(s["efficiency"]):
            eff = f"{_times(s['efficiency'])} as efficient"
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


def ranking(tags: list[str], tables: list[pd.DataFrame], metric: str) -> list[tuple[str, float]]:
    """Runs best first by the geometric mean vs A of the chosen metric (A = 1.0)."""
    key = "efficiency" if metric == "efficiency" else "speed"
    scores = [(tags[0], 1.0)] + [(tag, pair_summary(t)[key])
                                for tag, t in zip(tags[1:], tables, strict=True)]
    return sorted(scores, key=lambda item: -item[1] if math.isfinite(item[1]) else math.inf)


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, index: bool = False) -> str:
    if index:
        frame = frame.reset_index(names="")
    header = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False, name=None)]
    return "\n".join([header, rule, *body])
