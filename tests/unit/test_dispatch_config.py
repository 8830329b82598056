"""config/agencies.conf: the shipped default for Samarinda loads against the shipped desk.conf;
each kind of mistake is one ConfigError line naming the file, the section and the key."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from callengine.core.conf import ConfigError
from callengine.core.settings import DEFAULT_AGENCIES, DEFAULT_DESK
from callengine.dispatch.config import load_agencies
from callengine.tickets.desk import load_desk

DESK = load_desk(DEFAULT_DESK)
GOOD = """
[DAMKAR]
name = Dinas Pemadam Kebakaran
kind = damkar
duty_phones = 0541 741113, +6281250011113
notify = Kepala Dinas Hendra <kadis@samarindakota.go.id>, Kabid Operasi Rudi <+6281250012001>
notify_duty_hours_only = no

[DAMKAR_SBR]
name = Pos Damkar Seberang
kind = damkar
duty_phones = +62541260113

[PDAM]
name = Perumdam Tirta Kencana
kind = air
duty_phones = +62541741222
notify_duty_hours_only = yes
duty_hours = 08:00-15:30

[rules kebakaran]
all = DAMKAR, PDAM
Kebakaran lahan/hutan = DAMKAR

[kecamatan Palaran]
DAMKAR = DAMKAR_SBR

