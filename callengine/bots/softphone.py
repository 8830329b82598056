"""SIP softphone bots on pjsua2 (the pjsua2-pybind11 wheel): citizens who call 112 from the telco
trunk address, call takers who register at Asterisk and answer.

Threading: one thread owns pjsip. pjsua2-pybind11 never releases the GIL inside a pjsua2 call, so
a pj worker thread holding a pjsip lock while its Python callback waits for the GIL, and a Python
thread holding the GIL while its pjsua2 call waits for that lock, deadlock each other. pjsip
therefore runs without worker threads (uaConfig.threadCnt = 0, media on the SIP ioqueue) and our
"pjsua" thread polls it through ctypes, which drops the GIL while it waits. Every pjsua2 call and
every callback happens on that thread; the public methods hand work to it and wait on threading
primitives, so plain synchronous code on any thread may use them, with no thread registration.
The only other pjsip thread, the conference clock of the null sound device, never enters Python.

Lifetimes: a pjsua2 Call or Account freed on another thread, or after libDestroy, trips pjsua
assertions and aborts the process, and one freed late can hang up or delete a newer call or
account that reuses its id. So they are referenced only from objects the pj thread owns and are
released there: a call when it is disconnected, an account when its taker closes, all on close().

The wheel binds no file player or recorder and no way to poll; those come from the same shared
libraries through ctypes (`_Native`).

RTP sockets share pjsip's ioqueue, which has 64 keys and takes a closed socket's key back only
500 ms later; running out trips an assert that aborts the process. Back-to-back short calls get
there, so a new outgoing call waits for room (on the pj thread's timers, not by sleeping).
"""
from __future__ import annotations

import atexit
import ctypes
import heapq
import itertools
import logging
import queue
import re
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pjsua2 as pj

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_MS = 5            # longest a hand-off waits for the poller
METER_S = 0.02         # received audio level is sampled once per 20 ms frame
HEARD_LEVEL = 20       # pjmedia signal level (0-255) that counts as hearing something; silence ~0
MAX_ACCOUNTS = 8       # PJSUA_MAX_ACC of this wheel: one more trips an assert that aborts Python
CLOSE_WAIT_S = 3.0     # how long close() lets hung-up calls finish their BYE/CANCEL
IOQUEUE_KEYS = 48      # of pjsip's 64 ioqueue keys, for RTP+RTCP (2 per call leg); the rest: SIP
KEY_FREE_S = 0.6       # pjlib reuses a closed socket's key after 500 ms (PJ_IOQUEUE_KEY_FREE_DELAY)
CODECS = (("PCMU", 255), ("PCMA", 254),  # G.711 like the telco trunk and Asterisk; 8 kHz prompts
          ("speex", 0), ("iLBC", 0), ("GSM", 0), ("G722", 0), ("L16", 0))
STATES = {pj.InvState.NULL: "null", pj.InvState.CALLING: "calling",
          pj.InvState.INCOMING: "incoming", pj.InvState.EARLY: "ringing",
          pj.InvState.CONNECTING: "connecting", pj.InvState.CONFIRMED: "confirmed",
          pj.InvState.DISCONNECTED: "disconnected"}
