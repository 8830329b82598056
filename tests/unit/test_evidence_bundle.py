"""Evidence bundles: an export (the service on plain fakes, a real key, real files) verifies; any
one file of the ZIP altered, removed, stored twice, or one added, the manifest or its signature
altered, or another centre's key, and verification fails naming that file. The signature is plain
Ed25519 over the manifest's bytes (openssl checks it too); the key is made once, 0600. A
recording that fails its check refuses the export unless allowed, and then says so first."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import warnings
import zipfile
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pypdf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from callengine.accounts.model import AuditEntry
from callengine.calls.record import CallRecord
from callengine.evidence.bundle import MANIFEST, SIGNATURE, Verdict, verify
from callengine.evidence.keys import KeyProblem, centre_key, existing_key, fingerprint, load_public, public_pem
from callengine.evidence.service import Centre, Custody, EvidenceError, Requester
from callengine.tickets.model import Ticket
from callengine.tickets.story import TicketStory

AT = datetime(2026, 12, 2, 1, 15, tzinfo=timezone.utc)
WAV = b"RIFF" + bytes(range(256)) * 40
CALL = CallRecord("1.1", "+6281111111111", "081111111111", "112", AT, AT, AT, "kebakaran", "112", 9.0, "taker1",
                  51.0, "answered", 16, "Normal Clearing", "caller", "2026/12/02/1.1.wav",
                  recording_facts={"sha256": hashlib.sha256(WAV).hexdigest(),
                                   "browser_copy": "2026/12/02/1.1.ogg"})
TICKET = Ticket(1, "1.1", "baru", "kebakaran", "+6281111111111", AT, "SMD-20261202-0001",
                description="Api di dapur, Ibu Siti — dua rumah")
NAMES = ["recording/1.1.wav", "recording/1.1.ogg", "call.json", "ticket.json", "audit.json", "summary.pdf",
         MANIFEST, SIGNATURE]


class Clock:
    def now(self) -> datetime:
        return AT


class Calls:
    def __init__(self, record: CallRecord = CALL) -> None:
        self.record = record

    async def get(self, linkedid: str) -> CallRecord | None:
        return self.record if linkedid == self.record.linkedid else None


class Tickets:
    async def by_linkedid(self, linkedid: str) -> Ticket | None:
        return TICKET if linkedid == TICKET.linkedid else None


class Audit:
    def __init__(self) -> None:
        self.rows = [AuditEntry(AT, "qa1", "recording.play", "call/1.1", {"file": "1.1.ogg"}, "10.0.0.7"),
                     AuditEntry(AT, "spv1", "dispatch.send", "SMD-20261202-0001", {"agencies": ["DAMKAR"]}, None),
                     AuditEntry(AT, "taker2", "tickets.update", "SMD-20261202-0002", {}, None)]

    async def add(self, entry: AuditEntry, conn: Any = None) -> None:
        self.rows.append(entry)

    async def about(self, targets: list[str], under: list[str] = ()) -> list[AuditEntry]:
        return [e for e in self.rows if e.target in targets or any(e.target.startswith(f"{u}/") for u in under)]


class Alerts:
    def __init__(self) -> None:
        self.raised: list[tuple[str, str]] = []

    async def add(self, at: datetime, kind: str, message: str) -> None:
        self.raised.append((kind, message))


@pytest.fixture
def custody(tmp_path: Path) -> Custody:
    recordings = tmp_path / "rec"
    (recordings / "2026/12/02").mkdir(parents=True)
    (recordings / "2026/12/02/1.1.wav").write_bytes(WAV)
    (recordings / "2026/12/02/1.1.ogg").write_bytes(b"OggS" + b"\x01" * 300)
    return Custody(Calls(), Tickets(), TicketStory(), Audit(), Alerts(),  # type: ignore[arg-type]
                   partial(centre_key, tmp_path / "rt/evidence/ed25519.key"), recordings,
                   Centre("Samarinda", "SMD", ZoneInfo("Asia/Makassar")), Clock())


QA = Requester("qa1", "web", "10.0.0.7")


async def exported(custody: Custody, folder: Path) -> Path:
    return (await custody.export("1.1", "  Permintaan Polres no. 12  ", QA)).save(folder)


def rewritten(source: Path, target: Path, change: dict[str, bytes | None],
              extra: tuple[str, bytes] | None = None) -> Path:
    """The bundle with entries replaced (bytes) or left out (None), and one more appended."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for entry in old.infolist():
            data = change.get(entry.filename, old.read(entry))
            if data is not None:
                new.writestr(entry.filename, data)
        if extra:
            with warnings.catch_warnings():   # a name stored twice is what the test wants
                warnings.simplefilter("ignore", UserWarning)
                new.writestr(*extra)
    return target


def named(verdict: Verdict, name: str) -> bool:
    return not verdict.ok and any(p.name == name or name in p.why for p in verdict.problems)


