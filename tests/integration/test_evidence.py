"""Evidence export on the real console process and CLI, with a real recording (espeak-ng, processed
as the engine does): the CLI's bundle verifies (with the centre's key, and with its published
PEM), holds the ticket as the API shows it, and is audited with its reason; a tampered WAV is
refused, then exported marked with --allow-mismatch and alerted; the web's export needs a reason
and its ZIP verifies; the roles; the legal hold set and lifted from the web, shown on the ticket
and audited; paths in the linkedid are refused without a traceback."""
from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pypdf
import pytest
from yarl import URL

from console_lab import ConsoleLab
from test_console_desk import desks  # noqa: F401 (the desks fixture: a person's session)
from test_console_tickets import PASSWORD
from test_qa_calls import seed

pytestmark = pytest.mark.integration
REASON = "Permintaan Polres Samarinda no. B/112/XII/2026"


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-evidence-"))
    lab = ConsoleLab(folder)
    for name, role in (("qa1", "qa"), ("spv1", "supervisor"), ("admin1", "admin"), ("taker1", "calltaker"),
                       ("view1", "viewer")):
        lab.add_user(name, role, PASSWORD)
    lab.numbers = asyncio.run(seed(lab.config, folder / "rec"))  # type: ignore[attr-defined]
    lab.recordings = folder / "rec"  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


def audit(centre: ConsoleLab, action: str) -> list[tuple[str, str, dict[str, Any], str | None]]:
    with sqlite3.connect(Path(centre.config).parent / "rt" / "callengine.db") as db:
        rows = db.execute("SELECT actor, target, detail, peer FROM audit WHERE action = ? ORDER BY id",
                          (action,)).fetchall()
    return [(actor, target, json.loads(detail), peer) for actor, target, detail, peer in rows]


