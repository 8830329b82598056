"""Where attachments live: `runtime/attachments/`, each under a name the vault generates
(32 random hex digits and the sniffed kind's extension). A name from a request or from the
client never reaches the filesystem: `path()` takes only names of that shape.

An upload streams into a hidden `.part` file while its SHA-256 and size are counted; past the
size cap it is deleted and refused. Only a kept file gets its final name.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from callengine.attachments.model import SNIFF_BYTES, Kind, TooLarge

_NAME = re.compile(r"[0-9a-f]{32}(\.thumb)?\.(jpg|png|webp|pdf)")


@dataclass(frozen=True)
class Received:
    part: Path                 # the bytes as they came, not yet kept
    token: str                 # the generated name's stem
    size: int
    sha256: str
    head: bytes                # the first bytes, to sniff


class Vault:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def receive(self, chunks: AsyncIterator[bytes], limit: int) -> Received:
        """The upload written to a `.part` file, hashed and counted; TooLarge past `limit` bytes
        (the part file deleted)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        part = self.folder / f".{token}.part"
        digest, size, head = hashlib.sha256(), 0, b""
        try:
            with part.open("xb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
                    if len(head) < SNIFF_BYTES:
                        head = (head + chunk)[:SNIFF_BYTES]
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return Received(part, token, size, digest.hexdigest(), head)

    def keep(self, received: Received, kind: Kind) -> str:
        """The received file under its final generated name."""
        name = f"{received.token}.{kind.extension}"
        os.replace(received.part, self.folder / name)
        return name

    def thumbnail_path(self, received: Received) -> tuple[str, Path]:
        name = f"{received.token}.thumb.jpg"
        return name, self.folder / name

    def path(self, name: str) -> Path:
        """A kept file's path; ValueError for anything but a generated name."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a stored attachment's name: {name!r}")
        return self.folder / name

    def discard(self, *names: str | Path | None) -> None:
        for name in names:
            if name is None:
                continue
            target = name if isinstance(name, Path) else self.path(name)
            target.unlink(missing_ok=True)
