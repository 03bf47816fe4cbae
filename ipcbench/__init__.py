"""ipcbench: throughput and latency of Python inter-process communication channels."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
