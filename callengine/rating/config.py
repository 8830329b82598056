"""callengine.conf [rating]: when and how the citizen is asked to rate the service.

    [rating]
    voice = yes                  ; call the citizen back once every assignment is selesai
    delay = 10m                  ; after the ticket became selesai (0s: at once)
    calling_hours = 07:00-21:00  ; local time; a call due outside waits for the next opening
    retry_after = 30m            ; a call not answered (or no digit) is tried again this much later
    tries = 2                    ; calls in all, then the request is given up
    ring = 30s                   ; how long the citizen's phone rings
    dial =                       ; the outbound route (PJSIP/{number}@trunk …); empty: [notify] voice_dial
    link_days = 7                ; how long a rating link (POST /api/v1/tickets/{number}/rating-link) lasts

A missing [rating] section means these defaults. Read by the console (the schedule) and the
engine (ring, dial); a bad value is a ConfigError naming the key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from callengine.core.conf import ConfigError, ConfigReader
from callengine.dispatch.config import VOICE_DIAL, VoiceSettings

SECTION = "rating"
KEYS = ("voice", "delay", "calling_hours", "retry_after", "tries", "ring", "dial", "link_days")
DURATION = re.compile(r"^([0-9]{1,4})(s|m|h)$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}
HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")


@dataclass(frozen=True)
class RatingSettings:
    voice: bool = True
    delay: timedelta = timedelta(minutes=10)
    opens: time = time(7, 0)
    closes: time = time(21, 0)        # time(0, 0) with opens 00:00: all day
    retry_after: timedelta = timedelta(minutes=30)
    tries: int = 2
    ring: timedelta = timedelta(seconds=30)
    dial: str | None = None
    link_days: int = 7

    def voice_settings(self, notify: VoiceSettings) -> VoiceSettings:
        """The duty phones' call settings with this call's ring and route."""
        return VoiceSettings(enabled=self.voice, retries=self.tries - 1, retry_after=self.retry_after, ring=self.ring,
                             dial=self.dial or notify.dial)

    def open_at(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """`moment` if it is within calling hours, else the next opening (local time)."""
        local = moment.astimezone(zone)
        if self._inside(local.time()):
            return moment
        opening = local.replace(hour=self.opens.hour, minute=self.opens.minute, second=0, microsecond=0)
        if opening <= local:
            opening = (local + timedelta(days=1)).replace(hour=self.opens.hour, minute=self.opens.minute,
                                                          second=0, microsecond=0)
        return opening.astimezone(moment.tzinfo)

    def _inside(self, now: time) -> bool:
        if self.opens == self.closes:
            return True                       # 00:00-24:00 and the like: all day
        if self.opens < self.closes:
            return self.opens <= now < self.closes
        return now >= self.opens or now < self.closes     # across midnight (e.g. 20:00-02:00)


def load_rating(path: Path) -> RatingSettings:
    return rating_settings(ConfigReader(path))


def rating_settings(r: ConfigReader) -> RatingSettings:
    section = r.sections.get(SECTION, {})
    r.only(SECTION, KEYS, "[rating]")
    if not section:
        return RatingSettings()
    hours = r.text(SECTION, "calling_hours", "07:00-21:00").replace(" ", "")
    found = HOURS.match(hours)
    if not found:
        raise r.fail(SECTION, "calling_hours", f"{hours!r} is not a span such as 07:00-21:00")
    end_h, end_m = int(found[3]), int(found[4])
    if end_h == 24 and end_m:
        raise r.fail(SECTION, "calling_hours", f"{hours!r}: 24:00 at the latest")
    dial = section.get("dial") or None
    if dial is not None and not VOICE_DIAL.match(dial):
        raise r.fail(SECTION, "dial", f"{dial!r}: PJSIP/{{number}}@<endpoint> or "
                                      "PJSIP/<endpoint>/sip:{number}@<host>[:<port>]")
    ring = _duration(r, "ring", "30s")
    if not ring:
        raise r.fail(SECTION, "ring", "at least 1s")
    return RatingSettings(
        voice=r.choice(SECTION, "voice", "yes", ("yes", "no")) == "yes",
        delay=_duration(r, "delay", "10m"),
        opens=time(int(found[1]), int(found[2])), closes=time(end_h % 24, end_m),
        retry_after=_duration(r, "retry_after", "30m"),
        tries=r.integer(SECTION, "tries", 2, low=1, high=5),
        ring=ring, dial=dial,
        link_days=r.integer(SECTION, "link_days", 7, low=1, high=90))


def _duration(r: ConfigReader, key: str, default: str) -> timedelta:
    raw = r.text(SECTION, key, default).strip()
    found = DURATION.match(raw)
    if not found:
        raise r.fail(SECTION, key, f"{raw!r} is not a duration such as 0s, 30s, 10m or 2h")
    return timedelta(**{UNITS[found[2]]: int(found[1])})


def rating_problems(path: Path) -> list[str]:
    """For `callengine check`: [rating] of callengine.conf, one line per problem."""
    try:
        load_rating(path)
    except ConfigError as exc:
        return [f"config: {exc}"]
    return []
