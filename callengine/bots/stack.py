"""SipBots: the one pjsua2 Endpoint of the process, its transports and accounts, and the calls.

Lifetimes: a pjsua2 Call or Account freed on another thread, or after libDestroy, trips pjsua
assertions and aborts the process, and one freed late can hang up or delete a newer call or
account that reuses its id. So they are referenced only from objects the pj thread owns and are
released there: a call when it is disconnected, an account when its taker closes, all on close().
"""
from __future__ import annotations

import atexit
import itertools
import time
from pathlib import Path

import pjsua2 as pj

from callengine.bots.accounts import Accounts, PjAccount
from callengine.bots.call import BotCall
from callengine.bots.legs import Legs
from callengine.bots.native import Native
from callengine.bots.phones import CallTaker, Citizen, check_user
from callengine.bots.pjthread import NotYet, PjThread, guard

METER_S = 0.02         # received audio level is sampled once per 20 ms frame
CLOSE_WAIT_S = 3.0     # how long close() lets hung-up calls finish their BYE/CANCEL
CODECS = (("PCMU", 255), ("PCMA", 254),  # G.711 like the telco trunk and Asterisk; 8 kHz prompts
          ("speex", 0), ("iLBC", 0), ("GSM", 0), ("G722", 0), ("L16", 0))


class SipBots:
    """Owns the one pjsua2 Endpoint of this process (pjsua2 allows one). Context manager.

    Limits of this wheel's pjsua build: 4 simultaneous call legs (both legs of a bot-to-bot
    call count), 8 accounts, 8 SIP transports. Load beyond that needs more processes."""

    _open: SipBots | None = None

    def __init__(self, log_level: int = 1) -> None:
        if SipBots._open is not None:
            raise RuntimeError("this process already has open SipBots (pjsua2 allows one "
                               "Endpoint): share it, or close it first")
        self._native = Native()
        self._native.set_log_level(log_level)  # before libCreate: no start-up banner
        self._pj = PjThread(self._native)
        self._ep: pj.Endpoint | None = None
        self._transports: dict[str, tuple[int, int]] = {}  # bind ip -> (transport id, port)
        self._lines: dict[str, PjAccount] = {}             # bind ip -> the citizens' account
        self._accounts = Accounts(self._incoming)          # every live account (pj thread)
        self._legs = Legs()                                # calls whose pj.Call still exists
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
        number = check_user(caller_id or f"+62811{next(self._numbers):07d}")
        self._pj.run(lambda: self._citizen_line(bind_ip))
        return Citizen(self, bind_ip, number)

    def call_taker(self, account: str, password: str, registrar: str | None,
                   bind_ip: str = "127.0.0.1", auto_answer: bool = True, answer_delay: float = 0.0,
                   play: Path | None = None) -> CallTaker:
        """A call taker registering sip:account@registrar ("127.0.0.1:5060"). With registrar
        None it does not register and is reached directly at taker.uri."""
        if play is not None and not Path(play).is_file():
            raise FileNotFoundError(play)
        taker = CallTaker(self._pj, self._accounts, check_user(account), registrar is not None,
                          auto_answer, answer_delay, Path(play) if play is not None else None)
        self._pj.run(lambda: self._add_taker(taker, password, registrar, bind_ip))
        return taker

    def dial(self, ip: str, uri: str, from_uri: str, headers: list[tuple[str, str]], *,
             play: Path | None = None, record_to: Path | None = None) -> BotCall:
        """A call to uri from the citizens' line on ip (see citizen()), From from_uri."""
        call = BotCall(self._pj, self._native, self._legs, incoming=False)
        call.prepare(play, record_to)
        self._pj.run(lambda: self._dial(ip, call, uri, from_uri, headers))
        return call

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
        self._ep.libInit(self._config(log_level))
        self._ep.audDevManager.setNullDev()  # no sound card on servers; its clock drives media
        for codec, priority in CODECS:
            self._native.codec_priority(codec, priority)
        self._ep.libStart()
        self._pj.start_polling()
        self._pj.later(METER_S, self._meter)
        return self._native.max_calls()

    @staticmethod
    def _config(log_level: int) -> pj.EpConfig:
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0         # no pj worker threads: ours polls (see pjthread.py)
        cfg.uaConfig.maxCalls = 32         # pjsua clamps this to PJSUA_MAX_CALLS (4 here)
        cfg.medConfig.hasIoqueue = False   # RTP on the SIP ioqueue: DTMF callbacks on our thread
        cfg.medConfig.threadCnt = 0
        cfg.medConfig.clockRate = 8000     # narrowband like the trunk; recordings at 8 kHz
        cfg.medConfig.noVad = True         # steady RTP, as from a phone
        cfg.medConfig.ecTailLen = 0        # nothing to cancel on a null device
        cfg.logConfig.level = cfg.logConfig.consoleLevel = log_level
        return cfg

    def _meter(self) -> None:
        for call in self._legs.live():
            call.sample_level()
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

    def _citizen_line(self, ip: str) -> None:
        if ip not in self._lines:
            cfg = pj.AccountConfig()
            cfg.idUri = f"sip:citizen@{ip}"
            cfg.sipConfig.transportId = self._transport(ip)[0]
            self._lines[ip] = self._accounts.add(cfg, None)

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
        taker.open_account(cfg)

    def _dial(self, ip: str, call: BotCall, uri: str, from_uri: str,
              headers: list[tuple[str, str]]) -> None:
        if len(self._legs) >= self.max_calls:
            raise RuntimeError(f"pjsua in this wheel holds {self.max_calls} call legs at once (a "
                               "bot-to-bot call takes two): end a call or use another process")
        if (delay := self._legs.media_wait()) > 0:
            raise NotYet(delay)
        param = pj.CallOpParam(True)
        param.txOption.localUri = from_uri  # the caller id, on the account shared by citizens
        for name, value in headers:
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            param.txOption.headers.append(header)
        call.dial(self._lines[ip], uri, param)

    def _incoming(self, acc: PjAccount, call_id: int, invite: str, source: str) -> None:
        call = BotCall(self._pj, self._native, self._legs, incoming=True, invite=invite,
                       source=source)
        call.bind(acc, call_id)
        if acc.taker is None or not acc.taker.is_open:
            call.answer(603)  # nobody picks up a citizen's phone
        else:
            acc.taker.ring(call)

    def _shutdown(self) -> None:
        for call in self._legs.live():
            guard(call.hangup, None)
        deadline = time.monotonic() + CLOSE_WAIT_S
        while self._legs and time.monotonic() < deadline:
            self._pj.poll()  # let BYE/CANCEL go and calls end
        for call in self._legs.live():
            call.release()
        for taker in self._accounts.takers():
            taker.forget_account()
        self._destroy()

    def _destroy(self) -> None:
        """Accounts, then the library, then the Endpoint object, all on this thread."""
        self._accounts.shutdown_all()
        self._lines.clear()
        self._pj.stop_polling()
        if self._ep is not None:
            guard(self._ep.libDestroy)
            self._ep = None
        self._pj.stop()
