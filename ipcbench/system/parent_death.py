"""A helper process that must not outlive the harness (the probe's echo, a manager's
server): on Linux, ask the kernel to SIGKILL it when its parent dies, so a SIGKILLed
harness leaves nothing running. Elsewhere nothing happens; such helpers also end at EOF
or are killed by the harness."""

from __future__ import annotations

import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Call in the child, first thing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
