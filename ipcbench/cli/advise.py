"""`ipcbench advise`: the fastest channel for a workload, from a measured run."""

from __future__ import annotations

import argparse

from ipcbench.cli.args import RESULTS_HELP, procs, rate
from ipcbench.cli.json_sink import JSON_HELP, JsonSink, json_output
from ipcbench.core import patterns
from ipcbench.core.schema import DEFAULT_PAYLOAD, PLACEMENTS, PREFERRED_PLACEMENTS
from ipcbench.core.sizes import parse_size


def cmd_advise(args: argparse.Namespace) -> int:
    with json_output(args.json) as sink:  # checked before the run is read
        return _advise(args, sink)


def _advise(args: argparse.Namespace, sink: JsonSink) -> int:
    kind = patterns.get(args.pattern)
    if args.size is None and kind.sized:
        raise ValueError(f"--size is required for pattern {args.pattern!r}")
    # An unsized pattern's message (the counter's increment) has one size.
    size_bytes = parse_size(args.size) if args.size else kind.fixed_size_bytes
    count = procs(args.procs)
    if args.rate is not None:
        return _advise_at_rate(args, size_bytes, count, sink)
    from ipcbench.analysis.advise import advise_run  # pandas: read results lazily
    from ipcbench.mechanisms import channel_traits
    from ipcbench.render.terminal import advice_text, wrapped

    advice = advise_run(args.results, size_bytes, count, args.pattern, args.placement,
                        args.payload, args.start_method, channel_traits())
    print(wrapped(advice_text(advice, size_bytes, count), _width()))
    if sink.wanted:
        from ipcbench.render.json_out import advise_document, dumps

        sink.write(dumps(advise_document(advice, size_bytes, count)))
    return 0


def _width() -> int:
    import shutil

    return shutil.get_terminal_size().columns


def _advise_at_rate(args: argparse.Namespace, size_bytes: int, count: int,
                    sink: JsonSink) -> int:
    from ipcbench.analysis.advise_rate import advise_rate, rate_advice_text
    from ipcbench.core.results import read_results

    load = rate(args.rate)
    if load == 0:
        raise ValueError(f"invalid rate {args.rate!r}: advise needs a rate in messages per "
                         "second (without --rate it ranks full-speed figures)")
    frame = read_results(args.results)  # validated: no NaN, zero or negative figures
    advice = advise_rate(frame, size_bytes, count, args.pattern, load, args.placement,
                         args.payload, args.start_method)
    from ipcbench.render.terminal import wrapped

    print(wrapped(rate_advice_text(advice), _width()))
    if sink.wanted:
        from ipcbench.render.json_out import dumps, rate_advice_document

        sink.write(dumps(rate_advice_document(advice, size_bytes, count)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    advise = sub.add_parser(
        "advise", help="recommend the fastest channel for a workload",
        description="From a measured run, name the fastest mechanism/variant for a message "
                    "size, process count and pattern, the runner-up and margin, and whether "
                    "the difference is within noise (or based on the nearest measured cell).")
    advise.add_argument("results", metavar="RESULTS", help=RESULTS_HELP)
    advise.add_argument("--size", help="message size, e.g. 64, 4KiB, 1MiB")
    advise.add_argument("--procs", required=True, help="processes (pairs, producers)")
    advise.add_argument("--pattern", required=True,
                        help=f"{', '.join(patterns.PATTERN_NAMES[:-1])} or "
                             f"{patterns.PATTERN_NAMES[-1]}")
    advise.add_argument("--rate", help="messages per second per sender: the channel with "
                                       "the lowest one-way p99 at this load (stream, fanout; "
                                       "from rows of `run --rate`)")
    # Each default is what the run measured (analysis/advise.py _DIMS); a value it did
    # not measure is refused.
    advise.add_argument("--placement", metavar="PLACEMENT",
                        help=f"rows measured with this placement ({', '.join(PLACEMENTS)}; "
                             "default: the run's only one, else the first measured of "
                             f"{', '.join(PREFERRED_PLACEMENTS)})")
    advise.add_argument("--payload", metavar="KIND",
                        help=f"rows of this payload kind (default: {DEFAULT_PAYLOAD} when "
                             "the run measured it, else its most common kind)")
    advise.add_argument("--start-method", metavar="METHOD",
                        help="rows of this start method (default: the run's only one, else "
                             "its most common)")
    advise.add_argument("--json", metavar="PATH", help=JSON_HELP)
    advise.set_defaults(func=cmd_advise)
