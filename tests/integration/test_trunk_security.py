"""Only the trunk's address enters as the trunk, through a real Asterisk: from anywhere else an
INVITE to 112 is refused whoever it claims to be (the trunk by name, a roster account, a
number, anonymous, with a P-Asserted-Identity), a wrong password registers nobody, the
failures land in Asterisk's security log where the shipped fail2ban filter finds the sender
(and nobody a forged field names), and location headers count only from the trunk."""
from __future__ import annotations

import configparser
import re
import time
from pathlib import Path

import pytest

import sipp
from callengine.queueing.roster import roster_of
from callengine.core.settings import PROJECT_DIR, load_settings
from callengine.pbx.render import RenderError, render
from lab import ROSTER, Lab, write_config
from test_location import CIRCLE

pytestmark = pytest.mark.integration
OUTSIDER = "127.0.0.3"        # reaches Asterisk's SIP port, is not [trunk] match
SOFTPHONE = "127.0.0.4"       # a call taker's softphone somewhere on the LAN
SPOOFED = "+6281111111111"
PAI = {"P-Asserted-Identity": f"<sip:{SPOOFED}@telco.example>"}
# a From user that writes a second RemoteAddress into the security log line (AccountID keeps
# only 36 characters, just enough): the filter must ban the sender, never the address it names
FORGED = "a%22,RemoteAddress=%22IPV4/UDP/1.2.3.4/5"
FILTER = PROJECT_DIR / "config" / "fail2ban" / "filter.d" / "callengine-asterisk.conf"


def test_from_elsewhere_nobody_enters_as_the_trunk_or_as_anyone(lab: Lab, tmp_path: Path) -> None:
    engine = lab.engine()
    callers = ["trunk", *roster_of(lab.settings).people, "+6281234567890", "anonymous"]
    refused = sipp.answers(lab, tmp_path / "outsider", sipp.invite_answer(PAI), [[c] for c in callers], OUTSIDER)
    assert refused.keys() == set(callers) and all(400 <= code < 500 for code in refused.values()), refused

    # the same INVITE from the trunk's address is the telco's: admitted, its PAI trusted
    admitted = sipp.answers(lab, tmp_path / "trunk", sipp.invite_answer(PAI), [["trunk"]], sipp.TRUNK)
    assert admitted == {"trunk": 200}
    linkedid = engine.wait_log("call recorded", timeout=30)["linkedid"]
    calls = lab.calls()
    assert [(c["linkedid"], c["caller"]) for c in calls] == [(linkedid, SPOOFED)]


def test_a_wrong_password_registers_nobody_and_failures_reach_the_security_log(lab: Lab, tmp_path: Path) -> None:
    register = sipp.register_answer()
    wrong = sipp.answers(lab, tmp_path / "wrong", register, [["taker1"]], OUTSIDER,
                         options=["-au", "taker1", "-ap", "not-the-password"])
    right = sipp.answers(lab, tmp_path / "right", register, [["taker2"]], SOFTPHONE,
                         options=["-au", "taker2", "-ap", lab.password("taker2")])
    # Asterisk 16 answers a wrong password with a fresh challenge (401), not a 403
    assert wrong in ({"taker1": 401}, {"taker1": 403}) and right == {"taker2": 200}
    forged = sipp.answers(lab, tmp_path / "forged", sipp.invite_answer(), [[FORGED]], OUTSIDER)
    assert list(forged.values()) == [401]

    lines = security_lines(lab, ["ChallengeResponseFailed", 'RemoteAddress="IPV4/UDP/1.2.3.4/5"',
                                 'SuccessfulAuth",EventTV'])
    failregexes = filter_regexes()
    banned = [host for line in lines if (host := failure_host(line, failregexes))]
    # the wrong password and the forged INVITE, both from the outsider; the softphone that
    # authenticated (challenged first, as every softphone is) and the forged address never
    assert set(banned) == {OUTSIDER} and len(banned) >= 2, lines


def test_location_headers_count_only_from_the_trunk(lab: Lab, tmp_path: Path) -> None:
    """An outsider's INVITE carrying a PIDF-LO is refused; the trunk's call that follows with the
    same Call-ID must not inherit the outsider's location."""
    engine = lab.engine()
    call_id = "same-dialog@telco.example"
    content_type, body = sipp.multipart(CIRCLE)
    refused = sipp.answers(lab, tmp_path / "outsider", sipp.invite_answer({"Geolocation": "<cid:loc1@127.0.0.2>"},
                                                                         content_type, body),
                           [["081234567890"]], OUTSIDER, options=["-cid_str", call_id])
    assert list(refused.values()) == [401]
    engine.wait_log("INVITE captured", sip_call_id=call_id, source=OUTSIDER)
    sipp.call(lab, tmp_path, sipp.scenario("081234567890"), call_id=call_id)
    linkedid = engine.wait_log("call recorded", timeout=30)["linkedid"]
    record = next(c for c in lab.calls() if c["linkedid"] == linkedid)
    assert (record["location"], record["locations"]) == (None, [])


@pytest.mark.parametrize("account", ["trunk", "anonymous"])
def test_a_roster_account_cannot_take_the_trunks_name(tmp_path: Path, account: str) -> None:
    settings = load_settings(write_config(tmp_path, ROSTER.replace("taker3 =", f"{account} =")))
    with pytest.raises(RenderError, match=account):
        render(settings)


def security_lines(lab: Lab, expected: list[str], timeout: float = 15) -> list[str]:
    """Asterisk's security log once each expected text is in it (its logger thread writes behind)."""
    path = lab.settings.runtime_dir / "log" / "security.log"
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if all(want in text for want in expected):
            return text.splitlines()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never showed {expected}: {text[-3000:]}")
        time.sleep(0.1)  # wait-ok: a file has no event to wait on: poll it


def filter_regexes() -> list[re.Pattern[str]]:
    """The shipped filter's failregexes as Python patterns, <HOST> an address (as fail2ban reads them)."""
    definition = configparser.ConfigParser(interpolation=None)
    definition.read(FILTER)
    return [re.compile(line.strip().replace("<HOST>", r"(?P<host>[0-9a-fA-F.:]+)"))
            for line in definition["Definition"]["failregex"].splitlines() if line.strip()]


def failure_host(line: str, failregexes: list[re.Pattern[str]]) -> str | None:
    """What fail2ban would ban for this line: the date its datepattern matches is cut from the
    front, then the first failregex that matches gives the host."""
    stamp = re.match(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\]", line)
    rest = line[stamp.end():] if stamp else line
    found = next((m for regex in failregexes if (m := regex.search(rest))), None)
    return found.group("host") if found else None
