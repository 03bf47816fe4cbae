"""Pure: whether a session saw heavy interference, and so is measured again.

The runner (harness/runner.py) asks this after every session; the rule reads the
session's own figures against the case's earlier sessions, never a clock.
"""

from __future__ import annotations

from ipcbench.core.session_stats import SessionResult
from ipcbench.core.stats import median

# A session is measured again when other work took a large share of the machine while it
# ran (foreign CPU time plus steal, /proc/stat: with a noisy neighbour at 30% duty, the
# sessions that saw 50% or more ran 7-9% slower than the rest with twice their spread,
# those that saw under 10% 5-7% faster), when its peers' run delay (the share of the
# timed span they waited for a CPU while runnable, system/schedstat.py) exceeds the
# case's usual share by REMEASURE_FACTOR plus REMEASURE_MARGIN, or when its peers got
# less CPU per second of the timed span than in the case's best session by more than
# CPU_SHARE_DROP (another process took their CPU: on a shared core a neighbour's burst
# left the peers half of it, and the session ran 1.5-2x slow). The last two are judged
# against the case's own earlier sessions, since a same-core stream's peers wait for
# each other by design and a blocking channel's peers sleep; the CPU share against the
# best of them, since other work only ever lowers it (against their median, a case whose
# first sessions met a burst took the burst for its usual). The retry runs after the
# rest of its block, not at once: a burst of other work lasts ~0.1 s, and a retry at once
# mostly met the same burst. At most one retry per session, and at most REMEASURE_SHARE
# of max_sessions a case, so a machine that is always busy still finishes.
INTERFERENCE_SHARE = 0.25
_MIN_JUDGED_S = 0.02  # two 10 ms jiffies of machine time: less cannot be judged
REMEASURE_FACTOR = 1.5
REMEASURE_MARGIN = 0.05
CPU_SHARE_DROP = 0.2
REMEASURE_SHARE = 0.5
_MIN_HISTORY = 2


def heavy_interference(history: list[SessionResult], result: SessionResult) -> bool:
    """Pure: other work took a large share of the machine during `result`, or its peers
    waited for a CPU far longer, or got far less of one, than in the case's earlier
    sessions."""
    seen = result.disturbance
    if seen.total_s >= _MIN_JUDGED_S and (
            (seen.foreign_s + seen.steal_s) / seen.total_s >= INTERFERENCE_SHARE):
        return True
    if history and result.cpu_per_wall < (
            max(s.cpu_per_wall for s in history) * (1.0 - CPU_SHARE_DROP)):
        return True
    if len(history) < _MIN_HISTORY:
        return False
    usual = median([s.run_delay_frac for s in history])
    return result.run_delay_frac > usual * REMEASURE_FACTOR + REMEASURE_MARGIN


def less_disturbed(first: SessionResult, again: SessionResult) -> SessionResult:
    """Pure: of a session and its retry, the one whose peers got more CPU per timed
    second (the retry on a tie): a retry that met another burst is not kept over a first
    attempt that saw less of one. Chosen by what the peers were given, never by speed."""
    return first if first.cpu_per_wall > again.cpu_per_wall else again
