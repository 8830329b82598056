"""config/qa.conf: the shipped form loads against the shipped desk.conf; each kind of mistake is
one ConfigError line naming the file, the section and the key; `callengine check` says it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from callengine.core.conf import ConfigError
from callengine.core.settings import DEFAULT_DESK, DEFAULT_QA, load_settings
from callengine.qa.forms import load_forms, qa_problems
from callengine.tickets.desk import load_desk

CATEGORIES = load_desk(DEFAULT_DESK).incident_types
GOOD = """
[form standar]
title = Standar penanganan panggilan 112
version = 2

[standar salam]
part = Pembukaan
text = Menyapa dengan salam standar 112
answer = yes/no
weight = 5

[standar lokasi]
part = Lokasi
text = Menanyakan lokasi kejadian
answer = yes/no
weight = 20
critical = kebakaran, ambulans

[standar nomor]
part = Penutupan
text = Mengonfirmasi nomor yang bisa dihubungi
answer = yes/no
weight = 10
na = yes
critical = yes

[standar sikap]
part = Penutupan
text = Sikap tenang dan empatik
answer = 0-4
weight = 10
"""


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "qa.conf"
    path.write_text(text)
    return path


def test_the_shipped_form_loads_with_its_four_parts_and_the_fire_critical_location() -> None:
    forms = load_forms(DEFAULT_QA, CATEGORIES)
    form = forms["standar"]
    assert form.to_json()["parts"] == ["Pembukaan", "Penggalian informasi", "Lokasi", "Penutupan"]
    assert sum(c.weight for c in form.criteria) == 100
    location = form.criterion("lokasi")
    assert location is not None and location.critical_in("kebakaran") and not location.critical_in("bencana")
    number = form.criterion("nomor")
    assert number is not None and "nomor yang bisa dihubungi" in number.text and not number.critical
    assert [c.id for c in form.criteria if c.critical and not c.only_for] == ["tetap_di_saluran"]
    assert {c.out_of for c in form.criteria} == {1, 4}


def test_a_form_reads_kinds_weights_na_and_critical_in_the_files_order(tmp_path: Path) -> None:
    form = load_forms(written(tmp_path, GOOD), CATEGORIES)["standar"]
    assert (form.title, form.version) == ("Standar penanganan panggilan 112", 2)
    assert [(c.id, c.part, c.out_of, c.weight, c.na) for c in form.criteria] == [
        ("salam", "Pembukaan", 1, 5, False), ("lokasi", "Lokasi", 1, 20, False),
        ("nomor", "Penutupan", 1, 10, True), ("sikap", "Penutupan", 4, 10, False)]
    lokasi, nomor = form.criteria[1], form.criteria[2]
    assert lokasi.only_for == ("kebakaran", "ambulans") and lokasi.critical_in("ambulans")
    assert not lokasi.critical_in(None) and nomor.critical_in(None) and nomor.critical_in("lainnya")
    assert form.to_json()["criteria"][1]["critical"] == ["kebakaran", "ambulans"]
    assert form.to_json()["criteria"][3]["answer"] == "0-4"


@pytest.mark.parametrize("change, where, why", [
    (("answer = 0-4", "answer = 0-1"), "[standar sikap] answer:", "yes/no, or a scale 0-N with N from 2 to 10"),
    (("answer = 0-4", "answer = 0-20"), "[standar sikap] answer:", "N from 2 to 10"),
    (("answer = 0-4", "answer = ya/tidak"), "[standar sikap] answer:", "'ya/tidak'"),
    (("answer = 0-4\n", "answer = 0-4\ncritical = yes\n"), "[standar sikap] critical:",
     "only a yes/no criterion is critical"),
    (("critical = kebakaran, ambulans", "critical = kebakaran, ambulan"), "[standar lokasi] critical:",
     "'ambulan' is not a category of desk.conf"),
    (("weight = 20", "weight = 0"), "[standar lokasi] weight:", "0 is outside 1..100"),
    (("weight = 20", "weight = dua puluh"), "[standar lokasi] weight:", "not a whole number"),
    (("na = yes", "na = ya"), "[standar nomor] na:", "'ya' is not one of yes, no"),
    (("weight = 5\n", "weight = 5\nbobot = 3\n"), "[standar salam] bobot:", "not a setting of a criterion"),
    (("text = Menyapa dengan salam standar 112\n", ""), "[standar salam] text:", "missing"),
    (("version = 2", "version = dua"), "[form standar] version:", "not a whole number"),
    (("version = 2", "versi = 2"), "[form standar] versi:", "not a setting of a form"),
    (("[standar salam]", "[lama salam]"), "[lama salam] is neither [form <name>] nor [<form> <criterion>]",
     "(standar)"),
    (("[standar salam]", "[standar Salam-Awal]"), "[standar Salam-Awal]:", "lowercase letters, digits and _"),
    (("[form standar]", "[form Standar 112]"), "[form Standar 112]:", "a form's name is lowercase"),
    (("part = Penutupan\ntext = Mengonfirmasi", "part = Pembukaan\ntext = Mengonfirmasi"), "[standar nomor] part:",
     "'Pembukaan' comes again after 'Lokasi': keep a part's criteria together"),
])
def test_each_mistake_is_one_line_naming_file_section_and_key(tmp_path: Path, change: tuple[str, str],
                                                               where: str, why: str) -> None:
    old, new = change
    assert old in GOOD
    path = written(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as refused:
        load_forms(path, CATEGORIES)
    message = str(refused.value)
    assert message.startswith(f"{path}: {where}") and why in message and "\n" not in message, message


def test_a_criterion_written_twice_is_named_with_both_lines(tmp_path: Path) -> None:
    path = written(tmp_path, GOOD + "\n[standar salam]\npart = Pembukaan\ntext = lagi\nanswer = yes/no\n")
    with pytest.raises(ConfigError, match=r"qa.conf:33: \[standar salam\] appears twice \(first at line 6\)"):
        load_forms(path, CATEGORIES)


def test_no_form_a_form_without_criteria_or_no_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"qa.conf: no form: add a section such as \[form standar\]"):
        load_forms(written(tmp_path, "; kosong\n"), CATEGORIES)
    with pytest.raises(ConfigError, match=r"\[form kosong\]: no criterion"):
        load_forms(written(tmp_path, GOOD + "\n[form kosong]\ntitle = Kosong\n"), CATEGORIES)
    with pytest.raises(ConfigError, match="cannot read"):
        load_forms(tmp_path / "missing.conf", CATEGORIES)


def test_callengine_check_names_a_broken_qa_conf(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.qa_file == DEFAULT_QA and qa_problems(settings) == []
    broken = written(tmp_path, GOOD.replace("answer = 0-4", "answer = 1-5"))
    assert qa_problems(replace(settings, qa_file=broken)) == [
        f"config: {broken}: [standar sikap] answer: '1-5': yes/no, or a scale 0-N with N from 2 to 10 (e.g. 0-4)"]
