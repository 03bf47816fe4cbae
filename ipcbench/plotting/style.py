"""Colours, line styles and figure furniture shared by every chart (numbers on axes
and in labels are written by ipcbench.core.units, like every other output).

Colours are keyed on the mechanism name through the registry order, so "pipe" is the
same blue on every chart of every run and machine; variants differ by line style.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from ipcbench.core.sizes import format_size
from ipcbench.mechanisms import REGISTRY, public_names

# Registered mechanisms take colours in registry order (new ones are appended to the
# registry, so existing colours never shift): tab10 first, then hues picked from
# tab20/tab20b so that 14+ mechanisms stay apart (no second brown or olive).
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    "#393b79", "#e7ba52", "#98df8a", "#ff9896", "#7b4173",
    "#6b6ecf", "#b5cf6b", "#9a6324", "#d6616b", "#ce6dbd",
    "#42d4f4", "#911eb4", "#006400", "#b8860b", "#008080",
)
# Unknown names (a future mechanism not in this checkout's registry, the test fake)
# hash into a separate palette so they never steal a registered mechanism's colour.
_FALLBACK = ("#6a3d9a", "#b15928", "#a6761d", "#666666", "#1b9e77", "#e7298a")
_LINESTYLES = ("-", "--", ":", "-.")
# Variants of one mechanism: a fifth for the executor's (dash-dot-dot), a sixth and
# seventh for the start-up's workers (long dashes, sparse dots); the split styles keep
# the four above, so a series split by start method keeps the style it had.
_VARIANT_STYLES = (*_LINESTYLES, (0, (3, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 3)))
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
# One colour per channel (mechanism/variant, registry order): tab10, then hues picked
# to stay apart from those, so bars (which have no marker) of every channel (47 at
# most) are told apart too.
_CHANNEL_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    "#000075", "#469990", "#800000", "#f032e6", "#808000",
    "#ffb000", "#c49c94", "#8fd400", "#4363d8", "#e6194b",
    "#911eb4", "#42d4f4", "#9a6324", "#3cb44b", "#aa6e28",
    "#5b2c6f", "#f58231", "#2f4f4f", "#ff69b4", "#006400",
    "#008080", "#b8860b", "#7b68ee", "#dcbeff", "#aaffc3", "#ffd8b1",
    "#7f00ff", "#00bfa5", "#ffd700", "#b22222",
    "#fabed4", "#bfef45", "#ff4500", "#4b0082", "#20b2aa", "#cd853f", "#708090",
)
# Variants added to a mechanism after later mechanisms had their colours: they take the
# next colours after every other channel, so that no existing channel's colour shifts.
_LATE_VARIANTS = (("executor", "tpe"),)
# Distinct colours for runs on overlay charts (compare), deliberately unlike _PALETTE's
# order so a reader does not mistake a run colour for a mechanism colour.
RUN_COLORS = ("#000000", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def _stable_index(text: str, modulo: int) -> int:
    # crc32, not hash(): str hashes are salted per process and colours must not change.
    return zlib.crc32(text.encode("utf-8")) % modulo


def mechanism_color(name: str) -> str:
    names = public_names()
    if name in names:
        return _PALETTE[names.index(name) % len(_PALETTE)]
    return _FALLBACK[_stable_index(name, len(_FALLBACK))]


def variant_linestyle(mechanism: str, variant: str) -> str:
    info = REGISTRY.get(mechanism)
    if info is not None and variant in info.variant_names:
        return _VARIANT_STYLES[info.variant_names.index(variant) % len(_VARIANT_STYLES)]
    return _LINESTYLES[_stable_index(f"{mechanism}/{variant}", len(_LINESTYLES))]


def _channels() -> list[tuple[str, str]]:
    """Every public (mechanism, variant) in registry order: new ones are appended, so
    the colours of existing channels never shift."""
    channels = [(m, v) for m in public_names() for v in REGISTRY[m].variant_names]
    return ([c for c in channels if c not in _LATE_VARIANTS]
            + [c for c in channels if c in _LATE_VARIANTS])


def channel_color(mechanism: str, variant: str) -> str:
    """One colour per channel (mechanism/variant): two variants of one mechanism are
    two channels a reader must tell apart, so they never share a colour."""
    channels = _channels()
    if (mechanism, variant) in channels:
        return _CHANNEL_PALETTE[channels.index((mechanism, variant)) % len(_CHANNEL_PALETTE)]
    return _FALLBACK[_stable_index(f"{mechanism}/{variant}", len(_FALLBACK))]


def channel_marker(mechanism: str, variant: str) -> str:
    """A marker per channel as well, so colours that print alike still differ."""
    channels = _channels()
    if (mechanism, variant) in channels:
        return _MARKERS[channels.index((mechanism, variant)) % len(_MARKERS)]
    return _MARKERS[_stable_index(f"{mechanism}/{variant}", len(_MARKERS))]


def series_style(key: dict) -> dict:
    """Matplotlib kwargs for one series: colour and marker by channel (mechanism/
    variant), line style by variant, dotted when something else splits the series
    (start method, placement)."""
    mechanism, variant = str(key.get("mechanism")), str(key.get("variant"))
    extras = [str(v) for k, v in key.items() if k not in ("mechanism", "variant")]
    linestyle = variant_linestyle(mechanism, variant)
    if extras:
        linestyle = _LINESTYLES[_stable_index("/".join(extras), len(_LINESTYLES))]
    return {
        "color": channel_color(mechanism, variant),
        "linestyle": linestyle,
        "marker": channel_marker(mechanism, variant),
    }


# A point is drawn hollow when its row is flagged noisy (the middle half of its sessions
# wider than +/-7%: calibrated to predict a rerun beyond 10%). The median's 95% CI is
# [min, max] up to 8 sessions, wider than +/-10% for nearly every row of a quick run on
# a cloud VM, so it marked 165 points of 170 and said nothing.
NOISY_LABEL = "hollow marker = flagged noisy (may not reproduce within 10%)"
REFERENCE_COLOR = "#222222"


def draw_series(ax: Axes, x, y, style: dict, label: str, noisy=None, **kwargs) -> None:
    """One chart line; points flagged in `noisy` (noisy_points) get hollow markers."""
    y = np.asarray(y, dtype=float)
    ax.plot(x, y, label=label, markersize=kwargs.pop("markersize", 3.5), **style, **kwargs)
    if noisy is None:
        return
    mask = np.asarray(pd_bool(noisy)) & np.isfinite(y)
    if mask.any():
        ax.plot(np.asarray(x)[mask], y[mask], linestyle="none", marker=style.get("marker", "o"),
                markersize=5.5, markerfacecolor="white", markeredgecolor=style["color"],
                markeredgewidth=1.2, zorder=3)


def noisy_points(rows: pd.DataFrame) -> pd.Series:
    """Per row: flagged noisy (rows without the flag: not)."""
    return pd.Series(pd_bool(rows["noisy"]) if "noisy" in rows else [False] * len(rows),
                     index=rows.index, dtype=bool)


def pd_bool(values) -> list[bool]:
    """NaN (a size the series did not measure) and missing flags count as not noisy."""
    return [str(v).lower() == "true" for v in values]


def reference_line(ax: Axes, value: float, label: str, text: str, linestyle: str = "--",
                   color: str = REFERENCE_COLOR) -> None:
    """A labelled horizontal reference (an in-run baseline): legend label + value text."""
    ax.axhline(value, color=color, linestyle=linestyle, linewidth=1.3, label=label, zorder=1)
    ax.annotate(text, xy=(0.99, value), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize=7, color=color,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.7,
                      "linewidth": 0})


def run_color(index: int) -> str:
    return RUN_COLORS[index % len(RUN_COLORS)]


def format_size_tick(value: float) -> str:
    return format_size(int(round(value))) if value >= 1 else ""


def setup_size_axis(ax: Axes, sizes_bytes: Iterable[int]) -> None:
    """Log-2 x axis ticked at the measured sizes (thinned to stay legible)."""
    ticks = sorted({int(s) for s in sizes_bytes})
    ax.set_xscale("log", base=2)
    if ticks:
        step = max(1, math.ceil(len(ticks) / 8))
        ax.xaxis.set_major_locator(FixedLocator(ticks[::step]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_size_tick(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("message size")


def setup_log_y(ax: Axes, formatter: Callable[[float], str], low: float, high: float) -> None:
    """Log y axis whose tick labels carry units; 1-2-5 ticks when the data spans few
    decades, so a narrow range still gets labelled ticks."""
    ax.set_yscale("log")
    decades = math.log10(high / low) if low > 0 and high > 0 else 0.0
    subs = (1.0,) if decades > 3 else (1.0, 2.0, 5.0)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: formatter(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())


MIN_FIGURE_WIDTH_IN = 9.0


def new_figure(
    panels: int,
    *,
    width_in: float = 5.0,
    height_in: float = 3.8,
    sharey: bool = True,
    max_columns: int = 3,
) -> tuple:
    """A figure with `panels` axes in up to `max_columns` columns (sharing y by default,
    so panels read against each other)."""
    columns = min(max_columns, max(1, panels))
    rows = math.ceil(panels / columns)
    # One panel still gets the width of a two-line title and of its legend's columns.
    fig = Figure(figsize=(max(width_in * columns, MIN_FIGURE_WIDTH_IN), height_in * rows + 1.2),
                 layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, sharey=sharey).ravel().tolist()
    for extra in axes[panels:]:
        extra.set_visible(False)
    return fig, axes[:panels]


# Charts are saved at this resolution (plotting.save_figure): text is measured at it.
DPI = 100
# Room kept free on each side of a full-width text block (suptitle, legend).
_SIDE_MARGIN_IN = 0.15
TITLE_FONTSIZE = 11
CAPTION_FONTSIZE = 8


@functools.lru_cache(maxsize=4096)
def text_width_in(text: str, fontsize: float, weight: str = "normal") -> float:
    """The rendered width of one line of text, in inches (the chart font, at DPI): what
    wrapping and legend columns are sized by, so no line outgrows its figure."""
    renderer = _measuring_renderer()
    width, _, _ = renderer.get_text_width_height_descent(
        text, FontProperties(size=fontsize, weight=weight), ismath=False)
    return width / DPI


@functools.lru_cache(maxsize=1)
def _measuring_renderer() -> RendererAgg:
    return RendererAgg(1, 1, DPI)


def fit_lines(text: str, fontsize: float, width_in: float) -> str:
    """`text` with each line broken at spaces so that none is wider than `width_in`
    (a single word wider than that stays whole on its own line)."""
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and text_width_in(candidate, fontsize) > width_in:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines)


def usable_width_in(fig: Figure) -> float:
    return fig.get_figwidth() - 2 * _SIDE_MARGIN_IN


def dress(fig: Figure, title: str, run_line: str, note: str) -> None:
    """Title naming the machine and Python; the caption (what was left out, what the
    markers mean) is kept for the legend block under the panels (see legend_below).
    Both are wrapped to the figure's width: a narrow chart (one placement) gets a
    two-line title rather than a cut one."""
    fig.suptitle(fit_lines(f"{title}\n{run_line}", TITLE_FONTSIZE, usable_width_in(fig)),
                 fontsize=TITLE_FONTSIZE)
    fig._ipcbench_caption = note  # noqa: SLF001 - our own attribute on our own figure
    # Replaced when a legend is drawn.
    fig.supxlabel(fit_lines(note, CAPTION_FONTSIZE, usable_width_in(fig)),
                  fontsize=CAPTION_FONTSIZE, color="#444444")


def figure_caption(fig: Figure) -> str:
    """The caption text (the legend block's heading, or the bottom label)."""
    return getattr(fig, "_ipcbench_caption", "")


# Legend geometry in font sizes (matplotlib's defaults, passed explicitly so the
# column fit below measures what is drawn).
_HANDLE_EM, _HANDLE_PAD_EM, _COLUMN_GAP_EM, _BORDER_EM = 2.0, 0.8, 2.0, 0.8


def _column_chunks(items: list, columns: int) -> list[list]:
    """How matplotlib's legend splits entries into columns (the first ones longer)."""
    rows, longer = divmod(len(items), columns)
    sizes = [rows + 1] * longer + [rows] * (columns - longer)
    chunks, start = [], 0
    for size in sizes:
        chunks.append(items[start:start + size])
        start += size
    return chunks


def _legend_width_in(labels: list[str], columns: int, fontsize: float) -> float:
    em = fontsize / 72
    entry = (_HANDLE_EM + _HANDLE_PAD_EM) * em
    widths = [entry + max(text_width_in(line, fontsize) for label in chunk
                          for line in label.split("\n"))
              for chunk in _column_chunks(labels, columns) if chunk]
    return sum(widths) + _COLUMN_GAP_EM * em * (len(widths) - 1) + 2 * _BORDER_EM * em


def legend_columns(labels: list[str], width_in: float, fontsize: float = CAPTION_FONTSIZE,
                   most: int = 4) -> int:
    """The most columns (up to `most`, fewer for few entries) whose legend fits in
    `width_in`: a legend wider than its figure is cut at both edges."""
    wanted = 1 if len(labels) <= 2 else 2 if len(labels) <= 8 else most
    for columns in range(min(wanted, len(labels)), 1, -1):
        if _legend_width_in(labels, columns, fontsize) <= width_in:
            return columns
    return 1


def legend_block(fig: Figure, handles: dict, *, title: str = "") -> None:
    """Legend entries under the panels, headed by the caption. One block at the bottom:
    constrained layout does not stack a figure legend and a supxlabel, and a right-hand
    legend of 15+ channels runs into the title. As many columns as fit the figure's
    width, the caption wrapped to it."""
    caption = figure_caption(fig)
    if not handles:
        return
    if fig._supxlabel is not None:  # noqa: SLF001 - the caption moves into the legend
        fig._supxlabel.set_visible(False)  # noqa: SLF001
    width_in = usable_width_in(fig)
    em = CAPTION_FONTSIZE / 72
    # Labels longer than the figure is wide (one column) are wrapped too.
    label_width = width_in - (_HANDLE_EM + _HANDLE_PAD_EM + 2 * _BORDER_EM) * em
    labels = [fit_lines(label, CAPTION_FONTSIZE, label_width) for label in handles]
    heading = "\n".join(t for t in (caption, title) if t)
    heading = fit_lines(heading, CAPTION_FONTSIZE, width_in - 2 * _BORDER_EM * em)
    legend = fig.legend(list(handles.values()), labels, loc="outside lower center",
                        fontsize=CAPTION_FONTSIZE, frameon=False,
                        ncols=legend_columns(labels, width_in), title=heading or None,
                        title_fontsize=CAPTION_FONTSIZE, handlelength=_HANDLE_EM,
                        handletextpad=_HANDLE_PAD_EM, columnspacing=_COLUMN_GAP_EM,
                        borderpad=_BORDER_EM / 2)
    legend.get_title().set_color("#444444")


def run_line(run) -> str:
    return (f"{run.cpu_model} (machine {run.machine_id[:8]}) · Python {run.python_version}"
            f" · run {run.name}")


def legend_below(fig: Figure, axes: list[Axes], *, noisy: bool = False) -> None:
    """One legend for the whole figure, de-duplicated across panels; reference lines
    (labels starting with the baseline marker) last, then the noisy-marker key."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if not label.startswith("_"):
                seen.setdefault(label, handle)
    order = sorted(seen, key=lambda label: label.startswith("baseline:"))
    seen = {label: seen[label] for label in order}
    if noisy:
        seen[NOISY_LABEL] = Line2D([], [], linestyle="none", marker="o", markersize=5.5,
                                   markerfacecolor="white", markeredgecolor="#555555")
    legend_block(fig, seen)
