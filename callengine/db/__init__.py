"""The database: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) by URL. `Database` owns the
engine and its transactions; one repository per aggregate (calls, tickets, alerts and pauses,
AML reports, cells…) holds the SQL. Only this package imports SQLAlchemy."""
