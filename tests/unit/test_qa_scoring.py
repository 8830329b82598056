"""QA scores on plain data and plain fakes: the weighted total without the N/A criteria, a
critical criterion failing the call (for its categories only), answers refused with the field
named, versions (a second submission refused, a correction the next version with its reason,
only the newest corrected, by its reviewer or a supervisor), and the averages and calibration
on the newest versions."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from callengine.accounts.model import AuditEntry
from callengine.qa.scores import AlreadyScored, NotAnswered, Reviewer, ScoreBook, ScoreStores
from callengine.qa.scoring import (BadField, Conflict, Criterion, NotAllowed, NotFound, QaForm, Score, ScoredCall,
                                   category_of, evaluate, read_answers)

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)        # 09:00 WITA
INCIDENTS = {"kebakaran": ("Kebakaran rumah/permukiman", "Lainnya"), "bencana": ("Banjir", "Lainnya")}
FORM = QaForm("standar", "Standar uji", 3, (
    Criterion("salam", "Pembukaan", "Menyapa dengan salam standar 112", 1, 1, False),
    Criterion("lokasi", "Lokasi", "Menanyakan lokasi kejadian", 1, 4, False, True, ("kebakaran",)),
    Criterion("korban", "Penggalian informasi", "Menanyakan jumlah korban", 1, 2, True),
    Criterion("sikap", "Penutupan", "Sikap tenang dan empatik", 4, 3, False)))
PERFECT = {"salam": "yes", "lokasi": "yes", "korban": "yes", "sikap": 4}


def total(answers: dict[str, Any], category: str | None = "kebakaran") -> tuple[float, float, bool]:
    return evaluate(read_answers(FORM, answers, category))


def test_the_total_is_the_weighted_share_of_points_without_the_na_criteria() -> None:
    assert total(PERFECT) == (100.0, 100.0, False)
    # salam 0 of 1, lokasi 4 of 4, korban N/A (its weight 2 left out), sikap 2/4 of 3: 5.5 of 8
    assert total({**PERFECT, "salam": "no", "korban": "na", "sikap": 2}) == (68.75, 68.75, False)
    # weights matter: missing lokasi (4) costs more than missing salam (1)
    assert total({**PERFECT, "salam": "no"})[0] == 90.0 and total({**PERFECT, "lokasi": "no"}, "bencana")[0] == 60.0


def test_a_critical_criterion_answered_no_fails_the_call_for_its_categories_only() -> None:
    assert total({**PERFECT, "lokasi": "no"}, "kebakaran") == (60.0, 0.0, True)       # a fire: location not asked
    assert total({**PERFECT, "lokasi": "no"}, "bencana") == (60.0, 60.0, False)       # a flood: only its weight
    assert total({**PERFECT, "lokasi": "no"}, None) == (60.0, 60.0, False)
    answers = read_answers(FORM, {**PERFECT, "lokasi": "no"}, "kebakaran")
    assert [a.criterion for a in answers if a.failed] == ["lokasi"]
    always = QaForm("x", "x", 1, (replace(FORM.criteria[0], critical=True),) + FORM.criteria[1:])
    assert evaluate(read_answers(always, {**PERFECT, "salam": "no"}, None))[1:] == (0.0, True)


def test_answers_are_read_bare_or_with_a_comment_in_the_forms_order() -> None:
    answers = read_answers(FORM, {"sikap": {"value": 3, "comment": " nada agak tinggi "}, "korban": "na",
                                  "lokasi": {"value": "yes"}, "salam": "yes"}, "kebakaran")
    assert [(a.criterion, a.value, a.out_of, a.weight, a.critical, a.comment) for a in answers] == [
        ("salam", 1, 1, 1, False, None), ("lokasi", 1, 1, 4, True, None), ("korban", None, 1, 2, False, None),
        ("sikap", 3, 4, 3, False, "nada agak tinggi")]
    assert [a.to_json()["value"] for a in answers] == ["yes", "yes", "na", 3]


@pytest.mark.parametrize("answers, message", [
    ({**PERFECT, "nada": "yes"}, "answers.nada: not a criterion of form standar (salam, lokasi, korban, sikap)"),
    ({k: v for k, v in PERFECT.items() if k != "sikap"}, "answers.sikap: missing"),
    ({**PERFECT, "salam": "na"}, "answers.salam: N/A is not allowed for this criterion"),
    ({**PERFECT, "sikap": 5}, "answers.sikap: a whole number 0..4"),
    ({**PERFECT, "sikap": True}, "answers.sikap: a whole number 0..4"),
    ({**PERFECT, "sikap": "3"}, "answers.sikap: a whole number 0..4"),
    ({**PERFECT, "salam": "ya"}, "answers.salam: yes or no"),
    ({**PERFECT, "korban": 1}, "answers.korban: yes or no (or na)"),
    ({**PERFECT, "salam": {"value": "yes", "catatan": "x"}}, "answers.salam.catatan: not a field of an answer"),
    ({**PERFECT, "salam": {"comment": "x"}}, "answers.salam.value: missing"),
    ({**PERFECT, "salam": {"value": "yes", "comment": "x" * 1001}}, "answers.salam.comment: at most 1000"),
    ([], "answers: an object of criterion"),
])
def test_a_bad_answer_is_refused_naming_its_field(answers: Any, message: str) -> None:
    with pytest.raises(BadField) as refused:
        read_answers(FORM, answers, "kebakaran")
    assert str(refused.value).startswith(message), refused.value


def test_every_criterion_na_leaves_nothing_to_score() -> None:
    only_na = QaForm("x", "x", 1, (FORM.criteria[2],))
    with pytest.raises(BadField, match="every criterion is na: there is nothing to score"):
        read_answers(only_na, {"korban": "na"}, None)


def test_a_call_without_an_ivr_category_is_judged_by_its_incident_type() -> None:
    def call(category: str | None, incident: str | None) -> ScoredCall:
        return ScoredCall("1.1", "taker1", category, incident, T0, T0)
    assert category_of(call("bencana", "Kebakaran rumah/permukiman"), INCIDENTS) == "bencana"     # the caller's choice
    assert category_of(call("operator", "Kebakaran rumah/permukiman"), INCIDENTS) == "kebakaran"  # a fire all the same
    assert category_of(call(None, "Lainnya"), INCIDENTS) is None                                  # in every list
    assert category_of(call(None, None), INCIDENTS) is None


# the service, on plain fakes

@dataclass
class Memory:
    calls: dict[str, ScoredCall] = field(default_factory=dict)
    scores: dict[int, Score] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        """A unit of work: what it wrote is undone if it raises, as a rolled-back transaction."""
        saved = (dict(self.scores), list(self.audit))
        try:
            yield None
        except BaseException:
            self.scores, self.audit = saved
            raise


class FakeScores:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def call(self, linkedid: str, conn: Any = None) -> ScoredCall | None:
        return self.m.calls.get(linkedid)

    async def add(self, score: Score, conn: Any = None) -> Score:
        """The database's unique (linkedid, reviewer, version) and unique previous_id."""
        if any((s.linkedid, s.reviewer, s.version) == (score.linkedid, score.reviewer, score.version)
               or (score.previous_id and s.previous_id == score.previous_id) for s in self.m.scores.values()):
            raise Conflict("taken meanwhile")
        stored = replace(score, id=len(self.m.scores) + 1)
        self.m.scores[stored.id] = stored
        return stored

    async def get(self, score_id: int, conn: Any = None) -> Score | None:
        return self.m.scores.get(score_id)

    async def of_call(self, linkedid: str, conn: Any = None) -> list[Score]:
        return [s for s in self.m.scores.values() if s.linkedid == linkedid]

    async def latest(self, since: datetime, until: datetime) -> list[tuple[Score, ScoredCall]]:
        corrected = {s.previous_id for s in self.m.scores.values()}
        return [(s, self.m.calls[s.linkedid]) for s in self.m.scores.values()
                if s.id not in corrected and since <= self.m.calls[s.linkedid].started_at < until]


