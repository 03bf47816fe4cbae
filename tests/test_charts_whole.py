"""Every chart is whole: each text it draws (titles, axis and tick labels, legend
entries, cell annotations) lies inside its figure, for synthetic runs of every shape,
for a run shaped like the quick matrix, and for the committed reference run; and the
best-channel map stays readable (bounded width, names in cells, contrasting text)."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text
from synthetic_runs import SMALL, model_rows, ok_row, write_model_run, write_run

from ipcbench.analysis.runs import load_run
from ipcbench.plotting import run_figures
from ipcbench.plotting.best import MAX_WIDTH_IN, OTHER_WINNER, WINNER_PALETTE, best_map_figure
from ipcbench.plotting.overlay import overlay_figures
from ipcbench.plotting.style import DPI

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"
# Half a pixel: anti-aliasing rounds extents, a cut glyph is several pixels out.
TOLERANCE_PX = 0.5


@contextmanager
def _recording_texts():
    """The Text artists a draw really renders (tick labels beyond the view limits
    exist but are never drawn, and cannot be cut)."""
    drawn: list[Text] = []
    original = Text.draw

    def draw(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)

    Text.draw = draw
    try:
        yield drawn
    finally:
        Text.draw = original


def drawn_texts(figure: Figure) -> tuple[list[Text], object]:
    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(DPI)  # the resolution charts are saved at
    with _recording_texts() as drawn:
        canvas.draw()
    return list(dict.fromkeys(drawn)), canvas.get_renderer()


def texts_outside(figure: Figure) -> tuple[int, list[str]]:
    """(texts drawn, descriptions of those not wholly inside the figure)."""
    texts, renderer = drawn_texts(figure)
    box = figure.bbox
    cut = []
    for text in texts:
        extent = text.get_window_extent(renderer)
        if (extent.x0 < box.x0 - TOLERANCE_PX or extent.y0 < box.y0 - TOLERANCE_PX
                or extent.x1 > box.x1 + TOLERANCE_PX or extent.y1 > box.y1 + TOLERANCE_PX):
            cut.append(f"{text.get_text()[:60]!r} at {np.round(extent.extents).tolist()} "
                       f"outside {np.round(box.extents).tolist()}")
    return len(texts), cut


def assert_whole(figures: dict[str, Figure]) -> None:
    assert figures
    problems = {}
    for stem, figure in figures.items():
        count, cut = texts_outside(figure)
        assert count >= 5, f"{stem}: only {count} texts drawn"  # title, ticks, labels...
        if cut:
            problems[stem] = cut
    assert not problems, problems


# --- runs of every shape ------------------------------------------------------------


def _open_loop_rows() -> list:
    """Rated stream rows (run --rate): the load and latency-distribution charts."""
    rows = []
    for mechanism, variant, base_ns in (("pipe", "bytes", 9_000.0), ("queue", "default", 40e3)):
        for rate in (1_000, 10_000, 50_000):
            row = ok_row(mechanism, variant, "stream", 1024, 1, base_ns)
            rows.append(dataclasses.replace(
                row, rate_per_s=rate, achieved_per_s=rate * (0.9 if rate > 20_000 else 1.0),
                saturated=rate > 20_000, lat_samples=1000, lat_p50_ns=base_ns,
                lat_p90_ns=base_ns * 1.5, lat_p99_ns=base_ns * 3, lat_p999_ns=base_ns * 6,
                lat_max_ns=base_ns * 10))
    return rows


def _kinds_rows() -> list:
    """Fan-out, the work queue, several payload kinds and start methods in one run."""
    rows = model_rows(sizes=(64, 65536), procs=(1, 2), placements=("same-core",))
    for mechanism in ("queue", "simplequeue", "pipe"):
        for size in (64, 65536):
            for procs in (1, 2):
                per_msg = 2e4 + size / (3.0 if mechanism == "pipe" else 1.0)
                rows.append(ok_row(mechanism, "default" if mechanism != "pipe" else "bytes",
                                   "workqueue", size, procs, per_msg / procs,
                                   placement="same-core"))
                rows.append(ok_row(mechanism, "default" if mechanism != "pipe" else "bytes",
                                   "fanout", size, procs, per_msg * procs,
                                   placement="same-core"))
    rows += [dataclasses.replace(r, payload="numpy", median_ns=r.median_ns * 2)
             for r in rows if r.pattern == "pingpong" and r.status == "ok"
             and r.mechanism != "baseline"]
    rows += [dataclasses.replace(r, start_method="spawn") for r in rows
             if r.pattern == "stream" and r.mechanism == "pipe" and r.status == "ok"]
    return rows


def quick_shaped(reference: Path, out: Path) -> Path:
    """The reference run cut to the quick matrix (3 sizes, 1-2 processes, one
    placement, bytes only, fan-out and work queue with few channels): the narrow
    figures whose titles and legends used to be cut."""
    frame = pd.read_csv(reference / "results.csv", low_memory=False)
    baseline = frame["mechanism"] == "baseline"
    bytes_same = (frame["placement"] == "same-core") & (frame["payload"] == "bytes")
    cases = (bytes_same & frame["size_bytes"].isin([64, 65536, 1 << 20])
             & frame["procs"].isin([1, 2]))
    cases &= ~((frame["pattern"] == "pingpong") & (frame["procs"] != 1))
    cases &= ~((frame["pattern"] == "workqueue") & (frame["mechanism"] != "queue"))
    cases &= ~((frame["pattern"] == "fanout")
               & ~frame["mechanism"].isin(["pipe", "queue", "shm"]))
    cases |= (frame["pattern"] == "counter") & bytes_same & frame["procs"].isin([1, 2])
    out.mkdir(parents=True)
    frame[(baseline & (frame["placement"] == "same-core")) | (cases & ~baseline)].to_csv(
        out / "results.csv", index=False)
    (out / "machine.json").write_bytes((reference / "machine.json").read_bytes())
    return out


SHAPES = {
    "small": lambda d: write_model_run(d, **SMALL),
    "two-placements": lambda d: write_model_run(d, placements=("same-core", "cross-core")),
    "one-cell": lambda d: write_run(d, [ok_row("pipe", "bytes", "pingpong", 64, 1, 9e3),
                                        ok_row("pipe", "bytes", "stream", 64, 1, 9e3)]),
    "kinds": lambda d: write_run(d, _kinds_rows()),
    "open-loop": lambda d: write_run(d, model_rows(**SMALL) + _open_loop_rows()),
    "long-names": lambda d: write_model_run(
        d, **SMALL, cpu_model="Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz with a long name"),
}


@pytest.fixture(scope="module")
def reference_run():
    return load_run(REFERENCE)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_chart_of_a_synthetic_run_is_whole(shape, tmp_path):
    run = load_run(SHAPES[shape](tmp_path / "run-2025-01-01T00-00-00Z"))
    figures = run_figures(run)
    if shape == "open-loop":
        assert {"load-stream", "latency-dist"} <= set(figures)
    assert_whole(figures)


def test_every_chart_of_a_quick_shaped_run_is_whole(tmp_path):
    # Named like a real run folder: the run line of the title is as long as a quick run's.
    run = load_run(quick_shaped(REFERENCE, tmp_path / "vm-d2a2b5ca" / "20261126T030016Z"))
    figures = run_figures(run)
    assert {"ranking-pingpong", "throughput-stream", "throughput-fanout", "best"} <= set(figures)
    assert_whole(figures)


def test_every_chart_of_the_reference_run_is_whole(reference_run):
    assert_whole(run_figures(reference_run))


def test_overlay_charts_are_whole(tmp_path, reference_run):
    a = load_run(write_model_run(tmp_path / "a", **SMALL))
    b = load_run(write_model_run(tmp_path / "b", scale=1.3, seed=1, **SMALL))
    assert_whole(overlay_figures([a, b]))
    quick = load_run(quick_shaped(REFERENCE, tmp_path / "quick"))
    assert_whole(overlay_figures([quick, reference_run]))


# --- the best-channel map -----------------------------------------------------------


def _contrast(rgb_a, rgb_b) -> float:
    def luminance(rgb):
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(rgb_a), luminance(rgb_b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_reference_best_map_is_readable_at_screen_size(reference_run):
    figure = best_map_figure(reference_run)
    assert figure.get_figwidth() * DPI <= MAX_WIDTH_IN * DPI <= 1800
    texts, renderer = drawn_texts(figure)
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.images]
    assert len(panels) == 8  # 4 sized patterns x 2 placements, bytes payload
    cell_texts_seen = set()
    for ax in panels:
        image = ax.images[0].get_array()
        cell_texts = [t for t in ax.texts if t.get_text()]
        assert cell_texts
        for text in cell_texts:
            j, i = (round(v) for v in text.get_position())
            background = image[i, j][:3]
            # Every cell's text on its cell, legible against it (WCAG AA: 4.5:1).
            assert _contrast(to_rgb(text.get_color()), background) >= 4.5, text.get_text()
            low = ax.transData.transform((j - 0.5, i + 0.5))
            high = ax.transData.transform((j + 0.5, i - 0.5))
            extent = text.get_window_extent(renderer)
            assert low[0] <= extent.x0 and extent.x1 <= high[0], text.get_text()
            assert low[1] <= extent.y0 and extent.y1 <= high[1], text.get_text()
            assert text.get_fontsize() >= 8  # ~11 px at 100 dpi, not the old 7 pt
            if "/" in text.get_text():
                cell_texts_seen.add(text.get_text().removeprefix("≈ "))
    # Colours only for the channels that win most; the others are named in their cells.
    legend = figure.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    coloured = [label for label in labels if "/" in label and " " not in label]
    assert len(coloured) == len(WINNER_PALETTE) and set(coloured) <= cell_texts_seen
    assert any(label.endswith("other winners (named in their cells)") for label in labels)
    swatches = [to_rgb(h.get_facecolor()) for h in legend.legend_handles]
    assert len(set(swatches)) == len(swatches)  # no two legend colours alike
    assert to_rgb(OTHER_WINNER) in swatches


def test_best_map_of_a_small_run_colours_every_winner(tmp_path):
    figure = best_map_figure(load_run(write_model_run(tmp_path / "r", **SMALL)))
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert not any("other winners" in label for label in labels)
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.images]
    assert len(panels) == 2  # pingpong, stream: one placement, laid out side by side
    assert len({round(ax.get_position().y0, 3) for ax in panels}) == 1
