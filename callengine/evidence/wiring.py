"""The evidence feature on the database's repositories, the runtime folder's key and the
recordings, as the console and the command line compose it."""
from __future__ import annotations

from functools import partial

from callengine.attachments.wiring import stored_attachments
from callengine.core.clock import Clock
from callengine.core.settings import Settings
from callengine.db.alerts import AlertRepository
from callengine.db.audit import AuditRepository
from callengine.db.callbacks import CallbackRepository
from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.escalations import SlaRepository
from callengine.db.tickets import TicketRepository
from callengine.dispatch.config import load_agencies
from callengine.dispatch.sla import SlaBook
from callengine.dispatch.wiring import stored_dispatch
from callengine.evidence.http import EvidenceApi
from callengine.evidence.keys import centre_key, key_path
from callengine.evidence.service import Centre, Custody, LegalHold
from callengine.rating.wiring import stored_ratings
from callengine.tickets.desk import load_desk
from callengine.tickets.story import TicketStory


def stored_custody(settings: Settings, db: Database, clock: Clock, story: TicketStory) -> Custody:
    return Custody(CallRepository(db), TicketRepository(db), story, AuditRepository(db), AlertRepository(db),
                   partial(centre_key, key_path(settings.runtime_dir)), settings.recordings_dir,
                   Centre(settings.city, settings.city_code, settings.timezone), clock)


def stored_hold(db: Database, clock: Clock) -> LegalHold:
    return LegalHold(TicketRepository(db), AuditRepository(db), db.begin, clock)


def stored_evidence(settings: Settings, db: Database, clock: Clock, story: TicketStory) -> EvidenceApi:
    """The console's: `story` is its TicketApi's, so a bundle holds what the ticket's page shows."""
    return EvidenceApi(stored_custody(settings, db, clock, story), stored_hold(db, clock))


def stored_story(settings: Settings, db: Database, clock: Clock) -> TicketStory:
    """A ticket's story composed from the same parts as the console's TicketApi (assignments with
    their attachments, escalations and deliveries; call-backs; the rating), for the command line."""
    dispatch = stored_dispatch(db, load_agencies(settings.agencies_file, load_desk(settings.desk_file)), clock)
    attachments = stored_attachments(db, settings.runtime_dir, clock).attachments
    assignments = SlaBook(SlaRepository(db), clock, settings.timezone).with_notices(
        attachments.timeline(dispatch.dispatcher.timeline))
    return TicketStory(CallbackRepository(db), assignments, stored_ratings(settings, db, clock).ratings.of_ticket)
