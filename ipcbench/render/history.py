"""The outputs of `ipcbench history`: the terminal lines (a figure table per machine and
one line per step found), history.md (the same, with the trend charts) and the JSON
document ("ipcbench-history/1", docs/json.md). Pure apart from write_history."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from ipcbench.analysis.history import CaseHistory, History
from ipcbench.analysis.steps import Step
from ipcbench.core.schema import CASE_KEYS
from ipcbench.core.units import MISSING, format_ratio, format_time_ns
from ipcbench.system.safefile import safe_dir, write_atomic

SCHEMA = "ipcbench-history/1"
# Runs shown as columns in the terminal: the latest ones (history.md has them all).
TERMINAL_RUNS = 6
# Cases listed per machine before only the stepped ones are.
TERMINAL_CASES = 40


def step_text(case: CaseHistory, step: Step) -> str:
    """One step in one line: what moved, by how much, from which run on."""
    change = (f"{format_ratio(step.ratio)} slower" if step.ratio >= 1
              else f"{format_ratio(1 / step.ratio)} faster")
    when = case.times_utc[step.index]
    return (f"{case.label} on {case.machine_id}: {change} from run {case.runs[step.index]}"
            + (f" ({when})" if when else ""))


def steps_summary(hist: History) -> str:
    found = hist.steps()
    runs = sum(len(r) for r in hist.machines.values())
    where = f"{len(hist.cases)} case(s), {runs} run(s) on {len(hist.machines)} machine(s)"
    if not found:
        return f"steps: none found in {where}"
    return f"steps: {len(found)} found in {where}"


def _figure(case: CaseHistory, index: int) -> str:
    median = case.median_ns[index]
    if not math.isfinite(median):
        return case.statuses[index] or MISSING
    low, high = case.ci_low_ns[index], case.ci_high_ns[index]
    if math.isfinite(low) and math.isfinite(high) and median > 0:
        return f"{format_time_ns(median)} ±{(high - low) / 2 / median:.0%}"
    return format_time_ns(median)


def _marks(case: CaseHistory) -> set[int]:
    return {s.index for s in case.fit.steps}


def table_lines(hist: History, last: int | None = TERMINAL_RUNS,
                most: int | None = TERMINAL_CASES) -> list[str]:
    """Per machine: one line per case, its figure in each run (a step marked `|`
    before the run it starts at), as aligned plain text. Past `most` cases on a
    machine, only those with a step (history.md has them all)."""
    lines = []
    for machine, runs in hist.machines.items():
        cases = [c for c in hist.cases if c.machine_id == machine]
        left_out = 0
        if most is not None and len(cases) > most:
            stepped = [c for c in cases if c.fit.steps]
            left_out, cases = len(cases) - len(stepped), stepped
        start = max(0, len(runs) - last) if last else 0
        shown = list(range(start, len(runs)))
        header = ["case (time per message)", *[runs[i] for i in shown], "basis"]
        body = [[c.label, *[("| " if i in _marks(c) else "") + _figure(c, i) for i in shown],
                 c.basis] for c in cases]
        widths = [max(len(r[k]) for r in [header, *body]) for k in range(len(header))]
        more = f", the first {start} not shown" if start else ""
        if left_out:
            more += f"; {left_out} case(s) without a step not shown (see history.md)"
        lines.append(f"machine {machine}: {len(runs)} run(s){more}")
        if not cases:
            continue
        for row in [header, *body]:
            lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    return lines


def terminal_lines(hist: History) -> list[str]:
    return [*table_lines(hist), steps_summary(hist),
            *(f"  step: {step_text(c, s)}" for c, s in hist.steps())]


def history_markdown(hist: History, charts: Sequence[str] = ()) -> str:
    lines = ["# History", "", steps_summary(hist), ""]
    lines += [f"- {step_text(c, s)}" for c, s in hist.steps()]
    lines += ["", "Steps are level changes in the session values of a case (over each "
              "session's probe where every run has probes) past the runs' own noise and "
              f"at least {hist.min_effect:.0%} (docs/history.md).", ""]
    for machine, runs in hist.machines.items():
        cases = [c for c in hist.cases if c.machine_id == machine]
        lines += [f"## Machine {machine}", "",
                  "| case | " + " | ".join(runs) + " | basis |",
                  "|---" * (len(runs) + 2) + "|"]
        for c in cases:
            cells = [("**step** " if i in _marks(c) else "") + _figure(c, i)
                     for i in range(len(runs))]
            lines.append(f"| {c.label} | " + " | ".join(cells) + f" | {c.basis} |")
        lines.append("")
    for chart in charts:
        lines += [f"![{chart}]({chart})", ""]
    return "\n".join(lines)


def history_document(hist: History) -> dict:
    return {
        "schema": SCHEMA,
        "min_effect": hist.min_effect,
        "machines": {m: list(runs) for m, runs in hist.machines.items()},
        "cases": [{
            "machine_id": c.machine_id,
            "case": dict(zip(CASE_KEYS, c.key, strict=True)),
            "basis": c.basis,
            "noise_sigma_log": c.fit.sigma,
            "runs": [{"run": r, "time_utc": t, "status": s, "median_ns": m,
                      "ci_low_ns": lo, "ci_high_ns": hi}
                     for r, t, s, m, lo, hi in zip(c.runs, c.times_utc, c.statuses,
                                                   c.median_ns, c.ci_low_ns, c.ci_high_ns,
                                                   strict=True)],
            "steps": [{"run": c.runs[s.index], "index": s.index, "ratio": s.ratio}
                      for s in c.fit.steps],
        } for c in hist.cases],
        "steps": [{"machine_id": c.machine_id, "case": dict(zip(CASE_KEYS, c.key, strict=True)),
                   "run": c.runs[s.index], "ratio": s.ratio, "text": step_text(c, s)}
                  for c, s in hist.steps()],
    }


def write_history(hist: History, out_dir: str | os.PathLike[str], charts: Sequence[str]) -> Path:
    folder = safe_dir(Path(out_dir))
    path = folder / "history.md"
    write_atomic(path, history_markdown(hist, charts).encode("utf-8"))
    return path
