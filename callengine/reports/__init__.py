"""Reports of the centre: calls, service levels, tickets, the agencies' SLA, ratings, QA and the
call takers, for a day, a month or any range of days; as JSON, CSV, XLSX and a PDF, and a daily
summary e-mailed to the heads."""