[sla]
kebakaran = diterima 1m, diproses 5m
default = diterima 5m, diproses 30m
"""


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agencies.conf"
    path.write_text(text)
    return path


def test_the_shipped_default_loads_with_the_nine_agencies_and_the_issues_sla() -> None:
    rules = load_agencies(DEFAULT_AGENCIES, DESK)
    assert {"DAMKAR", "BPBD", "RSUD", "POLRES", "PDAM", "DISHUB", "SATPOLPP", "DINSOS", "PMI"} <= set(rules.agencies)
    assert rules.propose("kebakaran", "Kebakaran rumah/permukiman", "Samarinda Ulu") == ("DAMKAR", "PDAM")
    assert rules.propose("ambulans", "Kecelakaan lalu lintas", "Sungai Kunjang") == ("RSUD", "POLRES", "DISHUB")
    assert rules.propose("kebakaran", "Kebakaran rumah/permukiman", "Palaran")[0] == "DAMKAR_SBR"
    for category in ("kebakaran", "ambulans"):
        assert (rules.sla_for(category).accept, rules.sla_for(category).process) == (
            timedelta(minutes=1), timedelta(minutes=5))
    assert (rules.sla_for("bencana").accept, rules.sla_for("bencana").process) == (
        timedelta(minutes=5), timedelta(minutes=30))
    assert all(phone.startswith("+62") for a in rules.agencies.values() for phone in a.duty_phones)


def test_a_good_file_is_read_into_typed_values(tmp_path: Path) -> None:
    rules = load_agencies(written(tmp_path, GOOD), DESK)
    damkar, pdam = rules.agencies["DAMKAR"], rules.agencies["PDAM"]
    assert damkar.duty_phones == ("+62541741113", "+6281250011113") and len(damkar.notify) == 2
    assert pdam.notify_duty_hours_only and pdam.to_json()["duty_hours"] == "08:00-15:30"
    assert rules.rules["kebakaran"] == {None: ("DAMKAR", "PDAM"), "Kebakaran lahan/hutan": ("DAMKAR",)}
    assert rules.posts == {"Palaran": {"DAMKAR": "DAMKAR_SBR"}}


@pytest.mark.parametrize("change, where, why", [
    (("all = DAMKAR, PDAM", "all = DAMKAR, PMI"), "[rules kebakaran] all:", "unknown agency 'PMI'"),
    (("all = DAMKAR, PDAM", "all = DAMKAR, DAMKAR"), "[rules kebakaran] all:", "'DAMKAR' appears twice"),
    (("all = DAMKAR, PDAM", "all ="), "[rules kebakaran] all:", "missing"),
    (("Kebakaran lahan/hutan =", "Banjir ="), "[rules kebakaran] Banjir:", "not an incident type of 'kebakaran'"),
    (("[rules kebakaran]", "[rules api]"), "[rules api]", "'api' is not a category of desk.conf"),
    (("DAMKAR = DAMKAR_SBR", "DAMKAR = POS9"), "[kecamatan Palaran] DAMKAR:", "unknown agency 'POS9'"),
    (("DAMKAR = DAMKAR_SBR", "BPBD = DAMKAR_SBR"), "[kecamatan Palaran] BPBD:", "unknown agency 'BPBD'"),
    (("DAMKAR = DAMKAR_SBR", "DAMKAR = DAMKAR_SBR, PDAM"), "[kecamatan Palaran] DAMKAR:", "one agency code"),
    (("[kecamatan Palaran]", "[kecamatan Atlantis]"), "[kecamatan Atlantis]", "not a kecamatan"),
    (("diterima 1m, diproses 5m", "diterima 1 menit, diproses 5m"), "[sla] kebakaran:", "'1 menit' is not a duration"),
    (("diterima 1m, diproses 5m", "diterima 0s, diproses 5m"), "[sla] kebakaran:", "'0s' is not a duration"),
    (("diterima 1m, diproses 5m", "diterima 10m, diproses 5m"), "[sla] kebakaran:", "cannot be shorter"),
    (("diterima 1m, diproses 5m", "diterima 1m"), "[sla] kebakaran:", "give both"),
    (("diterima 1m, diproses 5m", "diterima 1m, selesai 5m"), "[sla] kebakaran:", "'selesai 5m'"),
    (("default = diterima 5m, diproses 30m", "kriminal = diterima 5m, diproses 30m"), "[sla] default:", "missing"),
    (("kebakaran = diterima", "banjir = diterima"), "[sla] banjir:", "not a category of desk.conf"),
    (("duty_phones = +62541260113", "duty_phones = 113"), "[DAMKAR_SBR] duty_phones:", "'113' is not a phone"),
    (("duty_phones = +62541260113", "duty_phones ="), "[DAMKAR_SBR] duty_phones:", "missing"),
    (("kind = air", "kind = Air Minum"), "[PDAM] kind:", "a lowercase word"),
    (("duty_hours = 08:00-15:30", "duty_hours = 8-16"), "[PDAM] duty_hours:", "HH:MM-HH:MM"),
    (("duty_hours = 08:00-15:30", "duty_hours = 16:00-08:00"), "[PDAM] duty_hours:", "start must come before"),
    (("notify_duty_hours_only = yes", "notify_duty_hours_only = ya"), "[PDAM] notify_duty_hours_only:",
     "not one of yes, no"),
    (("duty_hours = 08:00-15:30", "telegram = @pdam"), "[PDAM] telegram:", "not a setting of an agency"),
    (("name = Perumdam Tirta Kencana\n", ""), "[PDAM] name:", "missing"),
    (("[DAMKAR_SBR]", "[Damkar Seberang]"), "[Damkar Seberang]", "is not an agency code"),
])
def test_each_mistake_is_one_line_naming_file_section_and_key(tmp_path: Path, change: tuple[str, str],
                                                               where: str, why: str) -> None:
    old, new = change
    assert old in GOOD
    path = written(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as refused:
        load_agencies(path, DESK)
    message = str(refused.value)
    assert message.startswith(f"{path}: {where}") and why in message and "\n" not in message, message


def test_an_agency_written_twice_is_named_with_both_lines(tmp_path: Path) -> None:
    path = written(tmp_path, GOOD + "\n[PDAM]\nname = lagi\n")
    with pytest.raises(ConfigError, match=r"agencies.conf:32: \[PDAM\] appears twice \(first at line 14\)"):
        load_agencies(path, DESK)


def test_a_file_without_agencies_or_unreadable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no agency"):
        load_agencies(written(tmp_path, "[sla]\ndefault = diterima 5m, diproses 30m\n"), DESK)
    with pytest.raises(ConfigError, match="cannot read"):
        load_agencies(tmp_path / "missing.conf", DESK)


def test_callengine_check_names_a_broken_agencies_conf(tmp_path: Path) -> None:
    from dataclasses import replace

    from callengine.cli import _agencies_problems
    from callengine.core.settings import load_settings

    settings = load_settings()
    assert settings.agencies_file == DEFAULT_AGENCIES and _agencies_problems(settings) == []
    broken = written(tmp_path, GOOD.replace("all = DAMKAR, PDAM", "all = DAMKAR, PMI"))
    assert _agencies_problems(replace(settings, agencies_file=broken)) == [
        f"config: {broken}: [rules kebakaran] all: unknown agency 'PMI' (agencies: DAMKAR, DAMKAR_SBR, PDAM)"]
