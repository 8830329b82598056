"""The ticket store: call records (and later tickets) in SQLAlchemy, SQLite by default."""
