"""QA scores on plain data: a form's criteria, a reviewer's answers read with a message naming
the field for each bad one, and the arithmetic.

The total is the weighted share of the points given, out of the criteria not answered N/A
(a yes/no criterion is 1 point of 1 or 0; a scale 0–N gives its answer out of N). A critical
criterion answered "no" fails the whole call: the score that counts is then 0, the share
before it is kept beside it. A score is never changed: a correction is the next version of
the same reviewer's score of the call, with its reason, and the newest version counts.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

YES_NO = 1                 # out_of of a yes/no criterion: yes is 1 point of 1
YES, NO, NA = "yes", "no", "na"
MAX_COMMENT = 1000         # an answer's comment
MAX_OVERALL = 4000         # the score's comment
MIN_REASON, MAX_REASON = 5, 1000


class ScoreError(Exception):
    """A score refused; `code` is the API's error id."""
    code = "refused"


class BadField(ScoreError):
    code = "bad_field"


class NotFound(ScoreError, LookupError):
    code = "not_found"


class NotAllowed(ScoreError):
    code = "forbidden"


class Conflict(ScoreError):
    code = "conflict"


@dataclass(frozen=True)
class Criterion:
    id: str
    part: str
    text: str
    out_of: int                       # YES_NO, or N of a scale 0–N
    weight: int
    na: bool                          # may be answered N/A (left out of the total)
    critical: bool = False            # a "no" fails the whole call…
    only_for: tuple[str, ...] = ()    # …for calls of these categories (none: of every category)

    def critical_in(self, category: str | None) -> bool:
        return self.critical and (not self.only_for or category in self.only_for)

    def points(self, raw: object, field: str) -> int | None:
        """The answer's points (None: N/A), or BadField naming `field`."""
        if raw == NA:
            if not self.na:
                raise BadField(f"{field}: N/A is not allowed for this criterion")
            return None
        if self.out_of == YES_NO:
            if raw not in (YES, NO):
                raise BadField(f"{field}: {YES} or {NO}" + (f" (or {NA})" if self.na else ""))
            return int(raw == YES)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= self.out_of:
            raise BadField(f"{field}: a whole number 0..{self.out_of}" + (f" (or {NA!r})" if self.na else ""))
        return raw

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "part": self.part, "text": self.text,
                "answer": "yes/no" if self.out_of == YES_NO else f"0-{self.out_of}", "out_of": self.out_of,
                "weight": self.weight, "na": self.na,
                "critical": list(self.only_for) if self.critical and self.only_for else self.critical}


@dataclass(frozen=True)
class QaForm:
    name: str
    title: str
    version: int
    criteria: tuple[Criterion, ...]

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "version": self.version,
                "parts": list(dict.fromkeys(c.part for c in self.criteria)),
                "criteria": [c.to_json() for c in self.criteria]}


@dataclass(frozen=True)
class Answer:
    criterion: str
    value: int | None                 # None: N/A
    out_of: int
    weight: int
    critical: bool                    # critical for this call (its category)
    comment: str | None = None

    @property
    def failed(self) -> bool:
        return self.critical and self.value == 0

    def to_json(self) -> dict[str, Any]:
        shown: str | int | None = self.value
        if self.value is None:
            shown = NA
        elif self.out_of == YES_NO:
            shown = YES if self.value else NO
        return {"criterion": self.criterion, "value": shown, "out_of": self.out_of, "weight": self.weight,
                "critical": self.critical, "comment": self.comment}


@dataclass(frozen=True)
class ScoredCall:
    """What scoring needs of a call: whom it judges, its category, when it was answered."""
    linkedid: str
    agent: str | None
    category: str | None              # the IVR's
    incident_type: str | None         # the ticket's
    started_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True)
