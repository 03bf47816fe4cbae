"""Compare result sets: match cases, ratio vs a baseline, and a noise-aware verdict.

The logic (matching, verdicts, tables) is pure and works on DataFrames; `write_compare`
is the thin I/O layer behind `ipcbench compare`.

Verdict, per case, on the time per message (median_ns; ratio > 1 means slower), or with
metric="efficiency" on each row's time in units of its own run's baseline (ratio =
efficiency B / A, "more efficient" / "less efficient"); the summary gives both as
geometric means per run (compare_summary.py):
  1. both sides the same non-ok status    -> "no significant difference" (same outcome);
     one side not ok                      -> "not comparable"
  2. |ratio - 1| < min_effect (5%)        -> "no significant difference" (too small to
     matter on this machine class, where identical runs differ by several percent)
  3. both rows carry ci_low_ns/ci_high_ns -> intervals overlap => no significant difference
  4. Welch t-test from mean/stdev/n (scipy ttest_ind_from_stats), p >= alpha
                                          -> "no significant difference"
  5. otherwise "faster"/"slower"; "unclear" when there is nothing to test with
     (fewer than 2 repeats, or no stdev).
n is the number of repeats: repeats are the independent units. (Round trips inside one
repeat are correlated, so counting each as a sample would make every wobble
"significant". For pingpong, stdev_ns spans round trips, which only makes the test more
conservative.)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from scipy import stats

from ipcbench.compare_summary import markdown_table, ranking, summary_sentences, summary_table
from ipcbench.plotting import FORMATS, save_figure
from ipcbench.plotting.cost import format_efficiency
from ipcbench.plotting.data import Run, case_keys, load_runs, metadata_table, unique_cases
from ipcbench.plotting.overlay import overlay_figures, run_tags
from ipcbench.plotting.style import format_time_ns
from ipcbench.results import ResultsError
from ipcbench.sizes import format_size

SAME = "no significant difference"
FASTER = "faster"
SLOWER = "slower"
UNCLEAR = "unclear"
NOT_COMPARABLE = "not comparable"
MORE_EFFICIENT = "more efficient"
LESS_EFFICIENT = "less efficient"
VERDICTS = (FASTER, SLOWER, MORE_EFFICIENT, LESS_EFFICIENT, SAME, UNCLEAR, NOT_COMPARABLE)
METRICS = ("time", "efficiency")

MIN_EFFECT = 0.05
ALPHA = 0.01
# Above this coefficient of variation a row is flagged noisy in the verdict's reason.
NOISY_CV = 0.2


@dataclass(frozen=True)
class Verdict:
    label: str
    ratio: float  # other / baseline time per message (> 1 = other is slower)
    p_value: float = math.nan
    reason: str = ""


def _num(row: Mapping, column: str) -> float:
    try:
        value = float(row.get(column, math.nan))
    except (TypeError, ValueError):
        return math.nan
    return value


def _sample_count(row: Mapping) -> int:
    try:
        return int(row.get("repeats", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _welch_p(base: Mapping, other: Mapping) -> float:
    """Two-sided Welch p-value from summaries; NaN when untestable."""
    n_a, n_b = _sample_count(base), _sample_count(other)
    mean_a, mean_b = _num(base, "mean_ns"), _num(other, "mean_ns")
    sd_a, sd_b = _num(base, "stdev_ns"), _num(other, "stdev_ns")
    if min(n_a, n_b) < 2 or not all(map(math.isfinite, (mean_a, mean_b, sd_a, sd_b))):
        return math.nan
    if sd_a == 0 and sd_b == 0:
        # No spread at all: any difference in means is certain, none is no evidence.
        return 1.0 if mean_a == mean_b else 0.0
    result = stats.ttest_ind_from_stats(mean_a, sd_a, n_a, mean_b, sd_b, n_b, equal_var=False)
    return float(result.pvalue)


def _ci_overlap(base: Mapping, other: Mapping) -> bool | None:
    """True/False when both rows carry a confidence interval (a future schema), else None."""
    bounds = [_num(r, c) for r in (base, other) for c in ("ci_low_ns", "ci_high_ns")]
    if not all(map(math.isfinite, bounds)):
        return None
    low_a, high_a, low_b, high_b = bounds
    return low_a <= high_b and low_b <= high_a


def case_verdict(base: Mapping, other: Mapping, *, min_effect: float = MIN_EFFECT,
                 alpha: float = ALPHA) -> Verdict:
    """Judge one matched case (two result rows as mappings)."""
    if base.get("status") != "ok" and base.get("status") == other.get("status"):
        # Same outcome on both sides (e.g. skipped for the same reason): nothing changed.
        return Verdict(SAME, math.nan, reason=f"{base.get('status')} in both")
    if base.get("status") != "ok" or other.get("status") != "ok":
        return Verdict(NOT_COMPARABLE, math.nan,
                       reason=f"status {base.get('status')} vs {other.get('status')}")
    a, b = _num(base, "median_ns"), _num(other, "median_ns")
    if not (a > 0 and b > 0):
        return Verdict(NOT_COMPARABLE, math.nan, reason="missing median")
    ratio = b / a
    noisy = [f"cv {_num(r, 'cv'):.0%}" for r in (base, other) if _num(r, "cv") > NOISY_CV]
    # The runner's own flag (schema v2): the CI target was not reached in its repeats.
    noisy += [f"{side} flagged noisy" for side, r in (("A", base), ("B", other))
              if str(r.get("noisy", "")).lower() == "true"]
    note = f"; noisy ({', '.join(noisy)})" if noisy else ""
    if abs(ratio - 1) < min_effect:
        return Verdict(SAME, ratio, reason=f"within ±{min_effect:.0%}{note}")
    direction = SLOWER if ratio > 1 else FASTER
    p_value = _welch_p(base, other)
    overlap = _ci_overlap(base, other)
    if overlap is True:
        return Verdict(SAME, ratio, p_value, f"confidence intervals overlap{note}")
    if overlap is False:
        return Verdict(direction, ratio, p_value, f"confidence intervals disjoint{note}")
    if math.isnan(p_value):
        return Verdict(UNCLEAR, ratio, p_value, f"fewer than 2 repeats or no stdev{note}")
    if p_value >= alpha:
        return Verdict(SAME, ratio, p_value, f"p={p_value:.2g} >= {alpha:g}{note}")
    return Verdict(direction, ratio, p_value, f"p={p_value:.2g}{note}")


def _normalized(row: Mapping) -> dict | None:
    """The row's times in units of its own in-run baseline (time x efficiency / median,
    i.e. 1 / efficiency for the median), so the time verdict's machinery (min effect,
    CIs, Welch) judges efficiency. Efficiency is proportional to 1 / median_ns for
    every pattern; None when the row has no efficiency (no baseline in its run)."""
    efficiency, median = _num(row, "efficiency"), _num(row, "median_ns")
    if not (efficiency > 0 and median > 0):
        return None
    factor = 1.0 / (efficiency * median)
    scaled = {c: _num(row, c) * factor for c in ("median_ns", "mean_ns", "stdev_ns",
                                                 "ci_low_ns", "ci_high_ns")}
    return {**row, **scaled}


def efficiency_verdict(base: Mapping, other: Mapping, *, min_effect: float = MIN_EFFECT,
                       alpha: float = ALPHA) -> Verdict:
    """Judge one matched case on efficiency; ratio = efficiency B / A (> 1 = B closer to
    its own hardware)."""
    if base.get("status") != "ok" or other.get("status") != "ok":
        return case_verdict(base, other, min_effect=min_effect, alpha=alpha)
    a, b = _normalized(base), _normalized(other)
    if a is None or b is None:
        return Verdict(NOT_COMPARABLE, math.nan, reason="no efficiency (no in-run baseline)")
    verdict = case_verdict(a, b, min_effect=min_effect, alpha=alpha)
    label = {FASTER: MORE_EFFICIENT, SLOWER: LESS_EFFICIENT}.get(verdict.label, verdict.label)
    ratio = 1.0 / verdict.ratio if verdict.ratio > 0 else math.nan
    return Verdict(label, ratio, verdict.p_value, verdict.reason)


@dataclass(frozen=True)
class Matching:
    keys: list[str]
    matched: pd.DataFrame  # key columns + every other column suffixed _a / _b
    only_base: pd.DataFrame  # key columns of cases only in the baseline
    only_other: pd.DataFrame


def match_cases(base: pd.DataFrame, other: pd.DataFrame) -> Matching:
    """Pair rows of two result frames on the case identity (CASE_KEYS + extras)."""
    keys = case_keys(base, other)
    a, b = unique_cases(base), unique_cases(other)
    merged = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    side = merged["_merge"]
    return Matching(
        keys=keys,
        matched=merged[side == "both"].drop(columns="_merge").reset_index(drop=True),
        only_base=merged.loc[side == "left_only", keys].reset_index(drop=True),
        only_other=merged.loc[side == "right_only", keys].reset_index(drop=True),
    )


def _side(record: Mapping, suffix: str) -> dict:
    return {k[: -len(suffix)]: v for k, v in record.items() if k.endswith(suffix)}


def compare_frames(base: pd.DataFrame, other: pd.DataFrame, *, min_effect: float = MIN_EFFECT,
                   alpha: float = ALPHA, metric: str = "time") -> tuple[pd.DataFrame, Matching]:
    """One row per matched case: keys, both medians and efficiencies, ratio, p_value,
    verdict, reason. metric="time": ratio = time B / A; "efficiency": efficiency B / A."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (use {' or '.join(METRICS)})")
    judge = efficiency_verdict if metric == "efficiency" else case_verdict
    matching = match_cases(base, other)
    records = []
    for record in matching.matched.to_dict("records"):
        a, b = _side(record, "_a"), _side(record, "_b")
        verdict = judge(a, b, min_effect=min_effect, alpha=alpha)
        records.append({
            **{k: record[k] for k in matching.keys},
            "median_ns_a": _num(a, "median_ns"),
            "median_ns_b": _num(b, "median_ns"),
            "efficiency_a": _num(a, "efficiency"),
            "efficiency_b": _num(b, "efficiency"),
            "ratio": verdict.ratio,
            "p_value": verdict.p_value,
            "verdict": verdict.label,
            "reason": verdict.reason,
        })
    columns = [*matching.keys, "median_ns_a", "median_ns_b", "efficiency_a", "efficiency_b",
               "ratio", "p_value", "verdict", "reason"]
    table = pd.DataFrame(records, columns=columns)
    return table.sort_values(["pattern", *[k for k in matching.keys if k != "pattern"]],
                             ignore_index=True), matching


