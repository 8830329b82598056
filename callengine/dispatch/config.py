"""config/agencies.conf: the agencies, the dispatch rules, the nearest posts per kecamatan and
the SLA targets, checked against the desk's categories, incident types and gazetteer
(desk.conf) so that a typo is one ConfigError line naming the file, section and key, at
`callengine check` and at the console's start, never a rule that silently matches nothing."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

from callengine.accounts.model import AGENCY
from callengine.calls.numbers import to_e164
from callengine.core.conf import ConfigError, ConfigReader, no_duplicate_sections
from callengine.dispatch.model import ACCEPTED, PROCESSING, Agency, DispatchRules, Sla
from callengine.notify.contacts import ContactError, parse_heads
from callengine.tickets.desk import DeskOptions

KIND = re.compile(r"^[a-z_]{2,30}$")
DURATION = re.compile(r"^([0-9]{1,4})(s|m|h)$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}
HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$")
AGENCY_KEYS = ("name", "kind", "duty_phones", "notify", "notify_duty_hours_only", "duty_hours")
ALL = "all"          # in [rules <category>]: any incident type of the category
DEFAULT = "default"  # in [sla]: any other category
ESCALATE_AFTER = "escalate_after"   # in [sla]: from the agency's head to the supervisor on duty
DEFAULT_ESCALATE_AFTER = timedelta(minutes=2)
NOTIFY = "notify"    # [notify]: how agencies are told of a dispatch (the duty phone's voice call)
VOICE_KEYS = ("voice", "voice_retries", "voice_retry_after", "voice_ring", "voice_dial")
# and the written channels' (e-mail, Telegram, dispatch.* webhooks, retries): notify/config.py
MESSAGE_KEYS = ("email", "email_host", "email_port", "email_starttls", "email_user", "email_from",
                "telegram", "telegram_url", "telegram_token", "webhooks",
                "send_attempts", "send_retry_after", "send_retry_max")
NOTIFY_KEYS = VOICE_KEYS + MESSAGE_KEYS
# the Originate channel of a duty-phone call: {number} is the national form (0541…). Through a
# PJSIP endpoint (the trunk, a GSM gateway), or a PJSIP endpoint toward an explicit SIP URI
VOICE_DIAL = re.compile(r"^PJSIP/(\{number\}@[A-Za-z0-9_-]{1,40}"
                        r"|[A-Za-z0-9_-]{1,40}/sip:\{number\}@[A-Za-z0-9.-]{1,100}(:[0-9]{1,5})?)$")


@dataclass(frozen=True)
class VoiceSettings:
    """[notify] voice_*: the call to each agency's duty phones when a ticket is dispatched."""
    enabled: bool = True
    retries: int = 2                              # rounds after the first, when no phone accepted
    retry_after: timedelta = timedelta(seconds=60)
    ring: timedelta = timedelta(seconds=30)       # how long a duty phone rings before it is no answer
    dial: str = "PJSIP/{number}@trunk"

    def channel(self, national: str) -> str:
        return self.dial.replace("{number}", national)


def load_agencies(path: Path, desk: DeskOptions) -> DispatchRules:
    r = ConfigReader(path)
    no_duplicate_sections(path)   # two [DAMKAR] are a copy-paste slip
    agencies: dict[str, Agency] = {}
    rules: dict[str, dict[str | None, tuple[str, ...]]] = {}
    posts: dict[str, dict[str, str]] = {}
    for section in r.sections:
        kind, _, name = section.partition(" ")
        if AGENCY.match(section):
            agencies[section] = _agency(r, section)
        elif kind == "rules" and name.strip():
            rules[name.strip()] = {}
        elif kind == "kecamatan" and name.strip():
            posts[name.strip()] = {}
        elif section not in ("sla", NOTIFY):
            raise ConfigError(f"{path}: [{section}] is not an agency code (capitals, e.g. DAMKAR), "
                              "[rules <category>], [kecamatan <name>], [sla] or [notify]")
    if not agencies:
        raise ConfigError(f"{path}: no agency: add a section such as [DAMKAR]")
    for category in rules:
        rules[category] = _rules(r, category, desk, agencies)
    for kecamatan in posts:
        posts[kecamatan] = _posts(r, kecamatan, desk, agencies)
    _voice(r)
    from callengine.notify.config import read_messages    # it reads this module's helpers
    read_messages(r)
    return DispatchRules(agencies, rules, posts, _sla(r, desk))


