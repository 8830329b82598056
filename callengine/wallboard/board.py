"""What the wallboard shows, composed from what others keep: the calls in progress (the engine's
live view, through the console's link), the queue members (the engine's queue status), the
day's figures (queueing.stats.day_stats over our records), the open assignments and their SLA
clocks, and the alerts. Pure functions: the service gathers, these compose."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callengine.calls.record import CallRecord
from callengine.dispatch.model import ACCEPTED, FORWARDED, Assignment

QUEUED, RINGING, ANSWERED = "queued", "ringing", "answered"
AT_RISK_SHARE = 0.5            # an SLA stage is at risk once half its time is gone


@dataclass(frozen=True)
class Floor:
    """The present, as gathered: live calls, queue status, and the pauses' starts by account."""
    calls: list[dict[str, Any]]
    queues: dict[str, Any] | None          # queueing.status.status_json, None when the engine is away
    paused_since: dict[str, str]
    wrapping_up: dict[str, str] = field(default_factory=dict)   # account → since: a ticket not finished


def waiting(calls: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Callers in a queue not yet answered, longest wait first, each with its prank warning (the
    IVR's: this number was marked prank before)."""
    found = [{"linkedid": c["linkedid"], "caller": c.get("caller"), "since": c["started_at"],
              "category": c.get("category"), "priority": c.get("priority"), "ringing": c.get("ringing") or [],
              "prank": bool((c.get("notes") or {}).get("prank_history"))}
             for c in calls if c.get("state") in (QUEUED, RINGING)]
    return sorted(found, key=lambda w: w["since"])


def takers(floor: Floor) -> list[dict[str, Any]]:
    """Every queue member (the shift's takers and whoever is logged in), with one state:
    talking (with whom, since), ringing, paused (why, since), wrap-up (a call ended, its ticket
    not finished yet), not registered, or available."""
    talking = {c["agent"]: c for c in floor.calls if c.get("state") == ANSWERED and c.get("agent")}
    ringing = {account: c for c in floor.calls if c.get("state") == RINGING for account in c.get("ringing") or []}
    members: dict[str, dict[str, Any]] = {}
    for queue in (floor.queues or {}).get("queues", []):
        for m in queue["members"]:
            members.setdefault(m["account"], m)
    rows = []
    for account, m in sorted(members.items()):
        row = {"account": account, "name": m.get("name") or account, "shift": m.get("shift"),
               "registered": m.get("registered"), "paused": m.get("paused"), "reason": m.get("reason")}
        if account in talking:
            call = talking[account]
            row |= {"state": "talking", "with": call.get("caller"), "since": call.get("answered_at"),
                    "linkedid": call["linkedid"]}
        elif account in ringing:
            row |= {"state": "ringing", "with": ringing[account].get("caller"), "linkedid": ringing[account]["linkedid"]}
        elif m.get("paused"):
            row |= {"state": "paused", "since": floor.paused_since.get(account)}
        elif account in floor.wrapping_up:
            row |= {"state": "wrapup", "since": floor.wrapping_up[account]}
        elif not m.get("registered"):
            row |= {"state": "unregistered"}
        else:
            row |= {"state": "available"}
        rows.append(row)
    return rows


def shares(records: Iterable[CallRecord]) -> dict[str, Any]:
    """Ghost and prank calls among all of them (those that ended in the IVR count too)."""
    found = list(records)
    ghost, prank = sum(r.ghost for r in found), sum(r.prank for r in found)
    return {"calls": len(found), "ghost": ghost, "prank": prank,
            "ghost_share": round(ghost / len(found), 4) if found else None,
            "prank_share": round(prank / len(found), 4) if found else None}


def sla(assignments: Iterable[Assignment], now: datetime) -> list[dict[str, Any]]:
    """Open assignments whose current stage is missed or past AT_RISK_SHARE of its time, most late first."""
    rows = []
    for a in assignments:
        if a.status not in (FORWARDED, ACCEPTED):
            continue
        stage, deadline = ("accept", a.accept_by) if a.status == FORWARDED else ("process", a.process_by)
        window = (deadline - a.dispatched_at).total_seconds() or 1.0
        left = (deadline - now).total_seconds()
        if left < 0 or left / window <= 1 - AT_RISK_SHARE:
            rows.append({"assignment": a.id, "ticket_number": a.ticket_number, "agency": a.agency, "status": a.status,
                         "stage": stage, "deadline": deadline.isoformat(), "missed": left < 0,
                         "left_s": round(left)})
    return sorted(rows, key=lambda r: r["left_s"])


def open_work(assignments: Iterable[Assignment]) -> dict[str, dict[str, int]]:
    """Open assignments counted by agency, then status."""
    found: dict[str, Counter[str]] = {}
    for a in assignments:
        found.setdefault(a.agency, Counter())[a.status] += 1
    return {agency: dict(sorted(counts.items())) for agency, counts in sorted(found.items())}


def incidents(records: Iterable[CallRecord]) -> list[dict[str, Any]]:
    """Today's calls with a location, for the map: where, which category, when."""
    return [{"lat": r.location["lat"], "lon": r.location["lon"], "category": r.category or "",
             "at": r.started_at.isoformat(), "linkedid": r.linkedid}
            for r in records if r.location and "lat" in r.location and "lon" in r.location]