_USER = re.compile(r"[A-Za-z0-9+._*-]{1,64}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
_DTMF = re.compile(r"[0-9*#A-D]+")


class CallEnded(RuntimeError):
    """The call was disconnected before what was asked for happened."""


class _NotYet(Exception):
    """Raised by a job on the pj thread to be run again after delay seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


def _guard(fn: Callable[..., None], *args: Any) -> None:
    """Run a callback body: an exception escaping into pjsip's C frames would abort the process."""
    try:
        fn(*args)
    except Exception:
        log.exception("SIP bot callback %s failed", getattr(fn, "__qualname__", fn))


def _check_user(user: str) -> str:
    if not _USER.fullmatch(user):
        raise ValueError(f"not a usable SIP user part: {user!r}")
    return user


def _sip_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or "\r" in value or "\n" in value:
            raise ValueError(f"bad SIP header {name!r}: {value!r}")
    return list(headers.items())


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


def _pj_str(text: str) -> _PjStr:
    raw = text.encode()
    return _PjStr(raw, len(raw))


class _Native:
    """pjsua C functions the wheel does not bind, from the very libraries pjsua2 is linked to
    (dlopen of the same file returns the loaded copy, so they share pjsua's state)."""

    def __init__(self) -> None:
        libs = Path(pj.__file__).parent / "pjsua2_pybind11.libs"
        self.pjsua = ctypes.CDLL(str(self._find(libs, "libpjsua")))  # CDLL: drops the GIL in calls
        self.pj = ctypes.CDLL(str(self._find(libs, "libpj")))
        self._declare()

    @staticmethod
    def _find(folder: Path, stem: str) -> Path:
        found = sorted(folder.glob(f"{stem}-*.so*"))
        if not found:
            raise ImportError(f"{stem} not found in {folder}: the bots need the pjsua2-pybind11 "
                              "0.1a3 manylinux wheel layout")
        return found[0]

    def _declare(self) -> None:
        i, u, ptr = ctypes.c_int, ctypes.c_uint, ctypes.POINTER
        for name, args, result in (
            ("pjsua_handle_events", [u], i),
            ("pjsua_player_create", [ptr(_PjStr), u, ptr(i)], i),
            ("pjsua_player_get_conf_port", [i], i),
            ("pjsua_player_destroy", [i], i),
            ("pjsua_recorder_create", [ptr(_PjStr), u, ctypes.c_void_p, ctypes.c_ssize_t, u, ptr(i)], i),
            ("pjsua_recorder_get_conf_port", [i], i),
            ("pjsua_recorder_destroy", [i], i),
            ("pjsua_conf_connect", [i, i], i),
            ("pjsua_conf_get_signal_level", [i, ptr(u), ptr(u)], i),
            ("pjsua_call_get_conf_port", [i], i),
            ("pjsua_call_get_max_count", [], u),
            ("pjsua_codec_set_priority", [ptr(_PjStr), ctypes.c_uint8], i),
        ):
            func = getattr(self.pjsua, name)
            func.argtypes, func.restype = args, result
        self.pj.pj_log_set_level.argtypes, self.pj.pj_log_set_level.restype = [i], None
        self.pj.pj_strerror.argtypes = [i, ctypes.c_char_p, ctypes.c_size_t]
        self.pj.pj_strerror.restype = _PjStr

    def check(self, status: int, what: str) -> None:
        if status != 0:
            buf = ctypes.create_string_buffer(200)
            text = self.pj.pj_strerror(status, buf, len(buf))
            raise RuntimeError(f"{what}: {buf.raw[:text.slen].decode(errors='replace')} ({status})")

    def player(self, path: Path) -> tuple[int, int]:
        """A looping WAV player: (player id, conference slot)."""
        pid = ctypes.c_int(-1)
        self.check(self.pjsua.pjsua_player_create(ctypes.byref(_pj_str(str(path))), 0,
                                                  ctypes.byref(pid)), f"play {path}")
        return pid.value, self.pjsua.pjsua_player_get_conf_port(pid.value)

    def recorder(self, path: Path) -> tuple[int, int]:
        """A WAV recorder at the bridge's rate (8 kHz mono 16-bit): (recorder id, slot)."""
        rid = ctypes.c_int(-1)
        self.check(self.pjsua.pjsua_recorder_create(ctypes.byref(_pj_str(str(path))), 0, None, 0, 0,
                                                    ctypes.byref(rid)), f"record {path}")
        return rid.value, self.pjsua.pjsua_recorder_get_conf_port(rid.value)

    def connect(self, source: int, sink: int) -> None:
        self.check(self.pjsua.pjsua_conf_connect(source, sink), f"connect slot {source} to {sink}")

    def rx_level(self, slot: int) -> int:
        tx, rx = ctypes.c_uint(0), ctypes.c_uint(0)
        self.pjsua.pjsua_conf_get_signal_level(slot, ctypes.byref(tx), ctypes.byref(rx))
        return rx.value

    def codec_priority(self, codec: str, priority: int) -> None:
        self.pjsua.pjsua_codec_set_priority(ctypes.byref(_pj_str(codec)), priority)  # absent: ignored


class _PjThread:
    """The one thread that touches pjsip: runs handed-over jobs and timers, polls pjsua between."""

    def __init__(self, native: _Native) -> None:
        self._native = native
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any] | None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.polling = False  # set once pjsua runs, cleared before libDestroy
        self.stopped = False
        self._thread = threading.Thread(target=self._run, name="pjsua", daemon=True)
        self._thread.start()

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, fn: Callable[[], T], timeout: float = 15.0) -> T:
        """Run fn on the pj thread; return its result or raise its exception here."""
        if self.on_thread():
            return fn()
        if self.stopped:
            raise RuntimeError("the SIP bots are closed")
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.done():
                raise
            raise TimeoutError(f"the pjsua thread did not run a job within {timeout}s") from None

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run fn on the pj thread after delay seconds (call from the pj thread)."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), fn))

    def _run(self) -> None:
        while not self.stopped:
            self._drain()
            self._fire_timers()
            if self.polling:
                self._native.pjsua.pjsua_handle_events(POLL_MS)
            elif not self.stopped:
                self._execute(*self._jobs.get())  # idle (before start, after close) until a job
        self._refuse_rest()

    def _drain(self) -> None:
        while not self.stopped:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            self._execute(*job)

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now and not self.stopped:
            _guard(heapq.heappop(self._timers)[2])

    def _execute(self, fn: Callable[[], Any], future: Future[Any] | None) -> None:
        if future is None:
            _guard(fn)
        elif future.set_running_or_notify_cancel():
            self._settle(fn, future)

    def _settle(self, fn: Callable[[], Any], future: Future[Any]) -> None:
        try:
            future.set_result(fn())
        except _NotYet as wait:
            self.later(wait.delay, lambda: self._settle(fn, future))
        except Exception as exc:
            traceback.clear_frames(exc.__traceback__)  # free the frames' pj objects here
            future.set_exception(exc)

    def _refuse_rest(self) -> None:
        while True:
            try:
                _, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if future is not None and future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("the SIP bots are closed"))


