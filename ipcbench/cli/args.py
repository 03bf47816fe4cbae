"""Argument types every command shares: lists given as `--size 64 4KiB` or `--size 64,4KiB`,
process counts, choices from schema's closed sets, chart formats, fractions.

Each raises ValueError with a one-line message naming the bad value (main prints it and
exits 2), or argparse.ArgumentTypeError where argparse itself reports it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from ipcbench.core.chart_formats import FORMATS
from ipcbench.core.schema import MAX_BURST, MAX_DEPTH, MAX_PROCS, MAX_RATE_PER_S, check_choice

CHART_FORMATS = (*FORMATS, "pdf")


def split(values: Sequence[str] | None, kind: str = "value") -> list[str] | None:
    """Accept both `--size 64 4KiB` and `--size 64,4KiB`. An empty value (`-s ""`,
    `-s ,`, `-s 64,`) is a mistake, refused in one line: never read as "the default"."""
    if values is None:
        return None
    parts = []
    for value in values:
        for part in value.split(","):
            if not part.strip():
                raise ValueError(f"invalid {kind} {value!r}: empty value")
            parts.append(part.strip())
    return parts


def choices(kind: str, values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    """`values` if every one is in `allowed` (e.g. schema.PLACEMENTS)."""
    return [check_choice(kind, value, tuple(allowed)) for value in values]


def cpu_numbers(value: str) -> list[int]:
    """`--cpus 0,2`: CPU numbers, one per peer in order (at least one, each >= 0)."""
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isdigit() for p in parts):
        raise ValueError(f"invalid cpus {value!r}: expected CPU numbers separated by "
                         "commas, e.g. 0,2")
    return [int(p) for p in parts]


def procs(value: str) -> int:
    """One process count: a whole number between 1 and MAX_PROCS."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid procs {value!r}: expected a whole number") from None
    if not 1 <= n <= MAX_PROCS:
        raise ValueError(f"invalid procs {value!r}: must be between 1 and {MAX_PROCS}")
    return n


def procs_list(values: Sequence[str]) -> list[int]:
    return [procs(value) for value in values]


def rate(value: str) -> int:
    """One open-loop rate in messages per second per sender; `max` = closed loop, as
    fast as the sender can (returned as 0). A rate of 0 is refused like any other rate
    outside 1..MAX_RATE_PER_S: the message promises exactly that range or max."""
    if value.lower() == "max":
        return 0
    try:
        n = float(value)
    except ValueError:
        n = math.nan
    if not (n == int(n) if math.isfinite(n) else False) or not 1 <= n <= MAX_RATE_PER_S:
        raise ValueError(f"invalid rate {value!r}: expected messages per second, a whole "
                         f"number from 1 to {MAX_RATE_PER_S}, or max")
    return int(n)


def depth(value: str) -> int:
    """One in-flight limit (--depth): a whole number of messages, 1 to MAX_DEPTH;
    `default` = the channel's own (returned as 0)."""
    if value.lower() == "default":
        return 0
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_DEPTH:
        raise ValueError(f"invalid depth {value!r}: expected messages in flight, a whole "
                         f"number from 1 to {MAX_DEPTH}, or default")
    return n


