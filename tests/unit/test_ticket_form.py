"""The desk's ticket form checked on plain data: each field's kind and range, the
classification's values, incident types of the ticket's category, kelurahan of the kecamatan;
and config/desk.conf as shipped (Samarinda's gazetteer)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from callengine.core.conf import ConfigError
from callengine.core.settings import DEFAULT_DESK
from callengine.tickets.desk import DeskOptions, FormError, load_desk, validate
from callengine.tickets.model import Ticket

OPTIONS = DeskOptions({"kebakaran": ("Kebakaran rumah/permukiman", "Kebakaran lahan/hutan"),
                       "ambulans": ("Kecelakaan lalu lintas",)},
                      {"Samarinda Ulu": ("Air Hitam", "Air Putih"), "Palaran": ("Bantuas", "Bukuan")})
TICKET = Ticket(1, "1.1", "baru", "kebakaran", "+6281111111111", datetime(2026, 12, 2, tzinfo=timezone.utc),
                "SMD-20261202-0001", taker="taker1")


def refused(data: dict[str, object], ticket: Ticket = TICKET) -> str:
    with pytest.raises(FormError) as caught:
        validate(data, ticket, OPTIONS)
    return caught.value.field


def test_a_whole_form_is_taken_as_it_will_be_stored() -> None:
    data = {"classification": "darurat", "incident_type": "Kebakaran lahan/hutan", "description": "  asap tebal ",
            "address": "Jl. Pahlawan 3", "kecamatan": "Samarinda Ulu", "kelurahan": "Air Hitam", "lat": -0.48,
            "lon": 117.14, "caller_name": "Budi", "callback_number": "0812 3456 7890", "victims": 0, "priority": 1}
    values = validate(data, TICKET, OPTIONS)
    assert values["description"] == "asap tebal" and values["callback_number"] == "+6281234567890"
    assert values["lat"] == -0.48 and values["victims"] == 0


def test_empty_and_null_clear_a_field() -> None:
    assert validate({"description": "", "lat": None, "classification": None}, TICKET, OPTIONS) == {
        "description": None, "lat": None, "classification": None}


@pytest.mark.parametrize("data, field", [
    ({"classification": "palsu"}, "classification"),
    ({"colour": "red"}, "colour"),
    ({"lat": 91}, "lat"), ({"lon": -180.5}, "lon"), ({"lat": "0.5"}, "lat"), ({"lon": True}, "lon"),
    ({"victims": -1}, "victims"), ({"victims": 2.5}, "victims"), ({"victims": "3"}, "victims"),
    ({"priority": 0}, "priority"), ({"priority": 6}, "priority"),
    ({"description": "x" * 4001}, "description"), ({"caller_name": "x" * 121}, "caller_name"),
    ({"address": 12}, "address"), ({"callback_number": "nomor saya"}, "callback_number"),
    ({"duplicate_of": "kemarin"}, "duplicate_of"), ({"duplicate_of": "SMD-20261202-0001"}, "duplicate_of"),
])
def test_each_field_refused_by_its_name(data: dict[str, object], field: str) -> None:
    assert refused(data) == field


def test_an_incident_type_must_be_of_the_tickets_category() -> None:
    assert refused({"incident_type": "Kecelakaan lalu lintas"}) == "incident_type"
    assert validate({"incident_type": "Kebakaran rumah/permukiman"}, TICKET, OPTIONS)
    no_category = Ticket(2, "2.1", "baru", None, None, TICKET.created_at, "SMD-20261202-0002")
    assert validate({"incident_type": "Kecelakaan lalu lintas"}, no_category, OPTIONS)   # operator: any type


def test_a_kelurahan_must_be_of_its_kecamatan_as_it_will_be() -> None:
    assert refused({"kecamatan": "Palaran", "kelurahan": "Air Hitam"}) == "kelurahan"
    assert refused({"kecamatan": "Kutai"}) == "kecamatan"
    assert refused({"kelurahan": "Air Hitam"}) == "kelurahan"          # no kecamatan yet
    placed = Ticket(**{**TICKET.__dict__, "kecamatan": "Palaran"})
    assert validate({"kelurahan": "Bukuan"}, placed, OPTIONS) == {"kelurahan": "Bukuan"}
    assert refused({"kelurahan": "Air Putih"}, placed) == "kelurahan"


def test_the_shipped_desk_conf_has_samarindas_ten_kecamatan_and_a_list_per_category() -> None:
    options = load_desk(DEFAULT_DESK)
    assert len(options.gazetteer) == 10 and "Sungai Pinang Dalam" in options.gazetteer["Sungai Pinang"]
    assert {"kebakaran", "ambulans", "kriminal", "bencana", "lainnya"} <= set(options.incident_types)
    assert "Banjir" in options.types_for("bencana") and "Banjir" not in options.types_for("kebakaran")


def test_a_desk_conf_without_a_gazetteer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "desk.conf"
    path.write_text("[incident_types]\nkebakaran = Kebakaran rumah\n")
    with pytest.raises(ConfigError, match="gazetteer"):
        load_desk(path)
    path.write_text("[incident_types]\nkebakaran = A, A\n[gazetteer]\nPalaran = Bukuan\n")
    with pytest.raises(ConfigError, match="twice"):
        load_desk(path)
