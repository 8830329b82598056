"""The tables. Schema changes go through Alembic (db/migrations/)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from callengine.db.types import UtcDateTime


class Base(DeclarativeBase):
    pass


class CallRow(Base):
    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_started_at_linkedid", "started_at", "linkedid"),   # 0016: the search
                      Index("ix_calls_agent_started_at", "agent", "started_at"))

    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller: Mapped[str | None] = mapped_column(String(20))
    caller_raw: Mapped[str] = mapped_column(String(80))
    dialed: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    category: Mapped[str | None] = mapped_column(String(40))
    queue: Mapped[str | None] = mapped_column(String(40))
    wait_s: Mapped[float | None] = mapped_column(Float)
    agent: Mapped[str | None] = mapped_column(String(80))
    talk_s: Mapped[float | None] = mapped_column(Float)
    disposition: Mapped[str] = mapped_column(String(20))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(80))
    hangup_by: Mapped[str | None] = mapped_column(String(20))
    recording: Mapped[str | None] = mapped_column(String(255))
    ghost: Mapped[bool] = mapped_column(Boolean, default=False)
    prank: Mapped[bool] = mapped_column(Boolean, default=False)
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ivr: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    caller_status: Mapped[str | None] = mapped_column(String(20))
    locations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    recording_facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(10), default="ami")
    sip_call_id: Mapped[str | None] = mapped_column(String(255))
    moments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)   # 0017: rings and holds


class TicketRow(Base):
    """The ticket of a call: opened when a call taker answers (or at hangup when nobody did),
    written by the taker on the desk; agencies move it from baru (new) to selesai. Its call row
    arrives at hangup, so linkedid is unique but no foreign key (0009)."""
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(40))
    caller: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    number: Mapped[str | None] = mapped_column(String(24), unique=True)   # SMD-20261202-0042; None before 0008
    # the desk's form (0009)
    classification: Mapped[str | None] = mapped_column(String(20))   # darurat, informasi, prank, ghost…
    duplicate_of: Mapped[str | None] = mapped_column(String(24))     # another ticket's number
    incident_type: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(300))
    kelurahan: Mapped[str | None] = mapped_column(String(80))
    kecamatan: Mapped[str | None] = mapped_column(String(80))
    lat: Mapped[float | None] = mapped_column(Float)                  # the location as the taker corrected it
    lon: Mapped[float | None] = mapped_column(Float)
    caller_name: Mapped[str | None] = mapped_column(String(120))
    callback_number: Mapped[str | None] = mapped_column(String(20))
    victims: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int | None] = mapped_column(Integer)
    taker: Mapped[str | None] = mapped_column(String(40), index=True)   # the account that answered
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    wrapped_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TicketCounterRow(Base):
    """The last ticket number given on each local day: the sequence survives restarts and is
    taken in the same transaction as the ticket, so two tickets never share a number."""
    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)   # YYYYMMDD in the centre's time zone
    last: Mapped[int] = mapped_column(Integer)


class CallbackRow(Base):
    """A call-back from the console: the taker's softphone rang, then the citizen's number.
    Written when placed (outcome NULL while it lasts), finished once from Asterisk's account.
    for_linkedid names the missed call as tickets.linkedid does, without a foreign key (0009)."""
    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)     # its own call: the taker leg's Uniqueid
    for_linkedid: Mapped[str | None] = mapped_column(String(64), index=True)   # the missed call it answers
    account: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(80))
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())   # the citizen answered
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(String(20))
    dialstatus: Mapped[str | None] = mapped_column(String(20))
    cause: Mapped[str | None] = mapped_column(String(200))
    recording: Mapped[str | None] = mapped_column(String(255))
    talk_s: Mapped[float | None] = mapped_column(Float)


class AlertRow(Base):
    """Something supervisors must see: e.g. nobody of the incoming shift is registered."""
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))


class PauseRow(Base):
    """One pause of a call taker: why, who paused and unpaused, and when."""
    __tablename__ = "pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(40), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    paused_by: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(80))


class AmlRow(Base):
    """An Advanced Mobile Location report as received (HTTP or SMS), kept whether or not a call matches."""
    __tablename__ = "aml_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    channel: Mapped[str] = mapped_column(String(10))          # "http" or "sms"
    location: Mapped[dict[str, Any]] = mapped_column(JSON)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)


# OpenCelliD's towers, as imported (`callengine celldb import`); keyed like the network keys them.
cells = Table(
    "cells", Base.metadata,
    Column("radio", String(8), primary_key=True),
    Column("mcc", Integer, primary_key=True, autoincrement=False),
    Column("net", Integer, primary_key=True, autoincrement=False),
    Column("area", Integer, primary_key=True, autoincrement=False),
    Column("cell", BigInteger, primary_key=True, autoincrement=False),  # NR cell ids have 36 bits
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("range_m", Integer, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("updated", BigInteger),  # Unix seconds, as OpenCelliD gives it
)


class UserRow(Base):
    """A person's account on the console: role, agency (responders), argon2id password hash."""
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)     # a call taker's is their roster account
    full_name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(20))
    agency: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SessionRow(Base):
    """A console session, server-side: the cookie holds a random id, the table only its SHA-256."""
    __tablename__ = "sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    csrf_token: Mapped[str] = mapped_column(String(64))
    peer: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ApiTokenRow(Base):
    """A personal API token: acts as its user; the table holds only its SHA-256."""
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AuditRow(Base):
    """Append-only (the database refuses UPDATE and DELETE): every login and every write."""
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str | None] = mapped_column(String(80))      # an account name, or cli:<os user>
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    peer: Mapped[str | None] = mapped_column(String(64))


