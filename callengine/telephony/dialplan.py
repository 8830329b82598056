"""The contract between dialplan/extensions.conf and the engine, in one place: channel
variables the IVR sets, user events the dialplan raises (to AMI and to CEL), and the contexts
a 112 call passes through. Change a name here and in the dialplan together."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

# Channel variables the IVR sets for the dialplan.
IVR_DONE = "CE_IVR_DONE"          # "1": the IVR finished; spares the caller the fallback greeting
PRIORITY = "CE_PRIORITY"          # queue priority of the caller
CATEGORY = "CE_CATEGORY"          # the category chosen in the menu
IVR_NOTES = "CE_IVR_NOTES"        # the IVR's outcome, encoded by encode_notes(), copied to CEL

# Contexts every call from the telco trunk enters: reaching one makes a call a 112 call.
EMERGENCY_CONTEXTS = frozenset({"from-trunk", "emergency"})

# UserEvent (AMI) and CELGenUserEvent (CEL) names.
RECORDING_EVENT = "CallEngineRecording"  # AMI: recording, dialed number, Call-ID
CALL_CEL_EVENT = "CallEngineCall"        # CEL: dialed number and Call-ID, before Answer()
IVR_CEL_EVENT = "CallEngineIvr"          # CEL: the IVR's notes, once it finished


def encode_notes(notes: dict[str, str]) -> str:
    """URL-encoded: the dialplan splits application arguments on commas and strips quotes."""
    return urlencode(notes)


def decode_notes(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))

# The duty phone's voice call ([dutyphone]): variables the engine sets on the Originate, and the
# user event (AMI and CEL) with the result: accepted (1 pressed) or no-digit.
DUTYPHONE_CONTEXT = "dutyphone"
DUTYPHONE_OUT_CONTEXT = "dutyphone-out"  # the Local channel's other half: Dial(CE_DUTY_DIAL, CE_DUTY_RING)
DUTYPHONE_CALL = "CE_DUTY_CALL"          # the engine's id of the call, in every user event
DUTYPHONE_DIAL = "CE_DUTY_DIAL"          # the duty phone's channel ([notify] voice_dial)
DUTYPHONE_RING = "CE_DUTY_RING"          # seconds it rings
DUTYPHONE_PROMPT = "CE_DUTY_PROMPT"      # the spoken message, an absolute path without .wav
DUTYPHONE_CONFIRM = "CE_DUTY_CONFIRM"    # played after 1 was pressed (may be empty)
DUTYPHONE_EVENT = "CallEngineDutyPhone"  # AMI UserEvent (Call:, Result:, Plays: / DialStatus:), CEL
# The citizen's rating call ([rating]): placed as a duty phone's (the same CE_DUTY_* variables,
# dialled through [dutyphone-out]); its own context reads a digit 1-5 and tells it
RATING_CONTEXT = "rating"
RATING_EVENT = "CallEngineRating"          # AMI UserEvent (Call:, Result: rated|no-digit, Score:, Plays:), CEL