class Score:
    id: int
    linkedid: str
    reviewer: str                     # whose score: one chain of versions per call and reviewer
    version: int
    previous_id: int | None           # the version it corrects
    by: str                           # who wrote this version (the reviewer, or a supervisor)
    reason: str | None                # why it corrects the previous one
    form: str
    form_version: int
    category: str | None              # the category its critical criteria were judged under
    comment: str | None
    percent: float                    # the weighted share of points, N/A left out
    score: float                      # what counts: the percent, or 0 when a critical criterion failed
    failed_critical: bool
    created_at: datetime
    peer: str | None = None
    answers: tuple[Answer, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "linkedid": self.linkedid, "reviewer": self.reviewer, "version": self.version,
                "previous_id": self.previous_id, "by": self.by, "reason": self.reason, "form": self.form,
                "form_version": self.form_version, "category": self.category, "comment": self.comment,
                "percent": self.percent, "score": self.score, "failed_critical": self.failed_critical,
                "failed": [a.criterion for a in self.answers if a.failed], "created_at": self.created_at.isoformat()}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "answers": [a.to_json() for a in self.answers]}


def category_of(call: ScoredCall, incident_types: Mapping[str, tuple[str, ...]]) -> str | None:
    """The category a call is judged under: its IVR category; a call that chose none (operator,
    no digit) takes the category its ticket's incident type belongs to, when only one has it
    (a fire reported through the operator is still a fire)."""
    if call.category in incident_types:
        return call.category
    owners = [c for c, types in incident_types.items() if call.incident_type in types]
    return owners[0] if len(owners) == 1 else None


def read_answers(form: QaForm, raw: object, category: str | None) -> tuple[Answer, ...]:
    """Every criterion of `form` answered, in the form's order: `{"<criterion>": "yes" | "no" |
    0..N | "na"}`, or an object `{"value": …, "comment": "…"}` instead of the bare value."""
    if not isinstance(raw, dict) or not raw:
        raise BadField("answers: an object of criterion → answer, e.g. {\"salam\": \"yes\", \"sikap\": 3}")
    unknown = [key for key in raw if form.criterion(key) is None]
    if unknown:
        raise BadField(f"answers.{unknown[0]}: not a criterion of form {form.name} "
                       f"({', '.join(c.id for c in form.criteria)})")
    answers = []
    for criterion in form.criteria:
        field = f"answers.{criterion.id}"
        if criterion.id not in raw:
            raise BadField(f"{field}: missing: every criterion is answered ({NA} where the form allows it)")
        value, comment = _entry(raw[criterion.id], field)
        answers.append(Answer(criterion.id, criterion.points(value, field), criterion.out_of, criterion.weight,
                              criterion.critical_in(category), comment))
    if all(a.value is None for a in answers):
        raise BadField(f"answers: every criterion is {NA}: there is nothing to score")
    return tuple(answers)


def _entry(raw: object, field: str) -> tuple[object, str | None]:
    if not isinstance(raw, dict):
        return raw, None
    extra = sorted(set(raw) - {"value", "comment"})
    if extra or "value" not in raw:
        raise BadField(f"{field}.{extra[0]}: not a field of an answer (value, comment)" if extra
                       else f"{field}.value: missing")
    return raw["value"], clean_text(raw.get("comment"), f"{field}.comment", MAX_COMMENT)


def clean_text(raw: object, field: str, longest: int, least: int = 0) -> str | None:
    """A free text trimmed; empty is None, unless `least` characters are required."""
    if raw is not None and not isinstance(raw, str):
        raise BadField(f"{field}: a text")
    text = (raw or "").strip()
    if len(text) > longest:
        raise BadField(f"{field}: at most {longest} characters")
    if len(text) < least:
        raise BadField(f"{field}: required, at least {least} characters" if not text
                       else f"{field}: at least {least} characters")
    return text or None


def percent(answers: tuple[Answer, ...]) -> float:
    """The weighted share of points, out of the criteria not answered N/A."""
    counted = [a for a in answers if a.value is not None]
    weights = sum(a.weight for a in counted)
    if not weights:
        raise BadField(f"answers: every criterion is {NA}: there is nothing to score")
    return round(100 * sum(a.weight * (a.value or 0) / a.out_of for a in counted) / weights, 2)


def evaluate(answers: tuple[Answer, ...]) -> tuple[float, float, bool]:
    """(percent, the score that counts, failed_critical): a failed critical criterion makes it 0."""
    share = percent(answers)
    failed = any(a.failed for a in answers)
    return share, 0.0 if failed else share, failed
