"""The processes of a process group, for tests that start `ipcbench` in a group of its
own and must show it leaves nothing behind (and never leave anything to the next test)."""

from __future__ import annotations

import os
import time

import psutil


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def assert_group_gone(pgid: int, timeout_s: float = 10.0) -> None:
    """Every process of the group ends; helpers such as the resource tracker exit on
    their own once the harness is gone, so allow them a bounded moment. Whatever is
    left is killed before the assertion fails."""
    deadline = time.monotonic() + timeout_s
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = group_members(pgid)
    seen = [describe(process) for process in left]  # before they are killed
    for process in left:  # never leave them to the next test
        try:
            process.kill()
        except psutil.Error:
            pass
    assert not left, f"left in process group {pgid} after {timeout_s:g} s: {seen}"


def describe(process: psutil.Process) -> str:
    """A process left behind, for a failing check: pid, state (a stopped one shows it),
    name and command line."""
    try:
        return (f"pid {process.pid} {process.status()} {process.name()} "
                f"{' '.join(process.cmdline())[:120]!r}")
    except psutil.Error:
        return f"pid {process.pid} (gone)"
