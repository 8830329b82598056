"""The citizen's rating, the console's side (no SQL, no aiohttp: stores and the engine are given).

- The call back (RatingCaller): each round (re-read from the database, so a restart loses
  nothing) the tickets that became selesai get a voice request, due `[rating] delay` after the
  last assignment closed; a due request within calling hours is called through the engine
  (`POST /api/live/rate`, the duty phone's machinery), the digit 1–5 the citizen pressed comes
  back on the live stream (`rating.result`) and is stored as the ticket's rating (source voice).
  No answer or no digit: another try `retry_after` later, `tries` in all, then given up. A
  ticket with no number to call (no callback number, the caller's ID withheld or not a number)
  is skipped, and the request says so.
- The one-time link (Ratings): a random token (only its SHA-256 stored) that expires; the
  public page /rate/{token} takes a score 1–5 and a comment once.

A ticket has one rating: whichever comes first (the call or the link) stands.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from callengine.accounts.throttle import Limit, address_key, retry_after
from callengine.calls.numbers import to_e164
from callengine.core.clock import Clock
from callengine.dispatch.voice import CallResults, SpokenMessages
from callengine.rating.config import RatingSettings

log = logging.getLogger(__name__)

VOICE, LINK = "voice", "link"
PENDING, CALLING, RATED, GIVEN_UP, SKIPPED = "pending", "calling", "rated", "given-up", "skipped"
OPEN, USED = "open", "used"
RATE_PATH = "/api/live/rate"
RATING_RESULT = "rating.result"
THANKS_TEXT = "Terima kasih atas penilaian Anda."
MAX_COMMENT = 1000
LOOKBACK = timedelta(days=2)       # tickets closed longer ago than this are not called (first start, outages)
RESULT_GRACE = timedelta(minutes=6)
ROUND_S = 5.0
LINK_LIMIT = Limit(20, timedelta(minutes=10))    # requests to /rate/… per address
Command = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Sleep = Callable[[float], Awaitable[None]]


class RatingError(Exception):
    """A rating refused; `status` is the HTTP status the page answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Rating:
    ticket_id: int
    score: int
    comment: str | None
    source: str
    by: str
    at: datetime
    peer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "comment": self.comment, "source": self.source, "by": self.by,
                "at": self.at.isoformat()}


@dataclass
class RatingRequest:
    id: int | None
    ticket_id: int
    kind: str
    status: str
    created_at: datetime
    created_by: str
    number: str | None = None
    token_hash: str | None = None
    tries: int = 0
    next_at: datetime | None = None
    expires_at: datetime | None = None
    last_error: str | None = None
    updated_at: datetime | None = None
    ticket_number: str | None = field(default=None, compare=False)   # read with it, not stored

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "number": self.number, "tries": self.tries,
                "next_at": self.next_at.isoformat() if self.next_at else None,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "last_error": self.last_error, "created_by": self.created_by,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Closed:
    """A selesai ticket with no call back scheduled yet."""
    ticket_id: int
    number: str
    caller: str | None
    callback_number: str | None
    closed_at: datetime


class RatingStore(Protocol):
    async def closed_unscheduled(self, since: datetime) -> list[Closed]: ...
    async def add_request(self, request: RatingRequest) -> int: ...
    async def due(self, now: datetime) -> list[RatingRequest]: ...
    async def claim(self, request_id: int, now: datetime) -> bool: ...
    async def settle(self, request_id: int, status: str, next_at: datetime | None, last_error: str | None,
                     now: datetime) -> None: ...
    async def unstick(self, now: datetime) -> int: ...
    async def ticket_status(self, ticket_id: int) -> str | None: ...
    async def rate(self, rating: Rating) -> bool: ...
    async def rating_of(self, ticket_id: int) -> Rating | None: ...
    async def requests_of(self, ticket_id: int) -> list[RatingRequest]: ...
    async def ticket_id(self, number: str) -> int | None: ...
    async def link(self, token_hash: str) -> RatingRequest | None: ...
    async def use_link(self, request_id: int, rating: Rating, now: datetime) -> bool: ...


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def message_text(ticket_number: str, city: str) -> str:
    return (f"Terima kasih telah menghubungi 112 {city}. Laporan Anda nomor {ticket_number} telah selesai "
            "ditangani. Nilai layanan kami: tekan 1 sampai 5.")


def number_to_call(callback_number: str | None, caller: str | None) -> str | None:
    """The ticket's callback number, else the caller's: E.164, or None (no valid caller ID)."""
    for candidate in (callback_number, caller):
        if candidate and (e164 := to_e164(candidate)) is not None:
            return e164
    return None


