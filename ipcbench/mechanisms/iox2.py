"""iceoryx2 (optional extra `ipcbench[iceoryx2]`): lock-free shared-memory publish-
subscribe, through its Python bindings.

Variant `pubsub`: a publish-subscribe service of byte arrays (c_uint8 * size) each way
for pingpong, one service every producer publishes to for stream (up to RING_SLOTS
samples buffered at the subscriber, no overflow: a full buffer makes the publisher
retry, RetryUntilDelivered, so no message is lost). A send loans a sample in the
publisher's shared-memory segment, writes the message into it (the one copy in) and
publishes it; a receive copies the sample out into the receiver's own buffer (the one
copy out) and releases it. That is iceoryx2's zero-copy loan API, accounted like every
shared-memory channel here: the producer writes each message's content and the
receiver ends with it in memory it owns. The bindings have no blocking receive of a
sample, so receivers busy-poll (Variant.busy_polls): cross-core, one CPU per peer.

Each peer makes its own node in attach(); the receiving side creates a service, the
sending side opens it (retrying until it exists) and waits until its subscribers are
connected, so no message is published to nobody; all bounded. Every file iceoryx2 makes
carries this case's prefix: its root folder is a private temp folder of the parent,
its /dev/shm segments start with the run's prefix (the hygiene sweep's), and close()
removes what a killed peer left.
"""

from __future__ import annotations

import ctypes
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from ipcbench.mechanisms.base import RING_SLOTS, Endpoint, Mechanism
from ipcbench.mechanisms.info import STREAMS, MechanismInfo, Variant
from ipcbench.system import hygiene

_CONNECT_TIMEOUT_S = 60.0  # the harness's start deadline ends a stuck case sooner
_POLL_MS = 1  # how often a peer looks again while a service or subscriber is not there


@dataclass(frozen=True)
class Place:
    """Where a case's iceoryx2 files go: a root folder and a file-name prefix."""

    root: str
    prefix: str


def _node(place: Place):
    import iceoryx2 as iox2

    iox2.set_log_level(iox2.LogLevel.Error)  # not "no config file was loaded" per peer
    config = iox2.config.default()
    config.global_cfg.root_path = iox2.Path.new(place.root + "/")
    config.global_cfg.prefix = iox2.FileName.new(place.prefix)
    return iox2.NodeBuilder.new().config(config).create(iox2.ServiceType.Ipc)


def _service(node, name: str, create: bool, publishers: int, size_bytes: int):
    import iceoryx2 as iox2

    # A fixed-size type (a byte array of the case's size), not Slice[c_uint8]: loaning a
    # slice sample cost ~9 µs from Python, a fixed one ~1.5 µs (measured in one process).
    builder = (node.service_builder(iox2.ServiceName.new(name))
               .publish_subscribe(ctypes.c_uint8 * size_bytes)
               .enable_safe_overflow(False)  # a full buffer holds the publisher back
               .subscriber_max_buffer_size(RING_SLOTS)
               .max_publishers(publishers).max_subscribers(1))
    if create:
        return builder.create()
    end = time.monotonic() + _CONNECT_TIMEOUT_S
    while True:
        try:
            return builder.open()
        except iox2.PublishSubscribeOpenError:
            if time.monotonic() > end:
                raise TimeoutError(f"iceoryx2 service {name} never appeared") from None
            node.wait(iox2.Duration.from_millis(_POLL_MS))


