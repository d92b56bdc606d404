"""An exclusive lock on an open file that the operating system drops when its holder ends, however it ends.

flock on POSIX, msvcrt on Windows. Used to tell a file some live process is writing from one a killed
process left behind: the state folder's server lock, the temp file of an image being saved.
"""

from __future__ import annotations

import os

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def lock(fd: int) -> None:
        """Take the lock without waiting; OSError when another process holds it."""
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def lock(fd: int) -> None:
        """Take the lock without waiting; OSError when another process holds it."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def held_elsewhere(path: os.PathLike | str) -> bool:
    """Whether another live process holds the lock on `path` (False when the file is gone)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        lock(fd)
    except OSError:
        return True
    finally:
        os.close(fd)  # drops the lock taken here, if any
    return False
