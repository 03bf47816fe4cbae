"""ipcbench: throughput and latency of Python inter-process communication channels.

The Python API (ipcbench/api.py, docs/api.md): run_matrix, load_run, advise, compare,
history. They are imported on first use, so `import ipcbench` imports nothing heavy (a
harness that holds pandas forks its peers slower: tests/test_lean_harness.py).
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = ("RunStopped", "advise", "compare", "history", "load_run", "run_matrix")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from ipcbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'ipcbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