class Iox2Endpoint(Endpoint):
    def __init__(self, place: Place, size_bytes: int, publish: str = "", subscribe: str = "",
                 publishers: int = 1) -> None:
        self.place = place
        self.size_bytes = size_bytes
        self.publish = publish  # service name to publish to ("" = none)
        self.subscribe = subscribe  # service name to subscribe to (it creates it)
        self.publishers = publishers  # of the subscribed service (stream: N producers)

    def attach(self) -> None:
        import iceoryx2 as iox2

        self._node = _node(self.place)
        self._publisher = self._subscriber = None
        if self.subscribe:
            service = _service(self._node, self.subscribe, True, self.publishers,
                               self.size_bytes)
            self._subscriber = service.subscriber_builder().buffer_size(RING_SLOTS).create()
            self._in_service = service
        if self.publish:
            service = _service(self._node, self.publish, False, self.publishers_of_publish,
                               self.size_bytes)
            self._publisher = (service.publisher_builder()
                               .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
                               .create())
            self._out_service = service
            end = time.monotonic() + _CONNECT_TIMEOUT_S
            while service.dynamic_config.number_of_subscribers < 1:
                if time.monotonic() > end:
                    raise TimeoutError(f"no subscriber of {self.publish} appeared")
                self._node.wait(iox2.Duration.from_millis(_POLL_MS))
            self._publisher.update_connections()
        self._buffer = np.empty(self.size_bytes, dtype=np.uint8)  # the receiver's own
        self._view = memoryview(self._buffer).cast("B")

    # The service a sender opens must be opened with the creator's max_publishers.
    publishers_of_publish = 1

    def send(self, payload) -> None:
        source = np.frombuffer(payload, dtype=np.uint8)
        while True:
            sample = self._publisher.loan_uninit()
            ctypes.memmove(sample.payload_ptr, source.ctypes.data, self.size_bytes)
            if sample.assume_init().send():
                return
            # Delivered to no one: the subscriber was counted before this publisher's
            # connection to it existed (seen with two producers, about one case in
            # three). Nobody has it, so it is sent again, not duplicated. A subscriber
            # that died makes this spin until the harness's deadline ends the case.
            self._publisher.update_connections()

    def recv(self) -> memoryview:
        receive = self._subscriber.receive
        sample = receive()
        while sample is None:  # busy-polls: the bindings have no blocking receive
            sample = receive()
        # The service's type is a byte array of exactly the case's size (a publisher of
        # another size could not have opened it): the length is checked by iceoryx2.
        ctypes.memmove(self._buffer.ctypes.data, sample.payload_ptr, self.size_bytes)
        sample.delete()  # back to the publisher's pool
        return self._view

    def close(self) -> None:
        for port in (getattr(self, "_publisher", None), getattr(self, "_subscriber", None)):
            if port is not None:
                port.delete()
        self._out_service = self._in_service = self._node = None


class Iox2Mechanism(Mechanism):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import iceoryx2  # noqa: F401 - the module (no node) here: peers inherit it

        root = hygiene.temp_root(len(self.name_prefix) + 16)
        self.place = Place(tempfile.mkdtemp(prefix=self.name_prefix, dir=root),
                           f"{self.name_prefix}iox{secrets.token_hex(3)}_")
        self._services = 0

    def _name(self) -> str:
        self._services += 1
        return f"ipcbench/{self._services}"

    def _endpoint(self, publish="", subscribe="", publishers=1, opened_publishers=1):
        endpoint = Iox2Endpoint(self.place, self.size_bytes, publish, subscribe, publishers)
        endpoint.publishers_of_publish = opened_publishers
        return endpoint

    def pairs(self, count: int) -> list[tuple[Endpoint, Endpoint]]:
        result = []
        for _ in range(count):
            there, back = self._name(), self._name()
            result.append((self._endpoint(publish=there, subscribe=back),
                           self._endpoint(publish=back, subscribe=there)))
        return result

    def stream(self, producers: int) -> tuple[list[Endpoint], Endpoint]:
        name = self._name()
        senders = [self._endpoint(publish=name, opened_publishers=producers)
                   for _ in range(producers)]
        return senders, self._endpoint(subscribe=name, publishers=producers)

    def close(self) -> None:
        # Every peer has ended: what a killed one left (its node, its segments) goes.
        for path in hygiene.SHM_DIR.glob(f"{self.place.prefix}*"):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.place.root, ignore_errors=True)


INFO = MechanismInfo(
    name="iceoryx2",
    description="iceoryx2 (optional; busy-polls): 'pubsub' = a publish-subscribe service of "
                "byte arrays each way for pingpong, one every producer publishes to for "
                "stream; a loaned sample written in place, copied out by the receiver",
    variants=(Variant("pubsub", STREAMS, ring_slots=RING_SLOTS, busy_polls=True),),
    mechanism=Iox2Mechanism,
    requires="iceoryx2",
)
