"""Raw os.pipe(): the kernel's pipe with no multiprocessing framing or pickling on top
(multiprocessing.Pipe adds a 4-byte length header per message and, for 'pickle',
pickling). Fixed-size frames, full read/write loops: see fdstream.py."""

from __future__ import annotations

import os

from ipcbench.mechanisms.fdstream import WHY_NOT_SHARED, FdStreamMechanism
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant


class OsPipeMechanism(FdStreamMechanism):
    is_socket = False

    def _oneway(self) -> tuple[int, int]:
        return os.pipe()  # non-inheritable: only multiprocessing hands them on


INFO = MechanismInfo(
    name="os-pipe",
    description="raw os.pipe, fixed-size frames: os.write loops / os.readv into a private "
                "buffer",
    variants=(Variant("raw", STREAMS),),
    mechanism=OsPipeMechanism,
    why_not=WHY_NOT_SHARED,
)
