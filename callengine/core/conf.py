"""Config files in Asterisk's own syntax (what admins already edit), read with pyst2's parser
into typed values whose errors name the file, section and key. Imports nothing of callengine."""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from pathlib import Path

from asterisk.config import Config, ParseError

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")  # accounts and queue names: safe as Asterisk section names
SECTION = re.compile(r"^\s*\[([^\]]*)\]")


class ConfigError(Exception):
    """A config value is wrong; the message names the file, section and key."""


class ConfigReader:
    """Typed access to one parsed config file, with errors that name file:section.key."""

    def __init__(self, path: Path) -> None:
        self.file = path
        try:
            parsed = Config(str(path))
        except ParseError as exc:
            line, reason = exc.args if len(exc.args) == 2 else ("?", exc)
            raise ConfigError(f"{path}:{line}: {reason}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        self.sections: dict[str, dict[str, str]] = {}
        for category in parsed.categories:
            items = self.sections.setdefault(category.name.strip(), {})
            for item in category.items:
                items[item.name.strip()] = item.value.strip()

    def fail(self, section: str, key: str, why: str) -> ConfigError:
        return ConfigError(f"{self.file}: [{section}] {key}: {why}")

    def only(self, section: str, keys: Sequence[str], what: str) -> None:
        """A key the section may not have is named, with the ones it may: a typo never passes
        for a default."""
        unknown = sorted(set(self.sections.get(section, {})) - set(keys))
        if unknown:
            raise self.fail(section, unknown[0], f"not a setting of {what} ({', '.join(keys)})")

    def text(self, section: str, key: str, default: str | None = None) -> str:
        value = self.sections.get(section, {}).get(key, default)
        if value is None or value == "":
            raise self.fail(section, key, "missing")
        return value

    def integer(self, section: str, key: str, default: int, low: int = 1, high: int = 65535) -> int:
        raw = self.text(section, key, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise self.fail(section, key, f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise self.fail(section, key, f"{value} is outside {low}..{high}")
        return value

    def address(self, section: str, key: str, default: str) -> str:
        raw = self.text(section, key, default)
        try:
            ipaddress.ip_address(raw)
        except ValueError:
            raise self.fail(section, key, f"{raw!r} is not an IP address") from None
        return raw

    def endpoint(self, section: str, key: str, default: str) -> tuple[str, int]:
        """An IP address and TCP port: `127.0.0.1:8080`, or `[::1]:8080` for IPv6."""
        raw = self.text(section, key, default)
        host, sep, port = raw.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            ipaddress.ip_address(host)
            number = int(port) if sep and port.isdigit() else -1
        except ValueError:
            number = -1
        if not 1 <= number <= 65535:
            raise self.fail(section, key, f"{raw!r} is not address:port (e.g. 127.0.0.1:8080 or [::1]:8080)")
        return host, number

    def networks(self, section: str, key: str) -> tuple[str, ...]:
        """Addresses or networks, comma separated; none when empty."""
        found = self.listing(section, key, "") if self.sections.get(section, {}).get(key) else ()
        for entry in found:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise self.fail(section, key, f"{entry!r} is not an address or network") from None
        return found

    def choice(self, section: str, key: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self.text(section, key, default)
        if raw not in allowed:
            raise self.fail(section, key, f"{raw!r} is not one of {', '.join(allowed)}")
        return raw

    def path(self, section: str, key: str, default: str) -> Path:
        return (self.file.parent / self.text(section, key, default)).resolve()

    def listing(self, section: str, key: str, default: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.text(section, key, default).split(",") if part.strip())


def no_duplicate_sections(path: Path) -> None:
    """Asterisk merges a section written twice; in a file of named things (agencies, criteria)
    the second one is a copy-paste slip, named with both lines."""
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        found = SECTION.match(line)
        if found:
            name = found.group(1).strip()
            if name in seen:
                raise ConfigError(f"{path}:{number}: [{name}] appears twice (first at line {seen[name]})")
            seen[name] = number
