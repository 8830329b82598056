"""The ticket's timeline: every stamped fact of its story, oldest first; facts of one instant in
the order they happen (the call before its ticket, a dispatch before its notifications); what
has no time yet (a call still going, a ticket not finished, a rating not given) left out."""
from __future__ import annotations

from typing import Any

from callengine.tickets.timeline import timeline

T = "2026-12-02T08:00:{:02d}+00:00"


def story() -> dict[str, Any]:
    return {
        "number": "SAM-20261202-0001", "created_at": T.format(30), "wrapped_up_at": None, "taker": "taker1",
        "calls": [{"started_at": T.format(0), "answered_at": T.format(8), "ended_at": T.format(30),
                   "caller": "+6281299990001", "category": "kebakaran", "agent": "taker1", "wait_s": 8.0,
                   "disposition": "answered", "talk_s": 22.0}],
        "callbacks": [],
        "assignments": [{
            "agency": "DAMKAR",
            "events": [{"at": T.format(40), "actor": "taker1", "from_status": None, "to_status": "diteruskan",
                        "note": "butuh air", "device": "Chromium"},
                       {"at": "2026-12-02T16:00:55+08:00", "actor": "phone:+62541741113", "from_status": "diteruskan",
                        "to_status": "diterima", "note": "", "device": "duty phone"}],
            "deliveries": [{"channel": "voice", "recipient": "+62541741113", "subject": "s", "status": "sent",
                            "attempts": 1, "last_error": None, "created_at": T.format(40), "sent_at": T.format(50)},
                           {"channel": "email", "recipient": "kepala@damkar", "subject": "s", "status": "pending",
                            "attempts": 0, "last_error": None, "created_at": T.format(40), "sent_at": None}],
            "attachments": [{"uploaded_at": T.format(58), "uploaded_by": "dmk1", "original_name": "api.jpg",
                             "content_type": "image/jpeg", "url": "/api/v1/attachments/1",
                             "thumbnail": "/api/v1/attachments/1/thumbnail", "sha256": "ab", "gps": None}],
            "escalations": []}],
        "rating": {"score": None, "requests": [{"kind": "voice", "created_by": "system", "status": "pending",
                                                "tries": 0, "created_at": T.format(59)}]},
    }


def test_each_fact_in_order_and_those_of_one_instant_as_they_happen() -> None:
    found = timeline(story())
    assert [(e["kind"], e["at"][11:19]) for e in found] == [
        ("call.started", "08:00:00"), ("call.answered", "08:00:08"), ("call.ended", "08:00:30"),
        ("ticket.opened", "08:00:30"), ("dispatched", "08:00:40"), ("delivery", "08:00:40"),
        ("delivery", "08:00:50"), ("status", "16:00:55"), ("attachment", "08:00:58"), ("rating.requested", "08:00:59")]
    accepted = found[7]
    assert (accepted["who"], accepted["device"], accepted["to"]) == ("phone:+62541741113", "duty phone", "diterima")
    assert found[5]["channel"] == "email" and found[5]["status"] == "pending"


def test_a_call_still_going_and_a_rating_given_show_as_they_are() -> None:
    going = story()
    going["calls"][0].update(answered_at=None, ended_at=None)
    going["rating"] = {"score": 4, "comment": "cepat", "source": "voice", "by": "+6281299990001",
                       "at": T.format(59), "requests": []}
    kinds = [e["kind"] for e in timeline(going)]
    assert "call.answered" not in kinds and "call.ended" not in kinds
    assert kinds[-1] == "rating" and timeline(going)[-1]["score"] == 4