@dataclass(frozen=True)
class Comparison:
    runs: list[Run]
    tables: list[pd.DataFrame]  # tables[i] compares runs[i + 1] with runs[0]
    matchings: list[Matching] = field(default_factory=list)
    min_effect: float = MIN_EFFECT
    alpha: float = ALPHA
    metric: str = "time"
    mechanisms: tuple[str, ...] = ()

    @property
    def tags(self) -> list[str]:
        return run_tags(len(self.runs))


def compare_runs(runs: Sequence[Run], *, min_effect: float = MIN_EFFECT,
                 alpha: float = ALPHA, metric: str = "time",
                 mechanisms: Sequence[str] = ()) -> Comparison:
    """Every run against the first, on time per message or on efficiency; `mechanisms`
    keeps only those channels. ResultsError if a run shares no case with the first."""
    if len(runs) < 2:
        raise ResultsError("compare needs at least two result sets")
    if mechanisms:
        known = set().union(*(set(r.frame["mechanism"]) for r in runs))
        unknown = [m for m in mechanisms if m not in known]
        if unknown:
            raise ResultsError(f"no rows of mechanism {unknown[0]!r} in these runs")
        runs = [replace(r, frame=r.frame[r.frame["mechanism"].isin(mechanisms)]) for r in runs]
    tables, matchings = [], []
    for run in runs[1:]:
        table, matching = compare_frames(runs[0].frame, run.frame, min_effect=min_effect,
                                         alpha=alpha, metric=metric)
        if table.empty:
            raise ResultsError(f"{run.csv_path} has no case in common with {runs[0].csv_path}")
        tables.append(table)
        matchings.append(matching)
    return Comparison(list(runs), tables, matchings, min_effect, alpha, metric,
                      tuple(mechanisms))


