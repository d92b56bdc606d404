"""stdout belongs to the protocol: a private copy of fd 1 carries frames, fd 1 itself goes to stderr.

After `claim_stdout()` a stray `print()` or a C library writing to fd 1 lands in stderr, where logs go,
and can never corrupt a frame.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from typing import BinaryIO

import msgspec

from contract.rpc import encode_frame


def claim_stdout() -> BinaryIO:
    """Move the real stdout to a private, non-inheritable fd and point fd 1 at stderr."""
    sys.stdout.flush()
    private = os.dup(1)  # os.dup makes a non-inheritable fd: child processes never see the protocol
    os.dup2(2, 1)
    return os.fdopen(private, "wb", buffering=0)


class FrameWriter:
    """Thread-safe: the reader thread answers requests while the generation thread pushes progress."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def send(self, message: msgspec.Struct, attachments: Sequence[bytes] = ()) -> None:
        """One frame, then its attachments' bytes (a Response that lists their sizes), all under one lock."""
        frame = encode_frame(message)
        with self._lock:
            if self.closed:
                return
            try:
                self._stream.write(frame)
                for blob in attachments:
                    self._stream.write(blob)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                self.closed = True  # the orchestrator went away; end of stdin follows
