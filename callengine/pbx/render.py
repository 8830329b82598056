"""Render config/asterisk/ and dialplan/ into <runtime>/etc with the values of Settings."""
from __future__ import annotations

import math
import re
import wave
from pathlib import Path

from callengine.core.settings import LANGUAGES, Settings, load_secrets
from callengine.ivr.config import load_ivr
from callengine.queueing.roster import Person, Roster, roster_of

MODULE_DIRS = (Path("/usr/lib/asterisk/modules"), Path("/usr/lib/x86_64-linux-gnu/asterisk/modules"),
               Path("/usr/lib64/asterisk/modules"))
SYSTEM_DATA = Path("/usr/share/asterisk")
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
_SECTION = re.compile(r"^\[([^\]]+)\]", re.MULTILINE)
SUPERVISOR_PENALTY = 10  # supervisors ring only once the overflow rule lifts QUEUE_MAX_PENALTY to this
RUNTIME_DIRS = ("etc", "lib", "data/agi-bin", "data/sounds", "spool", "run", "log/cdr-csv", "log/cel-custom", "cache")


class RenderError(Exception):
    pass


def module_dir() -> Path:
    for candidate in MODULE_DIRS:
        if (candidate / "chan_pjsip.so").exists():
            return candidate
    raise RenderError("Asterisk modules not found (is Asterisk installed? run ./scripts/install-system)")


def placeholders(settings: Settings, roster: Roster, secrets: dict[str, str]) -> dict[str, str]:
    ivr = load_ivr(settings.ivr_file)
    numbers = "\n".join(
        f"exten => {number},1,Set(CE_DIALED=${{EXTEN}})\n same => n,Goto(emergency,s,1)"
        for number in settings.emergency_numbers)
    supervisors = "\n".join(_member(roster.people[a], SUPERVISOR_PENALTY) for a in roster.supervisors)
    everyone = "\n".join(_member(person, 0) for person in roster.people.values())
    return {
        "RUNTIME": str(settings.runtime_dir),
        "MODULE_DIR": str(module_dir()),
        "SOUNDS_DIR": str(settings.sounds_dir),
        "RECORDINGS_DIR": str(settings.recordings_dir),
        "LANGUAGE": settings.language,
        "SIP_BIND": settings.sip_bind,
        "SIP_PORT": str(settings.sip_port),
        "AMI_HOST": settings.ami_host,
        "AMI_PORT": str(settings.ami_port),
        "AMI_USER": settings.ami_user,
        "AMI_SECRET": secrets["ami"],
        "RTP_START": str(settings.rtp_start),
        "RTP_END": str(settings.rtp_end),
        "FASTAGI_HOST": settings.fastagi_host,
        "FASTAGI_PORT": str(settings.fastagi_port),
        "HEP_PORT": str(settings.hep_port),
        "HEP_PASSWORD": secrets["hep"],
        "TRUNK_ADDRESS": settings.trunk_match[0].split("/")[0],
        "TRUNK_MATCH": "\n".join(f"match = {m}" for m in settings.trunk_match),
        "TRUNK_PERMIT": ",".join(settings.trunk_match),
        "EMERGENCY_EXTENSIONS": numbers,
        "QUEUE": settings.queue,
        "QUEUE_STRATEGY": settings.queue_strategy,
        "QUEUE_WRAPUP": str(settings.queue_wrapup_s),
        "QUEUE_OVERFLOW": str(settings.queue_overflow_s),
        "HOLD_ANNOUNCE": str(settings.hold_announce_s),
        "POSITION_ANNOUNCE": str(settings.position_announce_s),
        "SUPERVISOR_PENALTY": str(SUPERVISOR_PENALTY),
        "SUPERVISOR_MEMBERS": supervisors,
        "FALLBACK_MEMBERS": everyone,
        "IVR_TIMEOUT": str(math.ceil(ivr.budget_s) + 1),
        "DEFAULT_PRIORITY": str(ivr.priorities["none"]),
    }


def fill(template: str, values: dict[str, str], source: Path) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise RenderError(f"{source}: unknown placeholder @{name}@")
        return values[name]
    return _PLACEHOLDER.sub(one, template)


