"""QA scores and their answers; the calls' scores for the call search."""
from __future__ import annotations

from dataclasses import asdict, fields, replace
from datetime import datetime

from sqlalchemy import ColumnElement, Select, Subquery, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from callengine.db.database import Database
from callengine.db.models import CallRow, ScoreAnswerRow, ScoreRow, TicketRow
from callengine.qa.scoring import Answer, Conflict, Score, ScoredCall
from callengine.qa.search import CallSearch

_SCORE_FIELDS = [f.name for f in fields(Score) if f.name != "answers"]
_SCORE = [getattr(ScoreRow, name) for name in _SCORE_FIELDS]
_ANSWER = [ScoreAnswerRow.score_id, *(getattr(ScoreAnswerRow, f.name) for f in fields(Answer))]
_CALL = [CallRow.linkedid, CallRow.agent, CallRow.category, TicketRow.incident_type, CallRow.started_at,
         CallRow.answered_at]


class ScoreRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def call(self, linkedid: str, conn: AsyncConnection | None = None) -> ScoredCall | None:
        query = (select(*_CALL).outerjoin(TicketRow, TicketRow.linkedid == CallRow.linkedid)
                 .where(CallRow.linkedid == linkedid))
        async with self.db.connect(conn) as c:
            row = (await c.execute(query)).mappings().first()
        return ScoredCall(**row) if row else None

    async def add(self, score: Score, conn: AsyncConnection | None = None) -> Score:
        """Stored with its answers (in the caller's transaction, with its audit row); with its id.
        Its version taken meanwhile (a second submit, a second correction of the same version)
        is a Conflict."""
        values = {k: v for k, v in asdict(score).items() if k not in ("id", "answers")}
        try:
            async with self.db.begin(conn) as c:
                new_id = (await c.execute(insert(ScoreRow).values(**values).returning(ScoreRow.id))).scalar_one()
                await c.execute(insert(ScoreAnswerRow), [{"score_id": new_id, **asdict(a)} for a in score.answers])
        except IntegrityError:
            raise Conflict(f"{score.reviewer}'s score of call {score.linkedid} changed meanwhile: reload it") from None
        return replace(score, id=new_id)

    async def get(self, score_id: int, conn: AsyncConnection | None = None) -> Score | None:
        found = await self._scores(conn, select(*_SCORE).where(ScoreRow.id == score_id))
        return found[0] if found else None

    async def of_call(self, linkedid: str, conn: AsyncConnection | None = None) -> list[Score]:
        """Every version of every reviewer's score, in the order they were made."""
        return await self._scores(conn, select(*_SCORE).where(ScoreRow.linkedid == linkedid).order_by(ScoreRow.id))

    async def latest(self, since: datetime, until: datetime) -> list[tuple[Score, ScoredCall]]:
        """The newest version of each (call, reviewer) score, of the calls started in [since, until)."""
        newest = _newest()
        query = (select(*_SCORE, *(c.label(f"call_{c.key}") for c in _CALL))
                 .join(CallRow, CallRow.linkedid == ScoreRow.linkedid)
                 .outerjoin(TicketRow, TicketRow.linkedid == CallRow.linkedid)
                 .where(newest, CallRow.started_at >= since, CallRow.started_at < until)
                 .order_by(CallRow.started_at, ScoreRow.id))
        async with self.db.connect() as c:
            rows = (await c.execute(query)).mappings().all()
            scores = await self._with_answers(c, [Score(**{f: row[f] for f in _SCORE_FIELDS}) for row in rows])
        calls = [ScoredCall(**{c.key: row[f"call_{c.key}"] for c in _CALL}) for row in rows]
        return list(zip(scores, calls))

    async def _scores(self, conn: AsyncConnection | None, query: Select[tuple[object, ...]]) -> list[Score]:
        async with self.db.connect(conn) as c:
            found = [Score(**row) for row in (await c.execute(query)).mappings()]
            return await self._with_answers(c, found)

    @staticmethod
    async def _with_answers(c: AsyncConnection, scores: list[Score]) -> list[Score]:
        by_score: dict[int, list[Answer]] = {s.id: [] for s in scores}
        for start in range(0, len(scores), 500):       # bounded IN lists
            ids = [s.id for s in scores[start:start + 500]]
            query = select(*_ANSWER).where(ScoreAnswerRow.score_id.in_(ids)).order_by(ScoreAnswerRow.id)
            for row in (await c.execute(query)).mappings():
                by_score[row["score_id"]].append(Answer(**{k: v for k, v in row.items() if k != "score_id"}))
        return [replace(s, answers=tuple(by_score[s.id])) for s in scores]


def score_filters(wanted: CallSearch) -> list[ColumnElement[bool]]:
    """The call search's conditions on scores: scored or not, and the call's score (the mean of
    its reviewers' newest versions) within [min_score, max_score]."""
    found: list[ColumnElement[bool]] = []
    if wanted.scored is not None:
        any_score = select(ScoreRow.linkedid)
        found.append(CallRow.linkedid.in_(any_score) if wanted.scored else CallRow.linkedid.not_in(any_score))
    if wanted.min_score is not None or wanted.max_score is not None:
        scores = call_scores()
        within = [scores.c.score >= wanted.min_score] if wanted.min_score is not None else []
        within += [scores.c.score <= wanted.max_score] if wanted.max_score is not None else []
        found.append(CallRow.linkedid.in_(select(scores.c.linkedid).where(*within)))
    return found


def call_scores() -> Subquery:
    """Each scored call's score: the mean of its reviewers' newest versions."""
    return (select(ScoreRow.linkedid, func.avg(ScoreRow.score).label("score"))
            .where(_newest()).group_by(ScoreRow.linkedid).subquery())


def _newest() -> ColumnElement[bool]:
    """A version no other version corrects: the newest of its chain."""
    correction = aliased(ScoreRow)
    return ~exists().where(correction.previous_id == ScoreRow.id)