def score_of(raw: object) -> int:
    if isinstance(raw, str) and raw.strip() in ("1", "2", "3", "4", "5"):
        return int(raw.strip())
    raise RatingError(400, "bad_score", "score: a whole number from 1 to 5")


def comment_of(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise RatingError(400, "bad_comment", "comment: text")
    text = raw.strip()
    if len(text) > MAX_COMMENT:
        raise RatingError(400, "bad_comment", f"comment: at most {MAX_COMMENT} characters")
    return text or None


class AddressLimiter:
    """Requests per client address within a window (IPv6 by its /64, as login throttling counts),
    kept in memory: the public rating page is one console's."""

    def __init__(self, clock: Clock, limit: Limit = LINK_LIMIT) -> None:
        self.clock, self.limit = clock, limit
        self.seen: dict[str, deque[datetime]] = {}

    def check(self, peer: str | None) -> timedelta | None:
        """None, and the request counted; or how long this address must wait."""
        key, now = address_key(peer) or "address:?", self.clock.now()
        times = self.seen.setdefault(key, deque())
        while times and now - times[0] >= self.limit.window:
            times.popleft()
        wait = retry_after(times, self.limit, now)
        if wait is None:
            times.append(now)
        if len(self.seen) > 10000:       # a flood of addresses: forget the idle ones
            for stale in [k for k, v in self.seen.items() if not v]:
                del self.seen[stale]
        return wait


class Ratings:
    """The ticket's rating: the one-time links, the page's answers, the ticket's JSON."""

    def __init__(self, store: RatingStore, settings: RatingSettings, clock: Clock) -> None:
        self.store, self.settings, self.clock = store, settings, clock

    async def new_link(self, number: str, by: str) -> tuple[str, datetime]:
        """A token for the ticket's rating page (only its hash is kept) and when it expires."""
        ticket_id = await self.store.ticket_id(number)
        if ticket_id is None:
            raise RatingError(404, "not_found", f"no ticket {number!r}")
        if await self.store.rating_of(ticket_id) is not None:
            raise RatingError(409, "rated", f"{number} is rated already")
        token, now = secrets.token_urlsafe(32), self.clock.now()
        expires = now + timedelta(days=self.settings.link_days)
        await self.store.add_request(RatingRequest(None, ticket_id, LINK, OPEN, now, by, token_hash=token_hash(token),
                                                   expires_at=expires))
        return token, expires

    async def open_link(self, token: str) -> RatingRequest:
        """The link's request if it may still be used; RatingError 404 (unknown) or 410 (used,
        expired, or the ticket rated meanwhile)."""
        if not token or len(token) > 100:
            raise RatingError(404, "unknown", "no such rating link")
        found = await self.store.link(token_hash(token))
        if found is None:
            raise RatingError(404, "unknown", "no such rating link")
        if found.status != OPEN:
            raise RatingError(410, "used", "this rating link has been used")
        if found.expires_at is not None and found.expires_at <= self.clock.now():
            raise RatingError(410, "expired", "this rating link has expired")
        if await self.store.rating_of(found.ticket_id) is not None:
            raise RatingError(410, "rated", "this report has been rated already")
        return found

    async def rate_by_link(self, token: str, score: object, comment: object, peer: str | None) -> Rating:
        request = await self.open_link(token)
        rating = Rating(request.ticket_id, score_of(score), comment_of(comment), LINK, LINK, self.clock.now(), peer)
        assert request.id is not None
        if not await self.store.use_link(request.id, rating, self.clock.now()):
            raise RatingError(410, "used", "this rating link has been used")
        log.info("ticket rated by link", extra={"ticket_id": rating.ticket_id, "score": rating.score})
        return rating

    async def of_ticket(self, ticket_id: int) -> dict[str, Any] | None:
        """The ticket's JSON `rating`: the score (or null) and the requests made for it."""
        rating = await self.store.rating_of(ticket_id)
        requests = await self.store.requests_of(ticket_id)
        if rating is None and not requests:
            return None
        return {**(rating.to_json() if rating else {"score": None}), "requests": [r.to_json() for r in requests]}


class RatingCaller:
    """The call back's rounds (see the module's docstring)."""

    def __init__(self, settings: RatingSettings, store: RatingStore, messages: SpokenMessages, command: Command,
                 results: CallResults, clock: Clock, zone: ZoneInfo, city: str, sleep: Sleep = asyncio.sleep) -> None:
        self.settings, self.store, self.messages, self.command = settings, store, messages, command
        self.results, self.clock, self.zone, self.city, self.sleep = results, clock, zone, city, sleep
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self, every: float = ROUND_S) -> None:
        if not self.settings.voice:
            return
        try:
            await self.store.unstick(self.clock.now())
        except Exception as exc:  # the database away: the rounds try again
            log.warning("rating calls not restored: %s", exc)
        follow = asyncio.create_task(self.results.follow(self.on_event), name="rating results")
        try:
            while True:
                try:
                    await self.round()
                except Exception as exc:  # the database away: the next round reads it again
                    log.warning("rating round failed: %s", exc)
                await self.sleep(every)
        finally:
            follow.cancel()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(follow, *self.tasks, return_exceptions=True)

    async def on_event(self, name: str, data: dict[str, Any]) -> None:
        if name == RATING_RESULT:
            self.results.offer(data)

    async def round(self) -> list[asyncio.Task[None]]:
        """Schedule the newly closed tickets, start the due calls (each in its own task)."""
        now = self.clock.now()
        for closed in await self.store.closed_unscheduled(now - LOOKBACK):
            number = number_to_call(closed.callback_number, closed.caller)
            request = RatingRequest(None, closed.ticket_id, VOICE, PENDING if number else SKIPPED, now, "system",
                                    number=number, next_at=closed.closed_at + self.settings.delay if number else None,
                                    last_error=None if number else "no valid caller ID to call", updated_at=now)
            await self.store.add_request(request)
            log.info("rating call scheduled" if number else "rating call skipped: no valid caller ID",
                     extra={"ticket": closed.number, "at": request.next_at.isoformat() if request.next_at else None})
        started = []
        for request in await self.store.due(now):
            task = await self._start(request, now)
            if task is not None:
                started.append(task)
        return started

    async def _start(self, request: RatingRequest, now: datetime) -> asyncio.Task[None] | None:
        assert request.id is not None
        if await self.store.rating_of(request.ticket_id) is not None:
            await self.store.settle(request.id, RATED, None, "rated by link", now)
            return None
        if await self.store.ticket_status(request.ticket_id) != "selesai":     # reopened meanwhile: wait
            await self.store.settle(request.id, PENDING, now + self.settings.delay + self.settings.retry_after,
                                    "the ticket is no longer selesai", now)
            return None
        opening = self.settings.open_at(now, self.zone)
        if opening > now:
            await self.store.settle(request.id, PENDING, opening, request.last_error, now)
            return None
        if not await self.store.claim(request.id, now):
            return None
        task = asyncio.create_task(self.call(request), name=f"rating call {request.ticket_number}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def call(self, request: RatingRequest) -> None:
        """One try: the engine calls, the digit is stored; then rated, another try, or given up."""
        assert request.id is not None and request.number is not None
        tries, outcome, error = request.tries + 1, "failed", None
        try:
            prompt = await self.messages.wav(message_text(request.ticket_number or "", self.city))
            thanks = await self.messages.wav(THANKS_TEXT)
            reply = await self.command(RATE_PATH, {"ticket": request.ticket_number, "phone": request.number,
                                                   "prompt": prompt, "confirm": thanks})
            result = await self.results.wait(str(reply["call_id"]), self.settings.ring + RESULT_GRACE)
            outcome = str(result.get("result", "failed"))
            error = outcome + (f" ({result['cause']})" if result.get("cause") else "")
            if outcome == RATED and await self._store(request, result):
                error = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # espeak-ng, the engine away or refusing: this try failed
            error = f"{type(exc).__name__}: {exc}"
            log.warning("rating call not placed: %s", exc, extra={"ticket": request.ticket_number})
        now = self.clock.now()
        if error is None:
            await self.store.settle(request.id, RATED, None, None, now)
        elif tries < self.settings.tries:
            await self.store.settle(request.id, PENDING, now + self.settings.retry_after, error, now)
        else:
            await self.store.settle(request.id, GIVEN_UP, None, error, now)
            log.warning("rating call given up", extra={"ticket": request.ticket_number, "tries": tries,
                                                       "error": error})
        log.info("rating call round", extra={"ticket": request.ticket_number, "result": outcome, "try": tries})

    async def _store(self, request: RatingRequest, result: dict[str, Any]) -> bool:
        try:
            score = score_of(str(result.get("score")))
        except RatingError:
            return False
        rating = Rating(request.ticket_id, score, None, VOICE, request.number or "", self.clock.now())
        if await self.store.rate(rating):
            log.info("ticket rated by phone", extra={"ticket": request.ticket_number, "score": score})
        return True
