"""Pure statistics: exact values for known samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ipcbench.core.stats import median, per_second, summarize


def test_median_odd_and_even():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([7.0]) == 7.0


def test_median_of_nothing_raises():
    with pytest.raises(ValueError):
        median([])


def test_summarize_known_sample():
    summary = summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert summary.count == 8
    assert summary.min_ns == 2.0
    assert summary.max_ns == 9.0
    assert summary.mean_ns == 5.0
    assert summary.median_ns == 4.5
    # Sample (ddof=1) standard deviation: sum of squared deviations is 32.
    assert summary.stdev_ns == pytest.approx(math.sqrt(32 / 7), rel=1e-12)
    assert summary.cv == pytest.approx(math.sqrt(32 / 7) / 5.0, rel=1e-12)


def test_summarize_percentiles_interpolate_linearly():
    # 0, 1, ..., 100: the p-th percentile is exactly p.
    summary = summarize(np.arange(101))
    assert summary.p50_ns == 50.0
    assert summary.p90_ns == 90.0
    assert summary.p99_ns == 99.0
    assert summary.p999_ns == pytest.approx(99.9, rel=1e-12)
    assert summary.median_ns == summary.p50_ns == 50.0


def test_summarize_single_sample_has_zero_spread():
    summary = summarize([1234])
    assert summary.count == 1
    assert summary.stdev_ns == 0.0
    assert summary.p999_ns == summary.min_ns == summary.max_ns == 1234.0


def test_summarize_constant_samples():
    summary = summarize([1000] * 10)
    assert summary.stdev_ns == 0.0
    assert summary.cv == 0.0
    assert summary.as_dict()["p99_ns"] == 1000.0


@pytest.mark.parametrize("empty", [[], np.array([], dtype=np.int64)])
def test_summarize_empty_raises(empty):
    with pytest.raises(ValueError, match="zero samples"):
        summarize(empty)


def test_per_second():
    assert per_second(5, 1e9) == 5.0
    assert per_second(1, 1000) == 1e6
    assert math.isnan(per_second(10, 0))
    assert math.isnan(per_second(10, -1))