def load_voice(path: Path) -> VoiceSettings:
    """[notify] voice_*: read by the console (rounds, pauses) and the engine (ring, dial)."""
    return _voice(ConfigReader(path))


def _voice(r: ConfigReader) -> VoiceSettings:
    section = r.sections.get(NOTIFY, {})
    r.only(NOTIFY, NOTIFY_KEYS, "[notify]")
    if not section:
        return VoiceSettings()
    dial = r.text(NOTIFY, "voice_dial", VoiceSettings.dial)
    if not VOICE_DIAL.match(dial):
        raise r.fail(NOTIFY, "voice_dial", f"{dial!r}: PJSIP/{{number}}@<endpoint> or "
                                           "PJSIP/<endpoint>/sip:{number}@<host>[:<port>]")
    return VoiceSettings(
        enabled=r.choice(NOTIFY, "voice", "yes", ("yes", "no")) == "yes",
        retries=r.integer(NOTIFY, "voice_retries", 2, low=0, high=10),
        retry_after=notify_duration(r, "voice_retry_after", "60s"),
        ring=notify_duration(r, "voice_ring", "30s"), dial=dial)


def notify_duration(r: ConfigReader, key: str, default: str) -> timedelta:
    raw = r.text(NOTIFY, key, default)
    found = DURATION.match(raw.strip())
    if not found or int(found[1]) == 0:
        raise r.fail(NOTIFY, key, f"{raw.strip()!r} is not a duration such as 30s, 5m or 2h")
    return timedelta(**{UNITS[found[2]]: int(found[1])})


def _agency(r: ConfigReader, code: str) -> Agency:
    r.only(code, AGENCY_KEYS, "an agency")
    name = r.text(code, "name")
    if len(name) > 120:
        raise r.fail(code, "name", "at most 120 characters")
    kind = r.text(code, "kind")
    if not KIND.match(kind):
        raise r.fail(code, "kind", f"{kind!r}: a lowercase word such as damkar, kesehatan or polisi")
    phones = _unique(r, code, "duty_phones", r.listing(code, "duty_phones", ""))
    bad = [p for p in phones if to_e164(p) is None]
    if not phones or bad:
        raise r.fail(code, "duty_phones", f"{bad[0]!r} is not a phone number" if bad else "missing")
    notify = r.listing(code, "notify", "") if r.sections[code].get("notify") else ()
    if any(len(person) > 200 for person in notify):
        raise r.fail(code, "notify", "each person at most 200 characters (a comma separates two people)")
    try:
        parse_heads(notify)
    except ContactError as exc:
        raise r.fail(code, "notify", str(exc)) from None
    quiet = r.choice(code, "notify_duty_hours_only", "no", ("yes", "no")) == "yes"
    return Agency(code, name, kind, tuple(to_e164(p) or p for p in phones), notify, quiet, _hours(r, code))


def _hours(r: ConfigReader, code: str) -> tuple[time, time]:
    raw = r.text(code, "duty_hours", "07:30-16:00")
    found = HOURS.match(raw)
    if not found:
        raise r.fail(code, "duty_hours", f"{raw!r} is not HH:MM-HH:MM, e.g. 07:30-16:00")
    start, end = time(int(found[1]), int(found[2])), time(int(found[3]), int(found[4]))
    if start >= end:
        raise r.fail(code, "duty_hours", f"{raw!r}: the start must come before the end")
    return start, end


def _rules(r: ConfigReader, category: str, desk: DeskOptions,
           agencies: dict[str, Agency]) -> dict[str | None, tuple[str, ...]]:
    section = f"rules {category}"
    if category not in desk.incident_types:
        raise ConfigError(f"{r.file}: [{section}] {category!r} is not a category of desk.conf "
                          f"({', '.join(desk.incident_types)})")
    found: dict[str | None, tuple[str, ...]] = {}
    for key in r.sections[section]:
        if key != ALL and key not in desk.incident_types[category]:
            raise r.fail(section, key, f"not an incident type of {category!r} in desk.conf (nor {ALL!r})")
        found[None if key == ALL else key] = _codes(r, section, key, agencies)
    return found


