"""Paired ratios: a drift shared by a block cancels; disjoint CIs decide a winner."""

import math

from ipcbench.core.paired import (
    UNPAIRED,
    WORKLOAD_KEYS,
    PairedRatio,
    clearly_faster,
    paired_ratios,
    workload_of,
)
from ipcbench.core.schema import CASE_KEYS, Case


def test_workload_is_the_case_without_its_channel():
    assert set(WORKLOAD_KEYS) == set(CASE_KEYS) - {"mechanism", "variant"}
    a = Case("pipe", "bytes", "pingpong", 64, 1, "fork", "same-core")
    b = Case("queue", "default", "pingpong", 64, 1, "fork", "same-core")
    c = Case("pipe", "bytes", "pingpong", 128, 1, "fork", "same-core")
    assert workload_of(a) == workload_of(b) != workload_of(c)


def test_a_drift_shared_by_each_block_cancels():
    # The host drifts by 0.5x..2x from block to block; pipe is always 2x queue's time.
    drift = {0: 1.0, 1: 2.0, 2: 0.5, 3: 1.3, 4: 0.8, 5: 1.7}
    values = {"pipe": {b: 200.0 * f for b, f in drift.items()},
              "queue": {b: 100.0 * f for b, f in drift.items()}}
    ratios = paired_ratios(values)
    assert math.isclose(ratios["pipe"].ratio, math.sqrt(2))
    assert math.isclose(ratios["queue"].ratio, 1 / math.sqrt(2))
    assert ratios["pipe"].half_width < 1e-12 and ratios["pipe"].blocks == 6
    assert clearly_faster(ratios["queue"], ratios["pipe"])
    assert not clearly_faster(ratios["pipe"], ratios["queue"])


def test_only_blocks_every_channel_measured_are_used():
    values = {"a": {0: 100.0, 1: 100.0, 2: 100.0}, "b": {0: 100.0, 2: 400.0}}
    ratios = paired_ratios(values)
    assert ratios["a"].blocks == ratios["b"].blocks == 2


def test_a_channel_alone_has_ratio_one_and_no_common_block_none():
    alone = paired_ratios({"a": {0: 5.0, 1: 7.0}})["a"]
    assert alone.blocks == 2
    assert all(math.isclose(v, 1.0) for v in (alone.ratio, alone.ci_low, alone.ci_high))
    assert paired_ratios({"a": {0: 5.0}, "b": {1: 7.0}}) == {"a": UNPAIRED, "b": UNPAIRED}
    assert paired_ratios({}) == {}


def test_overlapping_cis_are_a_tie_both_ways():
    # Five blocks: the 95% CI of a median of 5 is [min, max]; one block reverses.
    values = {"a": {0: 90.0, 1: 91.0, 2: 92.0, 3: 93.0, 4: 120.0},
              "b": {0: 100.0, 1: 100.0, 2: 100.0, 3: 100.0, 4: 100.0}}
    ratios = paired_ratios(values)
    assert ratios["a"].ratio < 1 < ratios["b"].ratio
    assert not clearly_faster(ratios["a"], ratios["b"])
    assert not clearly_faster(ratios["b"], ratios["a"])


def test_unpaired_is_never_clearly_anything():
    known = PairedRatio(0.5, 0.4, 0.6, 5)
    assert not clearly_faster(UNPAIRED, known) and not clearly_faster(known, UNPAIRED)


def test_rows_are_clearly_ahead_by_their_paired_cis_else_by_the_old_margin():
    from ipcbench.core.paired import LEGACY_TIE_MARGIN, clearly_ahead, paired_of

    fast = {"ratio": 0.9, "ratio_ci_low": 0.85, "ratio_ci_high": 0.95}
    slow = {"ratio": 1.1, "ratio_ci_low": 1.0, "ratio_ci_high": 1.2}
    near = {"ratio": 0.97, "ratio_ci_low": 0.9, "ratio_ci_high": 1.05}
    assert paired_of(fast) == PairedRatio(0.9, 0.85, 0.95, 0)
    assert clearly_ahead(fast, slow, lead=0.0) and not clearly_ahead(fast, near, lead=0.5)
    old = {"ratio": float("nan"), "ratio_ci_low": "", "ratio_ci_high": None}
    assert paired_of(old) is None
    assert clearly_ahead(old, old, lead=LEGACY_TIE_MARGIN)
    assert not clearly_ahead(old, slow, lead=0.04)