def manifest_of(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as bundle:
        return json.loads(bundle.read("manifest.json"))  # type: ignore[no-any-return]


async def test_the_cli_exports_a_bundle_that_verifies_and_is_audited(centre: ConsoleLab, desks: Any,
                                                                     tmp_path: Path) -> None:
    done = centre.cli("evidence", "export", "1.1", "--out", str(tmp_path / "out"), "--reason", REASON)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.parent == tmp_path / "out" and path.is_file() and path.name.startswith("evidence-1.1-")
    checked = centre.cli("evidence", "verify", str(path))
    assert checked.returncode == 0 and checked.stdout.startswith("OK ") and REASON in checked.stdout, checked

    published = centre.cli("evidence", "key")
    assert published.stdout.startswith("-----BEGIN PUBLIC KEY-----") and "SHA-256" in published.stderr
    (tmp_path / "centre.pem").write_text(published.stdout)
    assert centre.cli("evidence", "verify", str(path), "--public-key", str(tmp_path / "centre.pem")).returncode == 0

    manifest = manifest_of(path)
    assert manifest["key_sha256"] in published.stderr and manifest["recording_integrity"] == "ok"
    assert manifest["exported_by"].startswith("cli") and manifest["via"] == "cli" and manifest["reason"] == REASON
    number = centre.numbers["1.1"]  # type: ignore[attr-defined]
    status, ticket = await (await desks("qa1")).call("GET", f"/api/v1/tickets/{number}")
    with zipfile.ZipFile(path) as bundle:
        assert json.loads(bundle.read("ticket.json")) == ticket       # the ticket as the console shows it
        wav = centre.recordings / "2026/12/02/1.1.wav"  # type: ignore[attr-defined]
        assert bundle.read("recording/1.1.wav") == wav.read_bytes()
        assert {"recording/1.1.ogg", "recording/1.1.mp3"} & set(bundle.namelist())
        pdf = pypdf.PdfReader(bundle.open("summary.pdf"))
        assert "1.1" in pdf.pages[0].extract_text() and REASON in pdf.pages[0].extract_text()
    [(actor, target, detail, peer)] = audit(centre, "evidence.export")
    assert actor.startswith("cli") and target == "call/1.1" and peer is None
    assert (detail["reason"], detail["bundle"], detail["recording_integrity"]) == (REASON, path.name, "ok")

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(tampered, "w") as new:
        for entry in old.infolist():
            data = old.read(entry)
            new.writestr(entry.filename, data[:-1] + b"\x00" if entry.filename == "call.json" else data)
    refused = centre.cli("evidence", "verify", str(tampered))
    assert refused.returncode == 1 and refused.stdout.startswith("GAGAL (FAIL) call.json: SHA-256"), refused


async def test_a_tampered_recording_is_refused_then_exported_marked_and_alerted(centre: ConsoleLab,
                                                                                tmp_path: Path) -> None:
    wav = centre.recordings / "2026/12/02/1.1.wav"  # type: ignore[attr-defined]
    saved = wav.read_bytes()
    wav.write_bytes(saved[:-2] + b"\x01\x02")
    try:
        refused = centre.cli("evidence", "export", "1.1", "--out", str(tmp_path), "--reason", REASON)
        assert refused.returncode != 0 and refused.stdout == "" and list(tmp_path.iterdir()) == []
        assert "does NOT match the SHA-256 on its record" in refused.stderr and "--allow-mismatch" in refused.stderr
        marked = centre.cli("evidence", "export", "1.1", "--out", str(tmp_path), "--reason", REASON,
                            "--allow-mismatch")
        assert marked.returncode == 0 and "PERINGATAN (WARNING)" in marked.stderr, marked
    finally:
        wav.write_bytes(saved)
    path = Path(marked.stdout.strip())
    manifest = manifest_of(path)
    assert manifest["recording_integrity"] == "mismatch" and "does NOT match" in manifest["warning"]
    with zipfile.ZipFile(path) as bundle:
        first = pypdf.PdfReader(bundle.open("summary.pdf")).pages[0].extract_text().splitlines()[0]
    assert first.startswith("PERINGATAN (WARNING)")
    checked = centre.cli("evidence", "verify", str(path))       # intact as signed, and says what it holds
    assert checked.returncode == 0 and "PERINGATAN (WARNING)" in checked.stdout
    with sqlite3.connect(Path(centre.config).parent / "rt" / "callengine.db") as db:
        alerts = db.execute("SELECT kind, message FROM alerts WHERE kind = 'recording_mismatch'").fetchall()
    assert len(alerts) == 2 and all("1.1" in message for _, message in alerts)      # the refusal and the export
    assert [d["during"] for _, _, d, _ in audit(centre, "recording.mismatch")] == ["evidence.export"] * 2
    assert [d["recording_integrity"] for _, _, d, _ in audit(centre, "evidence.export")][-1] == "mismatch"


async def test_the_web_export_needs_a_reason_and_its_zip_verifies(centre: ConsoleLab, desks: Any,
                                                                  tmp_path: Path) -> None:
    qa = await desks("qa1")
    played = await qa.http.get(f"{centre.url}/api/v1/calls/1.1/audio")    # a play: in the bundle's audit trail
    assert played.status == 200
    for body in ({}, {"reason": "  "}, {"reason": 12}):
        status, error = await qa.call("POST", "/api/v1/calls/1.1/evidence", body)
        assert status == 400 and error["error"] == "reason_needed", (body, error)
    for who in ("qa1", "spv1", "admin1"):
        person = await desks(who)
        reply = await person.http.post(f"{centre.url}/api/v1/calls/1.1/evidence", json={"reason": REASON},
                                       headers={"X-CSRF-Token": person.csrf})
        assert reply.status == 200 and reply.content_type == "application/zip", await reply.text()
        assert reply.headers["X-Recording-Integrity"] == "ok"
        name = reply.headers["Content-Disposition"].split('filename="')[1].rstrip('"')
        path = tmp_path / name
        path.write_bytes(await reply.read())
        checked = centre.cli("evidence", "verify", str(path))
        assert checked.returncode == 0, checked
        manifest = manifest_of(path)
        assert (manifest["exported_by"], manifest["via"], manifest["peer"]) == (who, "web", "127.0.0.1")
    with zipfile.ZipFile(path) as bundle:
        trail = json.loads(bundle.read("audit.json"))
    assert ("qa1", "recording.play") in [(a["actor"], a["action"]) for a in trail]
    web = [(actor, detail["reason"], peer) for actor, _, detail, peer in audit(centre, "evidence.export")
           if detail["via"] == "web"]
    assert web == [(who, REASON, "127.0.0.1") for who in ("qa1", "spv1", "admin1")]
    for who in ("taker1", "view1"):
        status, error = await (await desks(who)).call("POST", "/api/v1/calls/1.1/evidence", {"reason": REASON})
        assert status == 403, (who, error)


async def test_the_legal_hold_is_set_and_lifted_from_the_web(centre: ConsoleLab, desks: Any) -> None:
    spv, number = await desks("spv1"), centre.numbers["2.1"]  # type: ignore[attr-defined]
    status, held = await spv.call("POST", "/api/v1/calls/2.1/hold")
    assert status == 200 and held == {"linkedid": "2.1", "ticket": number, "legal_hold": True}
    assert (await spv.call("GET", f"/api/v1/tickets/{number}"))[1]["legal_hold"] is True
    status, lifted = await (await desks("qa1")).call("DELETE", "/api/v1/calls/2.1/hold")
    assert status == 200 and lifted["legal_hold"] is False
    assert (await spv.call("GET", f"/api/v1/tickets/{number}"))[1]["legal_hold"] is False
    assert [(a, t, d["ticket"]) for a, t, d, _ in audit(centre, "legal_hold.set")] == [("spv1", "call/2.1", number)]
    assert [(a, t, p) for a, t, _, p in audit(centre, "legal_hold.clear")] == [("qa1", "call/2.1", "127.0.0.1")]
    assert (await spv.call("POST", "/api/v1/calls/9.9/hold"))[0] == 404
    for who in ("taker1", "view1"):
        assert (await (await desks(who)).call("POST", "/api/v1/calls/2.1/hold"))[0] == 403
    held = centre.cli("calls", "hold", "2.1")                  # the command line: the same, audited too
    assert held.returncode == 0 and (await spv.call("GET", f"/api/v1/tickets/{number}"))[1]["legal_hold"] is True
    assert [a for a, _, _, _ in audit(centre, "legal_hold.set")][-1].startswith("cli")


async def test_paths_in_the_linkedid_are_refused(centre: ConsoleLab, desks: Any, tmp_path: Path) -> None:
    qa = await desks("qa1")
    for linkedid in ("..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..", "1.1%00", "../../../etc/passwd"):
        for method, what, body in (("POST", "evidence", {"reason": REASON}), ("POST", "hold", None),
                                   ("DELETE", "hold", None)):
            reply = await qa.http.request(method, URL(f"{centre.url}/api/v1/calls/{linkedid}/{what}", encoded=True),
                                          json=body, headers={"X-CSRF-Token": qa.csrf})
            assert reply.status in (400, 404), (linkedid, what, reply.status, await reply.text())
    for linkedid in ("../../etc/passwd", "/etc/passwd"):
        done = centre.cli("evidence", "export", linkedid, "--out", str(tmp_path), "--reason", REASON)
        assert done.returncode == 1 and "is not a linkedid" in done.stderr and "Traceback" not in done.stderr, done
    assert list(tmp_path.iterdir()) == []
    assert [e for e in centre.console.errors() if "recording" not in e["msg"]] == []
