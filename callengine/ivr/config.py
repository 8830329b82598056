"""The IVR's settings from config/ivr.conf: menu digits, timing, priorities, prank thresholds."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asterisk.config import Config, ParseError

from callengine.core.conf import ConfigError

SPECIAL = ("english", "operator")
DIGITS = "0123456789*#"


@dataclass(frozen=True)
class IvrSettings:
    budget_s: float
    wait_s: float
    retries: int
    options: dict[str, str]         # digit → category
    priorities: dict[str, int]      # category (and "none", "prank") → QUEUE_PRIO
    prank_calls: int
    prank_days: int

    @property
    def categories(self) -> list[str]:
        return [c for c in self.options.values() if c not in SPECIAL]


def load_ivr(path: Path) -> IvrSettings:
    try:
        parsed = Config(str(path))
    except ParseError as exc:
        raise ConfigError(f"{path}:{exc.args[0]}: {exc.args[-1]}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    sections = {c.name.strip(): {i.name.strip(): i.value.strip() for i in c.items} for c in parsed.categories}

    def fail(section: str, key: str, why: str) -> ConfigError:
        return ConfigError(f"{path}: [{section}] {key}: {why}")

    def number(section: str, key: str, default: str, low: float, high: float, kind: type = float) -> float:
        raw = sections.get(section, {}).get(key, default)
        try:
            value = kind(raw)
        except ValueError:
            raise fail(section, key, f"{raw!r} is not a number") from None
        if not low <= value <= high:
            raise fail(section, key, f"{value} is outside {low}..{high}")
        return value

    options = sections.get("options", {})
    for digit, category in options.items():
        if len(digit) != 1 or digit not in DIGITS:
            raise fail("options", digit, "a menu key must be one of 0-9, * or #")
        if not category.isidentifier():
            raise fail("options", digit, f"{category!r} is not a category name")
    priorities = {}
    for category, raw in sections.get("priorities", {}).items():
        priorities[category] = int(number("priorities", category, raw, -100, 100, int))
    for category in [*options.values(), "none", "prank"]:
        if category not in SPECIAL and category not in priorities:
            raise fail("priorities", category, "missing: every category needs a queue priority")
    return IvrSettings(
        budget_s=number("menu", "budget", "11.5", 3, 60),
        wait_s=number("menu", "wait", "3", 0.5, 15),
        retries=int(number("menu", "retries", "1", 0, 3, int)),
        options=options,
        priorities=priorities,
        prank_calls=int(number("prank", "calls", "2", 1, 100, int)),
        prank_days=int(number("prank", "days", "30", 1, 365, int)),
    )
