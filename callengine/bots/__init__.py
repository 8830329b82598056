"""SIP softphone bots (pjsua2) for tests, drills and load: citizens calling 112, call takers answering."""
