"""Where a caller is: one validated position with its uncertainty, and how to pick the best of several."""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?")
SOURCES = ("aml", "pidf-lo", "cell")  # most to least trusted: handset fix, network PIDF-LO, tower table


class LocationError(ValueError):
    """Bad location input; the message says which field and why."""


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    radius_m: float | None  # None: a point with no stated uncertainty
    source: str  # one of SOURCES
    method: str | None = None  # "gnss", "wifi", "cell" or the sender's own word
    at: datetime | None = None  # when the position was determined (aware, UTC)
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        check_coordinates(self.lat, self.lon)
        if self.radius_m is not None and not (math.isfinite(self.radius_m) and self.radius_m > 0):
            raise LocationError(f"radius must be a positive number of metres, got {self.radius_m!r}")
        if self.source not in SOURCES:
            raise LocationError(f"unknown location source {self.source!r}: expected one of {', '.join(SOURCES)}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the call record's `location` column stores exactly this."""
        return {"lat": self.lat, "lon": self.lon, "radius_m": self.radius_m, "source": self.source,
                "method": self.method, "at": self.at.isoformat() if self.at else None, "detail": dict(self.detail)}


@dataclass(frozen=True)
class CellId:
    """A serving cell as OpenCelliD keys it: radio, mcc, net (mnc), area (LAC/TAC), cell."""
    radio: str  # "GSM", "UMTS", "LTE", "NR"
    mcc: int
    mnc: int
    area: int
    cell: int


def check_coordinates(lat: float, lon: float) -> None:
    # float() accepts "nan" and "inf", so finiteness is checked as well as the range.
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise LocationError(f"latitude {lat!r} out of range -90..90")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise LocationError(f"longitude {lon!r} out of range -180..180")


def decimal(text: str | None) -> float:
    """A plain ASCII decimal number; ValueError for anything else, including nan, inf and 1_000."""
    text = (text or "").strip()
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not a decimal number")
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise ValueError(f"{text!r} is not a finite number")
    return value


def best(locations: Iterable[Location | None]) -> Location | None:
    """Handset (AML) over network PIDF-LO over cell tower; then the smallest radius; then the latest."""
    candidates = [loc for loc in locations if loc is not None]
    return min(candidates, key=_rank, default=None)


def _rank(loc: Location) -> tuple[int, float, float]:
    # A point without uncertainty is not more precise than a circle: its error is unknown, so it ranks last.
    radius = loc.radius_m if loc.radius_m is not None else math.inf
    newest_first = -loc.at.timestamp() if loc.at else math.inf
    return SOURCES.index(loc.source), radius, newest_first
