"""The rating feature as the console composes it: the store, the links' service and API, and
the call back's rounds (started once the engine's link is known)."""
from __future__ import annotations

from typing import Any

from callengine.core.clock import Clock
from callengine.core.settings import Settings
from callengine.db.database import Database
from callengine.db.ratings import RatingRepository
from callengine.dispatch.voice import CallResults, SpokenMessages
from callengine.rating.config import load_rating
from callengine.rating.http import RatingApi
from callengine.rating.service import AddressLimiter, Command, RatingCaller, Ratings


class StoredRatings:
    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.settings, self.clock = settings, clock
        self.config = load_rating(settings.config_file)
        self.store = RatingRepository(db)
        self.ratings = Ratings(self.store, self.config, clock)
        self.api = RatingApi(self.ratings, AddressLimiter(clock))
        self.caller: RatingCaller | None = None

    def calls(self, command: Command, feed: Any) -> None:
        self.caller = RatingCaller(self.config, self.store, SpokenMessages(self.settings.runtime_dir / "voice"),
                                   command, CallResults(feed), self.clock, self.settings.timezone, self.settings.city)

    async def run(self) -> None:
        if self.caller is not None:
            await self.caller.run()


def stored_ratings(settings: Settings, db: Database, clock: Clock) -> StoredRatings:
    return StoredRatings(settings, db, clock)
