"""A lock file that tells a second segstudio that a project is already open.

``<project>/.segstudio.lock`` holds JSON: who holds the project (pid, host, boot id and process
start time where the system tells them), what for ("window", "import-masks"...), since when,
and a random token that identifies this holder::

    status = ProjectLock(root, purpose="window").acquire()
    if status.held_by_other:
        ...  # warn: status.message names the other segstudio
    ...
    status.lock.release()

The lock is advisory: it warns, it does not stop a determined user.

- It is created atomically: the JSON goes to a temporary file that is hard-linked to the lock
  name (``link`` fails if the name exists, and readers never see a half-written lock); where a
  file system has no hard links, ``O_CREAT | O_EXCL`` is used instead.
- A lock is *stale*, and is taken over, when its holder is gone: on the same host, the pid is
  not running, or runs another program since (its start time differs), or the machine was
  rebooted since (the boot id differs); on another host (a project on a network share), when
  the lock was neither created nor refreshed (``refresh()``, which touches the file) for
  ``stale_after_s`` (12 hours by default). A lock that cannot be parsed and is older than a few
  seconds (a crash while it was written) is stale too.
- Taking over renames the stale file away first and checks that what was renamed is the lock
  judged stale, so two processes cleaning up the same stale lock cannot both end up holding
  it (unless a third creates one in the microseconds between; this is a warning system).
- ``release()`` removes the file only if it still holds this lock's token.

numpy-free, Qt-free; used by the window (on open) and the command line (``command_lock``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from segstudio.errors import ProjectLockedError

LOCK_FILE = ".segstudio.lock"
STALE_AFTER_S = 12 * 3600      # a lock from another host is stale after this without refresh
UNREADABLE_GRACE_S = 10.0      # an unparsable lock younger than this may be being written


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says about its holder."""
    pid: int
    host: str
    started: float              # time.time() when the lock was taken
    purpose: str = "window"     # "window", "import-masks", ...
    token: str = ""
    boot_id: str = ""           # Linux: /proc/sys/kernel/random/boot_id
    proc_start: str = ""        # Linux: start time of the pid, in clock ticks since boot

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))
        what = "segstudio" if self.purpose == "window" else f"segstudio {self.purpose}"
        return f"{what} (process {self.pid} on {self.host}, since {when})"

    def to_json(self) -> str:
        return json.dumps({"app": "segstudio", **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> LockInfo:
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError("not an object")
        pid, host, started = d.get("pid"), d.get("host"), d.get("started")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 \
                or not isinstance(host, str) or not isinstance(started, (int, float)):
            raise ValueError("pid, host and started are required")
        return cls(pid, host, float(started), str(d.get("purpose", "window")),
                   str(d.get("token", "")), str(d.get("boot_id", "")),
                   str(d.get("proc_start", "")))


@dataclass(frozen=True)
class LockStatus:
    """The outcome of ``ProjectLock.acquire``.

    state: "acquired" (the project was free), "took_over" (a stale lock was replaced;
    ``holder`` is the one that was left behind), "held" (another live segstudio holds it;
    ``holder`` says which), "unavailable" (no lock could be written, e.g. a read-only
    folder; ``message`` says why; the project can still be opened) or "free" (from
    ``command_lock(writes=False)``, which takes no lock: no live segstudio holds it)."""
    state: str
    lock: ProjectLock
    holder: LockInfo | None = None
    message: str = ""

    @property
    def acquired(self) -> bool:
        return self.state in ("acquired", "took_over")

    @property
    def held_by_other(self) -> bool:
        return self.state == "held"


# ------------------------------------------------------------------------------ the process
def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def boot_id() -> str:
    return _read_text("/proc/sys/kernel/random/boot_id")


def process_start(pid: int) -> str:
    """The start time of ``pid`` (Linux, clock ticks since boot); "" where unknown."""
    stat = _read_text(f"/proc/{pid}/stat")
    if not stat:
        return ""
    # Field 22; the command name (field 2) is in parentheses and may hold spaces.
    rest = stat.rsplit(")", 1)[-1].split()
    return rest[19] if len(rest) > 19 else ""


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # alive, owned by another user
    except OSError:
        return False
    return True


# Defined on Windows only, where pid_alive calls it (mypy then knows ctypes.windll exists).
if sys.platform == "win32":  # pragma: no cover - Windows only
    def _pid_alive_windows(pid: int) -> bool:
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)


def this_process(purpose: str = "window") -> LockInfo:
    pid = os.getpid()
    return LockInfo(pid, socket.gethostname(), time.time(), purpose, secrets.token_hex(8),
                    boot_id(), process_start(pid))


# --------------------------------------------------------------------------------- the lock
class ProjectLock:
    """The lock of the project in ``root``. ``acquire`` once; ``release`` when the project is
    closed (also safe to call when nothing is held)."""

    def __init__(self, root: str | os.PathLike[str], purpose: str = "window", *,
                 stale_after_s: float = STALE_AFTER_S) -> None:
        self.root = Path(root)
        self.purpose = purpose
        self.stale_after_s = float(stale_after_s)
        self.info: LockInfo | None = None   # ours, while held

    @property
    def path(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def held(self) -> bool:
        return self.info is not None

    # ------------------------------------------------------------------ acquire
    def acquire(self) -> LockStatus:
        if self.info is not None:
            return LockStatus("acquired", self)
        took_over: LockInfo | None = None
        for _ in range(5):   # a lost race re-reads the lock; five rounds are plenty
            mine = this_process(self.purpose)
            try:
                created = self._create(mine)
            except OSError as exc:
                return LockStatus("unavailable", self, message=(
                    f"Could not write the lock file {self.path.name} "
                    f"({exc.strerror or exc}); another segstudio opening this project will "
                    "not be warned."))
            if created:
                self.info = mine
                if took_over is not None:
                    return LockStatus("took_over", self, took_over,
                                      f"A lock left by {took_over.describe()}, which is no "
                                      "longer running, was taken over.")
                return LockStatus("acquired", self)
            text, mtime = self._read()
            if text is None:
                continue   # it vanished meanwhile: try again
            holder = self._parse(text)
            verdict = self._judge(holder, mtime)
            if verdict == "live":
                assert holder is not None
                return LockStatus("held", self, holder, (
                    f"This project is already open in {holder.describe()}. Two segstudios "
                    "saving the same project overwrite each other's changes."))
            if verdict == "young":
                time.sleep(0.05)   # being written by someone right now
                continue
            if self._remove_stale(text) and verdict == "stale":
                took_over = holder if holder is not None else took_over
        holder = self._parse(self._read()[0] or "")
        return LockStatus("held", self, holder, (
            f"This project is already open in {holder.describe()}." if holder else
            f"The lock file {self.path} is in use and could not be taken over."))

    def _create(self, info: LockInfo) -> bool:
        """Write our lock if there is none; False if one exists."""
        data = info.to_json().encode("utf-8")
        tmp = self.root / f"{LOCK_FILE}.{info.pid}.{info.token}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            try:
                os.link(tmp, self.path)
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP,
                                     errno.EXDEV, errno.ENOSYS, errno.EACCES):
                    raise
            # No hard links here: exclusive create, then write (readers allow for the gap).
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _read(self) -> tuple[str | None, float]:
        try:
            st = os.stat(self.path)
            with open(self.path, "rb") as fh:
                return fh.read(65536).decode("utf-8", "replace"), st.st_mtime
        except FileNotFoundError:
            return None, 0.0
        except OSError:
            return "", 0.0

    @staticmethod
    def _parse(text: str) -> LockInfo | None:
        try:
            return LockInfo.from_json(text)
        except (ValueError, TypeError, RecursionError):
            return None

    def _judge(self, holder: LockInfo | None, mtime: float) -> str:
        """"live", "stale", "ours" (left by this process) or "young" (unparsable but maybe
        being written)."""
        now = time.time()
        if holder is None:
            return "young" if now - mtime < UNREADABLE_GRACE_S else "stale"
        if holder.host != socket.gethostname():
            fresh = now - max(holder.started, mtime) < self.stale_after_s
            return "live" if fresh else "stale"
        if holder.boot_id and boot_id() and holder.boot_id != boot_id():
            return "stale"                       # the machine was restarted since
        if holder.pid == os.getpid():
            return "ours"    # this very process (a lock it did not release): not another one
        if not pid_alive(holder.pid):
            return "stale"
        if holder.proc_start and process_start(holder.pid) not in ("", holder.proc_start):
            return "stale"                       # the pid now belongs to another program
        return "live"

    def _remove_stale(self, judged_text: str) -> bool:
        """Move the stale lock away, if it is still the one judged; True when removed."""
        aside = self.root / f"{LOCK_FILE}.stale.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        except OSError:
            return False
        try:
            with open(aside, "rb") as fh:
                moved = fh.read(65536).decode("utf-8", "replace")
            if moved != judged_text:
                # Someone replaced the stale lock with a live one meanwhile: put it back.
                with contextlib.suppress(OSError):
                    os.link(aside, self.path)
                return False
            return True
        finally:
            with contextlib.suppress(OSError):
                os.unlink(aside)

    # ------------------------------------------------------------------ holding
    def refresh(self) -> None:
        """Show that the holder is alive (long sessions on shared folders): touch the file."""
        if self.info is not None and self._is_ours():
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        """Remove the lock file if it is still ours."""
        if self.info is None:
            return
        try:
            if self._is_ours():
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            self.info = None

    def _is_ours(self) -> bool:
        text, _ = self._read()
        holder = self._parse(text or "")
        return holder is not None and self.info is not None and holder.token == self.info.token

    def __enter__(self) -> ProjectLock:
        status = self.acquire()
        if status.held_by_other:
            raise ProjectLockedError(status.message)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_lock(root: str | os.PathLike[str]) -> LockInfo | None:
    """Who holds the project in ``root`` according to its lock file (None: no readable
    lock). Says nothing about whether that holder is still alive."""
    p = Path(root) / LOCK_FILE
    try:
        return LockInfo.from_json(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, RecursionError):
        return None


@contextlib.contextmanager
def command_lock(root: str | os.PathLike[str], command: str, *,
                 writes: bool) -> Iterator[LockStatus]:
    """The lock check of a command-line command on the project in ``root``.

    ``writes=True`` (the command changes masks or segstudio.json, e.g. import-masks): the lock
    is held for the command's duration; if another live segstudio holds it, ProjectLockedError
    (one line for the user, exit status 2). ``writes=False`` (train, export: they read the
    project and write only their own output): the lock is neither taken nor required; the
    status says whether someone holds it, so the command can print ``status.message`` as a
    note."""
    lock = ProjectLock(root, purpose=command)
    if writes:
        status = lock.acquire()
        if status.held_by_other:
            raise ProjectLockedError(
                f"{status.message} Close it first; if it is no longer running, delete "
                f"{lock.path}.")
        try:
            yield status
        finally:
            lock.release()
        return
    text, mtime = lock._read()
    holder = lock._parse(text) if text else None
    live = text is not None and holder is not None and lock._judge(holder, mtime) == "live"
    if live:
        assert holder is not None
        yield LockStatus("held", lock, holder,
                         f"this project is open in {holder.describe()}; {command} uses what "
                         "is saved on disk now.")
    else:
        yield LockStatus("free", lock)
