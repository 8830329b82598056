"""Config errors name the file, section and key; secrets are generated once and kept."""
from pathlib import Path

import pytest

from callengine.queueing.roster import roster_of
from callengine.core.conf import ConfigError
from callengine.core.settings import load_secrets, load_settings

BASE = """
[general]
runtime = rt
"""
ROSTER = """
[calltakers]
taker1 = Operator Satu
[supervisors]
spv1 = Supervisor Satu
[rotation]
1 = pagi taker1, siang taker1, malam taker1
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "roster.conf").write_text(ROSTER)
    path = tmp_path / "callengine.conf"
    path.write_text(text)
    return path


def test_defaults_resolve_relative_to_the_config_file(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, BASE))
    assert s.runtime_dir == (tmp_path / "rt").resolve()
    assert s.database_url == f"sqlite+aiosqlite:///{s.runtime_dir / 'callengine.db'}"
    assert (s.sip_port, s.ami_port, s.fastagi_port, s.web_port) == (5060, 5038, 4573, 8112)
    assert s.trunk_match == ("127.0.0.2",) and s.emergency_numbers == ("112",)
    roster = roster_of(s)
    assert roster.calltakers == ["taker1"] and roster.supervisors == ["spv1"]
    assert (s.queue_wrapup_s, s.queue_overflow_s) == (5, 30)


@pytest.mark.parametrize("section,line,message", [
    ("asterisk", "sip_port = 50x60", "[asterisk] sip_port: '50x60' is not a whole number"),
    ("asterisk", "ami_port = 70000", "[asterisk] ami_port: 70000 is outside 1..65535"),
    ("engine", "fastagi_host = localhost", "[engine] fastagi_host: 'localhost' is not an IP address"),
    ("general", "timezone = Asia/Samarinda", "[general] timezone: 'Asia/Samarinda' is not an IANA time zone"),
    ("general", "language = jv", "[general] language: 'jv' is not one of id, en"),
    ("trunk", "numbers = 112, 1l2", "[trunk] numbers: '1l2' is not a dialable number"),
    ("queue", "strategy = fastest", "[queue] strategy: 'fastest' is not one of"),
    ("general", "database = mysql", "[general] database: 'mysql' is neither 'sqlite' nor a SQLAlchemy URL"),
    ("queue", "overflow = 2", "[queue] overflow: 2 is outside 5..3600"),
    ("webhooks", "urls = https://ok.example/hook, ftp://x", "[webhooks] urls: 'ftp://x' is not an http:// or https:// URL"),
    ("queue", "pause_reasons = istirahat, makan siang", "[queue] pause_reasons: 'makan siang': a reason is one word"),
])
def test_bad_values_give_one_precise_message(tmp_path: Path, section: str, line: str, message: str) -> None:
    path = write(tmp_path, BASE + f"[{section}]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_a_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[general\ncity = X\n")
    with pytest.raises(ConfigError, match=rf"{path}:1: Missing '\['"):
        load_settings(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.conf")


def test_secrets_are_generated_once_private_and_stable(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, BASE))
    first = load_secrets(s, roster_of(s).people)
    assert set(first) == {"ami", "webhook", "hep", "aml", "engine_api", "taker1", "spv1"} and all(len(v) >= 20 for v in first.values())
    assert s.secrets_file.stat().st_mode & 0o077 == 0
    assert load_secrets(s) == first