class FakeAudit:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def add(self, entry: AuditEntry, conn: Any = None) -> None:
        self.m.audit.append(entry)


class FixedClock:
    def now(self) -> datetime:
        return T0 + timedelta(days=1)


QA1, QA2 = Reviewer("qa1", "qa", "10.0.0.5"), Reviewer("qa2", "qa", "10.0.0.6")
SPV, TAKER1 = Reviewer("spv1", "supervisor", "10.0.0.7"), Reviewer("taker1", "calltaker")
SHIFTS = {1: "pagi", 8: "siang", 15: "malam"}        # by the answer's UTC hour, as the roster would say in WITA


@pytest.fixture
def memory() -> Memory:
    m = Memory()
    for linkedid, agent, category, hour in (("1.1", "taker1", "kebakaran", 1), ("2.1", "taker1", "bencana", 8),
                                            ("3.1", "taker2", "kebakaran", 15), ("4.1", "taker2", "bencana", 1)):
        at = T0.replace(hour=hour)
        m.calls[linkedid] = ScoredCall(linkedid, agent, category, None, at, at + timedelta(seconds=9))
    m.calls["5.1"] = ScoredCall("5.1", None, "kebakaran", None, T0, None)         # abandoned
    m.calls["6.1"] = ScoredCall("6.1", "spv1", "kebakaran", None, T0, T0)         # overflow: a supervisor took it
    return m


