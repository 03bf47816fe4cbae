"""Where this Python keeps its PEP 734 subinterpreters and their queues.

3.14 ships them as `concurrent.interpreters`; 3.13 has the same API, unsupported, in
`test.support.interpreters`. The interpreters mechanism and the start-up launcher both
reach them through these two functions.
"""

from __future__ import annotations

import sys


def queues_module() -> str:
    """The module that holds Queue/QueueEmpty/create for this Python."""
    if sys.version_info >= (3, 14):
        return "concurrent.interpreters._queues"
    return "test.support.interpreters.queues"


def interpreters_module():
    """The interpreters module itself (ImportError where this Python has none)."""
    if sys.version_info >= (3, 14):
        from concurrent import interpreters
    else:
        from test.support import interpreters
    return interpreters