async def test_an_export_holds_the_call_s_files_and_verifies(custody: Custody, tmp_path: Path) -> None:
    path = await exported(custody, tmp_path / "out")
    key = existing_key(tmp_path / "rt/evidence/ed25519.key").public_key()
    verdict = verify(path, key)
    assert verdict.ok, verdict.problems
    assert path.name.startswith("evidence-1.1-20261202T011500Z-") and path.suffix == ".zip"
    with zipfile.ZipFile(path) as bundle:
        assert sorted(bundle.namelist()) == sorted(NAMES)
        assert bundle.read("recording/1.1.wav") == WAV
        assert json.loads(bundle.read("call.json"))["linkedid"] == "1.1"
        story = json.loads(bundle.read("ticket.json"))
        trail = json.loads(bundle.read("audit.json"))
    assert story["number"] == TICKET.number and story["timeline"][0]["kind"] == "call.started"
    assert [(a["actor"], a["action"]) for a in trail] == [("qa1", "recording.play"), ("spv1", "dispatch.send")]
    manifest = verdict.manifest
    assert manifest is not None and manifest["recording_integrity"] == "ok" and manifest["warning"] is None
    assert (manifest["exported_by"], manifest["via"], manifest["peer"]) == ("qa1", "web", "10.0.0.7")
    assert manifest["reason"] == "Permintaan Polres no. 12" and manifest["centre"]["city_code"] == "SMD"
    assert manifest["key_sha256"] == fingerprint(key) == verdict.key
    assert {f["name"] for f in manifest["files"]} == set(NAMES) - {MANIFEST, SIGNATURE}
    [row] = [e for e in custody.audit.rows if e.action == "evidence.export"]
    assert (row.actor, row.target, row.peer, row.detail["reason"]) == ("qa1", "call/1.1", "10.0.0.7",
                                                                      "Permintaan Polres no. 12")
    assert row.detail["bundle"] == path.name


@pytest.mark.parametrize("name", NAMES)
async def test_any_file_altered_fails_naming_it(custody: Custody, tmp_path: Path, name: str) -> None:
    path = await exported(custody, tmp_path)
    key = existing_key(tmp_path / "rt/evidence/ed25519.key").public_key()
    with zipfile.ZipFile(path) as bundle:
        data = bundle.read(name)
    if name == MANIFEST:   # a lie that is still a manifest: the reason changed
        altered = data.replace(b"Permintaan Polres no. 12", b"Permintaan Polres no. 13")
    else:                  # one byte flipped: the size stays, only the hash tells
        altered = data[:-1] + bytes([data[-1] ^ 1])
    assert altered != data and len(altered) == len(data)
    verdict = verify(rewritten(path, tmp_path / "altered.zip", {name: altered}), key)
    assert named(verdict, name), verdict.problems
    bigger = verify(rewritten(path, tmp_path / "bigger.zip", {name: data + b"\n"}), key)
    assert named(bigger, name), bigger.problems


@pytest.mark.parametrize("name", NAMES)
async def test_any_file_removed_or_stored_twice_fails_naming_it(custody: Custody, tmp_path: Path, name: str) -> None:
    path = await exported(custody, tmp_path)
    key = existing_key(tmp_path / "rt/evidence/ed25519.key").public_key()
    removed = verify(rewritten(path, tmp_path / "removed.zip", {name: None}), key)
    assert named(removed, name) and "missing" in str(removed.problems), removed.problems
    with zipfile.ZipFile(path) as bundle:
        twice = verify(rewritten(path, tmp_path / "twice.zip", {}, (name, bundle.read(name))), key)
    assert named(twice, name) and "2 times" in str(twice.problems), twice.problems


async def test_a_file_added_fails_naming_it(custody: Custody, tmp_path: Path) -> None:
    path = await exported(custody, tmp_path)
    key = existing_key(tmp_path / "rt/evidence/ed25519.key").public_key()
    verdict = verify(rewritten(path, tmp_path / "added.zip", {}, ("recording/other.wav", b"RIFF")), key)
    assert [str(p) for p in verdict.problems] == ["recording/other.wav: not in the manifest"]


async def test_another_key_fails_and_the_published_key_verifies(custody: Custody, tmp_path: Path) -> None:
    path = await exported(custody, tmp_path)
    stranger = Ed25519PrivateKey.generate().public_key()
    verdict = verify(path, stranger)
    assert [p.name for p in verdict.problems] == [SIGNATURE] and "the manifest names key" in verdict.problems[0].why
    published = public_pem(existing_key(tmp_path / "rt/evidence/ed25519.key").public_key())
    assert verify(path, load_public(published.encode(), "centre.pem")).ok
    with pytest.raises(KeyProblem):
        load_public(b"-----BEGIN PUBLIC KEY-----\nbm9wZQ==\n-----END PUBLIC KEY-----\n", "junk.pem")