@pytest.fixture
def book(memory: Memory) -> ScoreBook:
    return ScoreBook(ScoreStores(memory.begin, FakeScores(memory), FakeAudit(memory)), {"standar": FORM}, INCIDENTS,
                     lambda moment: SHIFTS.get(moment.hour), FixedClock())


def submitted(answers: dict[str, Any], comment: str | None = None) -> dict[str, Any]:
    return {"form": "standar", "answers": answers, **({"comment": comment} if comment else {})}


async def test_a_score_is_stored_with_its_audit_row_and_a_second_one_is_refused(book: ScoreBook,
                                                                                 memory: Memory) -> None:
    score = await book.submit("1.1", submitted({**PERFECT, "lokasi": "no"}, "lokasi tidak ditanyakan"), QA1)
    assert (score.version, score.previous_id, score.reviewer, score.by, score.form_version) == (1, None, "qa1", "qa1", 3)
    assert (score.percent, score.score, score.failed_critical, score.category) == (60.0, 0.0, True, "kebakaran")
    assert score.summary()["failed"] == ["lokasi"] and score.comment == "lokasi tidak ditanyakan"
    [entry] = memory.audit
    assert (entry.actor, entry.action, entry.target, entry.peer) == ("qa1", "score.submit", "call/1.1", "10.0.0.5")
    assert entry.detail["score"] == score.id and entry.detail["failed_critical"] is True
    with pytest.raises(AlreadyScored, match=r"qa1 scored call 1.1 already \(score 1, version 1\).*corrections"):
        await book.submit("1.1", submitted(PERFECT), QA1)
    assert len(memory.scores) == 1 and len(memory.audit) == 1
    assert (await book.submit("1.1", submitted(PERFECT), QA2)).score == 100.0        # another reviewer: their own


async def test_a_correction_is_the_next_version_with_its_reason_and_both_stay(book: ScoreBook, memory: Memory) -> None:
    first = await book.submit("4.1", submitted({**PERFECT, "korban": "no", "sikap": 3}), QA1)
    assert first.score == 72.5
    with pytest.raises(BadField, match="reason: required, at least 5 characters"):
        await book.correct(first.id, {"answers": PERFECT}, QA1)
    with pytest.raises(BadField, match="form: not a field here"):
        await book.correct(first.id, {"answers": PERFECT, "reason": "salah klik", "form": "standar"}, QA1)
    second = await book.correct(first.id, {"answers": {**PERFECT, "sikap": 3}, "reason": "korban ditanyakan di "
                                                                                         "menit ke-2"}, QA1)
    assert (second.version, second.previous_id, second.reason, second.score) == (2, first.id,
                                                                                 "korban ditanyakan di menit ke-2", 92.5)
    assert [s.version for s in await book.of_call("4.1", QA2)] == [1, 2] and memory.scores[first.id] == first
    with pytest.raises(Conflict, match=rf"score {first.id} is version 1; version 2 \(score {second.id}\) corrects it"):
        await book.correct(first.id, {"answers": PERFECT, "reason": "lagi-lagi"}, QA1)
    assert [e.action for e in memory.audit] == ["score.submit", "score.correct"]
    assert memory.audit[1].detail["corrects"] == first.id and memory.audit[1].detail["reason"].startswith("korban")


async def test_only_the_reviewer_or_a_supervisor_corrects_and_the_chain_stays_the_reviewers(
        book: ScoreBook, memory: Memory) -> None:
    first = await book.submit("1.1", submitted(PERFECT), QA1)
    with pytest.raises(NotAllowed, match="score 1 is qa1's: only they or a supervisor correct it"):
        await book.correct(first.id, {"answers": PERFECT, "reason": "saya tidak setuju"}, QA2)
    assert (memory.audit[-1].actor, memory.audit[-1].action) == ("qa2", "refused.not_yours")
    fixed = await book.correct(first.id, {"answers": {**PERFECT, "sikap": 0}, "reason": "kalibrasi tim"}, SPV)
    assert (fixed.reviewer, fixed.by, fixed.version) == ("qa1", "spv1", 2)
    with pytest.raises(NotFound):
        await book.correct(99, {"answers": PERFECT, "reason": "tidak ada"}, SPV)