class _PjCall(pj.Call):
    """A pjsua2 call whose callbacks (on the pj thread) feed its BotCall."""

    def __init__(self, acc: _PjAccount, bot: BotCall, call_id: int = -1) -> None:
        pj.Call.__init__(self, acc, call_id)
        self.bot = bot

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        _guard(self.bot._on_state)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        _guard(self.bot._on_media)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        _guard(self.bot._on_dtmf, prm.digit)


class _PjAccount(pj.Account):
    """A pjsua2 account: the shared line of the citizens on one address, or one call taker."""

    def __init__(self, bots: SipBots, taker: CallTaker | None) -> None:
        pj.Account.__init__(self)
        self.bots = bots
        self.taker = taker

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        rdata = prm.rdata
        _guard(self.bots._incoming, self, prm.callId, rdata.wholeMsg, rdata.srcAddress)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        if self.taker is not None:
            _guard(self.taker._on_registration, int(prm.code), prm.reason, prm.expiration)


class BotCall:
    """One call leg of a bot. Public methods may be called from any thread but the pj thread."""

    def __init__(self, bots: SipBots, incoming: bool, invite: str | None = None,
                 source: str | None = None) -> None:
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
        self._bots = bots
        self._cond = threading.Condition()
        self._reached: set[str] = set()
        self._play_path: Path | None = None
        # pj thread only:
        self._pj: _PjCall | None = None
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

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        if self._bots._pj.on_thread():
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
        self._bots._pj.run(lambda: self._live_pj().sendDtmf(param))

    def hangup(self, status: int | None = None) -> None:
        """BYE, CANCEL, or for an unanswered incoming call a final response (status, default
        603). No-op once disconnected."""
        self._bots._pj.run(lambda: self._hangup(status))

    def answer(self, status: int = 200) -> None:
        """Answer an incoming call (180 rings, 200 picks up, 4xx-6xx rejects)."""
        self._bots._pj.run(lambda: self._answer(status))

    def play(self, wav: Path) -> None:
        """Loop this WAV (8 kHz mono 16-bit best) to the far end, replacing what played before."""
        if not Path(wav).is_file():
            raise FileNotFoundError(wav)
        self._bots._pj.run(lambda: self._set_player(Path(wav)))

    def record(self, wav: Path) -> None:
        """Write what the far end sends to this WAV; complete once the call is disconnected."""
        if Path(wav).suffix.lower() != ".wav":
            raise ValueError(f"recordings are WAV files: {wav}")
        self._bots._pj.run(lambda: self._set_recorder(Path(wav)))

    # -- pj thread -------------------------------------------------------------------------
    def _live_pj(self) -> _PjCall:
        if self._pj is None:
            raise CallEnded(f"{self!r} has ended ({self.last_status} {self.last_reason})")
        return self._pj

    def _attach(self, call: _PjCall) -> None:
        self._pj = call
        self._bots._live.add(self)

    def _detach(self) -> None:
        """Drop the pj.Call: freed here, on the pj thread (inside its own DISCONNECTED callback
        when called from there, which pjsua2 allows)."""
        if self._pj is not None:
            self._bots._live.discard(self)
            self._bots._recycling.append(time.monotonic() + KEY_FREE_S)
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
            self._bots._native.pjsua.pjsua_player_destroy(self._player[0])
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
        native = self._bots._native
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
        native = self._bots._native
        if self._player is not None:
            native.pjsua.pjsua_player_destroy(self._player[0])
        if self._recorder is not None:
            native.pjsua.pjsua_recorder_destroy(self._recorder[0])
        self._player = self._recorder = None
        self._slot = -1

    def _on_state(self) -> None:
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

    def _on_media(self) -> None:
        assert self._pj is not None
        slot = self._bots._native.pjsua.pjsua_call_get_conf_port(self._pj.id)
        if slot != self._slot:
            self._slot = slot
            self._wire()

    def _on_dtmf(self, digit: str) -> None:
        with self._cond:
            self.received_dtmf += digit
            self._cond.notify_all()

    def _sample(self) -> None:
        if self._slot < 0:
            return
        level = self._bots._native.rx_level(self._slot)
        if level > self.peak_level:
            with self._cond:
                self.peak_level = level
                self._cond.notify_all()


