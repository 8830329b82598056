"""The command line's errors: one actionable line, no traceback, a non-zero exit."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

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
    import asyncio
    from datetime import datetime, timedelta, timezone

    from callengine.calls.record import CallRecord
    from callengine.config import load_settings
    from callengine.tickets.store import TicketStore

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
        store = TicketStore(settings.database_url)
        await store.migrate()
        await store.save_call(CallRecord("held.1", None, "", "112", old, None, old, None, None, None, None, None,
                                         "ended_in_ivr", 16, None, None, f"{day}/held.wav"))
        assert await store.set_legal_hold("held.1", True)
        await store.close()

    asyncio.run(seed())
    dry = callengine(config, "recordings", "prune", "--dry-run")
    assert dry.returncode == 0 and "gone.wav" in dry.stdout and "gone.ogg" in dry.stdout
    assert "/held." not in dry.stdout and "recent.wav" not in dry.stdout and "2 file(s)" in dry.stdout
    assert (settings.recordings_dir / day / "gone.wav").exists()            # a dry run deletes nothing
    done = callengine(config, "recordings", "prune")
    assert done.returncode == 0 and not (settings.recordings_dir / day / "gone.wav").exists()
    assert (settings.recordings_dir / day / "held.wav").exists() and recent.exists()