async def test_what_cannot_be_scored(book: ScoreBook) -> None:
    with pytest.raises(NotFound):
        await book.submit("9.9", submitted(PERFECT), QA1)
    with pytest.raises(NotAnswered, match="was not answered by a call taker"):
        await book.submit("5.1", submitted(PERFECT), QA1)
    with pytest.raises(NotAllowed, match="spv1 answered call 6.1: another reviewer scores it"):
        await book.submit("6.1", submitted(PERFECT), SPV)
    with pytest.raises(BadField, match="form: one of standar"):
        await book.submit("1.1", {"form": "lama", "answers": PERFECT}, QA1)
    with pytest.raises(BadField, match="score: not a field here"):
        await book.submit("1.1", {**submitted(PERFECT), "score": 100}, QA1)
    with pytest.raises(NotAllowed, match="the role 'calltaker' does not score calls"):
        await book.submit("3.1", submitted(PERFECT), TAKER1)


async def test_a_call_taker_reads_the_scores_of_their_own_calls_only(book: ScoreBook) -> None:
    await book.submit("1.1", submitted(PERFECT, "bagus"), QA1)
    await book.submit("3.1", submitted(PERFECT), QA1)
    assert [s.comment for s in await book.of_call("1.1", TAKER1)] == ["bagus"]
    with pytest.raises(NotFound):
        await book.of_call("3.1", TAKER1)                 # taker2's: not even that it exists


async def scored_set(book: ScoreBook) -> None:
    """1.1 taker1 pagi 100 (qa1) and 85 (qa2); 2.1 taker1 siang 68.75; 3.1 taker2 malam 0 (a fire, location
    not asked); 4.1 taker2 pagi 32.5 corrected to 52.5."""
    await book.submit("1.1", submitted(PERFECT), QA1)
    await book.submit("1.1", submitted({**PERFECT, "sikap": 2}), QA2)
    await book.submit("2.1", submitted({"salam": "no", "lokasi": "yes", "korban": "na", "sikap": 2}), QA1)
    await book.submit("3.1", submitted({**PERFECT, "lokasi": "no"}), QA1)
    first = await book.submit("4.1", submitted({**PERFECT, "lokasi": "no", "korban": "no", "sikap": 3}), QA1)
    await book.correct(first.id, {"answers": {**PERFECT, "lokasi": "no", "sikap": 3}, "reason": "korban ditanyakan"},
                       QA1)


async def test_the_averages_count_the_newest_versions_per_agent_shift_and_criterion(book: ScoreBook) -> None:
    await scored_set(book)
    since, until = book.period(None, None)
    assert (since, until) == (T0 - timedelta(days=29), T0 + timedelta(days=1))
    assert await book.averages(since, until, "agent") == [
        {"agent": "taker1", "scores": 3, "calls": 2, "average": round((100 + 85 + 68.75) / 3, 2), "failed_critical": 0},
        {"agent": "taker2", "scores": 2, "calls": 2, "average": 26.25, "failed_critical": 1}]
    assert {g["shift"]: g["average"] for g in await book.averages(since, until, "shift")} == {
        "malam": 0.0, "pagi": round((100 + 85 + 52.5) / 3, 2), "siang": 68.75}
    rows = {r["criterion"]: r for r in await book.averages(since, until, "criterion")}
    assert list(rows) == ["salam", "lokasi", "korban", "sikap"]
    assert {k: (r["answers"], r["na"], r["average"], r["failed_critical"]) for k, r in rows.items()} == {
        "salam": (5, 0, 80.0, 0), "lokasi": (5, 0, 60.0, 1), "korban": (4, 1, 100.0, 0), "sikap": (5, 0, 75.0, 0)}
    assert rows["lokasi"]["text"] == "Menanyakan lokasi kejadian"
    assert await book.averages(T0 + timedelta(hours=2), until, "agent") == [   # 2.1 and 3.1 only
        {"agent": "taker1", "scores": 1, "calls": 1, "average": 68.75, "failed_critical": 0},
        {"agent": "taker2", "scores": 1, "calls": 1, "average": 0.0, "failed_critical": 1}]
    with pytest.raises(BadField, match="by: one of agent, shift, criterion"):
        await book.averages(since, until, "team")
    with pytest.raises(BadField, match="from: before to"):
        book.period(until, since)


async def test_the_calibration_shows_a_call_two_reviewers_scored_side_by_side(book: ScoreBook) -> None:
    await scored_set(book)
    [call] = await book.calibration(*book.period(None, None))
    assert (call["linkedid"], call["agent"], call["reviewers"], call["spread"]) == ("1.1", "taker1", ["qa1", "qa2"],
                                                                                   15.0)
    assert [s["score"] for s in call["scores"]] == [100.0, 85.0]
    assert [(c["criterion"], c["answers"], c["agree"]) for c in call["criteria"]] == [
        ("salam", {"qa1": "yes", "qa2": "yes"}, True), ("lokasi", {"qa1": "yes", "qa2": "yes"}, True),
        ("korban", {"qa1": "yes", "qa2": "yes"}, True), ("sikap", {"qa1": 4, "qa2": 2}, False)]
