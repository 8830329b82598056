"""QA scoring, the service: a reviewer (QA staff, a supervisor) scores a call taker's call on a
form of config/qa.conf; a score is never changed, a correction is its next version with a
reason (by the reviewer, or a supervisor); everyone's versions stay readable; the newest
version of each (call, reviewer) counts in the averages (per call taker, per roster shift, per
criterion) and in the calibration (a call scored by two reviewers or more, side by side).

Each score commits with its audit row (`ScoreStores.begin`). It imports neither aiohttp nor
SQLAlchemy: the stores are db/'s repositories in production and plain fakes in unit tests.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from callengine.accounts.model import AuditEntry
from callengine.core.clock import Clock
from callengine.qa.averages import calibration, per_criterion, per_group
from callengine.qa.scoring import (MAX_OVERALL, MAX_REASON, MIN_REASON, BadField, Conflict, NotAllowed, NotFound,
                                   QaForm, Score, ScoredCall, category_of, clean_text, evaluate, read_answers)

Tx = Any                                       # a store's unit of work, opaque here
SCORERS = ("qa", "supervisor")                 # submit and correct scores, read the averages
SUPERVISOR = "supervisor"                      # corrects anyone's score, not only their own
CALLTAKER = "calltaker"                        # reads the scores of the calls they answered, nobody else's
GROUPS = ("agent", "shift", "criterion")
PERIOD = timedelta(days=30)                    # the averages' period when `from` is not given
SUBMIT_FIELDS, CORRECT_FIELDS = ("form", "answers", "comment"), ("answers", "comment", "reason")
ShiftAt = Callable[[datetime], str | None]     # the roster's shift running at a moment


class AlreadyScored(Conflict):
    code = "already_scored"


class NotAnswered(Conflict):
    code = "not_answered"


class ScoreStore(Protocol):
    async def call(self, linkedid: str, conn: Tx = None) -> ScoredCall | None: ...
    async def add(self, score: Score, conn: Tx = None) -> Score: ...
    async def get(self, score_id: int, conn: Tx = None) -> Score | None: ...
    async def of_call(self, linkedid: str, conn: Tx = None) -> list[Score]: ...
    async def latest(self, since: datetime, until: datetime) -> list[tuple[Score, ScoredCall]]: ...


class AuditStore(Protocol):
    async def add(self, entry: AuditEntry, conn: Tx = None) -> None: ...


@dataclass(frozen=True)
class ScoreStores:
    begin: Callable[[], AbstractAsyncContextManager[Tx]]
    scores: ScoreStore
    audit: AuditStore


@dataclass(frozen=True)
class Reviewer:
    name: str
    role: str
    peer: str | None = None


class ScoreBook:
    def __init__(self, stores: ScoreStores, forms: dict[str, QaForm], incident_types: Mapping[str, tuple[str, ...]],
                 shift_at: ShiftAt, clock: Clock) -> None:
        self.stores, self.forms, self.incident_types = stores, forms, incident_types
        self.shift_at, self.clock = shift_at, clock

    async def submit(self, linkedid: str, data: Mapping[str, object], who: Reviewer) -> Score:
        """`who`'s first score of the call; a second one is refused (correct the first instead)."""
        _may_score(who)
        _only(data, SUBMIT_FIELDS)
        name = data.get("form")
        form = self.forms.get(name) if isinstance(name, str) else None
        if form is None:
            raise BadField(f"form: one of {', '.join(self.forms)}")
        comment = clean_text(data.get("comment"), "comment", MAX_OVERALL)
        now = self.clock.now()
        async with self.stores.begin() as tx:
            call = await self._scorable(linkedid, who, tx)
            mine = [s for s in await self.stores.scores.of_call(linkedid, tx) if s.reviewer == who.name]
            if mine:
                newest = max(mine, key=lambda s: s.version)
                raise AlreadyScored(f"{who.name} scored call {linkedid} already (score {newest.id}, version "
                                    f"{newest.version}): a score is not changed, correct it instead "
                                    f"(POST /api/v1/scores/{newest.id}/corrections, with a reason)")
            score = await self.stores.scores.add(
                self._scored(form, data.get("answers"), call, who, comment, now), tx)
            await self._audit("score.submit", score, who, tx)
        return score

    async def correct(self, score_id: int, data: Mapping[str, object], who: Reviewer) -> Score:
        """The next version of the score, with its reason, by its reviewer or a supervisor; only
        the newest version is corrected (two corrections of one version: the second is refused)."""
        _may_score(who)
        _only(data, CORRECT_FIELDS)
        reason = clean_text(data.get("reason"), "reason", MAX_REASON, least=MIN_REASON)
        comment = clean_text(data.get("comment"), "comment", MAX_OVERALL)
        previous = await self.stores.scores.get(score_id)
        if previous is None:
            raise NotFound(f"no score {score_id}")
        if previous.reviewer != who.name and who.role != SUPERVISOR:
            # kept outside any transaction, so the refusal stays on record: a reviewer reaching for another's score
            await self.stores.audit.add(AuditEntry(self.clock.now(), who.name, "refused.not_yours", f"score/{score_id}",
                                                   {"reviewer": previous.reviewer}, who.peer))
            raise NotAllowed(f"score {score_id} is {previous.reviewer}'s: only they or a supervisor correct it")
        form = self.forms.get(previous.form)
        if form is None:
            raise Conflict(f"score {score_id} was made on form {previous.form!r}, which qa.conf no longer has")
        now = self.clock.now()
        async with self.stores.begin() as tx:
            call = await self._scorable(previous.linkedid, who, tx)
            chain = [s for s in await self.stores.scores.of_call(previous.linkedid, tx)
                     if s.reviewer == previous.reviewer]
            newest = max(chain, key=lambda s: s.version)
            if newest.id != previous.id:
                raise Conflict(f"score {score_id} is version {previous.version}; version {newest.version} "
                               f"(score {newest.id}) corrects it already: correct that one")
            made = self._scored(form, data.get("answers"), call, who, comment, now)
            score = await self.stores.scores.add(replace(made, reviewer=previous.reviewer, version=previous.version + 1,
                                                         previous_id=previous.id, reason=reason), tx)
            await self._audit("score.correct", score, who, tx)
        return score

    async def of_call(self, linkedid: str, who: Reviewer) -> list[Score]:
        """Every version of every reviewer's score of the call, oldest first; a call taker's own
        calls only (another's: NotFound, as if it did not exist)."""
        call = await self.stores.scores.call(linkedid)
        if call is None or (who.role == CALLTAKER and call.agent != who.name):
            raise NotFound(f"no call {linkedid!r}")
        return await self.stores.scores.of_call(linkedid)

    def period(self, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
        """[since, until): until now and since PERIOD before `until` when not given."""
        end = until or self.clock.now()
        start = since or end - PERIOD
        if start >= end:
            raise BadField("from: before to")
        return start, end

    async def averages(self, since: datetime, until: datetime, by: str) -> list[dict[str, Any]]:
        """The newest versions of the calls started in [since, until), averaged per call taker, per
        shift (the roster's, at the call's answer) or per criterion."""
        if by not in GROUPS:
            raise BadField(f"by: one of {', '.join(GROUPS)}")
        latest = await self.stores.scores.latest(since, until)
        if by == "criterion":
            return per_criterion(latest, self.forms)
        if by == "agent":
            return per_group(latest, by, lambda call: call.agent)
        return per_group(latest, by, lambda call: self.shift_at(call.answered_at or call.started_at))

    async def calibration(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The calls started in [since, until) scored by two reviewers or more, side by side."""
        return calibration(await self.stores.scores.latest(since, until), self.forms)

    async def _scorable(self, linkedid: str, who: Reviewer, tx: Tx) -> ScoredCall:
        call = await self.stores.scores.call(linkedid, tx)
        if call is None:
            raise NotFound(f"no call {linkedid!r}")
        if call.agent is None:
            raise NotAnswered(f"call {linkedid} was not answered by a call taker: there is nobody's work to score")
        if call.agent == who.name:
            raise NotAllowed(f"{who.name} answered call {linkedid}: another reviewer scores it")
        return call

    def _scored(self, form: QaForm, raw: object, call: ScoredCall, who: Reviewer, comment: str | None,
                at: datetime) -> Score:
        category = category_of(call, self.incident_types)
        answers = read_answers(form, raw, category)
        share, score, failed = evaluate(answers)
        return Score(0, call.linkedid, who.name, 1, None, who.name, None, form.name, form.version, category, comment,
                     share, score, failed, at, who.peer, answers)

    async def _audit(self, action: str, score: Score, who: Reviewer, tx: Tx) -> None:
        await self.stores.audit.add(AuditEntry(score.created_at, who.name, action, f"call/{score.linkedid}", {
            "score": score.id, "reviewer": score.reviewer, "version": score.version, "corrects": score.previous_id,
            "reason": score.reason, "form": f"{score.form} v{score.form_version}", "total": score.score,
            "failed_critical": score.failed_critical}, who.peer), tx)


def _may_score(who: Reviewer) -> None:
    if who.role not in SCORERS:
        raise NotAllowed(f"the role {who.role!r} does not score calls")


def _only(data: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise BadField(f"{unknown[0]}: not a field here ({', '.join(allowed)})")
