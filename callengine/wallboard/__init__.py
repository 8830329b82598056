"""The supervisor's wallboard: the floor at a glance, pushed as it changes."""
