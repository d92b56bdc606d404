"""Work the event loop hands off so it can keep answering requests: decoding megabyte frames from
workers. A small thread pool at a lower CPU priority, so on a busy machine the loop's thread runs first
(on Linux; elsewhere the threads keep the process's priority)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
BACKGROUND_NICE = 5


def lower_thread_priority(nice: int) -> None:
    """Give the calling thread a lower CPU priority. Per thread on Linux only (elsewhere it would slow the
    whole server); where it is refused the thread stays as it is."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:
            pass


_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="remgo-background",
                           initializer=lower_thread_priority, initargs=(BACKGROUND_NICE,))


async def in_background(fn: Callable[..., T], *args) -> T:
    return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)