class Citizen:
    """A phone on the telco side: its calls leave from bind_ip, the trunk address Asterisk trusts.
    Citizens on one address share a transport and an account (cheap: pjsua holds 8 of each);
    the caller id goes into From per call."""

    def __init__(self, bots: SipBots, bind_ip: str, caller_id: str) -> None:
        self.bind_ip = bind_ip
        self.caller_id = caller_id
        self.calls: list[BotCall] = []
        self._bots = bots

    def call(self, uri: str, *, record_to: Path | None = None, play: Path | None = None,
             headers: dict[str, str] | None = None) -> BotCall:
        """INVITE uri (e.g. "sip:112@127.0.0.1:5060"); headers are extra SIP headers on it."""
        extra = _sip_headers(headers or {})
        call = BotCall(self._bots, incoming=False)
        if play is not None:
            if not Path(play).is_file():
                raise FileNotFoundError(play)
            call._play_path = Path(play)
        if record_to is not None:
            call.recording = Path(record_to)
        from_uri = f"<sip:{self.caller_id}@{self.bind_ip}>"
        self._bots._pj.run(lambda: self._bots._dial(self.bind_ip, call, uri, from_uri, extra))
        self.calls.append(call)
        return call


class CallTaker:
    """A call taker's softphone: registers as account at the registrar and answers calls."""

    def __init__(self, bots: SipBots, account: str, registers: bool, auto_answer: bool,
                 answer_delay: float, play: Path | None) -> None:
        self.account = account
        self.uri = ""                     # where it can be called directly: sip:account@ip:port
        self.auto_answer = auto_answer
        self.answer_delay = answer_delay
        self.play = play
        self.calls: list[BotCall] = []
        self.registered = False
        self.reg_status: int | None = None
        self.reg_reason = ""
        self._registers = registers
        self._bots = bots
        self._cond = threading.Condition()
        self._arrivals: queue.Queue[BotCall] = queue.Queue()
        self._acc: _PjAccount | None = None  # pj thread only

    def __enter__(self) -> CallTaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_registered(self, timeout: float) -> None:
        if not self._registers:
            raise RuntimeError(f"call taker {self.account} has no registrar")
        with self._cond:
            if self._cond.wait_for(lambda: self.registered, timeout):
                return
        raise TimeoutError(f"call taker {self.account} not registered within {timeout}s "
                           f"(last reply {self.reg_status} {self.reg_reason})")

    def wait_call(self, timeout: float) -> BotCall:
        """The next incoming call (already being answered when auto_answer)."""
        try:
            return self._arrivals.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"call taker {self.account}: no call within {timeout}s") from None

    def unregister(self, timeout: float = 5.0) -> None:
        """REGISTER with expiry 0 and wait for the registrar to accept it."""
        self._bots._pj.run(lambda: self._account().setRegistration(False))
        with self._cond:
            if self._cond.wait_for(lambda: not self.registered, timeout):
                return
        raise TimeoutError(f"call taker {self.account}: unregistration not confirmed in {timeout}s")

    def close(self, timeout: float = 5.0) -> None:
        """Hang up, unregister and free the account slot (pjsua holds 8). Idempotent."""
        if self._bots._pj.stopped:
            return  # SipBots.close() took everything down already
        for call in list(self.calls):
            call.hangup()
        for call in list(self.calls):
            try:
                call.wait_state("disconnected", timeout)
            except TimeoutError:
                log.warning("call taker %s: %r did not end; dropping it", self.account, call)
        self._bots._pj.run(self._close_account)

    def _account(self) -> _PjAccount:
        if self._acc is None:
            raise RuntimeError(f"call taker {self.account} is closed")
        return self._acc

    def _close_account(self) -> None:
        for call in self.calls:
            if call._pj is not None:
                call._release_media()
                call._detach()  # ~Call hangs up what did not end: calls go before their account
        acc, self._acc = self._acc, None
        if acc is not None:
            self._bots._drop_account(acc)
        with self._cond:
            self.registered = False

    def _ring(self, call: BotCall) -> None:
        """A call arrived (pj thread): ring, answer now or later, hand it to wait_call."""
        call._play_path = self.play
        self.calls.append(call)
        if not self.auto_answer or self.answer_delay > 0:
            call._answer(180)
        if self.auto_answer and self.answer_delay > 0:
            self._bots._pj.later(self.answer_delay, lambda: self._answer_late(call))
        elif self.auto_answer:
            call._answer(200)
        self._arrivals.put(call)

    @staticmethod
    def _answer_late(call: BotCall) -> None:
        if call._pj is not None and call.state in ("incoming", "ringing"):
            call._answer(200)

    def _on_registration(self, status: int, reason: str, expires: int) -> None:
        with self._cond:
            self.reg_status, self.reg_reason = status, reason
            self.registered = 200 <= status < 300 and expires > 0
            self._cond.notify_all()


