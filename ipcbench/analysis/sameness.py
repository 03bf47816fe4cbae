"""Were two runs measured the same way? A comparison of runs made with different
settings (sessions, repeats, messages per repeat, warm-up) mixes the channel's change
with the method's, so compare says so in one line before any verdict.

The run manifest (manifest.json in the run folder: at least "settings" and "matrix")
says it directly; runs without one are judged from their rows: the per-case `sessions`,
`repeats`, `warmup` and `messages` of the cases both runs measured ok.

Was the machine the same? Two runs on one machine can still find it in another state
(clock frequency, neighbours on the host): back to back on the 2-core VM, a second run
ran 6% faster in every case, and its raw-loop baselines (os.pipe round trip 0.94x,
uncontended lock 0.93x) said so. compare then says so in one line too; the verdicts are
left as they are, since a real change (another Python) moves those loops as well.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ipcbench.analysis.runs import Run
from ipcbench.core.sizes import format_size

MANIFEST = "manifest.json"
ROW_SETTINGS = ("sessions", "repeats", "warmup", "messages")


def load_manifest(run: Run) -> dict | None:
    """The run's manifest as a dict, None when absent or unreadable."""
    try:
        data = json.loads((Path(run.folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "settings" in data else None


def _manifest_difference(a: dict, b: dict) -> list[str]:
    differ = []
    for section in ("settings", "matrix"):
        left, right = a.get(section) or {}, b.get(section) or {}
        if not (isinstance(left, dict) and isinstance(right, dict)):
            continue
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                differ.append(f"{key} {left.get(key)} vs {right.get(key)}")
    return differ


def _row_difference(matched: pd.DataFrame) -> list[str]:
    """Per setting column, how many matched ok cases disagree, with typical values."""
    both = matched[(matched.get("status_a") == "ok") & (matched.get("status_b") == "ok")]
    differ = []
    for column in ROW_SETTINGS:
        a, b = f"{column}_a", f"{column}_b"
        if a not in both or b not in both or both.empty:
            continue
        left = pd.to_numeric(both[a], errors="coerce")
        right = pd.to_numeric(both[b], errors="coerce")
        count = int((left != right).sum())
        if count:
            differ.append(f"{column} differ in {count} of {len(both)} cases (median "
                          f"{left.median():g} vs {right.median():g})")
    return differ


def settings_difference(base: Run, other: Run, matched: pd.DataFrame,
                        tag: str = "B") -> tuple[str, str]:
    """(one short line for the terminal, the detail for compare.md) saying how the runs'
    settings differ; ("", "") when they agree."""
    manifests = load_manifest(base), load_manifest(other)
    if all(manifests):
        differ, source = _manifest_difference(*manifests), "manifests"
    else:
        differ, source = _row_difference(matched), "rows"
    if not differ:
        return "", ""
    names = ", ".join(d.split(" ")[0] for d in differ)
    line = f"warning: A and {tag} differ in settings ({names})"  # one line at 80 columns
    detail = (f"{line}; from the {source}: {'; '.join(differ)}. Differences mix the "
              "channels with the method.")
    return line, detail


# Baselines that are raw CPU-bound loops (no memory bandwidth, no payload): their ratio
# between two runs is the machine's own drift.
DRIFT_BASELINES = (("os-pipe", "pingpong"), ("lock", "counter"))
# Half the verdict's minimum effect (10%): a drift this size plus a case's own noise
# can carry it over; a smaller one is not worth a line.
DRIFT_NOTE = 0.05


def _baseline_drift(base: Run, other: Run, select) -> tuple[float, pd.DataFrame] | None:
    """(B's time / A's time as the geometric mean over the baseline rows `select` keeps
    of those both runs measured, those rows) when both ran on the same machine; None
    when they did not or no such pair of rows has usable times."""
    if base.machine_id != other.machine_id or base.baselines.empty or other.baselines.empty:
        return None  # other machines differ by design: that is what compare shows
    keys = ["variant", "pattern", "size_bytes", "placement"]
    columns = [*keys, "median_ns"]
    both = base.baselines[columns].merge(other.baselines[columns], on=keys,
                                         suffixes=("_a", "_b"))
    refs = select(both)
    if refs.empty:
        return None
    ratios = (pd.to_numeric(refs["median_ns_b"], errors="coerce")
              / pd.to_numeric(refs["median_ns_a"], errors="coerce"))
    usable = (ratios > 0) & (ratios < math.inf)
    if not usable.any():
        return None
    return math.exp(float(ratios[usable].map(math.log).mean())), refs[usable]


def machine_drift(base: Run, other: Run, tag: str = "B") -> tuple[str, str]:
    """(one line, the detail) when `other` ran on the same machine as `base` but its
    raw-loop baselines ran faster or slower by DRIFT_NOTE or more; ("", "") otherwise."""
    drift = _baseline_drift(base, other, lambda both: both[[
        (v, p) in DRIFT_BASELINES
        for v, p in zip(both["variant"], both["pattern"], strict=True)]])
    if drift is None or abs(drift[0] - 1) < DRIFT_NOTE:
        return "", ""
    factor, refs = drift
    word = "faster" if factor < 1 else "slower"
    line = f"warning: {tag}'s own baselines ran {abs(1 - factor):.0%} {word} (same machine)"
    detail = (f"{line}: geometric mean of {len(refs)} raw-loop baseline ratios "
              f"(os.pipe round trip, uncontended lock; {tag}/A time) {factor:.3f}. A change "
              "of about that size in every case is the machine's state (clock, neighbours "
              "on the host), not the channels.")
    return line, detail


MEMCPY_BASELINE = "memcpy"


def _largest_memcpy(both: pd.DataFrame) -> pd.DataFrame:
    copies = both[both["variant"] == MEMCPY_BASELINE]
    return copies[copies["size_bytes"] == copies["size_bytes"].max()]


def memory_drift(base: Run, other: Run, tag: str = "B") -> tuple[str, str]:
    """(one line, the detail) when `other` ran on the same machine as `base` but its
    memcpy baseline at the largest size both measured (out of the caches) ran faster or
    slower by DRIFT_NOTE or more: the machine's memory bandwidth moved (a VM's
    neighbours share it), and every case moving large messages moves with it. Seen on
    the project's VM: 1.3x between two runs a minute apart, the CPU-bound baselines
    within 1%, and all 22 cases called different were at 1 MiB."""
    drift = _baseline_drift(base, other, _largest_memcpy)
    if drift is None or abs(drift[0] - 1) < DRIFT_NOTE:
        return "", ""
    factor, refs = drift
    size = format_size(int(refs["size_bytes"].iloc[0]))
    word = "faster" if factor < 1 else "slower"
    line = f"warning: {tag}'s memcpy of {size} ran {abs(1 - factor):.0%} {word} (same machine)"
    detail = (f"{line}: {tag}/A time {factor:.3f}. The machine's memory bandwidth moved; "
              "cases that move large messages move with it, so a change of about that "
              "size there is the machine, not the channels: run both again to tell.")
    return line, detail