def _member(person: Person, penalty: int) -> str:
    return f"member => PJSIP/{person.account},{penalty},{person.name},PJSIP/{person.account}"


def staff_endpoints(settings: Settings, roster: Roster, secrets: dict[str, str]) -> str:
    """One PJSIP endpoint, auth and aor per person on the roster (call takers and supervisors)."""
    taken = _pjsip_sections(settings) & set(roster.people)
    if taken:
        raise RenderError(f"{settings.roster_file}: account name(s) {', '.join(sorted(taken))} are PJSIP "
                          "sections of pjsip.conf (or Asterisk's anonymous endpoint): rename them")
    blocks = []
    for p in roster.people.values():
        blocks.append(
            f"[{p.account}](calltaker-endpoint)\nauth = {p.account}\naors = {p.account}\n"
            f"callerid = \"{p.name}\" <{p.account}>\n\n"
            f"[{p.account}](calltaker-auth)\nusername = {p.account}\npassword = {secrets[p.account]}\n\n"
            f"[{p.account}](calltaker-aor)\n")
    return f"; rendered from {settings.roster_file}\n\n" + "\n".join(blocks)


def _pjsip_sections(settings: Settings) -> set[str]:
    """Names an account must not take: a roster account "trunk" would become the trunk, one
    named "anonymous" the endpoint Asterisk gives requests from unknown senders."""
    template = settings.asterisk_templates / "pjsip.conf"
    names = _SECTION.findall(template.read_text()) if template.exists() else []
    return {*names, "anonymous"}


def render(settings: Settings) -> Path:
    """Write the runtime folder; returns the path of the rendered asterisk.conf. Idempotent."""
    runtime = settings.runtime_dir
    for sub in RUNTIME_DIRS:
        (runtime / sub).mkdir(parents=True, exist_ok=True)
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    roster = roster_of(settings)
    secrets = load_secrets(settings, roster.people)
    values = placeholders(settings, roster, secrets)
    etc = runtime / "etc"
    sources = sorted(settings.asterisk_templates.glob("*.conf")) + sorted(settings.dialplan_dir.glob("*.conf"))
    if not sources:
        raise RenderError(f"no Asterisk config templates in {settings.asterisk_templates}")
    for source in sources:
        (etc / source.name).write_text(fill(source.read_text(), values, source))
    (etc / "pjsip_staff.conf").write_text(staff_endpoints(settings, roster, secrets))
    _link_data(settings, runtime / "data")
    _hold_music(settings, runtime / "data" / "moh")
    return etc / "asterisk.conf"


def _hold_music(settings: Settings, moh: Path) -> None:
    """Per language: the hold prompt, then hold_announce seconds of silence (8 kHz mono 16-bit)."""
    for language in LANGUAGES:
        folder = moh / language
        folder.mkdir(parents=True, exist_ok=True)
        prompt = folder / "1-hold.wav"
        if prompt.is_symlink() or prompt.exists():
            prompt.unlink()
        prompt.symlink_to(settings.sounds_dir / language / "hold.wav")
        with wave.open(str(folder / "2-pause.wav"), "wb") as pause:
            pause.setnchannels(1)
            pause.setsampwidth(2)
            pause.setframerate(8000)
            pause.writeframes(b"\0\0" * 8000 * max(settings.hold_announce_s, 1))


def _link_data(settings: Settings, data: Path) -> None:
    """Asterisk's own data (XML documentation, core sounds) linked in, our prompts at
    sounds/callengine/<lang>/, and our numbers at sounds/<lang>/digits/ for every language
    the system has no core sounds of (Indonesian): app_queue says positions with them."""
    links = {Path("sounds/callengine"): settings.sounds_dir}
    for entry in (SYSTEM_DATA.iterdir() if SYSTEM_DATA.is_dir() else ()):
        if entry.name == "sounds":
            links.update({Path("sounds") / e.name: e for e in entry.iterdir()})
        elif entry.name != "agi-bin":
            links[Path(entry.name)] = entry
    for language in LANGUAGES:
        if Path("sounds") / language not in links:
            links[Path("sounds") / language / "digits"] = settings.sounds_dir / language / "digits"
    for name, target in links.items():
        link = data / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
