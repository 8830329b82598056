"""Dispatch to the agencies (OPD): agencies and rules, assignments and their lifecycle, SLA deadlines."""
