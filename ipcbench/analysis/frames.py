"""Pure helpers over a results frame that every chart, table and comparison shares:
case identity, one row per case, and how rows split into series (lines) and facets
(panel rows)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ipcbench.core.patterns import PATTERN_NAMES
from ipcbench.core.payload_kinds import PAYLOAD_KINDS
from ipcbench.core.schema import CASE_KEYS, PLACEMENTS

# Case-key columns that split one channel's measurements into separate cases a reader
# must never see averaged or mixed in one line (a same-core and a cross-core line of
# one channel would read as two channels).
SPLIT_COLUMNS = ("placement", "payload")
# Dimensions that get their own panel row (or figure) instead of being mixed in a panel.
FACET_COLUMNS = ("pattern", *SPLIT_COLUMNS)


def case_keys(*frames: pd.DataFrame) -> list[str]:
    """The CASE_KEYS every given frame carries (read_results upgrades old files, so
    for files that is all of them; hand-built frames may lack some)."""
    return [c for c in CASE_KEYS if all(c in f for f in frames)]


def unique_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per case. read_results refuses a file that measured a channel's case
    twice (which row a reader should trust is the user's call, not ours), so in a file's
    frame this only folds baseline rows a --resume measured again (the last is the one
    the resumed cases were judged against); hand-built frames keep their last row."""
    return frame.drop_duplicates(subset=case_keys(frame), keep="last")


def series_columns(frame: pd.DataFrame, facets: Sequence[str] = ()) -> list[str]:
    """Columns that make one line on a chart: mechanism/variant, plus start method or a
    split column only when the run actually varies it (keeps legends short) and it is
    not already a facet (a panel row of its own)."""
    columns = ["mechanism", "variant"]
    # gil_enabled: rows of a build run with and without the GIL never share a line.
    for extra in ("start_method", *SPLIT_COLUMNS, "gil_enabled"):
        if extra in frame and frame[extra].nunique(dropna=True) > 1 and extra not in facets:
            columns.append(extra)
    return columns


def series_label(key: dict) -> str:
    label = f"{key.get('mechanism')}/{key.get('variant')}"
    extras = [("GIL" if v else "no GIL") if k == "gil_enabled" else str(v)
              for k, v in key.items() if k not in ("mechanism", "variant")]
    return f"{label} ({', '.join(extras)})" if extras else label


def iter_series(frame: pd.DataFrame, columns: Sequence[str]):
    """Yield (key dict, rows) per series in a stable, registry-independent order."""
    if frame.empty:
        return
    for values, rows in frame.groupby(list(columns), sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(columns, values, strict=True)), rows


def facet_columns(frame: pd.DataFrame, candidates: Sequence[str] = FACET_COLUMNS) -> list[str]:
    """The facet dimensions that actually vary in these rows (one panel row each)."""
    return [c for c in candidates if c in frame and frame[c].nunique(dropna=True) > 1]


def iter_facets(frame: pd.DataFrame, columns: Sequence[str]):
    """Yield (key dict, rows) per facet, patterns in reading order, the rest sorted."""
    if not columns:
        yield {}, frame
        return
    def rank(item):
        return tuple(reading_rank(c, v) for c, v in item[0].items())

    yield from sorted(iter_series(frame, columns), key=rank)


# Reading order of a dimension: patterns, placements and payload kinds as declared
# (same-core before cross-core, bytes first); anything else sorted.
_ORDERS = {"pattern": PATTERN_NAMES, "placement": PLACEMENTS, "payload": PAYLOAD_KINDS}


def reading_rank(column: str, value) -> tuple:
    """Sort key of one value of a case-key column (see _ORDERS)."""
    known = _ORDERS.get(column, ())
    return (list(known).index(value), "") if value in known else (99, str(value))


def in_reading_order(column: str, values) -> list:
    """Distinct values of a case-key column in the order a reader expects."""
    return sorted(set(values), key=lambda v: reading_rank(column, v))


def facet_label(key: dict) -> str:
    return " · ".join(f"{v}" if k != "payload" else f"{v} payload" for k, v in key.items())
