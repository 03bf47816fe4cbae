"""The run's drift: a host that moves for tens of sessions is seen, one session is not."""

import math
import random

from ipcbench.core.drift import MIN_WINDOWS, WINDOW, drift_of


def _sessions(level_of, count=400, cases=5, jitter=0.0, seed=1):
    rng = random.Random(seed)
    keys, logs = [], []
    for i in range(count):
        case = i % cases
        value = (100.0 + 50 * case) * level_of(i) * math.exp(rng.gauss(0, jitter))
        keys.append(case)
        logs.append(math.log(value))
    return keys, logs


def test_a_steady_host_has_no_drift_even_with_session_noise():
    keys, logs = _sessions(lambda i: 1.0, jitter=0.1)
    assert drift_of(keys, logs) < 0.03


def test_a_host_that_moves_by_a_fifth_for_a_while_is_seen():
    # The second half of the run is 20% slower on every case.
    keys, logs = _sessions(lambda i: 1.0 if i < 200 else 1.2)
    assert 0.05 < drift_of(keys, logs) < 0.25


def test_one_slow_session_in_a_window_does_not_count():
    keys, logs = _sessions(lambda i: 3.0 if i % 50 == 7 else 1.0)
    assert drift_of(keys, logs) < 1e-9


def test_too_short_a_run_cannot_tell():
    keys, logs = _sessions(lambda i: 1.0)
    short = MIN_WINDOWS * WINDOW - 1
    assert math.isnan(drift_of(keys[:short], logs[:short]))


