"""The payload kinds: everything ipcbench knows about each, stated once.

A PayloadKind says what the sending application holds (its `value`), how a message of it
goes on the wire and is checked on arrival (its `encoding`), how long every wire message
is, what a channel that pickles by itself is handed, which optional module it needs, and
what falls inside its one-way latency. The payload code (payload/spec.py, wire.py,
codecs.py) picks its builders, checksums and send/open paths by these fields; the
harness, the CLI, the matrices and the analysis read names and flags here. No other
module compares payload kind names.

Pure data: nothing here imports numpy, pandas or a codec.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from enum import Enum


class Value(Enum):
    """What the sending application holds (payload/spec.py builds it)."""

    BYTES = "bytes"  # random bytes (not zeros: a zero page can be shared away)
    ITEMS = "items"  # a dict of (int, str, float) tuples and a padding bytes value
    ARRAY = "array"  # a uint8 numpy array
    FRAME = "frame"  # a numeric pandas DataFrame (codecs.frame)


class Encoding(Enum):
    """How a message goes on the wire, and so how its arrival is checked."""

    # The bytes themselves, the header over their first 8; CRC-32 of the rest.
    RAW = "raw"
    # (header, value) pickled as one (protocol 5); CRC-32 of the value's pickle.
    PICKLE = "pickle"
    # Codecs (payload/codecs.py): encoded by the sender on every channel, the header
    # inside; checked by re-packing the value (msgpack) or by its column values (arrow).
    MSGPACK = "msgpack"
    ARROW = "arrow"
    # Written into a region of shared memory, a descriptor on the channel; every
    # message's stamp and word sum are checked in place (payload/zerocopy.py).
    SHARED_MEMORY = "shared-memory"


# shm-view's wire message: sequence, pool, region, the header words, zero-padded.
DESCRIPTOR_BYTES = 64


@dataclass(frozen=True)
class PayloadKind:
    name: str
    summary: str  # one line, for `ipcbench list`
    value: Value
    encoding: Encoding
    # The wire size rule: 0, every wire message is exactly the message size (header
    # included); else every one is this fixed descriptor, whatever the message size.
    descriptor_bytes: int
    # What a channel that pickles what it is given (Queue, Pipe.send, ...) gets: True,
    # the (header, value) pair, the way users hand over their objects; False, the same
    # encoded bytes as every other channel (the point is to time the sender's encoder).
    as_object: bool
    # What falls inside the one-way latency besides the channel's own transfer (the
    # sender stamps just before it builds a message, the receiver after decoding it).
    in_latency: str
    # Measured by the default matrix (else by the full one, or --payload): the
    # serialiser comparisons cost 0.3 to 0.9 s a session at 1 MiB (core/settings.py).
    in_default_matrix: bool
    # The optional module it needs, and the ipcbench extra installing it ("": none).
    module: str = ""
    extra: str = ""

    def wire_bytes(self, size_bytes: int) -> int:
        """Length of every message on the channel at this message size."""
        return self.descriptor_bytes or size_bytes

    @property
    def shared_memory(self) -> bool:
        """The sender writes every message into region pools the harness makes beside
        the channel (payload/zerocopy.py); the channel carries only a descriptor."""
        return self.encoding is Encoding.SHARED_MEMORY

    @property
    def install_hint(self) -> str:
        return f"pip install 'ipcbench[{self.extra}]'"

    def unavailable_reason(self) -> str:
        """Why this kind cannot run here ("" when it can): its optional module is missing."""
        if not self.module or _installed(self.module):
            return ""
        return (f"payload {self.name} needs the optional module {self.module!r} "
                f"({self.install_hint})")


@functools.cache
def _installed(module: str) -> bool:
    # Cached: a matrix asks once per case, and a miss scans all of sys.path.
    return importlib.util.find_spec(module) is not None


_PICKLED = "pickling by the sender and unpickling by the receiver"

BYTES = PayloadKind(
    name="bytes", summary="raw bytes, the header in the first 8 (the default everywhere)",
    value=Value.BYTES, encoding=Encoding.RAW, descriptor_bytes=0, as_object=True,
    in_latency="the transfer only (and the header's pack/unpack)", in_default_matrix=True,
)
OBJECT = PayloadKind(
    name="object", summary="a dict of (int, str, float) tuples, pickled with the header",
    value=Value.ITEMS, encoding=Encoding.PICKLE, descriptor_bytes=0, as_object=True,
    in_latency=_PICKLED, in_default_matrix=True,
)
# The object kind's structure: object vs msgpack is pickle vs msgpack on the same items.
MSGPACK = PayloadKind(
    name="msgpack", summary="the object kind's dict, msgpack-packed with the header (bytes on "
                            "every channel)",
    value=Value.ITEMS, encoding=Encoding.MSGPACK, descriptor_bytes=0, as_object=False,
    in_latency="packing by the sender and unpacking by the receiver", in_default_matrix=False,
    module="msgpack", extra="msgpack",
)
NUMPY = PayloadKind(
    name="numpy", summary="a uint8 numpy array, pickled with the header",
    value=Value.ARRAY, encoding=Encoding.PICKLE, descriptor_bytes=0, as_object=True,
    in_latency=_PICKLED, in_default_matrix=True,
)
# dataframe vs arrow: a pickled DataFrame vs Arrow IPC (read zero-copy), the same rows.
DATAFRAME = PayloadKind(
    name="dataframe", summary="a numeric pandas DataFrame, pickled with the header",
    value=Value.FRAME, encoding=Encoding.PICKLE, descriptor_bytes=0, as_object=True,
    in_latency=_PICKLED, in_default_matrix=False,
)
ARROW = PayloadKind(
    name="arrow", summary="the same DataFrame as an Arrow IPC stream behind the header, opened "
                          "zero-copy into a DataFrame (bytes on every channel)",
    value=Value.FRAME, encoding=Encoding.ARROW, descriptor_bytes=0, as_object=False,
    in_latency="the DataFrame's conversion and IPC write by the sender and the receiver's "
               "zero-copy open into a DataFrame",
    in_default_matrix=False, module="pyarrow", extra="arrow",
)
SHM_VIEW = PayloadKind(
    name="shm-view", summary="written into shared memory, a 64-byte descriptor on the channel, "
                             "read in place",
    value=Value.BYTES, encoding=Encoding.SHARED_MEMORY, descriptor_bytes=DESCRIPTOR_BYTES,
    as_object=False,
    in_latency="the write into shared memory, the descriptor's trip and the in-place read "
               "of every byte",
    in_default_matrix=True,
)

# In the order `ipcbench list`, --help and the charts give them.
PAYLOADS: dict[str, PayloadKind] = {
    k.name: k for k in (BYTES, OBJECT, MSGPACK, NUMPY, DATAFRAME, ARROW, SHM_VIEW)
}
PAYLOAD_KINDS: tuple[str, ...] = tuple(PAYLOADS)
# Kinds that older ipcbench versions measured and that mean something else now: the
# readers rename them (results.read_results) so that compare never matches an old row
# with a new kind. `numpy-shm` sent a descriptor of an array that never changed and
# timed no payload movement at all; `shm-view` writes and reads every message's bytes.
RENAMED_PAYLOADS = {"numpy-shm": "numpy-shm-v3"}
# What a result row may carry: every kind that runs, plus the renamed old ones.
READABLE_PAYLOAD_KINDS = PAYLOAD_KINDS + tuple(RENAMED_PAYLOADS.values())
# kind -> (optional module, the extra installing it), for the kinds that need one.
PAYLOAD_REQUIRES = {k.name: (k.module, k.extra) for k in PAYLOADS.values() if k.module}


def get(name: str) -> PayloadKind:
    """The PayloadKind named `name`; a one-line ValueError naming it otherwise."""
    try:
        return PAYLOADS[name]
    except KeyError:
        raise ValueError(
            f"unknown payload {name!r} (choose from {', '.join(PAYLOAD_KINDS)})"
        ) from None


def payload_unavailable_reason(name: str) -> str:
    """Why payload kind `name` cannot run here ("" when it can): a missing optional
    module (msgpack, pyarrow)."""
    return get(name).unavailable_reason()
