"""The command line's errors: one actionable line, no traceback, a non-zero exit."""
from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callengine.tickets.records import CallRecords
from callengine.db.tickets import TicketRepository
from callengine.db.database import Database
from callengine.calls.record import CallRecord
from callengine.core.settings import load_settings
from lab import write_config


def callengine(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callengine", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60)


def assert_one_clear_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_on_every_command() -> None:
    for args in ([], ["run"], ["up"], ["check"], ["render"], ["calls", "list"], ["calls", "mark-prank"], ["calls", "hold"],
                 ["prompts", "check"], ["prompts", "build"], ["queue", "status"], ["queue", "pause"],
                 ["queue", "unpause"], ["softphones"], ["stats"], ["reload"], ["recordings", "prune"],
                 ["celldb", "import"]):
        done = subprocess.run([sys.executable, "-m", "callengine", *args, "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and "usage: callengine" in done.stdout


def test_check_passes_on_a_good_config(tmp_path: Path) -> None:
    done = callengine(write_config(tmp_path), "check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK:")


def test_bad_config_value(tmp_path: Path) -> None:
    config = write_config(tmp_path, sip_port="fifty")
    assert_one_clear_error(callengine(config, "check"), "config:", "[asterisk] sip_port", "'fifty' is not a whole number")


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, web_port=str(port))
        assert_one_clear_error(callengine(config, "up"), f"web port 127.0.0.1:{port}/tcp is in use")
        assert_one_clear_error(callengine(config, "run"), f"web port 127.0.0.1:{port}/tcp is in use")


def test_asterisk_missing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[asterisk]\n", "[asterisk]\nbinary = /opt/none/asterisk\n"))
    assert_one_clear_error(callengine(config, "up"), "Asterisk is not installed", "install-system")


def test_ami_refused_when_asterisk_is_not_running(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert_one_clear_error(callengine(config, "check", "--running"), "AMI at 127.0.0.1:", "is not reachable", "is Asterisk running?")


def test_prompt_missing_is_named(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    (sounds / "id").mkdir(parents=True)
    (sounds / "en").mkdir()
    (sounds / "prompts.conf").write_text("[greeting]\nid = Halo\nen = Hello\n")
    (sounds / "en" / "greeting.wav").write_bytes(b"not a wav")
    config = write_config(tmp_path, sounds=str(sounds))
    done = callengine(config, "prompts", "check")
    assert done.returncode == 1
    assert f"{sounds}/id/greeting.wav: missing" in done.stderr
    assert f"{sounds}/en/greeting.wav: is not a WAV file" in done.stderr


def test_bad_ivr_config_is_named_by_check(tmp_path: Path) -> None:
    ivr = tmp_path / "ivr.conf"
    ivr.write_text("[menu]\nbudget = 30\n[options]\n1 = ambulans\n[priorities]\nnone = 5\nprank = 0\n")
    config = write_config(tmp_path, ivr=str(ivr))
    assert_one_clear_error(callengine(config, "check"), f"{ivr}: [priorities] ambulans: missing")


def test_bad_roster_is_named_by_check(tmp_path: Path) -> None:
    from lab import ROSTER
    config = write_config(tmp_path, roster=ROSTER.replace("1 = pagi taker1", "1 = pagi taker9"))
    assert_one_clear_error(callengine(config, "check"),
                           f"{tmp_path / 'roster.conf'}: [rotation] 1: 'taker9' is neither a team nor a person")


def test_prune_spares_held_and_recent_recordings(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    settings = load_settings(config)
    old = datetime.now(timezone.utc) - timedelta(days=400)
    day = old.strftime("%Y/%m/%d")
    for name in ("held", "gone"):
        wav = settings.recordings_dir / day / f"{name}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        wav.write_bytes(b"RIFF")
        wav.with_suffix(".ogg").write_bytes(b"OggS")
    recent = settings.recordings_dir / datetime.now(timezone.utc).strftime("%Y/%m/%d") / "recent.wav"
    recent.parent.mkdir(parents=True, exist_ok=True)
    recent.write_bytes(b"RIFF")

    async def seed() -> None:
        store = Database(settings.database_url)
        await store.migrate()
        await CallRecords(store).save(CallRecord("held.1", None, "", "112", old, None, old, None, None, None, None, None,
                                         "ended_in_ivr", 16, None, None, f"{day}/held.wav"))
        assert await TicketRepository(store).set_legal_hold("held.1", True)
        await store.close()

    asyncio.run(seed())
    dry = callengine(config, "recordings", "prune", "--dry-run")
    assert dry.returncode == 0 and "gone.wav" in dry.stdout and "gone.ogg" in dry.stdout
    assert "/held." not in dry.stdout and "recent.wav" not in dry.stdout and "2 file(s)" in dry.stdout
    assert (settings.recordings_dir / day / "gone.wav").exists()            # a dry run deletes nothing
    done = callengine(config, "recordings", "prune")
    assert done.returncode == 0 and not (settings.recordings_dir / day / "gone.wav").exists()
    assert (settings.recordings_dir / day / "held.wav").exists() and recent.exists()


WITA = ZoneInfo("Asia/Makassar")


def queued(local: str, disposition: str, wait: float | None, agent: str | None = None, talk: float | None = None,
           queue: str | None = "112") -> CallRecord:
    """A call as the tracker records it: started_at in UTC; `local` is its WITA time."""
    started = datetime.fromisoformat(local).replace(tzinfo=WITA).astimezone(timezone.utc)
    answered = started + timedelta(seconds=wait or 0) if disposition == "answered" else None
    return CallRecord(local, "+6281234567890", "081234567890", "112", started, answered,
                      started + timedelta(seconds=60), None, queue, wait, agent, talk, disposition, 16,
                      "Normal Clearing", "caller", None)


# The day of 2026-11-23 in Samarinda runs from 07:00 WITA (23:00Z on the 22nd) to 07:00 on the 24th
# (23:00Z on the 23rd): its first hours are on another UTC date, and its local midnight is inside it.
SCRIPTED_DAY = [
    queued("2026-11-23T06:59:59", "answered", 3, "taker1", 40),            # yesterday's night shift
    queued("2026-11-23T07:00:00", "answered", 4, "taker1", 60),            # pagi; still the 22nd in UTC
    queued("2026-11-23T10:00:00", "answered", 18, "taker1", 30),           # pagi; 02:00Z
    queued("2026-11-23T15:10:00", "abandoned", 25),                        # siang
    queued("2026-11-23T22:00:00", "ended_in_ivr", None, queue=None),       # never offered to a queue
    queued("2026-11-23T23:59:59", "answered", 2, "taker1", 10),            # malam, before local midnight
    queued("2026-11-24T00:00:00", "abandoned", 7),                         # malam, local midnight: the 23rd's day
    queued("2026-11-24T06:59:59", "answered", 22, "taker1", 5),            # malam, the day's last second
    queued("2026-11-24T07:00:00", "answered", 1, "taker1", 5),             # the 24th's day; 23:00Z on the 23rd
]


def seeded(tmp_path: Path, database_url: str, records: list[CallRecord] = SCRIPTED_DAY) -> Path:
    """A centre in WITA whose store (SQLite or PostgreSQL) holds these records."""
    config = write_config(tmp_path, database=database_url)

    async def seed() -> None:
        store = Database(load_settings(config).database_url)
        await store.migrate()
        for record in records:
            await CallRecords(store).save(record)
        await store.close()

    asyncio.run(seed())
    return config


def test_stats_of_a_scripted_day_in_wita(tmp_path: Path, database_url: str) -> None:
    done = callengine(seeded(tmp_path, database_url), "stats", "--day", "2026-11-23", "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert (stats["from"], stats["to"]) == ("2026-11-23T07:00:00+08:00", "2026-11-24T07:00:00+08:00")
    q = stats["queues"]["112"]
    assert (q["offered"], q["answered"], q["abandoned"]) == (6, 4, 2)
    assert (q["answered_within_15s"], q["answered_within_20s"]) == (2, 3)
    assert q["average_speed_of_answer_s"] == (4 + 18 + 2 + 22) / 4 and q["longest_wait_s"] == 25
    shifts = {name: (t["offered"], t["answered"], t["abandoned"]) for name, t in stats["shifts"].items()}
    assert shifts == {"pagi": (2, 2, 0), "siang": (1, 0, 1), "malam": (3, 2, 1)}
    assert stats["calltakers"] == {"taker1": {"answered": 4, "talk_s": 105.0}}


def listed(config: Path, *args: str) -> tuple[list[str], str]:
    """The linkedids `calls list --json` prints, newest first, and what it says on stderr."""
    done = callengine(config, "calls", "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(c["started_at"].endswith("+08:00") for c in calls)
    return [c["linkedid"][8:] for c in calls], done.stderr.strip()


def test_calls_list_says_when_the_limit_cut_it(tmp_path: Path, database_url: str) -> None:
    config = seeded(tmp_path, database_url)
    assert listed(config, "--limit", "3") == (["24T07:00:00", "24T06:59:59", "24T00:00:00"],
                                              "callengine: showing the newest 3 of 9 calls; --limit 0 for all")
    for everything in (["--limit", "0"], ["--limit", "9"], []):
        calls, said = listed(config, *everything)
        assert len(calls) == 9 and said == ""
    assert_one_clear_error(callengine(config, "calls", "list", "--limit", "-1"), "--limit -1", "0 for all")


def test_calls_list_since_and_until_in_the_centres_zone(tmp_path: Path, database_url: str) -> None:
    config = seeded(tmp_path, database_url)
    assert listed(config, "--since", "2026-11-24")[0] == ["24T07:00:00", "24T06:59:59", "24T00:00:00"]
    assert len(listed(config, "--until", "2026-11-23")[0]) == 6                     # the whole local 23rd
    assert listed(config, "--since", "2026-11-23T23:00", "--until", "2026-11-24T00:00:01")[0] == [
        "24T00:00:00", "23T23:59:59"]                                                # no offset: WITA
    assert listed(config, "--since", "2026-11-23T23:00:00+00:00")[0] == ["24T07:00:00"]
    assert listed(config, "--since", "2026-11-23T07:00", "--limit", "1") == (
        ["24T07:00:00"], "callengine: showing the newest 1 of 8 calls; --limit 0 for all")   # counts the span
    refused = callengine(config, "calls", "list", "--since", "yesterday")
    assert refused.returncode == 2 and "'yesterday' is neither YYYY-MM-DD" in refused.stderr


@pytest.mark.parametrize("url,said", [
    ("mysql://root@127.0.0.1/callengine", "mysql:// is not a database callengine supports"),
    ("postgresql+psycopg2://callengine@127.0.0.1/callengine", "names the driver 'psycopg2'"),
    ("postgres://callengine@127.0.0.1:54x32/callengine", "postgres:// URL cannot be read (bad port)"),
])
def test_a_database_url_callengine_cannot_use_is_one_line(tmp_path: Path, url: str, said: str) -> None:
    config = write_config(tmp_path, database=url)
    for command in ("check", "run"):
        assert_one_clear_error(callengine(config, command), "[general] database:", said)


def test_common_spellings_of_postgresql_are_read_as_asyncpg(tmp_path: Path) -> None:
    config = write_config(tmp_path, database="postgres://callengine:rahasia@127.0.0.1:5432/callengine")
    done = callengine(config, "check")
    assert done.returncode == 0, done.stderr
    assert "note: database postgres:// is read as postgresql+asyncpg://" in done.stdout
    assert load_settings(config).database_url == "postgresql+asyncpg://callengine:rahasia@127.0.0.1:5432/callengine"
