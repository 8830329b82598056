"""The people of an agency's `notify` (agencies.conf), each "role and name" followed by one or
more contacts in angle brackets: an e-mail address, a phone number, or a Telegram chat id
written `tg:<id>` (a group's is negative):

    Kepala Dinas Hendra Wijaya <kadis.damkar@samarindakota.go.id> <tg:123456789>

The older form, one contact per person (`Kabid Operasi Rudi <+6281250012001>`), reads as before.
Plain data, no I/O: config.py validates with it, the notifier addresses messages with it."""
from __future__ import annotations

import re
from dataclasses import dataclass

from callengine.calls.numbers import to_e164

CONTACT = re.compile(r"<([^<>]*)>")
EMAIL = re.compile(r"^[^<>@\s,;]+@[^<>@\s,;]+\.[^<>@\s,;]+$")
TELEGRAM = re.compile(r"^tg:(-?[0-9]{1,20})$")


class ContactError(ValueError):
    """A head's contact that is none of e-mail, phone or tg:<chat id>."""


@dataclass(frozen=True)
class Head:
    name: str                           # as agencies.conf writes it, contacts removed
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()        # E.164
    telegram: tuple[str, ...] = ()      # chat ids


def parse_head(text: str) -> Head:
    """One person of `notify`; ContactError names what is wrong."""
    name = CONTACT.sub("", text).strip()
    if "<" in name or ">" in name:
        raise ContactError(f"{text!r}: an unclosed < or >")
    if not name:
        raise ContactError(f"{text!r}: the person's role and name come before their contacts")
    emails, phones, chats = [], [], []
    for raw in CONTACT.findall(text):
        contact = raw.strip()
        if EMAIL.match(contact):
            emails.append(contact)
        elif (chat := TELEGRAM.match(contact)) is not None:
            chats.append(chat[1])
        elif (phone := to_e164(contact)) is not None:
            phones.append(phone)
        else:
            raise ContactError(f"{text!r}: <{contact}> is not an e-mail address, a phone number "
                               "or a Telegram chat id (tg:123456789)")
    return Head(name, tuple(emails), tuple(phones), tuple(chats))


def parse_heads(people: tuple[str, ...] | list[str]) -> list[Head]:
    return [parse_head(person) for person in people]
