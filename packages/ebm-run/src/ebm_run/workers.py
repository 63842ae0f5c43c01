"""Worker processes of a run: a spawn pool whose workers die with the run that started them.

Needs only the standard library (a worker that imports this module alone does not load torch)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any


def die_with_parent(parent: int, then: Callable[..., Any] | None = None, *args: Any) -> None:
    """In a worker: be sent SIGTERM when the parent process dies, however it dies (SIGKILL included;
    Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere a no-op), so no worker outlives a killed run; then call
    ``then(*args)`` (the worker's own set-up), if given."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)
    if then is not None:
        then(*args)


def process_pool(workers: int, setup: Callable[..., Any] | None = None, *args: Any) -> ProcessPoolExecutor:
    """``workers`` spawned processes (a fresh interpreter each: no forked torch state) that die with this one,
    each running ``setup(*args)`` first."""
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=die_with_parent,
                               initargs=(os.getpid(), setup, *args))
