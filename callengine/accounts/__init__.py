"""Accounts of the console: people, roles, passwords, sessions, API tokens, login throttling
and the audit. `service.py` decides, `db/users.py` and `db/audit.py` store, `http.py` serves."""
