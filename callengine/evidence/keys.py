"""The centre's Ed25519 key, which signs every evidence bundle's manifest. Made at first use in
the runtime folder (`evidence/ed25519.key`, PKCS#8 PEM, mode 0600); its public half is what a
court or a prosecutor is given to check a bundle with (`callengine evidence key`)."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat, PublicFormat,
                                                          load_pem_private_key, load_pem_public_key)

KEY_FILE = Path("evidence") / "ed25519.key"    # in the runtime folder


class KeyProblem(Exception):
    """A key that cannot be read or used; the message names the file and what to do."""


def key_path(runtime_dir: Path) -> Path:
    return runtime_dir / KEY_FILE


def centre_key(path: Path) -> Ed25519PrivateKey:
    """The key at `path`, made there first if there is none yet."""
    if not path.exists():
        _create(path)
    return existing_key(path)


def existing_key(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyProblem(f"{path}: readable by others (mode {stat.filemode(mode)}): chmod 600 it, "
                             "and make a new key if anyone else may have read it")
        key = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyProblem(f"{path}: no centre key yet (`callengine evidence key` makes it)") from None
    except (ValueError, TypeError, UnsupportedAlgorithm, OSError) as exc:
        raise KeyProblem(f"{path}: not a readable PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"{path}: not an Ed25519 key")
    return key


def _create(path: Path) -> None:
    """Written whole under a private name, then linked into place: a second process making
    the key at the same moment never replaces the first one's, and nobody reads half a key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(partial, path)
    except FileExistsError:
        pass   # another process was first: its key is the centre's
    finally:
        partial.unlink()


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: short enough to read over the phone."""
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def load_public(pem: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyProblem(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem(f"{where}: not an Ed25519 public key")
    return key
