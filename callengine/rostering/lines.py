"""The [overrides] lines of roster.conf, edited as text: every other line (comments, blank
lines, the other sections, their order) comes out byte for byte as it went in.

Asterisk's syntax: `2026-12-24 malam = taker1, B` (or `=>`), an optional `; comment` after
it; a section may be written more than once, and a key written twice counts once, the last.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from callengine.core.conf import SECTION

SECTION_NAME = "overrides"
ENTRY = re.compile(r"^(?P<lead>\s*)(?P<day>\d{4}-\d{2}-\d{2})\s+(?P<shift>[^\s=;]+)\s*=>?\s*(?P<value>[^;]*?)"
                   r"(?P<tail>\s*;.*)?$")
Key = tuple[date, str]


@dataclass(frozen=True)
class Entry:
    index: int          # the line's position in the file
    key: Key
    lead: str
    tail: str


@dataclass(frozen=True)
class Layout:
    lines: list[str]            # the file's lines, each with its own line end
    entries: list[Entry]        # override lines, in file order
    section_end: int | None     # after the last non-blank line of the last [overrides], if any
    newline: str


def layout(text: str) -> Layout:
    lines = text.splitlines(keepends=True)
    entries: list[Entry] = []
    section, section_end = "", None
    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        header = SECTION.match(body)
        if header:
            section = header.group(1).strip()
            section_end = index + 1 if section == SECTION_NAME else section_end
            continue
        if section != SECTION_NAME:
            continue
        if body.strip():
            section_end = index + 1
        found = ENTRY.match(body)
        if found:
            try:
                day = date.fromisoformat(found["day"])
            except ValueError:
                continue          # not a date: load_roster names it, this edit never touches it
            entries.append(Entry(index, (day, found["shift"]), found["lead"], found["tail"] or ""))
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    return Layout(lines, entries, section_end, newline)


def set_override(text: str, key: Key, names: Sequence[str], shift_order: Sequence[str]) -> str:
    """`text` with `key`'s override saying `names`: its line rewritten in place (a duplicate
    above it, dead already, dropped), or a new line among the others in date and shift order."""
    found = layout(text)
    lines = list(found.lines)
    same = [e for e in found.entries if e.key == key]
    if same:
        last = same[-1]
        lines[last.index] = _line(key, names, last.lead, last.tail, found.newline)
        return "".join(line for i, line in enumerate(lines) if i not in {e.index for e in same[:-1]})
    new = _line(key, names, "", "", found.newline)
    if found.section_end is None:
        ending = "" if not lines or lines[-1].endswith("\n") else found.newline
        return "".join(lines) + ending + found.newline + f"[{SECTION_NAME}]" + found.newline + new
    order = {name: n for n, name in enumerate(shift_order)}

    def rank(k: Key) -> tuple[date, int]:
        return k[0], order.get(k[1], len(order))
    before = [e for e in found.entries if rank(e.key) < rank(key)]
    if before:
        at = before[-1].index + 1
    elif found.entries:
        at = found.entries[0].index
    else:
        at = found.section_end
    if at == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += found.newline
    lines.insert(at, new)
    return "".join(lines)


def remove_override(text: str, key: Key) -> str:
    """`text` without any line of `key`'s override."""
    found = layout(text)
    gone = {e.index for e in found.entries if e.key == key}
    return "".join(line for i, line in enumerate(found.lines) if i not in gone)


def _line(key: Key, names: Sequence[str], lead: str, tail: str, newline: str) -> str:
    return f"{lead}{key[0].isoformat()} {key[1]} = {', '.join(names)}{tail}{newline}"
