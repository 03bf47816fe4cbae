"""The measuring process: the plan of cases, the runner's interleaved rounds, one
session's peer lifecycle (and how the newer shapes' peers are wired: shapes.py),
in-run baselines, result rows, progress, the session log, the run folder, resource
checks and the self-check.

May import `system`, `core`, `payload`, `mechanisms` and `peer` (to start it); never the
analysis, plotting or render floors, and no pandas, scipy or matplotlib before it
measures (a fat harness makes every fork slower: tests/test_lean_harness.py).
"""
