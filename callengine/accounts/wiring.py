"""The accounts service on the database's repositories, as the console and the CLI use it."""
from __future__ import annotations

from datetime import timedelta

from callengine.accounts.passwords import Passwords
from callengine.accounts.service import Accounts, Stores
from callengine.core.clock import Clock, SystemClock
from callengine.db.audit import AuditRepository
from callengine.db.database import Database
from callengine.db.sessions import LoginFailureRepository, SessionRepository, TokenRepository
from callengine.db.users import UserRepository


def stored_accounts(db: Database, idle: timedelta, clock: Clock | None = None) -> Accounts:
    stores = Stores(begin=db.begin, users=UserRepository(db), sessions=SessionRepository(db),
                    tokens=TokenRepository(db), audit=AuditRepository(db), failures=LoginFailureRepository(db))
    return Accounts(stores, clock or SystemClock(), Passwords(), idle)
