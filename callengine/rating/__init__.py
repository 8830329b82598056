"""The citizen's rating of the service: a call back once the ticket is selesai, and a one-time link."""
