"""One call leg of a bot (BotCall) and the pjsua2 Call under it (PjCall)."""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

import pjsua2 as pj

from callengine.bots.legs import Legs
from callengine.bots.native import Native
from callengine.bots.pjthread import PjThread, guard

HEARD_LEVEL = 20       # pjmedia signal level (0-255) that counts as hearing something; silence ~0
STATES = {pj.InvState.NULL: "null", pj.InvState.CALLING: "calling",
          pj.InvState.INCOMING: "incoming", pj.InvState.EARLY: "ringing",
          pj.InvState.CONNECTING: "connecting", pj.InvState.CONFIRMED: "confirmed",
          pj.InvState.DISCONNECTED: "disconnected"}
_DTMF = re.compile(r"[0-9*#A-D]+")
MEDIA = {pj.CallMediaStatus.NONE: "none", pj.CallMediaStatus.ACTIVE: "active",
         pj.CallMediaStatus.LOCAL_HOLD: "held", pj.CallMediaStatus.REMOTE_HOLD: "held by far end",
         pj.CallMediaStatus.ERROR: "error"}
CALL_UNHOLD = 1        # pjsua_call_flag PJSUA_CALL_UNHOLD: the wheel binds no constant for it


class CallEnded(RuntimeError):
    """The call was disconnected before what was asked for happened."""


class PjCall(pj.Call):
    """A pjsua2 call whose callbacks (on the pj thread) feed its BotCall."""

    def __init__(self, acc: pj.Account, bot: BotCall, call_id: int = -1) -> None:
        pj.Call.__init__(self, acc, call_id)
        self.bot = bot

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        guard(self.bot.on_state)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        guard(self.bot.on_media)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        guard(self.bot.on_dtmf, prm.digit)


