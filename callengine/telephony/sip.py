"""Just enough SIP message parsing (RFC 3261 §7) to read what a captured INVITE carries:
its start line, headers (compact forms expanded, folded lines joined) and body."""
from __future__ import annotations

from dataclasses import dataclass

COMPACT = {"i": "call-id", "f": "from", "t": "to", "c": "content-type", "l": "content-length", "m": "contact",
           "v": "via", "e": "content-encoding", "k": "supported", "s": "subject"}
MAX_MESSAGE = 65536


class SipError(ValueError):
    pass


@dataclass(frozen=True)
class SipMessage:
    start_line: str
    headers: dict[str, list[str]]      # lower-case full names → values in order
    body: bytes

    @property
    def method(self) -> str | None:
        first = self.start_line.split(" ", 1)[0]
        return None if first.startswith("SIP/") else first

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def parse_sip(data: bytes) -> SipMessage:
    if len(data) > MAX_MESSAGE:
        raise SipError(f"SIP message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        raise SipError("SIP message without the blank line that ends its headers")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: dict[str, list[str]] = {}
    last: str | None = None
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last is not None:       # folded continuation
            headers[last][-1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipError(f"malformed SIP header line {line[:80]!r}")
        key = name.strip().lower()
        last = COMPACT.get(key, key)
        headers.setdefault(last, []).append(value.strip())
    return SipMessage(lines[0], headers, body)
