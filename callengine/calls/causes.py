"""Hangup causes made the same across Asterisk versions.

When the caller hangs up (SIP BYE from the trunk) before reaching a call taker (in the IVR,
the fallback greeting, either queue), Asterisk 16 reports Q.850 cause 16 "Normal Clearing";
Asterisk 22's chan_pjsip queues that hangup with no cause (its AMI HangupRequest carries no
Cause), nothing sets one later since no bridge is involved, and it reports 0 "Unknown" in
the AMI Hangup event and in CEL's HANGUP hangupcause. Once bridged to a call taker both say 16.
A caller's own hangup is normal clearing; 0 is not a cause, so it is read as 16.
"""
from __future__ import annotations

NOT_DEFINED = 0          # AST_CAUSE_NOTDEFINED, "Unknown"
NORMAL_CLEARING = 16     # AST_CAUSE_NORMAL_CLEARING
NORMAL_CLEARING_TEXT = "Normal Clearing"   # ast_cause2str(16), as AMI's Cause-txt says it


def hangup_cause(cause: int | None, text: str | None, caller_hung_up: bool) -> tuple[int | None, str | None]:
    """The call's hangup cause and its text, with Asterisk 22's 0/"Unknown" for a caller's own
    hangup read as 16/"Normal Clearing". Anything else passes through: a missing cause stays
    unknown, a 0 without the caller's hangup stays 0 (nobody said why), and the text stays
    None when the source has none (CEL carries no text, only AMI's Cause-txt)."""
    if cause != NOT_DEFINED or not caller_hung_up:
        return cause, text
    return NORMAL_CLEARING, None if text is None else NORMAL_CLEARING_TEXT
