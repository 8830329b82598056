"""What a call search asks for, read from a query string with a precise message for each bad
value: a caller in any local form (0812…, 62812…, +62812…), a call taker, a category, a
disposition, a ticket number, a time range, prank or ghost, has a location, a least talk time,
scored or not and the call's QA score (the mean of its reviewers' newest versions) within a
range, and a page (limit, offset). A call taker's search is narrowed to their own calls."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callengine.calls.numbers import to_e164

MAX_LIMIT = 200
SORTS = ("started_at", "wait_s", "talk_s")


class BadSearch(ValueError):
    """A query value that means nothing; the message names it."""


@dataclass(frozen=True)
class CallSearch:
    caller: str | None = None          # E.164
    agent: str | None = None
    category: str | None = None
    disposition: str | None = None
    ticket: str | None = None
    since: datetime | None = None      # started at or after
    until: datetime | None = None      # started before
    prank: bool | None = None
    ghost: bool | None = None
    located: bool | None = None
    min_talk_s: float | None = None
    classification: str | None = None  # the ticket's (darurat, prank, informasi, …)
    rating: int | None = None          # the citizen's rating of the ticket, 1..5
    scored: bool | None = None
    min_score: float | None = None     # the call's QA score, 0..100, bounds included
    max_score: float | None = None
    sort: str = "started_at"           # always newest (largest) first
    limit: int = 50
    offset: int = 0

    def only_of(self, agent: str) -> CallSearch:
        return replace(self, agent=agent)


def parse(query: Mapping[str, str]) -> CallSearch:
    """The search `query` asks for, or BadSearch naming the first bad value."""
    caller = query.get("caller") or None
    if caller is not None and to_e164(caller) is None:
        raise BadSearch(f"caller {caller!r} is not a phone number")
    sort = query.get("sort") or "started_at"
    if sort not in SORTS:
        raise BadSearch(f"sort: one of {', '.join(SORTS)}")
    least, most = _number(query, "min_score", 0, 100), _number(query, "max_score", 0, 100)
    if least is not None and most is not None and least > most:
        raise BadSearch("min_score: at most max_score")
    return CallSearch(
        caller=to_e164(caller) if caller else None, agent=_text(query, "agent"), category=_text(query, "category"),
        disposition=_text(query, "disposition"), ticket=_text(query, "ticket"),
        since=_time(query, "from"), until=_time(query, "to"), prank=_flag(query, "prank"),
        ghost=_flag(query, "ghost"), located=_flag(query, "located"),
        min_talk_s=_number(query, "min_talk", 0, 86400), classification=_text(query, "classification"),
        rating=int(rated) if (rated := _number(query, "rating", 1, 5)) is not None else None,
        scored=_flag(query, "scored"), min_score=least,
        max_score=most, sort=sort,
        limit=int(_number(query, "limit", 1, MAX_LIMIT) or 50), offset=int(_number(query, "offset", 0, 10**9) or 0))


def _text(query: Mapping[str, str], key: str) -> str | None:
    value = (query.get(key) or "").strip()
    if len(value) > 80:
        raise BadSearch(f"{key}: at most 80 characters")
    return value or None


def _time(query: Mapping[str, str], key: str) -> datetime | None:
    raw = query.get(key)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadSearch(f"{key} {raw!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise BadSearch(f"{key} needs its offset, e.g. 2026-12-02T08:00+08:00")
    return moment


def _flag(query: Mapping[str, str], key: str) -> bool | None:
    raw = query.get(key)
    if raw in (None, ""):
        return None
    if raw not in ("0", "1"):
        raise BadSearch(f"{key}: 1 (only those) or 0 (none of those)")
    return raw == "1"


def _number(query: Mapping[str, str], key: str, low: float, high: float) -> float | None:
    raw = query.get(key)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadSearch(f"{key} {raw!r} is not a number") from None
    if not low <= value <= high:
        raise BadSearch(f"{key}: between {low:g} and {high:g}")
    return value


def local_days(query: Mapping[str, str], zone: ZoneInfo) -> dict[str, str]:
    """The page's `from`/`to` as days (a date input's YYYY-MM-DD) made times in the centre's
    zone: from that day's start, to the next day's start."""
    found = dict(query)
    for key, extra in (("from", 0), ("to", 1)):
        try:
            day = date.fromisoformat(found.get(key, ""))
        except ValueError:
            continue
        found[key] = datetime.combine(day + timedelta(days=extra), time(), zone).isoformat()
    return found
