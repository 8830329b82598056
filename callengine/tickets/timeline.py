"""A ticket's story in one ordered list: the call, the ticket, the call-backs, each agency's
dispatch and status changes, its photos and documents, its SLA escalations, every notification
and its delivery, and the citizen's rating.

Built from the ticket's JSON (`tickets/story.py`) rather than from the tables: what the API
returns and what the page shows cannot disagree. Each entry is `{"at", "kind", ...facts}`;
the page words them (gettext), the API gives them as they are."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

Entry = dict[str, Any]
# the order of entries stamped in the same instant: the call before its ticket, a dispatch
# before its notifications, a status before the photos sent with it
KINDS = ("call.started", "call.answered", "call.ended", "ticket.opened", "callback", "ticket.wrapped_up",
         "dispatched", "status", "delivery", "attachment", "escalation", "rating.requested", "rating")


def timeline(story: dict[str, Any]) -> list[Entry]:
    """Every stamped fact of the ticket `story`, oldest first."""
    found = [e for e in (*_call(story), *_ticket(story), *_dispatch(story), *_rating(story)) if e["at"]]
    return sorted(found, key=lambda e: (datetime.fromisoformat(e["at"]), KINDS.index(e["kind"])))


def _call(story: dict[str, Any]) -> Iterator[Entry]:
    for call in story.get("calls", ()):
        yield {"at": call["started_at"], "kind": "call.started", "caller": call["caller"],
               "category": call["category"]}
        yield {"at": call["answered_at"], "kind": "call.answered", "who": call["agent"], "wait_s": call["wait_s"]}
        yield {"at": call["ended_at"], "kind": "call.ended", "disposition": call["disposition"],
               "talk_s": call["talk_s"]}


def _ticket(story: dict[str, Any]) -> Iterator[Entry]:
    yield {"at": story["created_at"], "kind": "ticket.opened", "number": story["number"]}
    for made in story.get("callbacks", ()):
        yield {"at": made["placed_at"], "kind": "callback", "who": made["account"], "number": made["number"],
               "outcome": made["outcome"]}
    yield {"at": story.get("wrapped_up_at"), "kind": "ticket.wrapped_up", "who": story.get("taker")}


def _dispatch(story: dict[str, Any]) -> Iterator[Entry]:
    for a in story.get("assignments", ()):
        agency = a["agency"]
        for event in a.get("events", ()):
            kind = "dispatched" if event["from_status"] is None else "status"
            yield {"at": event["at"], "kind": kind, "agency": agency, "who": event["actor"],
                   "from": event["from_status"], "to": event["to_status"], "note": event["note"],
                   "device": event["device"]}
        for sent in a.get("deliveries", ()):
            yield {"at": sent["sent_at"] or sent["created_at"], "kind": "delivery", "agency": agency,
                   "channel": sent["channel"], "recipient": sent["recipient"], "subject": sent["subject"],
                   "status": sent["status"], "attempts": sent["attempts"], "error": sent["last_error"]}
        for file in a.get("attachments", ()):
            yield {"at": file["uploaded_at"], "kind": "attachment", "agency": agency, "who": file["uploaded_by"],
                   "name": file["original_name"], "content_type": file["content_type"], "url": file["url"],
                   "thumbnail": file["thumbnail"], "sha256": file["sha256"], "gps": file["gps"]}
        for raised in a.get("escalations", ()):
            yield {"at": raised["raised_at"], "kind": "escalation", "agency": agency, "stage": raised["stage"],
                   "level": raised["level"], "delay_s": raised["delay_s"], "notified": raised["notified"]}


def _rating(story: dict[str, Any]) -> Iterator[Entry]:
    rating = story.get("rating") or {}
    for asked in rating.get("requests", ()):
        yield {"at": asked["created_at"], "kind": "rating.requested", "how": asked["kind"], "who": asked["created_by"],
               "status": asked["status"], "tries": asked["tries"]}
    if rating.get("score") is not None:
        yield {"at": rating["at"], "kind": "rating", "score": rating["score"], "source": rating["source"],
               "comment": rating["comment"], "who": rating["by"]}