class LoginFailureRow(Base):
    """A failed login, kept for the throttle's window under `account:<name>` and `address:<ip>`."""
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class AssignmentRow(Base):
    """A ticket dispatched to one agency (0011): its status, and the SLA deadlines armed at the
    dispatch (re-armed at a reopen), kept with it so they survive any restart."""
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("ticket_id", "agency", name="uq_assignments_ticket_agency"),
                      Index("ix_assignments_agency_status", "agency", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(Integer, ForeignKey("tickets.id"), index=True)
    agency: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)     # diteruskan, diterima, diproses, selesai, ditolak
    note: Mapped[str] = mapped_column(Text, default="")
    dispatched_by: Mapped[str] = mapped_column(String(80))
    dispatched_at: Mapped[datetime] = mapped_column(UtcDateTime())
    accept_by: Mapped[datetime] = mapped_column(UtcDateTime())
    process_by: Mapped[datetime] = mapped_column(UtcDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    processing_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AssignmentEventRow(Base):
    """One line of an assignment's timeline: who moved it from what to what, when, from where."""
    __tablename__ = "assignment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(Integer, ForeignKey("assignments.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(80))
    from_status: Mapped[str | None] = mapped_column(String(20))     # None: the dispatch
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    peer: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(200))         # the user agent, or the phone that answered


class EscalationRow(Base):
    """A missed SLA deadline escalated (0013): level 1 to the agency's heads, level 2 to the
    supervisor on duty. Once per assignment, stage, level and deadline (a reopen re-arms the
    deadline, so its misses escalate anew): a second watcher round or a restart never doubles one."""
    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("assignment_id", "stage", "level", "deadline", name="uq_escalations_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(Integer, ForeignKey("assignments.id"), index=True)
    stage: Mapped[str] = mapped_column(String(10))                  # accept (diterima) or process (diproses)
    level: Mapped[int] = mapped_column(Integer)                     # 1 the agency's heads, 2 the supervisor
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    delay_s: Mapped[float] = mapped_column(Float)                   # how late it was when raised
    notified: Mapped[list[str]] = mapped_column(JSON, default=list)


class NotificationRow(Base):
    """The delivery log (0013): one message to one recipient on one channel, with its attempts."""
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("assignments.id"), index=True)
    escalation_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("escalations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))                # console, email, telegram, voice
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), index=True)     # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AttachmentRow(Base):
    """Documentation sent with an assignment (0012): the client's name only as text, the file
    under a generated name in runtime/attachments/, its sniffed type, size, SHA-256, and the
    EXIF GPS position of a photo."""
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(Integer, ForeignKey("assignments.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(Integer, ForeignKey("tickets.id"), index=True)
    agency: Mapped[str] = mapped_column(String(20))
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    thumbnail_name: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    peer: Mapped[str | None] = mapped_column(String(64))


class RatingRow(Base):
    """The citizen's rating of a ticket's service (0014): one per ticket, by the call back's digit
    (source voice, by the number called) or the one-time link (source link, by "link")."""
    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(Integer, ForeignKey("tickets.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10))                 # voice, link
    by: Mapped[str] = mapped_column(String(80))                     # the number called, or "link"
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    peer: Mapped[str | None] = mapped_column(String(64))


class RatingRequestRow(Base):
    """Asking a ticket's citizen for a rating (0014): the call back's schedule (kind voice: its
    next try, tries made, status pending → calling → rated, or given-up / skipped), re-read each
    round so it survives restarts; or a link (kind link: the token's SHA-256, open → used)."""
    __tablename__ = "rating_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(Integer, ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))                   # voice, link
    status: Mapped[str] = mapped_column(String(12), index=True)
    number: Mapped[str | None] = mapped_column(String(20))          # voice: the number called (E.164)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)   # link
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ScoreRow(Base):
    """A reviewer's QA score of a call (0015), never changed (the database refuses UPDATE and
    DELETE): a correction is the next version of the same (call, reviewer) chain, naming the
    version it corrects and why. The newest version of each chain counts."""
    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("linkedid", "reviewer", "version", name="uq_scores_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), ForeignKey("calls.linkedid"), index=True)
    reviewer: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    previous_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("scores.id"), unique=True)  # corrected once
    by: Mapped[str] = mapped_column(String(80))                     # the reviewer, or a supervisor correcting
    reason: Mapped[str | None] = mapped_column(Text)
    form: Mapped[str] = mapped_column(String(40))
    form_version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    percent: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)                     # 0 when a critical criterion failed
    failed_critical: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    peer: Mapped[str | None] = mapped_column(String(64))


class ScoreAnswerRow(Base):
    """One criterion's answer in a score (0015): its points (NULL: N/A) out of `out_of` (1: a
    yes/no), its weight and whether it was critical for the call, as the form said then."""
    __tablename__ = "score_answers"
    __table_args__ = (UniqueConstraint("score_id", "criterion", name="uq_score_answers_criterion"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    score_id: Mapped[int] = mapped_column(Integer, ForeignKey("scores.id"), index=True)
    criterion: Mapped[str] = mapped_column(String(40))
    value: Mapped[int | None] = mapped_column(Integer)
    out_of: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer)
    critical: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
