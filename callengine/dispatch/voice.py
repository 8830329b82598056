"""The duty phone's voice call, the console's side. A ticket dispatched (Dispatcher.dispatch's
`on_dispatched` hook, after its commit), each agency with duty phones is called in the
background: the message is spoken in Indonesian with espeak-ng and cached under runtime/voice/
by its text's hash (8 kHz mono 16-bit WAV, as Asterisk plays it); the engine is asked to call
(`POST /api/live/notify`) and tells, on its live stream, when 1 was pressed
(`dispatch.phone_accepted`: the assignment is accepted through Dispatcher.change, as the phone,
device "duty phone") and how each call ended (`dispatch.phone_result`).

Rounds: each duty phone of the agency in order (the first first) until one accepts; no phone
accepted (no answer, busy, no digit, the engine away) → another round `[notify]
voice_retry_after` later, `voice_retries` times; then the delivery is failed. A round stops as
soon as the assignment is no longer diteruskan (a responder accepted it in the browser). Each
phone called has its row in the delivery log (`notifications`: channel voice, the number,
pending → sent when it accepted, or failed, with its attempts and last error).

Never in the way of dispatch: the hook only starts tasks; a failing engine, phone or speech
fails that delivery alone, logged. The console owns people's work: the engine only reports what
the phone did, the console decides and writes (DESIGN.md: the console never speaks AMI, the
engine never writes people's work).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from callengine.core.clock import Clock
from callengine.core.fanout import Fanout
from callengine.dispatch.config import VoiceSettings
from callengine.dispatch.model import ACCEPTED, FORWARDED, Actor, Assignment, DispatchError, DispatchRules
from callengine.dispatch.sla import Notification
from callengine.tickets.model import Ticket

log = logging.getLogger(__name__)

CHANNEL = "voice"
PENDING, SENT, FAILED = "pending", "sent", "failed"
PHONE_ACCEPTED, PHONE_RESULT = "dispatch.phone_accepted", "dispatch.phone_result"
NOTIFY_PATH = "/api/live/notify"
DEVICE = "duty phone"
ACCEPT_NOTE = "diterima lewat telepon piket (tekan 1)"
CONFIRM_TEXT = "Terima kasih. Tugas diterima."
RESULT_GRACE = timedelta(minutes=6)      # after its ring time, the longest a call's result may take
EARLY_KEPT = 200                         # results that came before their call's reply, kept by call id
Command = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Speak = Callable[[str, str, Path], None]
Sleep = Callable[[float], Awaitable[None]]


def message_text(ticket: Ticket, city: str) -> str:
    """The message as written (the delivery log's body): what, where, which ticket, what to press."""
    kind = ticket.incident_type or ""
    category = "" if kind.lower().startswith(_title(ticket.category).lower() or "\0") else _title(ticket.category)
    what = ", ".join(x for x in (category, kind) if x) or "Laporan darurat"
    place = " ".join(x for x in (
        f"Alamat: {ticket.address.strip().rstrip('.')}." if ticket.address and ticket.address.strip() else "",
        f"Kelurahan {ticket.kelurahan}," if ticket.kelurahan else "",
        f"Kecamatan {ticket.kecamatan}." if ticket.kecamatan else "") if x).rstrip(",")
    if place.endswith(","):
        place = place[:-1] + "."
    parts = [f"Panggilan darurat 112 {city}.", f"Tiket {ticket.number}.", f"{what}.", place,
             "Tekan 1 untuk menerima, 2 untuk mengulang."]
    return " ".join(p for p in parts if p)


# an address's abbreviations as a person says them (espeak-ng reads "Jl." as "je el", "No." as "no")
SAID_IN_FULL = {"Jl": "Jalan", "Jln": "Jalan", "Gg": "Gang", "No": "Nomor", "Kel": "Kelurahan", "Kec": "Kecamatan",
                "Kab": "Kabupaten", "Ds": "Desa", "Perum": "Perumahan", "Blk": "Blok", "Komp": "Kompleks"}
ABBREVIATION = re.compile(r"\b(" + "|".join(SAID_IN_FULL) + r")\.", re.IGNORECASE)


def spoken(text: str) -> str:
    """The message as espeak-ng should say it: a ticket number letter by letter and in groups
    (SMD-20261202-0001 → "S M D, 2026 12 02, nomor 1"), 112 digit by digit, a slash as "atau",
    an address's abbreviations in full ("Jl." → "Jalan")."""
    def ticket(found: re.Match[str]) -> str:
        code, day, seq = found.group(1), found.group(2), found.group(3)
        return f"{' '.join(code)}, {day[:4]} {day[4:6]} {day[6:]}, nomor {int(seq)}"
    text = re.sub(r"\b([A-Z]{2,8})-([0-9]{8})-([0-9]{1,6})\b", ticket, text)
    text = ABBREVIATION.sub(lambda found: SAID_IN_FULL[found[1].capitalize()], text)
    text = re.sub(r"\b112\b", "1 1 2", text)         # "satu satu dua", as the number is known, not "seratus dua belas"
    return re.sub(r"\s*/\s*", " atau ", text)


def _title(category: str | None) -> str:
    return category.replace("_", " ").capitalize() if category else ""


class SpokenMessages:
    """Texts spoken once into runtime/voice/<hash>.wav and kept: the same text is the same file.
    The engine is given the file's name only, and checks it is there."""

    def __init__(self, folder: Path, speak: Speak | None = None) -> None:
        self.folder = folder
        self.speak = speak or _espeak

    @staticmethod
    def name(text: str) -> str:
        return hashlib.sha256(spoken(text).encode()).hexdigest()[:32] + ".wav"

    async def wav(self, text: str) -> str:
        name = self.name(text)
        if not (self.folder / name).is_file():
            await asyncio.to_thread(self._make, spoken(text), self.folder / name)
        return name

    def _make(self, text: str, target: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".wav", dir=self.folder)   # written whole, then renamed
        os.close(fd)
        try:
            self.speak(text, "id", Path(tmp))
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _espeak(text: str, language: str, target: Path) -> None:
    from callengine.audio.prompts import speak    # pydub loads only when a message is spoken
    speak(text, language, target)


class DeliveryLog(Protocol):
    async def open(self, assignment_id: int, notification: Notification) -> int: ...
    async def update(self, row_id: int, status: str, attempts: int, last_error: str | None,
                     sent_at: datetime | None) -> None: ...


class Assignments(Protocol):
    """What the notifier needs of the dispatch service: an assignment's status now, and the
    phone's acceptance through the same path as a person's (Dispatcher.change)."""
    async def status(self, assignment_id: int) -> str | None: ...
    async def accept(self, assignment_id: int, agency: str, phone: str) -> None: ...


class DispatcherAssignments:
    """Assignments on the real Dispatcher: the phone acts as a responder of its agency."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher

    async def status(self, assignment_id: int) -> str | None:
        found = await self.dispatcher.stores.assignments.get(assignment_id)
        return found.status if found else None

    async def accept(self, assignment_id: int, agency: str, phone: str) -> None:
        actor = Actor(f"phone:{phone}", "responder", agency, None, DEVICE)
        await self.dispatcher.change(assignment_id, ACCEPTED, ACCEPT_NOTE, actor)


@dataclass
class _Delivery:
    row: int | None
    attempts: int = 0
    last_error: str | None = None


class CallResults:
    """The engine's word on its spoken calls (duty phones, rating calls), by call id: each result
    event of the live stream is handed to the one waiting for that call, or kept a while when it
    came before the command's reply named the call."""

    def __init__(self, feed: Fanout, sleep: Sleep = asyncio.sleep) -> None:
        self.feed, self.sleep = feed, sleep
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._early: dict[str, dict[str, Any]] = {}

    async def follow(self, on_event: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        """Every event of the engine's stream (through the console's link) to `on_event`, for ever."""
        while True:
            queue = self.feed.listen()
            try:
                while (event := await queue.get()) is not None:
                    await on_event(getattr(event, "name", ""), getattr(event, "data", {}))
            finally:
                self.feed.leave(queue)
            await self.sleep(0.5)    # cut off or closed: listen again

    def offer(self, data: dict[str, Any]) -> None:
        call = str(data.get("call_id", ""))
        waiter = self._waiting.pop(call, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(data)
        elif waiter is None:     # before the engine's reply to its command reached us
            self._early[call] = data
            while len(self._early) > EARLY_KEPT:
                self._early.pop(next(iter(self._early)))

    async def wait(self, call: str, limit: timedelta) -> dict[str, Any]:
        if call in self._early:
            return self._early.pop(call)
        waiter = self._waiting[call] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, limit.total_seconds())
        except asyncio.TimeoutError:
            return {"result": FAILED, "cause": "no result from the engine"}
        finally:
            self._waiting.pop(call, None)


class VoiceNotifier:
    def __init__(self, settings: VoiceSettings, rules: DispatchRules, city: str, messages: SpokenMessages,
                 command: Command, feed: Fanout, assignments: Assignments, deliveries: DeliveryLog | None,
                 clock: Clock, sleep: Sleep = asyncio.sleep) -> None:
        self.settings, self.rules, self.city, self.messages = settings, rules, city, messages
        self.command, self.feed, self.assignments, self.deliveries = command, feed, assignments, deliveries
        self.clock, self.sleep = clock, sleep
        self.tasks: set[asyncio.Task[None]] = set()
        self.results = CallResults(feed, sleep)
        # one call at a time to each duty phone: a burst of dispatches to one agency waits its
        # turn at the phone instead of ringing it busy and spending its retries (a flood of 30
        # delivered 3 without this)
        self.lines: dict[str, asyncio.Lock] = {}

    def on_dispatched(self, ticket: Ticket, assignments: list[Assignment]) -> None:
        """Dispatcher's hook, after the commit: one background delivery per agency with duty
        phones. Returns at once."""
        if not self.settings.enabled:
            return
        for assignment in assignments:
            agency = self.rules.agencies.get(assignment.agency)
            if agency is None or not agency.duty_phones:
                continue
            task = asyncio.create_task(self.deliver(ticket, assignment, agency.duty_phones),
                                       name=f"duty phone {assignment.agency} {assignment.id}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        """Follow the engine's stream (through the console's link) for the phones' word."""
        try:
            await self.results.follow(self.on_event)
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def on_event(self, name: str, data: dict[str, Any]) -> None:
        if name == PHONE_ACCEPTED or (name == PHONE_RESULT and data.get("result") == "accepted"):
            await self._accept(data)
        if name == PHONE_RESULT:
            self.results.offer(data)

    async def deliver(self, ticket: Ticket, assignment: Assignment, phones: tuple[str, ...]) -> str:
        """Call the agency's duty phones round after round until one accepts; SENT or FAILED."""
        text = message_text(ticket, self.city)
        rows: dict[str, _Delivery] = {}
        try:
            prompt, confirm = await self.messages.wav(text), await self.messages.wav(CONFIRM_TEXT)
        except Exception as exc:  # espeak-ng or the disk: this delivery fails, dispatch stands
            log.warning("duty phone message not spoken: %s", exc, extra={"assignment": assignment.id})
            for phone in phones:
                rows[phone] = _Delivery(await self._open(assignment, phone, text), 0, f"speech: {exc}")
            await self._close(rows, None)
            return FAILED
        for round_ in range(1 + self.settings.retries):
            if round_:
                await self.sleep(self.settings.retry_after.total_seconds())
            for phone in phones:
                delivery = rows.get(phone) or rows.setdefault(phone, _Delivery(
                    await self._open(assignment, phone, text)))
                async with self.lines.setdefault(phone, asyncio.Lock()):
                    if not await self._still_waiting(assignment):     # accepted while it waited its turn
                        await self._close(rows, None, "calling stopped: the assignment is no longer diteruskan")
                        return FAILED
                    result = await self._ring(ticket, assignment, phone, prompt, confirm, delivery)
                if result == "accepted":
                    await self._close(rows, phone)
                    log.info("duty phone delivery sent", extra={"assignment": assignment.id, "phone": phone})
                    return SENT
        await self._close(rows, None)
        log.warning("duty phone delivery failed", extra={"assignment": assignment.id, "agency": assignment.agency,
                                                         "ticket": ticket.number, "phones": list(phones)})
        return FAILED

    async def _ring(self, ticket: Ticket, assignment: Assignment, phone: str, prompt: str, confirm: str,
                    delivery: _Delivery) -> str:
        delivery.attempts += 1
        await self._update(delivery, PENDING, None)
        body = {"assignment_id": assignment.id, "agency": assignment.agency, "phone": phone,
                "ticket": ticket.number, "prompt": prompt, "confirm": confirm}
        try:
            reply = await self.command(NOTIFY_PATH, body)
            call = str(reply["call_id"])
        except Exception as exc:  # EngineError (away, refused) or a reply without its call
            delivery.last_error = f"engine: {exc}"
            log.warning("duty phone not called: %s", exc, extra={"assignment": assignment.id, "phone": phone})
            return FAILED
        result = await self.results.wait(call, self.settings.ring + RESULT_GRACE)
        outcome = str(result.get("result", FAILED))
        delivery.last_error = None if outcome == "accepted" else (
            outcome + (f" ({result['cause']})" if result.get("cause") else ""))
        log.info("duty phone round", extra={"assignment": assignment.id, "phone": phone, "call": call,
                                            "result": outcome, "attempt": delivery.attempts})
        return outcome

    async def _accept(self, data: dict[str, Any]) -> None:
        try:
            assignment_id, agency, phone = int(data["assignment_id"]), str(data["agency"]), str(data["phone"])
        except (KeyError, TypeError, ValueError):
            log.warning("duty phone event without its assignment: %s", data)
            return
        try:
            if await self.assignments.status(assignment_id) != FORWARDED:
                return     # accepted already (this event's twin, or a responder), or refused
            await self.assignments.accept(assignment_id, agency, phone)
        except DispatchError as exc:   # moved meanwhile: the person's move stands
            log.info("duty phone's acceptance not applied: %s", exc, extra={"assignment": assignment_id})
            return
        except Exception as exc:  # the database away: the phone's next round asks again
            log.warning("duty phone's acceptance not stored: %s", exc, extra={"assignment": assignment_id})
            return
        log.info("assignment accepted by phone", extra={"assignment": assignment_id, "agency": agency,
                                                        "phone": phone})

    async def _still_waiting(self, assignment: Assignment) -> bool:
        try:
            return await self.assignments.status(assignment.id) == FORWARDED
        except Exception as exc:  # the database away: calling is what the phone channel is for
            log.warning("assignment status unknown, calling all the same: %s", exc)
            return True

    async def _open(self, assignment: Assignment, phone: str, text: str) -> int | None:
        if self.deliveries is None:
            return None
        note = Notification(CHANNEL, phone, f"{assignment.ticket_number} {assignment.agency}", text, PENDING,
                            self.clock.now())
        try:
            return await self.deliveries.open(assignment.id, note)
        except Exception as exc:  # the log away: the call goes on
            log.warning("delivery log unavailable: %s", exc)
            return None

    async def _update(self, delivery: _Delivery, status: str, sent_at: datetime | None) -> None:
        if self.deliveries is None or delivery.row is None:
            return
        try:
            await self.deliveries.update(delivery.row, status, delivery.attempts, delivery.last_error, sent_at)
        except Exception as exc:  # the log away: the call goes on
            log.warning("delivery log not updated: %s", exc)

    async def _close(self, rows: dict[str, _Delivery], accepted_by: str | None, stopped: str | None = None) -> None:
        """The phone that accepted: sent. The others: failed, with their last error (and why
        calling stopped, when the assignment moved on without the phone)."""
        now = self.clock.now()
        for phone, delivery in rows.items():
            if phone == accepted_by:
                await self._update(delivery, SENT, now)
                continue
            if stopped:
                delivery.last_error = "; ".join(filter(None, (delivery.last_error, stopped)))
            await self._update(delivery, FAILED, None)
