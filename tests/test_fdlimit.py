"""Too few file descriptors (issue 22): a case that would run out fails with a reason
before it starts anything, instead of libzmq aborting with a raw line on stderr and the
resource tracker printing a traceback."""

from __future__ import annotations

import resource

import pytest

from ipcbench.core.schema import Case
from ipcbench.core.settings import Settings
from ipcbench.harness.runner import run_case
from ipcbench.system import fdlimit, hygiene


def test_shortage_names_what_is_needed_and_the_limit():
    assert fdlimit.shortage(2, limit=1024, open_now=10) == ""
    reason = fdlimit.shortage(8, limit=40, open_now=10)
    assert reason == ("too few file descriptors for 8 peers: about 64 needed, 30 of the "
                      "limit 40 free (raise it: ulimit -n 74)")
    assert fdlimit.shortage(8, limit=resource.RLIM_INFINITY, open_now=10) == ""


@pytest.mark.integration
@pytest.mark.parametrize("mechanism", ["zmq", "shm"])
def test_a_case_short_of_descriptors_is_a_failed_row_and_leaves_nothing(meta, mechanism):
    pytest.importorskip("zmq")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    case = Case(mechanism, "default" if mechanism == "zmq" else "segment", "pingpong", 64, 4,
                "fork", placement="unpinned")
    resource.setrlimit(resource.RLIMIT_NOFILE, (fdlimit.open_descriptors() + 30, hard))
    try:
        row = run_case(case, Settings(sessions=1, repeats=1, warmup=0, max_messages=8), meta)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert row.status == "failed"
    assert row.reason.startswith("too few file descriptors for 8 peers: about 64 needed"), \
        row.reason
    assert hygiene.own_segments() == []
