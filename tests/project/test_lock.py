"""The project lock: a second segstudio is warned; stale locks (dead pid, reused pid, reboot,
old lock from another host, half-written file) are taken over; races leave one holder."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segstudio.errors import ProjectLockedError
from segstudio.project.lock import (
    LOCK_FILE,
    LockInfo,
    ProjectLock,
    command_lock,
    process_start,
    read_lock,
)

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from segstudio.project.lock import ProjectLock
status = ProjectLock(sys.argv[1], purpose=sys.argv[2]).acquire()
print(status.state, flush=True)
time.sleep(float(sys.argv[3]))
"""


def _spawn_holder(root: Path, purpose: str = "window", hold_s: float = 60):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), purpose, str(hold_s)],
                         stdout=subprocess.PIPE, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout.readline().strip() == "acquired"
    return p


def _write_lock(root: Path, **fields) -> Path:
    info = {"pid": 999_999, "host": socket.gethostname(), "started": time.time(),
            "purpose": "window", "token": "theirs", **fields}
    path = root / LOCK_FILE
    path.write_text(json.dumps(info))
    return path


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_acquire_and_release(tmp_path):
    lock = ProjectLock(tmp_path)
    status = lock.acquire()
    assert status.state == "acquired" and status.acquired and not status.held_by_other
    info = read_lock(tmp_path)
    assert info.pid == os.getpid() and info.host == socket.gethostname()
    assert abs(info.started - time.time()) < 5 and info.token == lock.info.token
    assert sorted(os.listdir(tmp_path)) == [LOCK_FILE]   # no temporary file left
    lock.release()
    assert os.listdir(tmp_path) == []
    lock.release()   # twice is harmless


def test_second_segstudio_is_warned_then_takes_over_after_a_kill(tmp_path):
    holder = _spawn_holder(tmp_path)
    try:
        status = ProjectLock(tmp_path).acquire()
        assert status.state == "held" and status.holder.pid == holder.pid
        assert "already open in segstudio (process" in status.message
        assert socket.gethostname() in status.message
        assert read_lock(tmp_path).pid == holder.pid   # the holder's lock is untouched
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    status = ProjectLock(tmp_path).acquire()
    assert status.state == "took_over" and status.holder.pid == holder.pid
    assert "no longer running" in status.message
    assert read_lock(tmp_path).pid == os.getpid()
    status.lock.release()


def test_dead_pid_is_stale(tmp_path):
    _write_lock(tmp_path, pid=_dead_pid())
    status = ProjectLock(tmp_path).acquire()
    assert status.state == "took_over"
    assert read_lock(tmp_path).token == status.lock.info.token


@pytest.mark.skipif(not process_start(1), reason="no /proc start times here")
def test_reused_pid_is_stale_but_a_live_one_is_not(tmp_path):
    # pid 1 is alive; with its real start time it is a live holder, with another start time
    # the pid was reused by another program and the lock is stale.
    _write_lock(tmp_path, pid=1, proc_start=process_start(1))
    assert ProjectLock(tmp_path).acquire().state == "held"
    _write_lock(tmp_path, pid=1, proc_start="12345")
    assert ProjectLock(tmp_path).acquire().state == "took_over"


def test_lock_from_before_a_reboot_is_stale(tmp_path):
    from segstudio.project.lock import boot_id

    if not boot_id():
        pytest.skip("no boot id here")
    _write_lock(tmp_path, pid=1, boot_id="00000000-dead-beef-0000-000000000000")
    assert ProjectLock(tmp_path).acquire().state == "took_over"


def test_other_host_is_held_until_old(tmp_path):
    path = _write_lock(tmp_path, host="lab-pc-7", pid=4242)
    status = ProjectLock(tmp_path).acquire()
    assert status.state == "held" and "on lab-pc-7" in status.message
    old = time.time() - 13 * 3600
    path.write_text(json.dumps({**json.loads(path.read_text()), "started": old}))
    os.utime(path, (old, old))
    status = ProjectLock(tmp_path).acquire()
    assert status.state == "took_over" and status.holder.host == "lab-pc-7"


def test_refresh_keeps_a_long_session_fresh(tmp_path):
    lock = ProjectLock(tmp_path)
    lock.acquire()
    old = time.time() - 3600
    os.utime(lock.path, (old, old))
    lock.refresh()
    assert time.time() - lock.path.stat().st_mtime < 60