def burst(value: str) -> int:
    """Messages per tick of an open-loop schedule (--burst): 1 to MAX_BURST."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_BURST:
        raise ValueError(f"invalid burst {value!r}: expected messages per tick, a whole "
                         f"number from 1 to {MAX_BURST}")
    return n


# Upper bounds of the per-case counts, checked before any process starts. Every session
# starts fresh peers and every repeat moves up to a matrix's target (32 MiB): at 1000
# of either a single case already takes hours on a fast channel, so a larger value is a
# typo (`--repeats 1000000000` once started a run that never finished its first case).
MAX_SESSIONS = 1000
MAX_REPEATS = 1000
MAX_WARMUP = 1000
# --deadline: a wait's timeout below 1 ms is below what the harness's waits resolve
# (poll/select count in milliseconds); the top is the Settings record's own bound.
MIN_DEADLINE_S = 0.001
MAX_DEADLINE_S = 3600.0


def count(kind: str, value: int | None, low: int, high: int) -> int | None:
    """--sessions/--repeats/--warmup: None (not given) or a whole number in [low, high]."""
    if value is None:
        return None
    if not low <= value <= high:
        raise ValueError(f"invalid {kind} {value}: must be a whole number from {low} to {high}")
    return value


def deadline(value: float | None) -> float | None:
    """--deadline: None (derived per case) or seconds in [MIN_DEADLINE_S, MAX_DEADLINE_S],
    kept as given (never rounded to whole seconds)."""
    if value is None:
        return None
    if not MIN_DEADLINE_S <= value <= MAX_DEADLINE_S:  # also refuses nan
        raise ValueError(f"invalid deadline {value!r}: must be seconds from {MIN_DEADLINE_S} "
                         f"to {MAX_DEADLINE_S:.0f}")
    return value


MAX_LOAD = 2.0  # 200%: beyond the unthrottled rate every case saturates at once


def _share(value: str) -> float:
    """`50%` or `0.5` as 0.5; NaN when it is neither (the caller names the flag)."""
    text = value.strip()
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return math.nan


def load_share(value: str) -> float:
    """One relative load: `50%` (or `0.5`) of the rate the same case reaches unthrottled
    in this run; above 100% asks for more than the channel did (saturation)."""
    share = _share(value)
    if not 0 < share <= MAX_LOAD:
        raise ValueError(f"invalid load {value!r}: expected a share of the unthrottled rate "
                         f"such as 10% or 0.1, above 0 and at most {MAX_LOAD:.0%}")
    return share


def load_shares(values: Sequence[str] | None) -> list[float]:
    """--load: the distinct shares, smallest first; none when the flag is not given."""
    return sorted({load_share(v) for v in split(values, "load")}) if values else []


def chart_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in CHART_FORMATS]
    if not formats or bad:
        raise argparse.ArgumentTypeError(f"invalid format list {text!r} (use png,svg,pdf)")
    return formats


def fraction(text: str) -> float:
    """A number strictly between 0 and 1 (a minimum effect, a significance level)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a number in (0, 1)")
    return value


def precision(value: str) -> float:
    """--precision: the CI half-width a figure aims for, `5%` or `0.05`."""
    share = _share(value)
    if not 0.001 <= share <= 0.5:
        raise ValueError(f"invalid precision {value!r}: expected a CI half-width such as "
                         "5% or 0.05, from 0.1% to 50%")
    return share


MAX_SLOWER_PCT = 1000.0  # 11x slower: above it a threshold is a typo, not a tolerance


def slower_pct(text: str) -> float:
    """compare --fail-slower: a percentage from 0 to MAX_SLOWER_PCT, `10` or `10%`
    (0 = any significant slowdown fails)."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_SLOWER_PCT:  # also refuses nan
        raise ValueError(f"invalid --fail-slower {text!r}: expected a percentage from 0 to "
                         f"{MAX_SLOWER_PCT:g}, e.g. 10 or 10%")
    return value


MAX_BUDGET_MIN = 7 * 24 * 60


def budget_minutes(value: str) -> float:
    """--budget: the run's time in minutes from its first session; past it no block
    starts once every case has its floor (Settings.floor_sessions)."""
    try:
        minutes = float(value)
    except ValueError:
        minutes = math.nan
    if not 0 < minutes <= MAX_BUDGET_MIN:
        raise ValueError(f"invalid budget {value!r}: expected minutes, above 0 and at most "
                         f"{MAX_BUDGET_MIN} (a week)")
    return minutes


def print_paths(paths) -> None:
    """Files written, one per line on stdout (scripts read them from there)."""
    for path in paths:
        print(path)


RESULTS_HELP = "a results.csv or a run folder holding one"
FORMATS_HELP = "comma-separated chart formats: png, svg, pdf (default: png)"
