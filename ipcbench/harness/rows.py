"""Pure row builders: what a run stamps on every row, and rows from measured figures.

The runner (cases) and the baselines (raw loops) both build their rows here, so neither
calls back into the other and every row of a run carries the same identity.
"""

from __future__ import annotations

import math
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from ipcbench import __version__
from ipcbench.core.paired import UNPAIRED, PairedRatio
from ipcbench.core.results import SCHEMA_VERSION, ResultRow
from ipcbench.core.schema import CASE_KEYS, Case
from ipcbench.core.session_stats import (
    MIDDLE_SPREAD_LIMIT,
    SessionResult,
    case_figures,
    summarize_session,
)
from ipcbench.mechanisms import peer_kind
from ipcbench.system.machine import gil_state


@dataclass(frozen=True)
class RunMeta:
    """Identity stamped on every row of one run."""

    machine_id: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    python: str = field(default_factory=lambda: sys.version.split()[0])
    order_seed: int = -1  # seed of the shuffled case order; -1 = run in the given order
    # The GIL in force and whether the build is free-threaded (machine.gil_state): the
    # harness's Python is every peer's.
    gil_enabled: bool = field(default_factory=lambda: gil_state()[0])
    free_threaded: bool = field(default_factory=lambda: gil_state()[1])


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def base_row(case: Case, meta: RunMeta, status: str, reason: str = "", **values) -> ResultRow:
    return ResultRow(
        schema_version=SCHEMA_VERSION,
        run_id=meta.run_id,
        timestamp_utc=_utc_now(),
        machine_id=meta.machine_id,
        **{name: getattr(case, name) for name in CASE_KEYS},
        order_seed=meta.order_seed,
        status=status,
        reason=reason,
        python=meta.python,
        ipcbench_version=__version__,
        gil_enabled=meta.gil_enabled,
        free_threaded=meta.free_threaded,
        peer_kind=peer_kind(case.mechanism, case.variant),
        **values,
    )


def ok_row(
    case: Case, meta: RunMeta, sessions: list[SessionResult], warmup: int, target_ci: float,
    paired: PairedRatio = UNPAIRED, remeasured: int = 0,
    spread_limit: float = MIDDLE_SPREAD_LIMIT, reference_ns: float = 0.0,
) -> ResultRow:
    """Pure: the finished sessions of one case (and its paired ratio to the rivals of its
    workload, core/paired.py) -> its ok row, flagged noisy where its sessions' middle
    spread is wider than `spread_limit` (session_stats.MIDDLE_SPREAD_LIMIT), its times at
    the host's reference state `reference_ns` (session_stats.standardized; 0 = as
    measured)."""
    figures = case_figures(sessions, target_ci,
                           paired_half_width=paired.half_width if paired.blocks else 0.0,
                           spread_limit=spread_limit, reference_ns=reference_ns)
    bytes_per_s = figures["msgs_per_s"] * case.kind.bytes_per_message(case.size_bytes)
    achieved_per_s = case.kind.sent_per_s(figures["msgs_per_s"], case.procs)
    return base_row(
        case,
        meta,
        "ok",
        warmup=warmup,
        verified=True,
        bytes_per_s=bytes_per_s if case.kind.moves_payload else math.nan,
        achieved_per_s=achieved_per_s,
        saturated=is_saturated(case.rate_per_s, achieved_per_s),
        ratio=paired.ratio,
        ratio_ci_low=paired.ci_low,
        ratio_ci_high=paired.ci_high,
        remeasured=remeasured,
        **figures,
    )


# An open-loop case that reaches less than this share of its rate did not keep up: its
# latencies are those of a growing backlog, and its row says so.
KEEPS_UP = 0.95


def is_saturated(rate_per_s: float, achieved_per_s: float) -> bool:
    return bool(rate_per_s) and not achieved_per_s >= KEEPS_UP * rate_per_s


# A baseline's samples are split into this many pseudo-sessions (per set, when several
# sets are pooled: baselines.SPREAD_SETS) so its row carries a CI built the same way as a
# case's, and a set measured in another state of the host is outvoted by the others.
BASELINE_GROUPS = 5


def baseline_row(
    case: Case, meta: RunMeta, sets: Sequence[np.ndarray], messages_per_sample: int
) -> ResultRow:
    """An ok row for a baseline from raw per-message samples, one array per set measured,
    each sample the mean over `messages_per_sample` messages, with efficiency 1.0 by
    definition."""
    sessions = []
    for samples_ns in sets:
        samples = np.asarray(samples_ns, dtype=np.float64)
        for group in np.array_split(samples, min(BASELINE_GROUPS, samples.size)):
            sessions.append(summarize_session(
                len(sessions), [group], messages_per_sample * group.size,
                float(group.sum() * messages_per_sample), 0.0, 0, 0.0,
            ))
    row = ok_row(case, meta, sessions, warmup=1, target_ci=math.inf, spread_limit=math.inf)
    return replace(row, cpu_s_per_msg=math.nan, ctx_switches_per_msg=math.nan, efficiency=1.0)
