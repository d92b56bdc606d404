"""One server per state folder: an OS file lock on `<state_dir>/server.lock`.

Two servers on one job database would both resume the jobs left running and run them twice. The lock is
the operating system's (flock on POSIX, msvcrt on Windows): it is released when the process ends, however
it ends, so a crash never leaves a stale lock behind. The file holds the owner's pid for the message.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.common.file_lock import lock

LOCK_FILE = "server.lock"


class StateInUse(RuntimeError):
    pass


class StateLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise StateInUse naming the folder and the pid holding it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            lock(fd)
        except OSError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StateInUse(
                f"another remgo server (pid {owner}) is using the state folder {self.path.parent.resolve()}; "
                "stop it, or give this one its own --state-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

