"""The mechanisms' contract: each module's INFO record, and the registry built from them."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

from ipcbench import mechanisms
from ipcbench.mechanisms import REGISTRY, busy_polls, public_names, register, ring_slots
from ipcbench.mechanisms.handoff import SlotMechanism
from ipcbench.mechanisms.info import MechanismInfo, Variant

# Optional third-party modules (mechanisms, payload kinds) and the analysis side's heavy
# ones: none may load with the registry, whose modules import them only inside functions.
NOT_ON_IMPORT = ("zmq", "ray", "faster_fifo", "posix_ipc", "pynng", "msgpack", "pyarrow",
                 "pandas", "scipy", "matplotlib")


def test_importing_the_registry_and_ending_a_run_load_no_optional_module():
    code = ("import sys; import ipcbench.mechanisms as m; m.end_run(); "
            f"print([n for n in {NOT_ON_IMPORT!r} if n in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_every_module_with_an_info_record_is_registered():
    registered = {info.name for info in REGISTRY.values()}
    for module in pkgutil.iter_modules(mechanisms.__path__):
        info = getattr(importlib.import_module(f"ipcbench.mechanisms.{module.name}"), "INFO",
                       None)
        if info is not None:
            assert info.name in registered and REGISTRY[info.name] is info, module.name


def test_a_variant_that_streams_fans_out_and_keeps_the_reading_order():
    assert Variant("v", ("stream", "pingpong")).patterns == ("pingpong", "stream", "fanout")
    assert Variant("v", ("counter",)).patterns == ("counter",)
    with pytest.raises(ValueError, match="unknown patterns"):
        Variant("v", ("gossip",))


def test_a_record_names_exactly_one_of_a_mechanism_class_and_a_session():
    for info in REGISTRY.values():
        assert (info.mechanism is None) != (info.session is None), info.name
    with pytest.raises(ValueError, match="exactly one"):
        MechanismInfo("x", "neither", (Variant("v", ("stream",)),))
    with pytest.raises(ValueError, match="distinct names"):
        MechanismInfo("x", "twice", (Variant("v", ("stream",)),) * 2,
                      session=REGISTRY["fake"].session)


def test_slot_mechanisms_read_the_variant_records_their_info_lists():
    slots = [i for i in REGISTRY.values()
             if i.mechanism is not None and issubclass(i.mechanism, SlotMechanism)]
    assert {i.name for i in slots} == {"value", "shm", "mmap", "array", "shareable-list"}
    # The same records, but for the patterns the info derives from streams and pairs
    # (broadcast, pipeline, reqrep, bidir): the mechanism reads slots and polling only.
    def shape(variants):
        return [(v.name, v.ring_slots, v.busy_polls) for v in variants]

    for info in slots:
        assert shape(info.mechanism.variants) == shape(info.variants), info.name
        for declared, listed in zip(info.mechanism.variants, info.variants, strict=True):
            assert set(declared.patterns) <= set(listed.patterns), info.name


def test_ring_slots_and_busy_polling_are_read_from_the_variant_records():
    assert ring_slots("mmap", "ring8") == 8 and ring_slots("mmap", "shared") == 1
    assert busy_polls("shm", "ring8-spin") and not busy_polls("shm", "ring8")
    # Besides shm's spin ring, only channels whose library busy-polls (MPICH's progress
    # engine, iceoryx2's receive), every variant of them.
    spinning = {"shm", "mpi", "iceoryx2"}
    assert not any(busy_polls(name, v) for name in public_names() if name not in spinning
                   for v in REGISTRY[name].variant_names)
    assert all(busy_polls(name, v) for name in ("mpi", "iceoryx2")
               for v in REGISTRY[name].variant_names)
    with pytest.raises(KeyError, match="no variant 'ring4'"):
        ring_slots("shm", "ring4")


def test_register_refuses_a_taken_name_and_hidden_ones_stay_out_of_public_names():
    with pytest.raises(ValueError, match="already registered"):
        register(REGISTRY["pipe"])
    assert REGISTRY["fake"].hidden and "fake" not in public_names()
