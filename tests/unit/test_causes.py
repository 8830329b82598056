"""Hangup causes: Asterisk 22's 0/"Unknown" for a caller's own hangup reads as 16, like 16's."""
from __future__ import annotations

import pytest

from callengine.calls.causes import hangup_cause


@pytest.mark.parametrize(("cause", "text", "caller_hung_up", "expected"), [
    # Asterisk 22, caller hangs up in the IVR or a queue: AMI Hangup, then CEL HANGUP (no text)
    (0, "Unknown", True, (16, "Normal Clearing")),
    (0, None, True, (16, None)),
    # Asterisk 16 (and 22 once bridged): already right
    (16, "Normal Clearing", True, (16, "Normal Clearing")),
    (16, None, False, (16, None)),
    # a real cause is never rewritten, whoever hung up (Answer() failed on a bad INVITE: 127)
    (127, "Interworking, unspecified", True, (127, "Interworking, unspecified")),
    (17, "User busy", False, (17, "User busy")),
    # 0 without the caller's hangup: nobody said why, and the record says so
    (0, "Unknown", False, (0, "Unknown")),
    # no cause at all (no HANGUP row, no Hangup event) stays unknown
    (None, None, True, (None, None)),
])
def test_hangup_cause(cause: int | None, text: str | None, caller_hung_up: bool,
                      expected: tuple[int | None, str | None]) -> None:
    assert hangup_cause(cause, text, caller_hung_up) == expected