class SipBots:
    """Owns the one pjsua2 Endpoint of this process (pjsua2 allows one). Context manager.

    Limits of this wheel's pjsua build: 4 simultaneous call legs (both legs of a bot-to-bot
    call count), 8 accounts, 8 SIP transports. Load beyond that needs more processes."""

    _open: SipBots | None = None

    def __init__(self, log_level: int = 1) -> None:
        if SipBots._open is not None:
            raise RuntimeError("this process already has open SipBots (pjsua2 allows one "
                               "Endpoint): share it, or close it first")
        self._native = _Native()
        self._native.pj.pj_log_set_level(log_level)  # before libCreate: no start-up banner
        self._pj = _PjThread(self._native)
        self._ep: pj.Endpoint | None = None
        self._transports: dict[str, tuple[int, int]] = {}  # bind ip -> (transport id, port)
        self._lines: dict[str, _PjAccount] = {}            # bind ip -> the citizens' account
        self._accounts: list[_PjAccount] = []              # every live account (pj thread)
        self._takers: list[CallTaker] = []
        self._live: set[BotCall] = set()                   # calls whose pj.Call still exists
        self._recycling: deque[float] = deque()            # when ended calls' ioqueue keys free
        self._numbers = itertools.count(1)
        self._closed = False
        try:
            self.max_calls = self._pj.run(lambda: self._start(log_level))
        except BaseException:
            self._pj.run(self._destroy)
            raise
        SipBots._open = self
        atexit.register(self.close)  # pjsua objects left to interpreter teardown would abort it

    def __enter__(self) -> SipBots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def citizen(self, bind_ip: str = "127.0.0.2", caller_id: str | None = None) -> Citizen:
        """A citizen; without caller_id it gets a fresh Indonesian mobile number."""
        number = _check_user(caller_id or f"+62811{next(self._numbers):07d}")
        self._pj.run(lambda: self._citizen_line(bind_ip))
        return Citizen(self, bind_ip, number)

    def call_taker(self, account: str, password: str, registrar: str | None,
                   bind_ip: str = "127.0.0.1", auto_answer: bool = True, answer_delay: float = 0.0,
                   play: Path | None = None) -> CallTaker:
        """A call taker registering sip:account@registrar ("127.0.0.1:5060"). With registrar
        None it does not register and is reached directly at taker.uri."""
        if play is not None and not Path(play).is_file():
            raise FileNotFoundError(play)
        taker = CallTaker(self, _check_user(account), registrar is not None, auto_answer,
                          answer_delay, Path(play) if play is not None else None)
        self._pj.run(lambda: self._add_taker(taker, password, registrar, bind_ip))
        return taker

    def close(self) -> None:
        """Hang up every call, free every account, destroy the library. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            self._pj.run(self._shutdown, timeout=CLOSE_WAIT_S + 15)
        finally:
            SipBots._open = None

    # -- pj thread -------------------------------------------------------------------------
    def _start(self, log_level: int) -> int:
        self._ep = pj.Endpoint()
        self._ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0         # no pj worker threads: ours polls (module docstring)
        cfg.uaConfig.maxCalls = 32         # pjsua clamps this to PJSUA_MAX_CALLS (4 here)
        cfg.medConfig.hasIoqueue = False   # RTP on the SIP ioqueue: DTMF callbacks on our thread
        cfg.medConfig.threadCnt = 0
        cfg.medConfig.clockRate = 8000     # narrowband like the trunk; recordings at 8 kHz
        cfg.medConfig.noVad = True         # steady RTP, as from a phone
        cfg.medConfig.ecTailLen = 0        # nothing to cancel on a null device
        cfg.logConfig.level = cfg.logConfig.consoleLevel = log_level
        self._ep.libInit(cfg)
        self._ep.audDevManager.setNullDev()  # no sound card on servers; its clock drives media
        for codec, priority in CODECS:
            self._native.codec_priority(codec, priority)
        self._ep.libStart()
        self._pj.polling = True
        self._pj.later(METER_S, self._meter)
        return int(self._native.pjsua.pjsua_call_get_max_count())

    def _meter(self) -> None:
        for call in list(self._live):
            call._sample()
        if self._pj.polling:
            self._pj.later(METER_S, self._meter)

    def _transport(self, ip: str) -> tuple[int, int]:
        """One UDP transport per address, on a free port, shared by every bot there."""
        if ip not in self._transports:
            assert self._ep is not None
            cfg = pj.TransportConfig()
            cfg.boundAddress, cfg.port = ip, 0
            tid = self._ep.transportCreate(pj.TransportType.UDP, cfg)
            port = int(self._ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
            self._transports[ip] = (tid, port)
        return self._transports[ip]

    def _add_account(self, cfg: pj.AccountConfig, taker: CallTaker | None) -> _PjAccount:
        if len(self._accounts) >= MAX_ACCOUNTS:
            raise RuntimeError(f"pjsua in this wheel holds {MAX_ACCOUNTS} accounts (call takers "
                               "plus one per citizen address): close a CallTaker first")
        acc = _PjAccount(self, taker)
        acc.create(cfg)
        self._accounts.append(acc)
        return acc

    def _drop_account(self, acc: _PjAccount) -> None:
        acc.shutdown()  # unREGISTERs if registered
        self._accounts.remove(acc)
        self._takers = [t for t in self._takers if t._acc is not None]

    def _citizen_line(self, ip: str) -> None:
        if ip not in self._lines:
            cfg = pj.AccountConfig()
            cfg.idUri = f"sip:citizen@{ip}"
            cfg.sipConfig.transportId = self._transport(ip)[0]
            self._lines[ip] = self._add_account(cfg, None)

    def _add_taker(self, taker: CallTaker, password: str, registrar: str | None, ip: str) -> None:
        tid, port = self._transport(ip)
        cfg = pj.AccountConfig()
        cfg.idUri = f"sip:{taker.account}@{registrar or ip}"
        cfg.sipConfig.transportId = tid
        if registrar is not None:
            cfg.regConfig.registrarUri = f"sip:{registrar}"
            cfg.regConfig.retryIntervalSec = 2   # recover soon when Asterisk comes up late
            cfg.regConfig.unregWaitMsec = 1000   # close() does not wait long for a dead registrar
            cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", taker.account, 0, password))
        taker.uri = f"sip:{taker.account}@{ip}:{port}"
        taker._acc = self._add_account(cfg, taker)
        self._takers.append(taker)

    def _media_wait(self) -> float:
        """Seconds until a new call and its answering leg fit in the ioqueue (0: now)."""
        now = time.monotonic()
        while self._recycling and self._recycling[0] <= now:
            self._recycling.popleft()
        if 2 * (len(self._live) + len(self._recycling) + 2) <= IOQUEUE_KEYS:
            return 0.0
        return self._recycling[0] - now if self._recycling else KEY_FREE_S

    def _dial(self, ip: str, call: BotCall, uri: str, from_uri: str,
              headers: list[tuple[str, str]]) -> None:
        if len(self._live) >= self.max_calls:
            raise RuntimeError(f"pjsua in this wheel holds {self.max_calls} call legs at once (a "
                               "bot-to-bot call takes two): end a call or use another process")
        if (delay := self._media_wait()) > 0:
            raise _NotYet(delay)
        param = pj.CallOpParam(True)
        param.txOption.localUri = from_uri  # the caller id, on the account shared by citizens
        for name, value in headers:
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            param.txOption.headers.append(header)
        call._attach(_PjCall(self._lines[ip], call))
        try:
            call._live_pj().makeCall(uri, param)
        except RuntimeError:
            call._detach()
            raise

    def _incoming(self, acc: _PjAccount, call_id: int, invite: str, source: str) -> None:
        call = BotCall(self, incoming=True, invite=invite, source=source)
        call._attach(_PjCall(acc, call, call_id))
        if acc.taker is None or acc.taker._acc is None:
            call._answer(603)  # nobody picks up a citizen's phone
        else:
            acc.taker._ring(call)

    def _shutdown(self) -> None:
        for call in list(self._live):
            _guard(call._hangup, None)
        deadline = time.monotonic() + CLOSE_WAIT_S
        while self._live and time.monotonic() < deadline:
            self._native.pjsua.pjsua_handle_events(POLL_MS)  # let BYE/CANCEL go and calls end
        for call in list(self._live):
            call._release_media()
            call._detach()
        for taker in self._takers:
            taker._acc = None
        self._destroy()

    def _destroy(self) -> None:
        """Accounts, then the library, then the Endpoint object, all on this thread."""
        for acc in self._accounts:
            _guard(acc.shutdown)
        self._accounts.clear()
        self._lines.clear()
        self._takers.clear()
        self._pj.polling = False
        if self._ep is not None:
            _guard(self._ep.libDestroy)
            self._ep = None
        self._pj.stopped = True
