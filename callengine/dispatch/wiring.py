"""The dispatch service on the database's repositories, and its API, as the console uses them."""
from __future__ import annotations

from callengine.core.clock import Clock
from callengine.db.assignments import AssignmentRepository
from callengine.db.audit import AuditRepository
from callengine.db.database import Database
from callengine.db.tickets import TicketRepository
from callengine.dispatch.http import DispatchApi
from callengine.dispatch.model import DispatchRules
from callengine.dispatch.service import Dispatcher, DispatchStores
from callengine.web.sse import SignedIn, always


def stored_dispatch(db: Database, rules: DispatchRules, clock: Clock, signed_in: SignedIn = always) -> DispatchApi:
    stores = DispatchStores(begin=db.begin, assignments=AssignmentRepository(db), tickets=TicketRepository(db),
                            audit=AuditRepository(db))
    return DispatchApi(Dispatcher(stores, rules, clock), rules, signed_in=signed_in)
