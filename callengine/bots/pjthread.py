"""The one thread that touches pjsip.

pjsua2-pybind11 never releases the GIL inside a pjsua2 call, so a pj worker thread holding a
pjsip lock while its Python callback waits for the GIL, and a Python thread holding the GIL while
its pjsua2 call waits for that lock, deadlock each other. pjsip therefore runs without worker
threads (uaConfig.threadCnt = 0, media on the SIP ioqueue) and our "pjsua" thread polls it
through ctypes, which drops the GIL while it waits. Every pjsua2 call and every callback happens
on that thread; the public methods of the bots hand work to it and wait on threading primitives,
so plain synchronous code on any thread may use them, with no thread registration. The only
other pjsip thread, the conference clock of the null sound device, never enters Python.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from callengine.bots.native import Native

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_MS = 5            # longest a hand-off waits for the poller


class NotYet(Exception):
    """Raised by a job on the pj thread to be run again after delay seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


def guard(fn: Callable[..., None], *args: Any) -> None:
    """Run a callback body: an exception escaping into pjsip's C frames would abort the process."""
    try:
        fn(*args)
    except Exception:
        log.exception("SIP bot callback %s failed", getattr(fn, "__qualname__", fn))


class PjThread:
    """The one thread that touches pjsip: runs handed-over jobs and timers, polls pjsua between."""

    def __init__(self, native: Native) -> None:
        self._native = native
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any] | None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._polling = False  # set once pjsua runs, cleared before libDestroy
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="pjsua", daemon=True)
        self._thread.start()

    @property
    def polling(self) -> bool:
        return self._polling

    @property
    def stopped(self) -> bool:
        return self._stopped

    def start_polling(self) -> None:
        """pjsua runs: poll it between jobs (pj thread)."""
        self._polling = True

    def stop_polling(self) -> None:
        """pjsua is about to be destroyed: poll it no more (pj thread)."""
        self._polling = False

    def stop(self) -> None:
        """End the thread once the running job returns; later jobs are refused (pj thread)."""
        self._stopped = True

    def poll(self) -> None:
        """Let pjsua handle events for up to POLL_MS (pj thread)."""
        self._native.handle_events(POLL_MS)

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, fn: Callable[[], T], timeout: float = 15.0) -> T:
        """Run fn on the pj thread; return its result or raise its exception here."""
        if self.on_thread():
            return fn()
        if self._stopped:
            raise RuntimeError("the SIP bots are closed")
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.done():
                raise
            raise TimeoutError(f"the pjsua thread did not run a job within {timeout}s") from None

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run fn on the pj thread after delay seconds (call from the pj thread)."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), fn))

    def _run(self) -> None:
        while not self._stopped:
            self._drain()
            self._fire_timers()
            if self._polling:
                self.poll()
            elif not self._stopped:
                self._execute(*self._jobs.get())  # idle (before start, after close) until a job
        self._refuse_rest()

    def _drain(self) -> None:
        while not self._stopped:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            self._execute(*job)

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now and not self._stopped:
            guard(heapq.heappop(self._timers)[2])

    def _execute(self, fn: Callable[[], Any], future: Future[Any] | None) -> None:
        if future is None:
            guard(fn)
        elif future.set_running_or_notify_cancel():
            self._settle(fn, future)

    def _settle(self, fn: Callable[[], Any], future: Future[Any]) -> None:
        try:
            future.set_result(fn())
        except NotYet as wait:
            self.later(wait.delay, lambda: self._settle(fn, future))
        except Exception as exc:
            traceback.clear_frames(exc.__traceback__)  # free the frames' pj objects here
            future.set_exception(exc)

    def _refuse_rest(self) -> None:
        while True:
            try:
                _, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if future is not None and future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("the SIP bots are closed"))
