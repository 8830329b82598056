"""QA averages and calibration on plain data: the newest version of each (call, reviewer) score
(the store picks them) grouped per call taker, per shift or per criterion, and the calls two
reviewers or more scored, their answers side by side."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from callengine.qa.scoring import Answer, QaForm, Score, ScoredCall

Latest = Sequence[tuple[Score, ScoredCall]]


def per_group(latest: Latest, by: str, key: Callable[[ScoredCall], str | None]) -> list[dict[str, Any]]:
    """Per call taker or shift: how many scores and calls, the mean score (a failed call counts 0)
    and how many failed a critical criterion."""
    groups: dict[str | None, list[Score]] = {}
    for score, call in latest:
        groups.setdefault(key(call), []).append(score)
    return [{by: name, "scores": len(scores), "calls": len({s.linkedid for s in scores}),
             "average": _mean([s.score for s in scores]), "failed_critical": sum(s.failed_critical for s in scores)}
            for name, scores in sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))]


def per_criterion(latest: Latest, forms: Mapping[str, QaForm]) -> list[dict[str, Any]]:
    """Per criterion of each form, in the forms' order: the mean share of its points out of the
    answers not N/A, how many were N/A, how many failed it as a critical criterion."""
    tallies: dict[tuple[str, str], list[Answer]] = {}
    for score, _ in latest:
        for answer in score.answers:
            tallies.setdefault((score.form, answer.criterion), []).append(answer)
    order = {(form.name, c.id): i for i, (form, c) in enumerate((f, c) for f in forms.values() for c in f.criteria)}
    rows = []
    for (form, criterion), answers in sorted(tallies.items(), key=lambda item: (order.get(item[0], len(order)),
                                                                                item[0])):
        counted = [a for a in answers if a.value is not None]
        rows.append({**_named(forms, form, criterion), "answers": len(counted), "na": len(answers) - len(counted),
                     "average": _mean([100 * (a.value or 0) / a.out_of for a in counted]),
                     "failed_critical": sum(a.failed for a in answers)})
    return rows


def calibration(latest: Latest, forms: Mapping[str, QaForm]) -> list[dict[str, Any]]:
    """Each call scored by two reviewers or more, newest call first: each reviewer's score, the
    spread between the highest and the lowest, and every criterion's answers side by side."""
    per_call: dict[str, list[tuple[Score, ScoredCall]]] = {}
    for pair in latest:
        per_call.setdefault(pair[0].linkedid, []).append(pair)
    found = []
    for pairs in per_call.values():
        if len(pairs) < 2:      # one newest version per reviewer: two pairs are two reviewers
            continue
        scores, call = [s for s, _ in pairs], pairs[0][1]
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for score in scores:
            for answer in score.answers:
                row = rows.setdefault((score.form, answer.criterion),
                                      {**_named(forms, score.form, answer.criterion), "answers": {}})
                row["answers"][score.reviewer] = answer.to_json()["value"]
        for row in rows.values():
            row["agree"] = len(row["answers"]) == len(scores) and len({str(v) for v in row["answers"].values()}) == 1
        totals = [s.score for s in scores]
        found.append((call.started_at, {
            "linkedid": call.linkedid, "agent": call.agent, "category": scores[-1].category,
            "started_at": call.started_at.isoformat(), "reviewers": [s.reviewer for s in scores],
            "spread": round(max(totals) - min(totals), 2), "scores": [s.summary() for s in scores],
            "criteria": list(rows.values())}))
    return [entry for _, entry in sorted(found, key=lambda item: item[0], reverse=True)]


def _named(forms: Mapping[str, QaForm], form: str, criterion: str) -> dict[str, Any]:
    """A criterion as the form now names it (None when qa.conf no longer has it)."""
    found = forms[form].criterion(criterion) if form in forms else None
    return {"form": form, "criterion": criterion, "part": found.part if found else None,
            "text": found.text if found else None}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None