async def test_not_a_zip_fails_naming_it(tmp_path: Path) -> None:
    junk = tmp_path / "evidence.zip"
    junk.write_bytes(b"not a zip at all")
    verdict = verify(junk, Ed25519PrivateKey.generate().public_key())
    assert [p.name for p in verdict.problems] == ["evidence.zip"]


async def test_openssl_checks_the_signature_too(custody: Custody, tmp_path: Path) -> None:
    """The signature is plain Ed25519 over the manifest's bytes: no need of callengine to check it."""
    path = await exported(custody, tmp_path)
    with zipfile.ZipFile(path) as bundle:
        bundle.extractall(tmp_path / "unpacked", [MANIFEST, SIGNATURE])
    pem = tmp_path / "centre.pem"
    pem.write_text(public_pem(existing_key(tmp_path / "rt/evidence/ed25519.key").public_key()))
    unpacked = tmp_path / "unpacked"
    checked = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin",
                              "-in", str(unpacked / MANIFEST), "-sigfile", str(unpacked / SIGNATURE)],
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "Signature Verified Successfully" in checked.stdout, checked


def test_the_key_is_made_once_private_and_refused_when_others_may_read_it(tmp_path: Path) -> None:
    path = tmp_path / "rt/evidence/ed25519.key"
    first = centre_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert fingerprint(centre_key(path).public_key()) == fingerprint(first.public_key())
    assert [p.name for p in path.parent.iterdir()] == ["ed25519.key"]     # no partial file left behind
    os.chmod(path, 0o644)
    with pytest.raises(KeyProblem, match="chmod 600"):
        centre_key(path)
    with pytest.raises(KeyProblem, match="no centre key"):
        existing_key(tmp_path / "elsewhere.key")


async def test_a_reason_and_a_known_linkedid_are_required(custody: Custody) -> None:
    for reason in (None, "", "  ok ", 12):
        with pytest.raises(EvidenceError) as refused:
            await custody.export("1.1", reason, QA)
        assert refused.value.code == "reason_needed"
    for linkedid, code in (("../../etc/passwd", "bad_linkedid"), ("/etc/passwd", "bad_linkedid"),
                           ("1.1\x00", "bad_linkedid"), ("..", "not_found"), ("9.9", "not_found")):
        with pytest.raises(EvidenceError) as unknown:
            await custody.export(linkedid, "Permintaan Polres no. 12", QA)
        assert unknown.value.code == code, linkedid


async def test_a_tampered_recording_is_refused_then_exported_marked_first_thing(custody: Custody,
                                                                                tmp_path: Path) -> None:
    wav = custody.recordings_dir / "2026/12/02/1.1.wav"
    wav.write_bytes(WAV[:-1] + b"\x00")
    with pytest.raises(EvidenceError) as refused:
        await custody.export("1.1", "Permintaan Polres no. 12", QA)
    assert refused.value.code == "recording_mismatch" and "--allow-mismatch" in str(refused.value)
    assert not any(e.action == "evidence.export" for e in custody.audit.rows)
    made = await custody.export("1.1", "Permintaan Polres no. 12", QA, allow_mismatch=True)
    assert made.manifest["recording_integrity"] == "mismatch" and "does NOT match" in made.manifest["warning"]
    assert made.manifest["recording"]["sha256_on_record"] == CALL.recording_facts["sha256"]  # type: ignore[index]
    with zipfile.ZipFile(io.BytesIO(made.data)) as bundle:
        assert bundle.read("recording/1.1.wav") == wav.read_bytes()      # the evidence as it is, marked
        first = pypdf.PdfReader(io.BytesIO(bundle.read("summary.pdf"))).pages[0].extract_text().splitlines()[0]
    assert first.startswith("PERINGATAN (WARNING)") and "does NOT match" in first
    assert [e.action for e in custody.audit.rows if e.action.startswith("recording.")] == [
        "recording.play", "recording.mismatch", "recording.mismatch"]
    assert [kind for kind, _ in custody.alerts.raised] == ["recording_mismatch"] * 2


async def test_a_missing_recording_is_said_and_a_call_without_one_exports(custody: Custody) -> None:
    (custody.recordings_dir / "2026/12/02/1.1.wav").unlink()
    with pytest.raises(EvidenceError, match="is not there"):
        await custody.export("1.1", "Permintaan Polres no. 12", QA)
    assert custody.alerts.raised[0][0] == "recording_missing"
    custody.calls = Calls(replace(CALL, recording=None, recording_facts=None))  # type: ignore[assignment]
    made = await custody.export("1.1", "Permintaan Polres no. 12", QA)
    assert made.manifest["recording_integrity"] == "none" and made.manifest["warning"] is None
    assert not any(f["name"].startswith("recording/") for f in made.manifest["files"])