def verdict_counts(table: pd.DataFrame, metric: str | None = None) -> dict[str, int]:
    """Cases per verdict; with a metric, only the labels that metric can give."""
    counts = table["verdict"].value_counts()
    skip = {"time": (MORE_EFFICIENT, LESS_EFFICIENT), "efficiency": (FASTER, SLOWER)}
    return {v: int(counts.get(v, 0)) for v in VERDICTS if v not in skip.get(metric, ())}


def _format_ratio(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "–"
    return f"{ratio:.2f}×"


def display_table(comparison: Comparison) -> pd.DataFrame:
    """All matched cases, one row each, with every run's time/msg, ratio and verdict
    against the baseline (tag A) as display strings. Used by compare.md and report.html."""
    tags = comparison.tags
    keys = comparison.matchings[0].keys
    merged = None
    for tag, table in zip(tags[1:], comparison.tables, strict=True):
        part = table[keys].copy()
        part["A time/msg"] = table["median_ns_a"].map(format_time_ns)
        part["A eff"] = table["efficiency_a"].map(format_efficiency)
        part[f"{tag} time/msg"] = table["median_ns_b"].map(format_time_ns)
        part[f"{tag} eff"] = table["efficiency_b"].map(format_efficiency)
        part[f"{tag}/A" + (" eff" if comparison.metric == "efficiency" else "")] = table[
            "ratio"].map(_format_ratio)
        part[f"{tag} verdict"] = table["verdict"]
        part[f"{tag} why"] = table["reason"]
        if merged is None:
            merged = part
        else:
            merged = merged.merge(part.drop(columns=["A time/msg", "A eff"]), on=keys,
                                  how="outer")
    merged = merged.fillna("–")
    merged["size_bytes"] = merged["size_bytes"].map(lambda s: format_size(int(s)))
    return merged.rename(columns={"size_bytes": "size", "start_method": "start"})


def one_sided(comparison: Comparison) -> list[tuple[str, pd.DataFrame]]:
    """(description, case keys) for cases present on only one side of each pairing."""
    tags = comparison.tags
    parts = []
    for tag, matching in zip(tags[1:], comparison.matchings, strict=True):
        if not matching.only_base.empty:
            parts.append((f"only in A (not in {tag})", matching.only_base))
        if not matching.only_other.empty:
            parts.append((f"only in {tag} (not in A)", matching.only_other))
    return parts


def ratio_note(comparison: Comparison) -> str:
    """What the ratio and verdict columns mean, for the chosen metric."""
    if comparison.metric == "efficiency":
        ratio = ("Ratios are efficiency (share of each run's own in-run baseline) vs A: "
                 "2.00× = B gets twice as close to its hardware.")
    else:
        ratio = "Ratios are time per message (median) vs A: 0.50× = twice as fast."
    picked = (f" Only mechanisms {', '.join(comparison.mechanisms)}."
              if comparison.mechanisms else "")
    return (f"Baseline is **A**. {ratio} Verdict: differences under "
            f"{comparison.min_effect:.0%} count as no difference; larger ones need disjoint "
            f"confidence intervals or a Welch t-test (n = repeats) at p < "
            f"{comparison.alpha:g}.{picked}")


def comparison_markdown(comparison: Comparison, chart_files: Sequence[str] = ()) -> str:
    tags = comparison.tags
    runs = comparison.runs
    lines = ["# ipcbench comparison", ""]
    lines += [f"- **{tag}**: {run.label} (`{run.csv_path}`)" for tag, run in zip(tags, runs,
                                                                               strict=True)]
    lines += ["", ratio_note(comparison), "", "## Summary", ""]
    lines += [f"- {line}" for line in summary_sentences(tags, comparison.tables)] + [""]
    lines += [markdown_table(summary_table(tags, comparison.tables)), ""]
    order = ranking(tags, comparison.tables, comparison.metric)
    by = "efficiency" if comparison.metric == "efficiency" else "speed"
    lines += [f"Ranked by {by}: " + " > ".join(f"{t} ({v:.2f}×)" for t, v in order), ""]
    summary = pd.DataFrame(
        [{"run": tag, "matched cases": len(t), **verdict_counts(t, comparison.metric)}
         for tag, t in zip(tags[1:], comparison.tables, strict=True)]
    )
    lines += ["### Verdicts per case", "", markdown_table(summary), "", "## Machines", ""]
    lines += [markdown_table(metadata_table(runs, tags), index=True), ""]
    if chart_files:
        lines += ["## Charts", ""] + [f"![{name}]({name})" for name in chart_files] + [""]
    lines += ["## Cases", "", markdown_table(display_table(comparison)), ""]
    sided = one_sided(comparison)
    lines += ["## Cases on one side only", ""]
    if not sided:
        lines += ["None: every case was measured in every run.", ""]
    for title, keys in sided:
        shown = keys.assign(size_bytes=keys["size_bytes"].map(lambda s: format_size(int(s))))
        lines += [f"### {title} ({len(keys)})", "", markdown_table(shown), ""]
    return "\n".join(lines)


def write_comparison(comparison: Comparison, out_dir: str | os.PathLike[str], *,
                     formats: Sequence[str] = FORMATS, charts: bool = True) -> list[Path]:
    """Write compare.md (and overlay charts) for a computed comparison."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    chart_names = []
    if charts:
        for stem, figure in overlay_figures(comparison.runs, metric=comparison.metric,
                                            mechanisms=comparison.mechanisms or None).items():
            written += save_figure(figure, out, stem, formats)
            chart_names.append(f"{stem}.{'png' if 'png' in formats else formats[0]}")
    markdown = out / "compare.md"
    markdown.write_text(comparison_markdown(comparison, chart_names), encoding="utf-8")
    return [markdown, *written]


def write_compare(paths: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                  formats: Sequence[str] = FORMATS, charts: bool = True,
                  min_effect: float = MIN_EFFECT, alpha: float = ALPHA, metric: str = "time",
                  mechanisms: Sequence[str] = ()) -> list[Path]:
    """Read the runs, write compare.md and overlay charts; return the files written."""
    comparison = compare_runs(load_runs(paths), min_effect=min_effect, alpha=alpha,
                              metric=metric, mechanisms=mechanisms)
    return write_comparison(comparison, out_dir, formats=formats, charts=charts)