def _posts(r: ConfigReader, kecamatan: str, desk: DeskOptions, agencies: dict[str, Agency]) -> dict[str, str]:
    section = f"kecamatan {kecamatan}"
    if kecamatan not in desk.gazetteer:
        raise ConfigError(f"{r.file}: [{section}] {kecamatan!r} is not a kecamatan of desk.conf's gazetteer")
    found = {}
    for agency in r.sections[section]:
        if agency not in agencies:
            raise r.fail(section, agency, f"unknown agency {agency!r}")
        [found[agency]] = _codes(r, section, agency, agencies, one=True)
    return found


def _codes(r: ConfigReader, section: str, key: str, agencies: dict[str, Agency],
           one: bool = False) -> tuple[str, ...]:
    codes = _unique(r, section, key, r.listing(section, key, ""))
    unknown = [c for c in codes if c not in agencies]
    if unknown:
        raise r.fail(section, key, f"unknown agency {unknown[0]!r} (agencies: {', '.join(agencies)})")
    if not codes or (one and len(codes) != 1):
        raise r.fail(section, key, "one agency code" if one else "no agency given")
    return codes


def _unique(r: ConfigReader, section: str, key: str, values: tuple[str, ...]) -> tuple[str, ...]:
    twice = [v for i, v in enumerate(values) if v in values[:i]]
    if twice:
        raise r.fail(section, key, f"{twice[0]!r} appears twice")
    return values


def _sla(r: ConfigReader, desk: DeskOptions) -> dict[str, Sla]:
    targets = {}
    _escalate_after(r)
    for category in r.sections.get("sla", {}):
        if category == ESCALATE_AFTER:
            continue
        if category != DEFAULT and category not in desk.incident_types:
            raise r.fail("sla", category, f"not a category of desk.conf ({', '.join(desk.incident_types)}) "
                                          f"nor {DEFAULT!r}")
        targets[category] = _targets(r, category)
    if DEFAULT not in targets:
        raise r.fail("sla", DEFAULT, f"missing: e.g. {DEFAULT} = {ACCEPTED} 5m, {PROCESSING} 30m")
    return targets


def load_escalate_after(path: Path) -> timedelta:
    """[sla] escalate_after: how long after the agency's head is told of a missed deadline the
    supervisor on duty is (checked with the rest by load_agencies)."""
    return _escalate_after(ConfigReader(path))


def _escalate_after(r: ConfigReader) -> timedelta:
    raw = r.sections.get("sla", {}).get(ESCALATE_AFTER)
    return DEFAULT_ESCALATE_AFTER if raw is None else _duration(r, ESCALATE_AFTER, raw)


def _duration(r: ConfigReader, key: str, raw: str) -> timedelta:
    found = DURATION.match(raw.strip())
    if not found or int(found[1]) == 0:
        raise r.fail("sla", key, f"{raw.strip()!r} is not a duration such as 30s, 5m or 2h")
    return timedelta(**{UNITS[found[2]]: int(found[1])})


def _targets(r: ConfigReader, category: str) -> Sla:
    stages: dict[str, timedelta] = {}
    for part in r.listing("sla", category, ""):
        stage, _, raw = part.partition(" ")
        if stage not in (ACCEPTED, PROCESSING) or stage in stages:
            raise r.fail("sla", category, f"{part!r}: give {ACCEPTED} <time>, {PROCESSING} <time>, once each")
        stages[stage] = _duration(r, category, raw)
    if set(stages) != {ACCEPTED, PROCESSING}:
        raise r.fail("sla", category, f"give both: {ACCEPTED} <time>, {PROCESSING} <time>")
    if stages[PROCESSING] < stages[ACCEPTED]:
        raise r.fail("sla", category, f"{PROCESSING} comes after {ACCEPTED}: its time cannot be shorter")
    return Sla(stages[ACCEPTED], stages[PROCESSING])
