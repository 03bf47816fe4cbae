"""How a measured figure is written for people: one formatter, used by every output.

One convention everywhere (run summary, charts, compare, report, advise, notebook), so the
same figure reads the same wherever it is shown:
- time: ns, µs, ms, s (the micro sign, never "us");
- throughput: decimal GB/s, MB/s, kB/s, as network and disk throughput are quoted;
- event rates: k/M/G msgs/s;
- efficiency and other fractions: percent;
- message sizes: binary (64B, 4KiB, 1MiB; sizes.format_size), as buffers are powers of two.
Three significant digits: the machines this runs on do not reproduce a fourth.
"""

from __future__ import annotations

import math

from ipcbench.core.sizes import format_size

# Unit names a figure can carry (Pattern.unit and the metric tables use these).
TIME_NS = "ns"
BYTES_PER_S = "B/s"
MSGS_PER_S = "msgs/s"
FRACTION = "fraction"
BYTES = "bytes"

MISSING = "–"  # shown for NaN/inf: a figure that was not measured

_STEPS: dict[str, tuple[tuple[str, float], ...]] = {
    TIME_NS: (("s", 1e9), ("ms", 1e6), ("µs", 1e3), ("ns", 1.0)),
    BYTES_PER_S: (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3), ("B/s", 1.0)),
    MSGS_PER_S: (("G msgs/s", 1e9), ("M msgs/s", 1e6), ("k msgs/s", 1e3), ("msgs/s", 1.0)),
}


def format_value(value: float, unit: str) -> str:
    """A figure with its unit scaled for reading: (3400, "ns") -> "3.4 µs",
    (2.5e9, "B/s") -> "2.5 GB/s", (0.25, "fraction") -> "25%", (4096, "bytes") -> "4KiB"."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return MISSING
    if not math.isfinite(value):
        return MISSING
    if unit == FRACTION:
        percent = value * 100
        return f"{percent:.3g}%" if abs(percent) < 100 else f"{percent:.0f}%"
    if unit == BYTES:
        return format_size(int(value)) if value >= 1 else MISSING
    steps = _STEPS.get(unit)
    if steps is None:
        raise ValueError(f"unknown unit {unit!r} (one of {', '.join([*_STEPS, FRACTION, BYTES])})")
    for name, factor in steps:
        if abs(value) >= factor:
            return f"{value / factor:.3g} {name}"
    return f"{value:.3g} {steps[-1][0]}"


def format_time_ns(value_ns: float) -> str:
    return format_value(value_ns, TIME_NS)


def format_rate_bytes(value_per_s: float) -> str:
    return format_value(value_per_s, BYTES_PER_S)


def format_rate_msgs(value_per_s: float) -> str:
    return format_value(value_per_s, MSGS_PER_S)


def format_fraction(value: float) -> str:
    return format_value(value, FRACTION)


def format_lead(value: float) -> str:
    """A winner's lead over its runner-up, as a fraction: 0.421 -> "+42%", 0.00357 ->
    "+0.4%". Whole percents above 1%: on a host whose runs agree within ±10% at best,
    a third digit is noise dressed as precision."""
    if not math.isfinite(value):
        return MISSING
    percent = value * 100
    return f"+{percent:.1f}%" if abs(percent) < 1 else f"+{percent:.0f}%"


def format_ratio(value: float) -> str:
    """A speed ratio: 1.234 -> "1.23x"."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return MISSING
    return f"{value:.3g}x" if math.isfinite(value) else MISSING
