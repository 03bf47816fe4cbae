"""Cleanup by ownership: a run's entries are swept only when its lock is free (not by
pid: pid numbers repeat across PID namespaces), only this user's, only ipcbench-named
ones; odd names are skipped without crashing; multiprocessing's leftovers only when
provably stale. Every test works in private tmp folders, never the real /dev/shm."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time

import pytest

from ipcbench.system import hygiene, leaks

LIVE = "ipcb_4242_0badcafe"
DEAD = "ipcb_4243_deadbeef"


def _hold_lock(folder, run):
    """A lock held by another process (a forked child would share our descriptor)."""
    script = (f"import fcntl,os,sys,time; fd=os.open({str(folder / (run + '.lock'))!r},"
              "os.O_RDWR|os.O_CREAT,0o600); fcntl.flock(fd,fcntl.LOCK_EX); print('ok',flush=True);"
              " sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ok"
    return child


def test_sweep_removes_only_dead_runs_entries(tmp_path):
    shm, tmp = tmp_path / "shm", tmp_path / "tmp"
    shm.mkdir()
    tmp.mkdir()
    holder = _hold_lock(shm, LIVE)
    try:
        (shm / f"{DEAD}.lock").write_bytes(b"")  # a killed run's lock: nobody holds it
        for name in (f"{LIVE}_0_0", f"{DEAD}_0_0", f"{DEAD}_3_payload",
                     "ipcb_777_abcdef01_1_1", "someone_else", "ipcb_1234_0_0"):
            (shm / name).write_bytes(b"x")
        (tmp / f"{DEAD}_2_zmqdir").mkdir()  # a zmq socket folder of the dead run
        (tmp / f"{LIVE}_2_zmqdir").mkdir()
        removed = hygiene.sweep(shm, tmp)
        assert sorted(removed) == sorted([f"{DEAD}_0_0", f"{DEAD}_3_payload",
                                          "ipcb_777_abcdef01_1_1", f"{DEAD}_2_zmqdir"])
        assert sorted(p.name for p in shm.iterdir()) == sorted(
            [f"{LIVE}.lock", f"{LIVE}_0_0", "someone_else", "ipcb_1234_0_0"])
        assert [p.name for p in tmp.iterdir()] == [f"{LIVE}_2_zmqdir"]
    finally:
        holder.stdin.close()
        holder.wait(10)
    # Once the live run ends, its entries go too.
    assert sorted(hygiene.sweep(shm, tmp)) == sorted([f"{LIVE}_0_0", f"{LIVE}_2_zmqdir"])


def test_odd_names_and_links_are_skipped_without_crashing(tmp_path):
    (tmp_path / "ipcb_999998_0_x").mkdir()  # a folder named like an old segment
    (tmp_path / "ipcb_99999999999999999999999_deadbeef_0_0").write_bytes(b"x")  # huge pid
    (tmp_path / "ipcb_5_deadbeef_0_x").mkdir()  # a folder in /dev/shm is not a segment
    target = tmp_path / "precious"
    target.write_bytes(b"keep")
    (tmp_path / "ipcb_6_deadbeef_0_0").symlink_to(target)
    assert hygiene.sweep(tmp_path, tmp_path) == []
    assert target.read_bytes() == b"keep"
    assert len(list(tmp_path.iterdir())) == 5


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to create another user's file")
def test_another_users_entry_is_never_removed(tmp_path):
    entry = tmp_path / f"{DEAD}_0_0"
    entry.write_bytes(b"x")
    os.chown(entry, 65534, 65534)
    assert hygiene.sweep(tmp_path, tmp_path) == []
    assert entry.exists()


def test_own_lock_makes_own_entries_live(tmp_path):
    run = hygiene.run_prefix().rstrip("_")  # this process's own run name
    assert (hygiene.SHM_DIR / f"{run}.lock").exists()
    fd = os.open(hygiene.SHM_DIR / f"{run}.lock", os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def _age(path, seconds):
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def test_multiprocessing_leftovers_only_when_provably_stale(tmp_path):
    shm, tmp = tmp_path / "shm", tmp_path / "tmp"
    shm.mkdir()
    tmp.mkdir()
    stale_sem, fresh_sem, open_sem = shm / "sem.mp-old1", shm / "sem.mp-new1", shm / "sem.mp-used"
    for sem in (stale_sem, fresh_sem, open_sem):
        sem.write_bytes(b"\0" * 32)
        sem.chmod(0o600)
    public = shm / "sem.mp-public"
    public.write_bytes(b"x")
    public.chmod(0o644)  # others could have it open: cannot be proven stale
    dead_dir, empty_dir, live_dir = tmp / "pymp-dead", tmp / "pymp-empty", tmp / "pymp-live"
    for folder in (dead_dir, empty_dir, live_dir):
        folder.mkdir(mode=0o700)
    dead_sock = socket.socket(socket.AF_UNIX)
    dead_sock.bind(str(dead_dir / "listener-1"))
    dead_sock.close()  # the socket file stays, nobody listens: a killed manager's
    live_sock = socket.socket(socket.AF_UNIX)
    live_sock.bind(str(live_dir / "listener-2"))
    live_sock.listen()
    held = open(open_sem, "rb")  # noqa: SIM115 - held open across the sweep on purpose
    try:
        for path in (stale_sem, open_sem, public, dead_dir, empty_dir, live_dir):
            _age(path, 3600)
        # Only this process is inspected: other processes on a shared machine (and a
        # sandbox's unreadable init) must not decide the test.
        proc = tmp_path / "proc"
        proc.mkdir()
        (proc / str(os.getpid())).symlink_to(f"/proc/{os.getpid()}")
        removed = leaks.sweep(shm, tmp, proc=proc)
    finally:
        held.close()
        live_sock.close()
    assert sorted(removed) == ["pymp-dead", "sem.mp-old1"]
    assert sorted(p.name for p in shm.iterdir()) == ["sem.mp-new1", "sem.mp-public",
                                                     "sem.mp-used"]
    assert sorted(p.name for p in tmp.iterdir()) == ["pymp-empty", "pymp-live"]


def test_an_uninspectable_process_of_this_user_means_nothing_is_removed(tmp_path):
    sem = tmp_path / "sem.mp-old2"
    sem.write_bytes(b"x")
    sem.chmod(0o600)
    _age(sem, 3600)
    proc = tmp_path / "proc"
    (proc / "123" / "maps").mkdir(parents=True)  # reading it fails: cannot decide
    assert leaks.sweep(tmp_path, tmp_path, proc=proc) == []
    assert sem.exists()


def test_missing_shm_dir_is_not_an_error(tmp_path):
    assert hygiene.stale_segments(tmp_path / "absent") == []
    assert hygiene.sweep(tmp_path / "absent", tmp_path / "absent") == []
    assert hygiene.own_segments(tmp_path / "absent") == []


def test_helpers_holding_files_in_a_dead_runs_folder_are_ended_first(tmp_path):
    """Ray's agents outlive a SIGKILLed harness (reparented to init, their command lines
    overwritten): a process of this user with a file open in a dead run's temp folder is
    that run's helper. A live run's helpers are left alone."""
    shm, tmp = tmp_path / "shm", tmp_path / "tmp"
    shm.mkdir()
    tmp.mkdir()
    holder = _hold_lock(shm, LIVE)
    helpers = {}
    try:
        for run in (DEAD, LIVE):
            folder = tmp / f"{run}_0_ray"
            folder.mkdir()
            script = (f"import sys,time; f=open({str(folder / 'agent.log')!r},'w');"
                      " print('ok',flush=True); time.sleep(60)")
            helpers[run] = subprocess.Popen([sys.executable, "-c", script],
                                            stdout=subprocess.PIPE, text=True)
            assert helpers[run].stdout.readline().strip() == "ok"
        assert hygiene.sweep(shm, tmp) == [f"{DEAD}_0_ray"]
        assert helpers[DEAD].wait(10) == -9  # SIGKILL
        assert helpers[LIVE].poll() is None
        assert [p.name for p in tmp.iterdir()] == [f"{LIVE}_0_ray"]
    finally:
        for helper in helpers.values():
            helper.kill()
            helper.wait(10)
        holder.stdin.close()
        holder.wait(10)


def test_a_long_temp_folder_sends_socket_folders_to_tmp(tmp_path, monkeypatch):
    """AF_UNIX paths hold 107 bytes: under a long TMPDIR Ray failed to start ("AF_UNIX
    path length cannot exceed 107 bytes"); its folder and zmq's go to /tmp instead,
    where the sweep looks too."""
    import tempfile

    long = tmp_path / ("x" * max(0, 40 - len(str(tmp_path))))  # 40 bytes or more
    long.mkdir(exist_ok=True)
    assert 40 <= len(str(long)) <= hygiene.UNIX_PATH_MAX_BYTES
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    assert hygiene.temp_root(0) == long
    assert hygiene.temp_root(96) == hygiene.Path("/tmp")
    monkeypatch.setattr(tempfile, "tempdir", "/tmp")
    assert hygiene.temp_root(96) == hygiene.Path("/tmp")


@pytest.mark.integration
def test_a_zmq_case_under_a_long_temp_folder_runs_and_leaves_nothing(tmp_path, monkeypatch,
                                                                      meta):
    pytest.importorskip("zmq")
    import tempfile

    from ipcbench.core.schema import Case
    from ipcbench.core.settings import Settings
    from ipcbench.harness.runner import run_case

    long = tmp_path / ("x" * 80)
    long.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    case = Case("zmq", "ipc", "pingpong", 64, 1, "fork", placement="unpinned")
    row = run_case(case, Settings(sessions=1, repeats=1, warmup=0, max_messages=8), meta)
    assert row.status == "ok", row.reason
    prefix = f"ipcb_{os.getpid()}_"
    assert [n for n in os.listdir("/tmp") if n.startswith(prefix) and "." not in n] == []
    assert os.listdir(long) == []
