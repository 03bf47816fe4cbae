"""Raw os.pipe(): the kernel's pipe with no multiprocessing framing or pickling on top
(multiprocessing.Pipe adds a 4-byte length header per message and, for 'pickle',
pickling). Fixed-size frames, full read/write loops: see fdstream.py."""

from __future__ import annotations

import os

from ipcbench.mechanisms.fdstream import FdStreamMechanism


class OsPipeMechanism(FdStreamMechanism):
    is_socket = False

    def _oneway(self) -> tuple[int, int]:
        return os.pipe()  # non-inheritable: only multiprocessing hands them on


MECHANISM = OsPipeMechanism
