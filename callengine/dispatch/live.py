"""Assignments as they change, pushed to the console's pages (`GET /api/v1/assignments/events`):
a responder's list wakes, and beeps, the moment their agency gets a ticket, not at its next
poll. Fed by the Dispatcher's hooks, after each change's commit; each notice says only which
assignment changed, and the page reads it back through the API, whose rules decide what it
may see."""
from __future__ import annotations

from dataclasses import dataclass

from callengine.core.fanout import Fanout
from callengine.dispatch.model import Actor, Assignment
from callengine.tickets.model import Ticket
from callengine.web.sse import frame

EVENT = "assignment"


@dataclass(frozen=True)
class AssignmentNotice:
    agency: str
    frame: bytes          # encoded once for every page that hears it


class AssignmentFeed(Fanout):
    def on_dispatched(self, ticket: Ticket, assignments: list[Assignment]) -> None:
        for assignment in assignments:
            self._send(assignment, "dispatched")

    def on_changed(self, assignment: Assignment, before: str, actor: Actor) -> None:
        self._send(assignment, "changed")

    def _send(self, assignment: Assignment, what: str) -> None:
        self.send(AssignmentNotice(assignment.agency, frame(EVENT, {
            "what": what, "id": assignment.id, "ticket_number": assignment.ticket_number,
            "agency": assignment.agency, "status": assignment.status})))
