"""The processes that decode and encode recordings, off the engine's event loop.

Low priority: in a surge of calls the IVR's event loop must keep the CPU, or callers overrun
the IVR budget. Tied to the engine's life: they die with it (even by kill -9, so a restarted
engine never piles up orphans) and leave Ctrl-C to it (no traceback of theirs on the terminal).
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1   # linux/prctl.h
NICENESS = 10


def recording_workers(count: int = 2) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_child_of, initargs=(os.getpid(),))


def _child_of(parent: int) -> None:
    os.nice(NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the engine decides when its workers stop
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the kernel ends us when the engine dies
    except (OSError, AttributeError):                 # not Linux: the engine's shutdown still ends us
        pass
    if os.getppid() != parent:                        # the engine died before prctl took effect
        os._exit(0)
