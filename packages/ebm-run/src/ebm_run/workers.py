"""Worker processes of a run: a spawn pool whose workers die with the run that started them, and the one
loop that hands it calls and collects their results.

Needs only the standard library (a worker that imports this module alone does not load torch)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterable
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


def run_in_processes(
    workers: int, fn: Callable[..., Any], calls: Iterable[tuple[Any, ...]], done: Callable[[int, Any], None],
    setup: Callable[..., Any] | None = None, *setup_args: Any,
) -> None:
    """Call ``fn(*args)`` for every ``args`` of ``calls`` in ``workers`` processes of :func:`process_pool`, in
    order, with at most two calls per worker sent ahead (``calls`` may be a generator making each argument
    tuple just before it is needed: its arrays are not all held at once); ``done(i, result)`` runs here as
    the i-th call finishes, in the order they finish. An error in a call, or an interrupt, cancels the calls
    not yet started, waits for the running ones, and is raised here."""
    from concurrent.futures import FIRST_COMPLETED, wait

    pending = iter(enumerate(calls))
    running: dict[Any, int] = {}
    with process_pool(workers, setup, *setup_args) as pool:
        try:
            while True:
                for i, args in pending:
                    running[pool.submit(fn, *args)] = i
                    if len(running) >= 2 * workers:
                        break
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    done(running.pop(fut), fut.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # don't start queued calls
            raise
