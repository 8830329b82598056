"""`callengine queue status`: each queue with its members and waiting callers, as JSON and as text."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from callengine.queueing.members import QueueState
from callengine.queueing.roster import Roster


def status_json(states: list[QueueState], roster: Roster, now: datetime) -> dict[str, Any]:
    duty = roster.duty_at(now)
    queues = []
    for state in states:
        members = [{
            "account": m.account, "name": roster.people[m.account].name if m.account in roster.people else m.name,
            "role": roster.people[m.account].role if m.account in roster.people else None,
            "shift": duty.shift if m.account in duty.accounts else None,
            "registered": m.registered, "in_call": m.in_call, "paused": m.paused, "reason": m.reason or None,
            "penalty": m.penalty, "dynamic": m.dynamic, "calls_taken": m.calls_taken,
        } for m in state.members]
        waiting = [{"position": w.position, "caller": w.caller, "wait_s": w.wait_s, "priority": w.priority}
                   for w in state.waiting]
        queues.append({"queue": state.name, "members": members, "waiting": waiting})
    return {"at": now.astimezone(roster.zone).isoformat(),
            "shift": {"name": duty.shift, "from": duty.starts.isoformat(), "until": duty.ends.isoformat()},
            "queues": queues}


def status_text(status: dict[str, Any]) -> str:
    shift = status["shift"]
    lines = [f"shift {shift['name']} until {shift['until'][11:16]}"]
    for queue in status["queues"]:
        lines.append(f"\nantrean (queue) {queue['queue']}: {len(queue['waiting'])} menunggu (waiting)")
        for m in queue["members"]:
            state = ("jeda: " + (m["reason"] or "-")) if m["paused"] else ("sibuk" if m["in_call"] else "siap")
            online = "terdaftar" if m["registered"] else "tidak terdaftar"
            lines.append(f"  {m['account']:12} {m['name']:20} {m['shift'] or '-':6} {online:16} {state}")
        for w in queue["waiting"]:
            lines.append(f"  #{w['position']} {w['caller'] or 'tersembunyi':16} {w['wait_s']}s prio {w['priority']}")
    return "\n".join(lines)