def test_half_written_lock(tmp_path, monkeypatch):
    path = tmp_path / LOCK_FILE
    path.write_text('{"pid": 12')                  # a writer is between create and write
    status = ProjectLock(tmp_path).acquire()
    assert status.state == "held" and path.read_text() == '{"pid": 12'
    old = time.time() - 60                          # ... or crashed there a minute ago
    os.utime(path, (old, old))
    status = ProjectLock(tmp_path).acquire()
    assert status.state == "acquired" and read_lock(tmp_path).pid == os.getpid()


def test_release_leaves_someone_elses_lock(tmp_path):
    lock = ProjectLock(tmp_path)
    lock.acquire()
    _write_lock(tmp_path, token="other")            # taken over by someone meanwhile
    lock.release()
    assert read_lock(tmp_path).token == "other"


def test_same_process_reopening_is_not_another_segstudio(tmp_path):
    first = ProjectLock(tmp_path)
    first.acquire()
    second = ProjectLock(tmp_path).acquire()
    assert second.acquired


def test_read_only_folder_is_reported_not_fatal(tmp_path, monkeypatch):
    real_open = os.open

    def readonly(path, flags, *a):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", readonly)
    status = ProjectLock(tmp_path).acquire()
    assert status.state == "unavailable" and not status.acquired
    assert "Read-only file system" in status.message


def test_file_system_without_hard_links(tmp_path, monkeypatch):
    def no_link(*a):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    lock = ProjectLock(tmp_path)
    assert lock.acquire().state == "acquired"
    assert ProjectLock(tmp_path, purpose="x").acquire().state == "acquired"  # same pid
    assert read_lock(tmp_path).pid == os.getpid()
    assert sorted(os.listdir(tmp_path)) == [LOCK_FILE]


RACER = """
import os, sys, time
from segstudio.project.lock import ProjectLock
go = float(sys.argv[2])
while time.time() < go:
    time.sleep(0.001)
status = ProjectLock(sys.argv[1]).acquire()
print(status.state, flush=True)
time.sleep(1.0)
"""


@pytest.mark.parametrize("start", ["free", "stale"])
def test_racing_segstudios_leave_exactly_one_holder(tmp_path, start):
    if start == "stale":
        _write_lock(tmp_path, pid=_dead_pid())
    go = time.time() + 0.8
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), str(go)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) for _ in range(6)]
    states = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    won = [s for s in states if s in ("acquired", "took_over")]
    assert len(won) == 1 and states.count("held") == 5, states
    assert not [n for n in os.listdir(tmp_path) if n != LOCK_FILE]   # nothing left aside


def test_command_lock(tmp_path):
    holder = _spawn_holder(tmp_path)
    try:
        with pytest.raises(ProjectLockedError, match=r"already open in segstudio .*Close it "
                                                     r"first; .*delete .*\.segstudio\.lock"):
            with command_lock(tmp_path, "import-masks", writes=True):
                pass
        with command_lock(tmp_path, "train", writes=False) as status:
            assert status.held_by_other
            assert status.message.startswith("this project is open in segstudio (process")
        assert read_lock(tmp_path).pid == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with command_lock(tmp_path, "import-masks", writes=True) as status:
        assert status.state == "took_over"
        assert read_lock(tmp_path).purpose == "import-masks"
    assert not (tmp_path / LOCK_FILE).exists()
    with command_lock(tmp_path, "train", writes=False) as status:
        assert status.state == "free" and not (tmp_path / LOCK_FILE).exists()


def test_context_manager_and_describe(tmp_path):
    with ProjectLock(tmp_path, purpose="import-masks") as lock:
        assert lock.held and "segstudio import-masks (process" in read_lock(tmp_path).describe()
    assert not (tmp_path / LOCK_FILE).exists()
    info = LockInfo.from_json(json.dumps({"pid": 5, "host": "h", "started": 0}))
    assert info.purpose == "window"
    for bad in ("[]", '{"pid": "5", "host": "h", "started": 0}', '{"pid": 5}'):
        with pytest.raises(ValueError):
            LockInfo.from_json(bad)