class BotCall:
    """One call leg of a bot. The methods under "waiting" and "acting" may be called from any
    thread but the pj thread; those under "pj thread" are the stack's, the phones' and PjCall's."""

    def __init__(self, thread: PjThread, native: Native, legs: Legs, incoming: bool,
                 invite: str | None = None, source: str | None = None) -> None:
        self.incoming = incoming
        self.invite = invite              # raw text of the INVITE an incoming call arrived with
        self.source = source              # "ip:port" it came from
        self.state = "null"
        self.last_status: int | None = None
        self.last_reason = ""
        self.remote_uri = ""
        self.sip_call_id = ""
        self.received_dtmf = ""
        self.recording: Path | None = None
        self.peak_level = 0               # loudest audio heard from the far end (0-255)
        self.media = "none"               # the audio's state: active, held (by us), held by far end, ...
        self._thread = thread
        self._native = native
        self._legs = legs
        self._cond = threading.Condition()
        self._reached: set[str] = set()
        self._play_path: Path | None = None
        # pj thread only:
        self._pj: PjCall | None = None
        self._slot = -1
        self._player: tuple[int, int] | None = None
        self._recorder: tuple[int, int] | None = None

    def __repr__(self) -> str:
        side = "from" if self.incoming else "to"
        return f"<BotCall {side} {self.remote_uri or '?'} {self.state}>"

    # -- waiting ---------------------------------------------------------------------------
    def wait_state(self, state: str, timeout: float) -> None:
        """Wait until the call reached state ("ringing", "confirmed", "disconnected", ...);
        confirmed implies ringing. CallEnded if it ends first."""
        if state not in STATES.values():
            raise ValueError(f"unknown call state {state!r}; one of {sorted(STATES.values())}")
        self._wait(lambda: state in self._reached, timeout, f"state {state!r}")

    def wait_dtmf(self, count: int, timeout: float) -> str:
        """Wait until count digits arrived; return all digits received so far."""
        self._wait(lambda: len(self.received_dtmf) >= count, timeout,
                   f"{count} DTMF digits (got {self.received_dtmf!r})")
        return self.received_dtmf

    def wait_heard(self, timeout: float, level: int = HEARD_LEVEL) -> None:
        """Wait until audio from the far end reached level (pjmedia 0-255 scale)."""
        self._wait(lambda: self.peak_level >= level, timeout,
                   f"audio at level {level} (peak {self.peak_level})")

    def wait_media(self, media: str, timeout: float) -> None:
        """Wait until the audio is in this state (a value of MEDIA: "active", "held", ...)."""
        if media not in MEDIA.values():
            raise ValueError(f"unknown media state {media!r}; one of {sorted(MEDIA.values())}")
        self._wait(lambda: self.media == media, timeout, f"media {media!r}")

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        if self._thread.on_thread():
            raise RuntimeError("waiting on the pjsua thread would stop the very events awaited")
        with self._cond:
            self._cond.wait_for(lambda: done() or "disconnected" in self._reached, timeout)
            if done():
                return
            ended = "disconnected" in self._reached
        if ended:
            raise CallEnded(f"{self!r} ended ({self.last_status} {self.last_reason}) before {what}")
        raise TimeoutError(f"{self!r}: no {what} within {timeout}s (last status {self.last_status})")

    def header(self, name: str) -> str | None:
        """First value of a header of the received INVITE (incoming calls), else None."""
        head = (self.invite or "").split("\r\n\r\n", 1)[0]
        for line in head.splitlines()[1:]:
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == name.lower():
                return value.strip()
        return None

    # -- acting ----------------------------------------------------------------------------
    def send_dtmf(self, digits: str, timeout: float = 10) -> None:
        """Send digits as RFC 2833 telephone-events, once the call is confirmed (the far end
        may already play its greeting while the 200 OK is still on its way to this thread)."""
        if not _DTMF.fullmatch(digits):
            raise ValueError(f"not DTMF digits: {digits!r}")
        self.wait_state("confirmed", timeout)
        param = pj.CallSendDtmfParam()
        param.digits, param.method = digits, pj.DtmfMethod.RFC2833
        self._thread.run(lambda: self._live_pj().sendDtmf(param))

    def hangup(self, status: int | None = None) -> None:
        """BYE, CANCEL, or for an unanswered incoming call a final response (status, default
        603). No-op once disconnected."""
        self._thread.run(lambda: self._hangup(status))

    def answer(self, status: int = 200) -> None:
        """Answer an incoming call (180 rings, 200 picks up, 4xx-6xx rejects)."""
        self._thread.run(lambda: self._answer(status))

    def hold(self, timeout: float = 10) -> None:
        """Put the far end on hold (a sendonly re-INVITE, as a softphone's hold button does);
        return once the far end agreed."""
        self.wait_state("confirmed", timeout)
        self._thread.run(lambda: self._live_pj().setHold(pj.CallOpParam(True)))
        self.wait_media("held", timeout)

    def unhold(self, timeout: float = 10) -> None:
        """Take the far end off hold (a sendrecv re-INVITE); return once the audio flows again."""
        param = pj.CallOpParam(True)
        param.opt.flag |= CALL_UNHOLD
        self._thread.run(lambda: self._live_pj().reinvite(param))
        self.wait_media("active", timeout)

    def play(self, wav: Path) -> None:
        """Loop this WAV (8 kHz mono 16-bit best) to the far end, replacing what played before."""
        if not Path(wav).is_file():
            raise FileNotFoundError(wav)
        self._thread.run(lambda: self._set_player(Path(wav)))

    def record(self, wav: Path) -> None:
        """Write what the far end sends to this WAV; complete once the call is disconnected."""
        if Path(wav).suffix.lower() != ".wav":
            raise ValueError(f"recordings are WAV files: {wav}")
        self._thread.run(lambda: self._set_recorder(Path(wav)))

    # -- pj thread -------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """Its pj.Call still exists (pj thread)."""
        return self._pj is not None

    def prepare(self, play: Path | None, record_to: Path | None = None) -> None:
        """What to play and where to record once media is up; before the call rings or dials."""
        self._play_path = play
        if record_to is not None:
            self.recording = record_to

    def dial(self, acc: pj.Account, uri: str, param: pj.CallOpParam) -> None:
        """INVITE uri from acc as this outgoing call."""
        self._attach(PjCall(acc, self))
        try:
            self._live_pj().makeCall(uri, param)
        except RuntimeError:
            self._detach()
            raise

    def bind(self, acc: pj.Account, call_id: int) -> None:
        """Take up the incoming pjsua call call_id that arrived on acc."""
        self._attach(PjCall(acc, self, call_id))

    def release(self) -> None:
        """Free its media and its pj.Call now, if it has one (~Call hangs up what did not end)."""
        if self._pj is not None:
            self._release_media()
            self._detach()

    def sample_level(self) -> None:
        """Raise peak_level to what the far end sends now (the stack's meter, every frame)."""
        if self._slot < 0:
            return
        level = self._native.rx_level(self._slot)
        if level > self.peak_level:
            with self._cond:
                self.peak_level = level
                self._cond.notify_all()

    def on_state(self) -> None:
        assert self._pj is not None
        info = self._pj.info
        state = STATES.get(info.state, "null")
        if state == "disconnected":
            self._release_media()  # before waking anyone: the recording is complete by then
        with self._cond:
            self.state = state
            self.last_status = int(info.lastStatusCode) or self.last_status
            self.last_reason = info.lastReason
            self.remote_uri, self.sip_call_id = info.remoteUri, info.callIdString
            self._reached.add(state)
            if state == "confirmed":
                self._reached.update(("ringing", "connecting"))  # 200 without 180 still rang
            self._cond.notify_all()
        if state == "disconnected":
            self._detach()

    def on_media(self) -> None:
        assert self._pj is not None
        audio = next((m for m in self._pj.info.media if m.type == pj.MediaType.AUDIO), None)
        with self._cond:
            self.media = MEDIA.get(audio.status, "none") if audio is not None else "none"
            self._cond.notify_all()
        slot = self._native.call_slot(self._pj.id)
        if slot != self._slot:
            self._slot = slot
            self._wire()

    def on_dtmf(self, digit: str) -> None:
        with self._cond:
            self.received_dtmf += digit
            self._cond.notify_all()

    def _live_pj(self) -> PjCall:
        if self._pj is None:
            raise CallEnded(f"{self!r} has ended ({self.last_status} {self.last_reason})")
        return self._pj

    def _attach(self, call: PjCall) -> None:
        self._pj = call
        self._legs.add(self)

    def _detach(self) -> None:
        """Drop the pj.Call: freed here, on the pj thread (inside its own DISCONNECTED callback
        when called from there, which pjsua2 allows)."""
        if self._pj is not None:
            self._legs.remove(self)
        self._pj = None

    def _hangup(self, status: int | None) -> None:
        if self._pj is None:
            return
        param = pj.CallOpParam()
        if status is not None:
            param.statusCode = pj.StatusCode(status)
        self._pj.hangup(param)

    def _answer(self, status: int) -> None:
        param = pj.CallOpParam()
        param.statusCode = pj.StatusCode(status)
        self._live_pj().answer(param)

    def _set_player(self, wav: Path) -> None:
        self._play_path = wav
        if self._player is not None:
            self._native.destroy_player(self._player[0])
            self._player = None
        self._wire()

    def _set_recorder(self, wav: Path) -> None:
        if self.recording is not None and self.recording != wav:
            raise RuntimeError(f"{self!r} already records to {self.recording}")
        self.recording = wav
        self._wire()

    def _wire(self) -> None:
        """Connect player, recorder and the null speaker to the call's conference slot."""
        if self._slot < 0 or self._pj is None:
            return  # media not up yet: onCallMediaState wires it
        native = self._native
        native.connect(self._slot, 0)  # a listener on the call, so its rx level is measured
        if self._play_path is not None and self._player is None:
            self._player = native.player(self._play_path)
        if self.recording is not None and self._recorder is None:
            self._recorder = native.recorder(self.recording)
        if self._player is not None:
            native.connect(self._player[1], self._slot)
        if self._recorder is not None:
            native.connect(self._slot, self._recorder[1])

    def _release_media(self) -> None:
        """Players and recorders go before the call; destroying the recorder completes its WAV."""
        if self._player is not None:
            self._native.destroy_player(self._player[0])
        if self._recorder is not None:
            self._native.destroy_recorder(self._recorder[0])
        self._player = self._recorder = None
        self._slot = -1
