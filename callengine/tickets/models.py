"""Tables of the ticket store. Schema changes go through Alembic (migrations/)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Dialect, Float, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, kept and compared in UTC on every backend.

    PostgreSQL's timestamptz converts by itself, but SQLite keeps DateTime(timezone=True) as
    the wall-clock text of whatever offset it was given, offset dropped: a local (WITA) bound
    compared with UTC text is hours off. So every value is converted to UTC before it reaches
    the database, as a bound value or a bound of a comparison, and comes back aware UTC. The
    SQLite text is the same naive UTC text DateTime(timezone=True) wrote: old rows read as before.
    """
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the store: which time zone is it in?")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:           # SQLite: the text is UTC without its offset
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class CallRow(Base):
    __tablename__ = "calls"

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


class TicketRow(Base):
    """The ticket a finished call becomes; agencies move it from baru (new) to selesai."""
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), ForeignKey("calls.linkedid"), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(40))
    caller: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)


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
