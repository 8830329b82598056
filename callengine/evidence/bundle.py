"""An evidence bundle: one ZIP holding a call's files and `manifest.json` (each file's name,
size and SHA-256, with the export's facts), signed by the centre's key in `manifest.sig`
(a detached Ed25519 signature over the manifest's bytes exactly as stored, 64 raw bytes: any
Ed25519 tool checks it, e.g. `openssl pkeyutl -verify -pubin -inkey centre.pem -rawin -in
manifest.json -sigfile manifest.sig`).

Verification trusts nothing in the ZIP but what the signature covers: every file listed must be
there once, with its size and hash; nothing else may be. Pure: bytes and paths in, no database,
no web."""
from __future__ import annotations

import hashlib
import io
import json
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zipfile import ZIP_DEFLATED, BadZipFile, ZipFile, ZipInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from callengine.evidence.keys import fingerprint

FORMAT = "callengine-evidence/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"


@dataclass(frozen=True)
class Problem:
    name: str    # the file in the ZIP that fails (or the ZIP itself)
    why: str

    def __str__(self) -> str:
        return f"{self.name}: {self.why}"


@dataclass(frozen=True)
class Verdict:
    manifest: dict[str, Any] | None    # as read, trusted only when there are no problems
    problems: list[Problem]
    key: str                           # the fingerprint of the key checked against

    @property
    def ok(self) -> bool:
        return not self.problems


def describe(files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """Each file's name, size and SHA-256, in order: the manifest's list."""
    return [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in files.items()]


def build(files: Mapping[str, bytes], facts: Mapping[str, Any], key: Ed25519PrivateKey,
          at: datetime) -> tuple[bytes, bytes]:
    """The ZIP, and its manifest's bytes: `facts` (the export's who, when, why, the centre) with
    the files' list and the key's fingerprint, signed."""
    if {MANIFEST, SIGNATURE} & set(files):
        raise ValueError(f"{MANIFEST} and {SIGNATURE} are the bundle's own")
    manifest = json.dumps({"format": FORMAT, **facts, "key_sha256": fingerprint(key.public_key()),
                           "files": describe(files)}, indent=2, ensure_ascii=False).encode()
    stamp = at.astimezone(timezone.utc).timetuple()[:6]
    out = io.BytesIO()
    with ZipFile(out, "w", ZIP_DEFLATED) as bundle:
        for name, data in (*files.items(), (MANIFEST, manifest), (SIGNATURE, key.sign(manifest))):
            entry = ZipInfo(name, stamp)
            entry.external_attr = 0o644 << 16    # plain readable files once unpacked
            bundle.writestr(entry, data, ZIP_DEFLATED)
    return out.getvalue(), manifest


def verify(path: Path, key: Ed25519PublicKey) -> Verdict:
    """Every problem of the bundle at `path`, each naming its file; none when it is intact."""
    checked = fingerprint(key)
    try:
        with ZipFile(path) as bundle:
            problems, found, spoilt = _entries(bundle)
    except (BadZipFile, OSError) as exc:
        return Verdict(None, [Problem(path.name, f"not a readable ZIP ({exc})")], checked)
    if MANIFEST not in found:
        return Verdict(None, problems if MANIFEST in spoilt else
                       [*problems, Problem(MANIFEST, "missing: nothing says what the bundle holds")], checked)
    manifest, why = _manifest(found[MANIFEST])
    if SIGNATURE not in spoilt:
        problems += _signature(found[MANIFEST], found.get(SIGNATURE), key, manifest)
    if manifest is None:
        return Verdict(None, [*problems, Problem(MANIFEST, why)], checked)
    listed = {f["name"]: f for f in manifest["files"]}
    for name, want in listed.items():
        data = found.get(name)
        if data is None:
            problems += [] if name in spoilt else [Problem(name, "missing from the ZIP")]
        elif len(data) != want["size"]:
            problems.append(Problem(name, f"size {len(data)} bytes, the manifest says {want['size']}"))
        elif (digest := hashlib.sha256(data).hexdigest()) != want["sha256"]:
            problems.append(Problem(name, f"SHA-256 {digest}, the manifest says {want['sha256']}"))
    problems += [Problem(name, "not in the manifest") for name in (*found, *spoilt)
                 if name not in listed and name not in (MANIFEST, SIGNATURE)]
    return Verdict(manifest, problems, checked)


def _entries(bundle: ZipFile) -> tuple[list[Problem], dict[str, bytes], set[str]]:
    """Each entry's bytes as stored, and the names already reported: stored more than once (a
    reader would take only one of them, so none is trusted) or damaged."""
    counts = Counter(bundle.namelist())
    spoilt = {name for name, n in counts.items() if n > 1}
    problems = [Problem(name, f"in the ZIP {counts[name]} times") for name in sorted(spoilt)]
    found: dict[str, bytes] = {}
    for entry in bundle.infolist():
        if entry.filename in spoilt:
            continue
        try:
            found[entry.filename] = bundle.read(entry)
        except (BadZipFile, zlib.error, EOFError) as exc:   # a bad CRC, a broken deflate stream
            problems.append(Problem(entry.filename, f"damaged in the ZIP ({exc})"))
            spoilt.add(entry.filename)
    return problems, found, spoilt


def _manifest(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, "not JSON"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("size"), int)
            and isinstance(f.get("sha256"), str) for f in files):
        return None, "no list of files with their name, size and sha256"
    if manifest.get("format") != FORMAT:
        return None, f"format {manifest.get('format')!r}, not {FORMAT}"
    return manifest, ""


def _signature(manifest: bytes, signature: bytes | None, key: Ed25519PublicKey,
               facts: dict[str, Any] | None) -> list[Problem]:
    if signature is None:
        return [Problem(SIGNATURE, "missing: nothing proves who made the bundle")]
    try:
        key.verify(signature, manifest)
        return []
    except InvalidSignature:
        named = (facts or {}).get("key_sha256")
        other = f" (the manifest names key {named})" if named and named != fingerprint(key) else ""
        return [Problem(SIGNATURE, f"does not verify over {MANIFEST} with key {fingerprint(key)}{other}: "
                                   "one of the two was altered, or another key signed them")]
