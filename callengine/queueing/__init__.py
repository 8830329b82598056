"""Queueing: the three-shift roster and the queue membership that follows it."""
