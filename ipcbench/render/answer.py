"""The block a run ends with (and `ipcbench show RUN` reprints): a line per workload
naming the fastest channel, its figure, the runner-up and how far it trails or "tie",
with a caveat under a winner that busy-polls; one screen at the terminal's width.

The figures are analysis/answer.py's. One screen means at most MAX_LINES lines: when the
run has more workloads (a default run has ~170), whole classes are left out in a fixed
order, each counted in the last lines: payload kinds other than bytes, then process
counts above each pattern's fewest, then placements after the first, then whatever still
does not fit. The full table (`show RUN --all`, `run --full-table`) has every row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from ipcbench.analysis.answer import WorkloadAnswer, answers
from ipcbench.core.results import ResultRow
from ipcbench.core.schema import BASELINE_MECHANISM, DEFAULT_PAYLOAD, PLACEMENTS
from ipcbench.core.sizes import format_size
from ipcbench.core.traits import ChannelTraits, busy_poll_note
from ipcbench.core.units import format_lead
from ipcbench.mechanisms import channel_traits
from ipcbench.render.run_table import channel

MAX_LINES = 60
TITLE = "Answer: the best channel per workload; runner-up trails by +N% or tie (noise)"
_NAME_MAX = 22
_SIZE, _PROCS, _LAG = 6, 3, 6


def _size(answer: WorkloadAnswer) -> str:
    return format_size(answer.size_bytes) if answer.kind.sized else ""


def _header(answer: WorkloadAnswer, width: int, start_methods: bool) -> str:
    kind = answer.kind
    text = f"{answer.pattern} · {answer.placement}"
    if answer.payload != DEFAULT_PAYLOAD:
        text += f" · {answer.payload} payload"
    if start_methods:
        text += f" · {answer.start_method}"
    text += f": {kind.metric_label}, {'higher' if kind.higher_is_better else 'lower'} is better"
    longer = f"{text}; n = {kind.procs_label}"
    return longer if len(longer) <= width else text


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def _lag(answer: WorkloadAnswer) -> str:
    if answer.tie:
        return "tie"
    return format_lead(answer.margin)


class _Layout:
    """Column widths for the shown answers at `width` columns."""

    def __init__(self, shown: Sequence[WorkloadAnswer], width: int) -> None:
        figures = [a.kind.format(a.figure(a.best)) for a in shown if a.best is not None]
        self.figure = max(map(len, figures), default=8)
        names = [channel(a.best) for a in shown if a.best is not None]
        fixed = 2 + _SIZE + 1 + _PROCS + 2 + 1 + self.figure + 2 + 1 + _LAG
        room = max(width - fixed, 16)
        self.name = min(max(map(len, names), default=8), _NAME_MAX, room // 2)
        self.runner = min(_NAME_MAX, room - self.name)

    def line(self, answer: WorkloadAnswer) -> str:
        start = f"  {_size(answer):<{_SIZE}} {'x' + str(answer.procs):>{_PROCS}}  "
        if answer.best is None:
            return f"{start}no ok row ({answer.not_ok} failed or timed out)"
        figure = answer.kind.format(answer.figure(answer.best))
        name = _cut(channel(answer.best), self.name)
        text = f"{start}{name:<{self.name}} {figure:>{self.figure}}  "
        if answer.runner_up is None:
            return text + "only one channel measured"
        return (text + f"{_cut(channel(answer.runner_up), self.runner):<{self.runner}} "
                + _lag(answer)).rstrip()

    def caveat(self, answer: WorkloadAnswer) -> str:
        indent = " " * (2 + _SIZE + 1 + _PROCS + 2)
        return f"{indent}^ {busy_poll_note(answer.best.cpu_s_per_msg)}"


def _body(shown: Sequence[WorkloadAnswer], width: int) -> list[str]:
    layout = _Layout(shown, width)
    start_methods = len({a.start_method for a in shown}) > 1
    lines, group = [], None
    for answer in shown:
        key = (answer.pattern, answer.placement, answer.payload, answer.start_method)
        if key != group:
            lines.append(_cut(_header(answer, width, start_methods), width))
            group = key
        lines.append(_cut(layout.line(answer), width))
        if answer.busy_polls:
            lines.append(_cut(layout.caveat(answer), width))
    return lines


def _apart_line(shown: Sequence[WorkloadAnswer], traits: ChannelTraits) -> list[str]:
    by_pattern: dict[str, set[str]] = {}
    for answer in shown:
        by_pattern.setdefault(answer.pattern, set()).update(channel(r) for r in answer.apart)
    parts = [f"{', '.join(sorted(names))} ({pattern} procs = "
             f"{traits.procs_meaning(next(iter(names)).split('/')[0], pattern)})"
             for pattern, names in by_pattern.items() if names]
    return [f"not ranked at 2+ procs: {'; '.join(parts)}"] if parts else []


def _placement_rank(placement: str) -> int:
    return PLACEMENTS.index(placement) if placement in PLACEMENTS else len(PLACEMENTS)


# (what is left out, which answers stay), in the order they are applied.
def _steps(every: Sequence[WorkloadAnswer]) -> list[tuple[str, Callable]]:
    fewest: dict[str, int] = {}
    for a in every:
        fewest[a.pattern] = min(fewest.get(a.pattern, a.procs), a.procs)
    first = min((a.placement for a in every), key=_placement_rank)
    return [
        ("other payload kinds", lambda a: a.payload == DEFAULT_PAYLOAD),
        ("more processes than the fewest", lambda a: a.procs == fewest[a.pattern]),
        (f"placements other than {first}", lambda a: a.placement == first),
    ]


def _status_line(rows: Sequence[ResultRow]) -> str:
    """"cases: 947 skipped, 2 failed or timed out" ("" when every case is ok)."""
    measured = [r for r in rows if r.mechanism != BASELINE_MECHANISM]
    skipped = sum(r.status == "skipped" for r in measured)
    failed = sum(r.status in ("failed", "timeout") for r in measured)
    parts = ([f"{skipped} skipped"] if skipped else []) + (
        [f"{failed} failed or timed out"] if failed else [])
    return f"cases: {', '.join(parts)}" if parts else ""


def answer_lines(rows: Sequence[ResultRow], width: int = 80, run: str = "RUN",
                 traits: ChannelTraits | None = None) -> list[str]:
    """The answer block for a run's rows, no line wider than `width`, at most MAX_LINES
    lines. `run` names the run folder in the hint to its full table."""
    traits = channel_traits() if traits is None else traits
    every = answers(rows, traits)
    if not every:
        status = _status_line(rows)
        return ["Answer: no workload was measured", *(_wrap(status, width) if status else [])]
    full = f"ipcbench show {run} --all"
    if len(full) > width - len("every row: "):
        full = "ipcbench show RUN --all"
    status = _status_line(rows)
    tail = [f"{status}; every row and why: {full}" if status else f"every row: {full}"]

    def block(shown: list[WorkloadAnswer], left_out: list[str]) -> list[str]:
        notes = _apart_line(shown, traits)
        if left_out:
            notes.append("left out to fit one screen: " + "; ".join(left_out))
        return [_cut(TITLE, width), *_body(shown, width),
                *(part for note in notes for part in _wrap(note, width)),
                *(part for note in tail for part in _wrap(note, width, keep=full))]

    shown, left_out, last = list(every), [], None
    for what, keep in _steps(every):
        if len(block(shown, left_out)) <= MAX_LINES:
            break
        kept = [a for a in shown if keep(a)]
        if len(kept) < len(shown):
            last = (what, [a for a in shown if not keep(a)])
            left_out.append(f"{len(shown) - len(kept)} workloads ({what})")
            shown = kept
    if last is not None:  # the room left is given back to the last class, in order
        shown, left_out = _refill(shown, left_out, *last, every,
                                  lambda s, o: len(block(s, o)) <= MAX_LINES)
    lines, kept = block(shown, left_out), shown
    while len(lines) > MAX_LINES and len(shown) > 1:  # still too long: cut the end
        shown = shown[:-min(len(lines) - MAX_LINES, len(shown) - 1)]
        lines = block(shown, [*left_out, f"the last {len(kept) - len(shown)} workloads"])
    return lines


def _refill(shown: list[WorkloadAnswer], left_out: list[str], what: str,
            dropped: list[WorkloadAnswer], every: Sequence[WorkloadAnswer],
            fits: Callable[[list[WorkloadAnswer], list[str]], bool]):
    """As many of `dropped` (in reading order) back as still fit, the count amended."""
    order = {id(a): i for i, a in enumerate(every)}
    best = (shown, left_out)
    for n in range(1, len(dropped) + 1):
        trial = sorted(shown + dropped[:n], key=lambda a: order[id(a)])
        rest = len(dropped) - n
        notes = left_out[:-1] + ([f"{rest} workloads ({what})"] if rest else [])
        if not fits(trial, notes):
            break
        best = (trial, notes)
    return best


_GLUE = "\x00"  # holds a command's words together while wrapping


def _wrap(text: str, width: int, keep: str = "") -> list[str]:
    """A note as lines of at most `width` columns, continuations indented two spaces;
    `keep` (a command to copy) is never split over two lines."""
    import textwrap

    if keep:
        text = text.replace(keep, keep.replace(" ", _GLUE))
    lines = textwrap.wrap(text, max(width, 20), subsequent_indent="  ",
                          break_on_hyphens=False, break_long_words=True)
    return [line.replace(_GLUE, " ") for line in lines]


def print_answer(rows: Sequence[ResultRow], run: str = "RUN", width: int | None = None,
                 file=None) -> None:
    """The answer block on `file` (stdout) at `width` (the terminal's) columns."""
    from rich.console import Console

    out = file or sys.stdout
    width = width or Console(file=out).width
    for line in answer_lines(rows, width, run):
        print(line, file=out)
