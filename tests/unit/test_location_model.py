import json
from datetime import datetime, timedelta, timezone

import pytest

from callengine.location import Location, LocationError, best

T0 = datetime(2024, 5, 17, 3, 15, tzinfo=timezone.utc)


def loc(source: str, radius: float | None, at: datetime | None = T0, lat: float = -6.2) -> Location:
    return Location(lat, 106.8, radius, source, None, at)


def test_aml_beats_pidf_lo_beats_cell_whatever_the_radius() -> None:
    aml, pidf, cell = loc("aml", 500), loc("pidf-lo", 10), loc("cell", 5)
    assert best([cell, pidf, aml]) is aml
    assert best([cell, pidf]) is pidf
    assert best([cell, None]) is cell


def test_within_a_source_smallest_radius_then_latest() -> None:
    wide, narrow = loc("pidf-lo", 100), loc("pidf-lo", 20)
    assert best([wide, narrow]) is narrow
    old, new = loc("aml", 20, T0), loc("aml", 20, T0 + timedelta(seconds=30))
    assert best([old, new]) is new
    assert best([loc("aml", 20, None), old]) is old  # an unknown time is older than any known one


def test_a_point_without_uncertainty_ranks_after_a_circle() -> None:
    point, circle = loc("pidf-lo", None), loc("pidf-lo", 5000)
    assert best([point, circle]) is circle


def test_nothing_is_none() -> None:
    assert best([]) is None and best([None]) is None


def test_to_json_is_json_ready() -> None:
    location = Location(-6.2, 106.8, 35.0, "pidf-lo", "gnss", T0, {"shape": "Circle"})
    data = json.loads(json.dumps(location.to_json()))
    assert data == {"lat": -6.2, "lon": 106.8, "radius_m": 35.0, "source": "pidf-lo", "method": "gnss",
                    "at": "2024-05-17T03:15:00+00:00", "detail": {"shape": "Circle"}}
    assert hash(location) == hash(Location(-6.2, 106.8, 35.0, "pidf-lo", "gnss", T0, {"other": 1}))


@pytest.mark.parametrize("args,reason", [
    ((90.1, 0, None, "aml"), "latitude 90.1 out of range"),
    ((0, -180.5, None, "aml"), "longitude -180.5 out of range"),
    ((float("nan"), 0, None, "aml"), "latitude nan out of range"),
    ((0, 0, 0.0, "aml"), "radius must be a positive number"),
    ((0, 0, float("inf"), "aml"), "radius must be a positive number"),
    ((0, 0, None, "gps"), "unknown location source 'gps'"),
])
def test_invalid_locations_are_refused(args: tuple, reason: str) -> None:
    with pytest.raises(LocationError, match=reason):
        Location(*args)
