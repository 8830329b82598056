"""A ticket's whole story as one JSON object: the ticket with its call, call-backs, assignments
(each with its events, deliveries, attachments, escalations), rating, and all of it in one
ordered timeline. One source for the API and page (`tickets/http.py`) and the evidence export
(`evidence/`): what a court is given is what the console showed."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from callengine.calls.callback import Callback
from callengine.calls.record import CallRecord
from callengine.db.callbacks import CallbackRepository
from callengine.tickets.model import Ticket
from callengine.tickets.timeline import timeline

Assignments = Callable[[int], Awaitable[list[dict[str, Any]]]]   # a ticket's, with their timeline
Rating = Callable[[int], Awaitable[dict[str, Any] | None]]        # the citizen's (rating/)


@dataclass(frozen=True)
class TicketStory:
    callbacks: CallbackRepository | None = None
    assignments: Assignments | None = None
    rating: Rating | None = None

    async def of(self, ticket: Ticket, call: CallRecord | None) -> dict[str, Any]:
        story = {**ticket.to_json(), "calls": [call.to_json()] if call else [],
                 "location": call.location if call else None,
                 "callbacks": [c.to_json() for c in await self.callbacks_of([ticket.linkedid])],
                 "assignments": await self.assignments(ticket.id) if self.assignments is not None else [],
                 "rating": await self.rating(ticket.id) if self.rating is not None else None}
        return {**story, "timeline": timeline(story)}

    async def callbacks_of(self, linkedids: list[str]) -> list[Callback]:
        return await self.callbacks.for_calls(linkedids) if self.callbacks is not None else []
