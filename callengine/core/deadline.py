"""Wait for a query no longer than a call can afford, without cancelling the query.

Cancelling a database query mid-flight is unsafe: with aiosqlite under SQLAlchemy it can
leave SQLite locked or lose the driver's future, so the cancelling task waits forever. The
caller stops listening at the deadline; the query runs to its end unheard.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def answer_within(query: Coroutine[Any, Any, T], timeout_s: float) -> T:
    """The query's answer, or TimeoutError after timeout_s while the query carries on."""
    task = asyncio.ensure_future(query)
    task.add_done_callback(_retrieve)
    return await asyncio.wait_for(asyncio.shield(task), timeout_s)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A late failure nobody waits for any more is logged once, not left 'never retrieved'."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("a query answered after its deadline failed: %s", task.exception())
