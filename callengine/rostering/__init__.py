"""Roster editing from the console: swaps, overrides and the week's duty, written back into
roster.conf with its comments, and read by the engine as any edit of that file is."""
