"""QA scoring as the console composes it: the forms of qa.conf (checked against desk.conf's
categories, so a broken file stops the console at start), the store, the roster's shifts, the
service and its API."""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from callengine.core.clock import Clock
from callengine.core.conf import ConfigError
from callengine.core.settings import Settings
from callengine.db.audit import AuditRepository
from callengine.db.database import Database
from callengine.db.scores import ScoreRepository
from callengine.qa.forms import load_forms
from callengine.qa.scores import ScoreBook, ScoreStores, ShiftAt
from callengine.qa.scores_http import ScoresApi
from callengine.queueing.roster import lazy_roster
from callengine.tickets.desk import load_desk

log = logging.getLogger(__name__)


def stored_scores(settings: Settings, db: Database, clock: Clock) -> ScoresApi:
    desk = load_desk(settings.desk_file)
    stores = ScoreStores(begin=db.begin, scores=ScoreRepository(db), audit=AuditRepository(db))
    return ScoresApi(ScoreBook(stores, load_forms(settings.qa_file, desk.incident_types), desk.incident_types,
                               roster_shifts(settings.roster_file, settings.timezone), clock), settings.timezone)


def roster_shifts(path: Path, zone: ZoneInfo) -> ShiftAt:
    """The roster's shift at a moment, the roster read at first use and re-read when it changes;
    a roster that cannot say names none (the averages show those calls under null)."""
    roster = lazy_roster(path, zone)

    def shift_at(moment: datetime) -> str | None:
        try:
            return roster().duty_at(moment).shift
        except (ConfigError, OSError) as exc:
            log.error("the roster cannot say the shift of a scored call: %s", exc)
            return None
    return shift_at
