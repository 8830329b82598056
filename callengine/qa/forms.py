"""config/qa.conf: the QA forms and their criteria, checked against desk.conf's categories so
that a typo is one ConfigError line naming the file, section and key, at `callengine check`
and at the console's start (the file's own comments say how to write it)."""
from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from callengine.core.conf import ConfigError, ConfigReader, no_duplicate_sections
from callengine.qa.scoring import YES_NO, Criterion, QaForm
from callengine.tickets.desk import load_desk

if TYPE_CHECKING:
    from callengine.core.settings import Settings

FORM = "form"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")     # a form's name, a criterion's id
FORM_KEYS = ("title", "version")
CRITERION_KEYS = ("part", "text", "answer", "weight", "na", "critical")
SCALE = re.compile(r"^0\s*-\s*([0-9]{1,2})$")
MAX_SCALE = 10
LENGTHS = {"title": 120, "part": 80, "text": 300}


def load_forms(path: Path, categories: Collection[str]) -> dict[str, QaForm]:
    """The forms by name, each with its criteria in the file's order."""
    r = ConfigReader(path)
    no_duplicate_sections(path)   # a criterion pasted twice would silently merge into one
    heads = [section for section in r.sections if section.partition(" ")[0] == FORM]
    criteria: dict[str, list[Criterion]] = {_form_name(r, head): [] for head in heads}
    for section in r.sections:
        form, _, cid = section.partition(" ")
        if form == FORM:
            continue
        if form not in criteria or not cid.strip():
            raise ConfigError(f"{r.file}: [{section}] is neither [{FORM} <name>] nor [<form> <criterion>] of a "
                              f"form declared here ({', '.join(criteria) or 'none yet'})")
        criteria[form].append(_criterion(r, section, cid.strip(), categories))
    if not criteria:
        raise ConfigError(f"{r.file}: no form: add a section such as [{FORM} standar]")
    return {name: _form(r, name, tuple(found)) for name, found in criteria.items()}


def qa_problems(settings: Settings) -> list[str]:
    """For `callengine check`: qa.conf against desk.conf's categories (a broken desk.conf is
    reported by the environment's checks, so it is not said twice)."""
    try:
        desk = load_desk(settings.desk_file)
    except ConfigError:
        return []
    try:
        load_forms(settings.qa_file, desk.incident_types)
    except ConfigError as exc:
        return [f"config: {exc}"]
    return []


def _form_name(r: ConfigReader, section: str) -> str:
    name = section.partition(" ")[2].strip()
    if not NAME.match(name) or name == FORM:
        raise ConfigError(f"{r.file}: [{section}]: a form's name is lowercase letters, digits and _, "
                          f"e.g. [{FORM} standar]")
    return name


def _form(r: ConfigReader, name: str, criteria: tuple[Criterion, ...]) -> QaForm:
    section = f"{FORM} {name}"
    r.only(section, FORM_KEYS, "a form")
    if not criteria:
        raise ConfigError(f"{r.file}: [{section}]: no criterion: add sections such as [{name} salam]")
    _parts_together(r, name, criteria)
    return QaForm(name, _text(r, section, "title"), r.integer(section, "version", 1, low=1, high=100000), criteria)


def _criterion(r: ConfigReader, section: str, cid: str, categories: Collection[str]) -> Criterion:
    if not NAME.match(cid):
        raise ConfigError(f"{r.file}: [{section}]: a criterion's id is lowercase letters, digits and _")
    r.only(section, CRITERION_KEYS, "a criterion")
    out_of = _out_of(r, section)
    critical, only_for = _critical(r, section, categories)
    if critical and out_of != YES_NO:
        raise r.fail(section, "critical", "only a yes/no criterion is critical (its 'no' fails the call)")
    return Criterion(cid, _text(r, section, "part"), _text(r, section, "text"), out_of,
                     r.integer(section, "weight", 1, low=1, high=100),
                     r.choice(section, "na", "no", ("yes", "no")) == "yes", critical, only_for)


def _text(r: ConfigReader, section: str, key: str) -> str:
    value = r.text(section, key)
    if len(value) > LENGTHS[key]:
        raise r.fail(section, key, f"at most {LENGTHS[key]} characters")
    return value


def _out_of(r: ConfigReader, section: str) -> int:
    raw = r.text(section, "answer")
    if raw == "yes/no":
        return YES_NO
    found = SCALE.match(raw)
    if not found or not 2 <= int(found[1]) <= MAX_SCALE:
        raise r.fail(section, "answer", f"{raw!r}: yes/no, or a scale 0-N with N from 2 to {MAX_SCALE} (e.g. 0-4)")
    return int(found[1])


def _critical(r: ConfigReader, section: str, categories: Collection[str]) -> tuple[bool, tuple[str, ...]]:
    raw = r.text(section, "critical", "no")
    if raw in ("yes", "no"):
        return raw == "yes", ()
    named = r.listing(section, "critical", "")
    unknown = [c for c in named if c not in categories]
    if unknown:
        raise r.fail(section, "critical", f"{unknown[0]!r} is not a category of desk.conf "
                                          f"({', '.join(categories)}); or yes, no")
    return True, tuple(dict.fromkeys(named))


def _parts_together(r: ConfigReader, form: str, criteria: tuple[Criterion, ...]) -> None:
    """A part whose criteria are split by another part is shown twice: a slip in the file."""
    for i in range(1, len(criteria)):
        before, after = criteria[i - 1], criteria[i]
        if after.part != before.part and any(c.part == after.part for c in criteria[:i - 1]):
            raise r.fail(f"{form} {after.id}", "part", f"{after.part!r} comes again after {before.part!r}: "
                                                       "keep a part's criteria together")
