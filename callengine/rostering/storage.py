"""roster.conf on disk: a new version staged beside it (same folder, so the rename is atomic
and the engine never reads half a file), the previous one kept as roster.conf.bak."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class StaleFile(Exception):
    """The file changed on disk since it was read: someone else edited it meanwhile."""


class RosterStore:
    def __init__(self, path: Path) -> None:
        self.path = path.resolve()              # a symlinked roster.conf: its target is edited, the link kept
        self.backup = self.path.with_name(self.path.name + ".bak")

    def read(self) -> bytes:
        return self.path.read_bytes()

    def stage(self, text: str) -> Path:
        """The new text in a hidden file beside the roster, with the roster's permissions."""
        return _write_beside(self.path, text.encode("utf-8"))

    def commit(self, staged: Path, read: bytes) -> None:
        """Put `staged` in place of the roster, which must still hold `read`; the old bytes
        become the backup. A refusal or a failure removes `staged` and changes nothing."""
        try:
            if self.read() != read:
                raise StaleFile(f"{self.path} changed while this edit was made")
            os.replace(_write_beside(self.path, read), self.backup)
            os.replace(staged, self.path)
        finally:
            staged.unlink(missing_ok=True)

    def discard(self, staged: Path) -> None:
        staged.unlink(missing_ok=True)


def _write_beside(path: Path, data: bytes) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    staged = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(staged, stat.S_IMODE(path.stat().st_mode))
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged
