"""The run summary and progress line: fit the terminal, grouped by workload, the best
channel marked, unsupported combinations counted; the ETA counts sessions; an
interrupted run says how to resume."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from synthetic_runs import bad_row, ok_row

from ipcbench.cli.run import resume_command
from ipcbench.core.schema import Case
from ipcbench.harness.progress import RunProgress, SessionCounter, eta_range_s, eta_text
from ipcbench.render.run_table import groups, print_summary, unsupported


@pytest.fixture(scope="module")
def rows():
    made = []
    for placement in ("same-core", "cross-core"):
        for size in (64, 1 << 20):
            made += [
                ok_row("queue", "default", "pingpong", size, 1, 40_000.0, placement=placement),
                ok_row("array", "synchronized", "pingpong", size, 1, 12_000.0,
                       placement=placement, noisy=True),
                ok_row("pipe", "bytes", "pingpong", size, 1, 9_000.0, placement=placement),
            ]
    made.append(bad_row("queue", "default", "counter", 8, 1, "skipped",
                        "queue does not support the counter pattern"))
    made.append(bad_row("pipe", "bytes", "counter", 8, 1, "skipped",
                        "pipe does not support the counter pattern"))
    made.append(bad_row("pipe", "bytes", "stream", 64, 1, "timeout", "deadline exceeded"))
    return made[::-1]  # shuffled order, as a run writes them


def _text(rows, width: int) -> list[str]:
    buffer = io.StringIO()
    print_summary(rows, Console(file=buffer, width=width))
    return buffer.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 100, 160])
def test_summary_fits_the_terminal(rows, width):
    lines = _text(rows, width)
    assert max(len(line) for line in lines) <= width
    assert any("pipe/bytes" in line for line in lines)


def test_summary_is_sorted_by_workload_best_first_with_payload_and_placement(rows):
    blocks = groups(rows)
    keys = [(b[0].pattern, b[0].size_bytes, b[0].placement) for b in blocks]
    assert keys == [("pingpong", 64, "same-core"), ("pingpong", 64, "cross-core"),
                    ("pingpong", 1 << 20, "same-core"), ("pingpong", 1 << 20, "cross-core"),
                    ("stream", 64, "unpinned")]
    assert [r.mechanism for r in blocks[0]] == ["pipe", "array", "queue"]
    lines = _text(rows, 160)
    header = next(line for line in lines if "channel" in line)
    assert "size" in header and "placement" in header
    assert sum(line.startswith("pingpong") for line in lines) == 4  # once per block


def test_unsupported_combinations_are_one_line_and_failures_listed(rows):
    assert sum(unsupported(r) for r in rows) == 2
    text = "\n".join(_text(rows, 120))
    assert "2 combinations skipped" in text
    assert "does not support" not in text
    assert "1 x timeout: deadline exceeded" in text


def test_best_channel_is_highlighted(rows):
    buffer = io.StringIO()
    print_summary(rows, Console(file=buffer, width=120, force_terminal=True,
                                color_system="standard"))
    best = [line for line in buffer.getvalue().splitlines() if "pipe/bytes" in line]
    assert best and all("\x1b[1;32m" in line for line in best[:4])
    other = [line for line in buffer.getvalue().splitlines() if "queue" in line]
    assert other and not any("\x1b[1;32m" in line for line in other)


def _case(size: int) -> Case:
    return Case("pipe", "bytes", "pingpong", size, 1, "fork", "same-core")


def test_session_counter_counts_interleaved_sessions_extras_and_failures():
    a, b = _case(64), _case(128)
    counter = SessionCounter(planned_sessions=6, sessions_per_case=3)
    for index in range(3):
        for case in (a, b):
            counter.start(case, index)
    assert (counter.done, counter.total) == (5, 6)
    counter.start(a, 3)  # a noisy case earns a fourth session
    assert (counter.done, counter.total) == (6, 7)
    counter.start(a, 3)  # measured again (interference): still the fourth
    assert (counter.done, counter.total) == (6, 7)
    counter.finish(ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4, placement="same-core"))
    assert counter.done == 7
    failed = SessionCounter(planned_sessions=6, sessions_per_case=3)
    failed.start(a, 0)
    failed.finish(bad_row("pipe", "bytes", "pingpong", 64, 1, "failed", "boom",
                          placement="same-core"))
    assert (failed.done, failed.total) == (1, 4)


def test_a_case_the_budget_cut_short_drops_the_rest_of_its_minimum():
    a, b = _case(64), _case(128)
    counter = SessionCounter(planned_sessions=10, sessions_per_case=5, max_per_case=8,
                             floor_per_case=3)
    assert counter.floor_left() == 6
    for index in range(3):
        for case in (a, b):
            counter.start(case, index)
    assert counter.floor_left() == 0
    counter.finish(ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4, placement="same-core"))
    assert (counter.done, counter.total, counter.most) == (6, 8, 11)  # a: 3 of 5, done
    skipped = SessionCounter(planned_sessions=10, sessions_per_case=5)
    skipped.finish(bad_row("pipe", "bytes", "pingpong", 256, 1, "skipped", "n/a",
                           placement="same-core"))
    assert (skipped.total, skipped.most, skipped.floor_left()) == (10, 10, 10)


def test_resumed_sessions_count_as_done():
    counter = SessionCounter(6, 3, already={_case(64): 2})
    assert counter.done == 2
    counter.start(_case(64), 2)
    assert counter.done == 2


def test_progress_line_shows_eta_and_fits(tmp_path):
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True)
    with RunProgress(6, 3, console=console) as progress:
        progress.starting(_case(64), 0)
        progress.starting(_case(128), 0)
    text = buffer.getvalue()
    assert "ETA" in text and "1/6" in text


def test_interrupted_run_names_the_resume_command():
    # The manifest holds the matrix: --resume alone finishes the run (and refuses others).
    assert resume_command(Path("my run")) == "ipcbench run --resume 'my run'"


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_title_names_p99_only_when_its_column_is_kept(rows, width):
    lines = _text(rows, width)
    header = next(line for line in lines if "channel" in line)
    titled = any("p99 of stream and fanout: one way" in line for line in lines)
    assert ("p99" in header.split()) == titled == (width >= 80)
    assert max(map(len, lines)) <= width


def test_eta_range_counts_down_and_holds_at_the_sessions_still_to_come():
    # 10 sessions in 20 s: 2 s each; 5 to 15 still to come, the running one among them.
    assert eta_range_s(10, 20.0, 0.0, 5, 15) == (10.0, 30.0)
    assert eta_range_s(10, 20.0, 1.5, 5, 15) == (8.5, 28.5)
    assert eta_range_s(10, 20.0, 5.0, 5, 15) == (8.0, 28.0)  # a long session: held
    # The budget bounds both ends, unless the sessions owed whatever it is need longer.
    assert eta_range_s(10, 20.0, 0.0, 5, 15, budget_left_s=40.0) == (10.0, 30.0)
    assert eta_range_s(10, 20.0, 0.0, 5, 15, budget_left_s=4.0) == (4.0, 4.0)
    assert eta_range_s(10, 20.0, 0.0, 5, 15, budget_left_s=4.0, left_floor=4) == (8.0, 8.0)
    assert eta_range_s(10, 20.0, 0.0, 5, 15, budget_left_s=-3.0) == (0.0, 0.0)
    assert eta_range_s(0, 0.0, 1.0, 5, 15) is None
    assert eta_text((9.0, 17.0)) == "ETA 0:00:09-0:00:17"
    assert eta_text((61.2, 61.9)) == "ETA 0:01:02"
    assert eta_text(None) == "ETA -:--:--"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_follows_the_adaptive_sessions_with_an_injected_clock():
    clock = _Clock()
    a, b = _case(64), _case(128)
    progress = RunProgress(6, 3, enabled=False, max_per_case=5, clock=clock)
    assert progress.sessions_text() == "0/6-10 sessions" and progress.eta_text() == "ETA -:--:--"
    progress.starting(a, 0)
    clock.now += 2.0
    progress.starting(b, 0)  # a's first session took 2 s
    clock.now += 1.0
    assert progress.sessions_text() == "1/6-10 sessions"
    assert progress.eta_text() == "ETA 0:00:09-0:00:17"  # 5 to 9 sessions of 2 s, 1 s gone
    clock.now += 1.0
    assert progress.eta_text() == "ETA 0:00:08-0:00:16"  # it ticks
    clock.now += 30.0
    assert progress.eta_text() == "ETA 0:00:08-0:00:16"  # b runs long: held, never 0
    for index in (1, 2, 3):  # a earns an extra session: the fewest grows
        progress.starting(a, index)
    assert progress.counter.total == 7
    progress.advance(ok_row("pipe", "bytes", "pingpong", 64, 1, 1e4, placement="same-core"))
    assert progress.sessions_text() == "5/7-9 sessions"  # a took 4 of its 5: one fewer


def test_progress_range_is_capped_by_the_run_budget():
    clock = _Clock()
    for floor, expected in ((3, (8.0, 8.0)), (1, (2.0, 2.0))):
        clock = _Clock()
        progress = RunProgress(6, 3, enabled=False, max_per_case=5, run_budget_s=4.0,
                               floor_per_case=floor, clock=clock)
        progress.starting(_case(64), 0)
        clock.now += 2.0
        progress.starting(_case(128), 0)
        # 2 s of the budget left; floor 3: the 4 sessions owed whatever it is take 8 s;
        # floor 1: none owed, the budget ends the run.
        assert progress.estimate() == expected


def test_progress_line_with_a_range_fits_80_columns():
    buffer = io.StringIO()
    clock = _Clock()
    console = Console(file=buffer, width=80, force_terminal=True)
    with RunProgress(651, 5, console=console, max_per_case=12, clock=clock) as progress:
        progress.starting(_case(64), 0)
        clock.now += 3.0
        progress.starting(_case(128), 0)
        progress._progress.refresh()
    text = buffer.getvalue()
    assert "1/651-1560 sessions" in text and "ETA 0:32:30-1:17:57" in text
    last = [line for line in text.replace("\r", "\n").splitlines() if "sessions" in line][-1]
    assert len(Text.from_ansi(last).plain) <= 80
