"""Charts drawn on two forked workers (plotting/drawing.py): the same files as drawn
alone, in the builders' order, nothing left running, and a worker that dies costs time,
not charts.

A process with other threads is never forked (a pytest-xdist worker has some), so each
check runs in a fresh single-threaded interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from synthetic_runs import SMALL, write_model_run

# Tiny builders and a saver that names the process that drew each chart.
_HELPERS = """
    import os, sys
    from pathlib import Path
    import psutil
    from matplotlib.figure import Figure
    from ipcbench.plotting import drawing

    HOME = os.getpid()
    out = Path(sys.argv[1])

    def build(run):
        return Figure()

    def save(figure, out_dir, stem, formats):
        path = out_dir / f"{stem}.{os.getpid()}"
        path.write_text(stem)
        return [path]

    def left_behind():
        return [p.pid for p in psutil.Process().children(recursive=True)]
"""


def _run(body: str, *args: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent(_HELPERS) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script, *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_two_workers_draw_every_chart_in_order_and_end(tmp_path):
    result = _run("""
        assert drawing.can_fork_workers()
        builders = {f"chart{i}": build for i in range(6)}
        written, refused = drawing.draw_charts(None, builders, out, ("png",), save)
        assert refused == []
        assert [p.name.split(".")[0] for p in written] == list(builders)
        drawers = {int(p.suffix[1:]) for p in written}
        assert HOME not in drawers and 1 <= len(drawers) <= 2, drawers
        assert left_behind() == []
        print("ok")
    """, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_a_worker_that_dies_costs_time_not_charts(tmp_path):
    result = _run("""
        def deadly(run):
            if os.getpid() != HOME:
                os._exit(3)  # as the OOM killer would end it
            return Figure()

        builders = {"a": build, "b": deadly, "c": build}
        written, refused = drawing.draw_charts(None, builders, out, ("png",), save)
        assert [p.name for p in written] == [f"{s}.{HOME}" for s in "abc"], written
        assert refused == [] and left_behind() == []
        print("ok")
    """, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_a_threaded_process_draws_alone(tmp_path):
    result = _run("""
        import threading
        stop = threading.Event()
        waiter = threading.Thread(target=stop.wait)
        waiter.start()
        try:
            assert not drawing.can_fork_workers()
            written, _ = drawing.draw_charts(None, {"a": build, "b": build}, out,
                                             ("png",), save)
        finally:
            stop.set()
            waiter.join()
        assert [p.name for p in written] == [f"a.{HOME}", f"b.{HOME}"]
        print("ok")
    """, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_real_charts_are_the_same_bytes_on_two_workers_as_alone(tmp_path):
    run_dir = write_model_run(tmp_path / "run", **SMALL)
    result = _run("""
        from ipcbench.plotting import plot_run
        two = plot_run(sys.argv[2], out / "two")
        drawing.can_fork_workers = lambda: False
        one = plot_run(sys.argv[2], out / "one")
        assert [p.name for p in two] == [p.name for p in one] and len(one) >= 5
        assert all(a.read_bytes() == b.read_bytes() for a, b in zip(two, one))
        assert left_behind() == []
        print("ok")
    """, tmp_path / "out", run_dir)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_harness_idle_bounded_call_worker_does_not_stop_the_workers(tmp_path):
    """A run keeps one bounded-call thread (system/deadlines.py) waiting for work: it
    holds no lock, so the charts after a run are still drawn on two CPUs."""
    result = _run("""
        import threading
        from ipcbench.system import deadlines
        assert deadlines.call_within(lambda: 7, 5.0, "a call") == 7
        assert threading.active_count() == 2
        busy, release = threading.Event(), threading.Event()
        assert drawing.can_fork_workers()
        waiter = threading.Thread(target=lambda: (busy.set(), release.wait()))
        waiter.start()
        busy.wait()
        assert not drawing.can_fork_workers()  # another thread at work: never forked
        release.set()
        waiter.join()
        print("ok")
    """, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
