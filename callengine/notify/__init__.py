"""Notifications by e-mail, Telegram and signed webhooks: what a dispatch, a status move and an
SLA escalation tell whom (notifier.py), and their delivery from the delivery log (outbox.py),
each channel on its own (email.py, telegram.py, webhooks.py)."""
