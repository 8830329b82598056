"""The call taker's desk: its options (config/desk.conf: incident types per IVR category, the
regency's gazetteer) and the validation of the ticket form, on plain data."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callengine.calls.numbers import to_e164
from callengine.core.conf import ConfigError, ConfigReader
from callengine.tickets.model import CLASSIFICATIONS, FORM_FIELDS, Ticket

TICKET_NUMBER = re.compile(r"^[A-Z]{2,6}-[0-9]{8}-[0-9]{4,}$")
LENGTHS = {"description": 4000, "address": 300, "caller_name": 120, "incident_type": 80,
           "kelurahan": 80, "kecamatan": 80}
INTEGERS = {"victims": (0, 10000), "priority": (1, 5)}   # priority: 1 the most urgent
COORDINATES = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0)}


@dataclass(frozen=True)
class DeskOptions:
    incident_types: dict[str, tuple[str, ...]]       # IVR category → incident types
    gazetteer: dict[str, tuple[str, ...]]            # kecamatan → kelurahan

    def types_for(self, category: str | None) -> tuple[str, ...]:
        """A category's list; a call without one (or of a category without a list) takes any."""
        if category in self.incident_types:
            return self.incident_types[category]
        return tuple(dict.fromkeys(t for types in self.incident_types.values() for t in types))

    def to_json(self) -> dict[str, Any]:
        return {"classifications": list(CLASSIFICATIONS),
                "incident_types": {k: list(v) for k, v in self.incident_types.items()},
                "gazetteer": [{"kecamatan": k, "kelurahan": list(v)} for k, v in self.gazetteer.items()],
                "priorities": list(range(INTEGERS["priority"][0], INTEGERS["priority"][1] + 1))}


def load_desk(path: Path) -> DeskOptions:
    r = ConfigReader(path)
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for section in ("incident_types", "gazetteer"):
        if not r.sections.get(section):
            raise ConfigError(f"{path}: [{section}] missing or empty")
        found[section] = {}
        for key in r.sections[section]:
            values = r.listing(section, key, "")
            if not values:
                raise r.fail(section, key, "an empty list")
            too_long = [v for v in values if len(v) > 80]
            if too_long or len(set(values)) != len(values):
                raise r.fail(section, key, f"{too_long[0]!r} is longer than 80 characters" if too_long
                             else "a name appears twice")
            found[section][key] = values
    return DeskOptions(found["incident_types"], found["gazetteer"])


class FormError(ValueError):
    """A field of the form refused: its name and why."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field


def validate(data: dict[str, Any], ticket: Ticket, options: DeskOptions) -> dict[str, Any]:
    """The form's fields as they will be stored ("" and null clear a field), or FormError
    naming the first field refused. Incident type and kelurahan are checked against the
    ticket's category and the kecamatan as they will be after this change."""
    unknown = sorted(set(data) - set(FORM_FIELDS))
    if unknown:
        raise FormError(unknown[0], f"not a field of the ticket form ({', '.join(FORM_FIELDS)})")
    values = {name: _field(name, raw) for name, raw in data.items()}
    after = {name: values.get(name, getattr(ticket, name)) for name in FORM_FIELDS}
    if "classification" in values and after["classification"] not in (None, *CLASSIFICATIONS):
        raise FormError("classification", f"one of {', '.join(CLASSIFICATIONS)}")
    if after["duplicate_of"] is not None and "duplicate_of" in values:
        if not TICKET_NUMBER.match(after["duplicate_of"]):
            raise FormError("duplicate_of", "a ticket number, e.g. SMD-20261202-0042")
        if after["duplicate_of"] == ticket.number:
            raise FormError("duplicate_of", "a ticket is not its own duplicate")
    if "incident_type" in values and after["incident_type"] is not None \
            and after["incident_type"] not in options.types_for(ticket.category):
        raise FormError("incident_type", f"not an incident type of the category {ticket.category or '(none)'!r}")
    if {"kecamatan", "kelurahan"} & set(values):
        if after["kecamatan"] is not None and after["kecamatan"] not in options.gazetteer:
            raise FormError("kecamatan", "not a kecamatan of the gazetteer")
        if after["kelurahan"] is not None and after["kelurahan"] not in options.gazetteer.get(after["kecamatan"], ()):
            raise FormError("kelurahan", f"not a kelurahan of the kecamatan {after['kecamatan']!r}")
    return values


def _field(name: str, raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    if name in COORDINATES:
        low, high = COORDINATES[name]
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) \
                or not low <= raw <= high:
            raise FormError(name, f"a number from {low:g} to {high:g}")
        return float(raw)
    if name in INTEGERS:
        low, high = INTEGERS[name]
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise FormError(name, f"a whole number from {low} to {high}")
        return raw
    if not isinstance(raw, str):
        raise FormError(name, "must be a string")
    text = raw.strip()
    if name == "callback_number":
        number = to_e164(text)
        if number is None:
            raise FormError(name, f"{text!r} is not a phone number")
        return number
    if len(text) > LENGTHS.get(name, 80):
        raise FormError(name, f"at most {LENGTHS.get(name, 80)} characters")
    return text or None
