"""callengine.conf [reports]: the daily summary e-mailed to the centre's heads.

    [reports]
    daily_at = 07:00      ; local time from which yesterday's summary is sent (once a day)
    daily_to =            ; e-mail addresses, comma separated; empty: no daily e-mail

It is sent through the notifications' e-mail channel (agencies.conf [notify] email = yes and its
SMTP server), so `callengine check` refuses addresses while that channel is off. A missing
section means no daily e-mail.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from callengine.core.conf import ConfigError, ConfigReader
from callengine.notify.config import load_messages
from callengine.notify.contacts import EMAIL

SECTION = "reports"
KEYS = ("daily_at", "daily_to")
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class ReportSettings:
    daily_at: time = time(7, 0)
    daily_to: tuple[str, ...] = ()


def load_reports(path: Path) -> ReportSettings:
    r = ConfigReader(path)
    r.only(SECTION, KEYS, "[reports]")
    raw = r.text(SECTION, "daily_at", "07:00")
    found = CLOCK.match(raw)
    if not found:
        raise r.fail(SECTION, "daily_at", f"{raw!r} is not a time of day such as 07:00")
    to = r.listing(SECTION, "daily_to", "") if r.sections.get(SECTION, {}).get("daily_to") else ()
    for address in to:
        if not EMAIL.match(address):
            raise r.fail(SECTION, "daily_to", f"{address!r} is not an e-mail address")
    return ReportSettings(time(int(found[1]), int(found[2])), to)


def reports_problems(config_file: Path, agencies_file: Path) -> list[str]:
    """For `callengine check`: [reports], and an e-mail channel to send the summary by."""
    try:
        wanted = load_reports(config_file)
        if wanted.daily_to and load_messages(agencies_file).email is None:
            return [f"config: {config_file}: [reports] daily_to: the daily summary is e-mailed, but "
                    f"{agencies_file} [notify] email is not yes"]
    except ConfigError as exc:
        return [f"config: {exc}"]
    return []
