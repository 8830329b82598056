"""[sla] escalate_after in config/agencies.conf: shipped at 2 minutes, seconds allowed (a
drill's or a test's tiny SLA), a default when absent, and a bad one refused naming the key
(at load_agencies, so `callengine check` and the console's start both catch it)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from callengine.core.conf import ConfigError
from callengine.core.settings import DEFAULT_AGENCIES
from callengine.dispatch.config import load_agencies, load_escalate_after
from test_dispatch_config import DESK, written

TINY = """
[DAMKAR]
name = Dinas Pemadam Kebakaran
kind = damkar
duty_phones = +62541741113

[sla]
default = diterima 2s, diproses 4s
"""


def test_the_shipped_default_escalates_to_the_supervisor_two_minutes_after_the_heads() -> None:
    load_agencies(DEFAULT_AGENCIES, DESK)
    assert load_escalate_after(DEFAULT_AGENCIES) == timedelta(minutes=2)


def test_seconds_are_allowed_and_the_key_may_be_left_out(tmp_path: Path) -> None:
    path = written(tmp_path, TINY + "escalate_after = 3s\n")
    rules = load_agencies(path, DESK)
    assert (rules.sla_for(None).accept, rules.sla_for(None).process) == (timedelta(seconds=2), timedelta(seconds=4))
    assert "escalate_after" not in rules.sla and load_escalate_after(path) == timedelta(seconds=3)
    assert load_escalate_after(written(tmp_path, TINY)) == timedelta(minutes=2)


@pytest.mark.parametrize("value", ["2 menit", "0s", "", "5d"])
def test_a_bad_delay_is_one_line_naming_the_key(tmp_path: Path, value: str) -> None:
    path = written(tmp_path, TINY + f"escalate_after = {value}\n")
    with pytest.raises(ConfigError) as refused:
        load_agencies(path, DESK)
    assert str(refused.value).startswith(f"{path}: [sla] escalate_after:") and "is not a duration" in str(refused.value)
