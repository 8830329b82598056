"""The bots' phones: citizens who call 112 from the telco trunk address, call takers who
register at Asterisk and answer."""
from __future__ import annotations

import logging
import queue
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pjsua2 as pj

from callengine.bots.accounts import Accounts, PjAccount
from callengine.bots.call import BotCall
from callengine.bots.pjthread import PjThread

if TYPE_CHECKING:
    from callengine.bots.stack import SipBots

log = logging.getLogger(__name__)

_USER = re.compile(r"[A-Za-z0-9+._*-]{1,64}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


def check_user(user: str) -> str:
    if not _USER.fullmatch(user):
        raise ValueError(f"not a usable SIP user part: {user!r}")
    return user


def sip_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or "\r" in value or "\n" in value:
            raise ValueError(f"bad SIP header {name!r}: {value!r}")
    return list(headers.items())


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
        extra = sip_headers(headers or {})
        if play is not None and not Path(play).is_file():
            raise FileNotFoundError(play)
        from_uri = f"<sip:{self.caller_id}@{self.bind_ip}>"
        call = self._bots.dial(self.bind_ip, uri, from_uri, extra,
                               play=Path(play) if play is not None else None,
                               record_to=Path(record_to) if record_to is not None else None)
        self.calls.append(call)
        return call


class CallTaker:
    """A call taker's softphone: registers as account at the registrar and answers calls."""

    def __init__(self, thread: PjThread, accounts: Accounts, account: str, registers: bool,
                 auto_answer: bool, answer_delay: float, play: Path | None) -> None:
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
        self._thread = thread
        self._accounts = accounts
        self._cond = threading.Condition()
        self._arrivals: queue.Queue[BotCall] = queue.Queue()
        self._acc: PjAccount | None = None  # pj thread only

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
        self._thread.run(lambda: self._account().setRegistration(False))
        with self._cond:
            if self._cond.wait_for(lambda: not self.registered, timeout):
                return
        raise TimeoutError(f"call taker {self.account}: unregistration not confirmed in {timeout}s")

    def close(self, timeout: float = 5.0) -> None:
        """Hang up, unregister and free the account slot (pjsua holds 8). Idempotent."""
        if self._thread.stopped:
            return  # SipBots.close() took everything down already
        for call in list(self.calls):
            call.hangup()
        for call in list(self.calls):
            try:
                call.wait_state("disconnected", timeout)
            except TimeoutError:
                log.warning("call taker %s: %r did not end; dropping it", self.account, call)
        self._thread.run(self._close_account)

    # -- pj thread -------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Its account is live: not closed, not taken down by SipBots.close()."""
        return self._acc is not None

    def open_account(self, cfg: pj.AccountConfig) -> None:
        self._acc = self._accounts.add(cfg, self)

    def forget_account(self) -> None:
        """SipBots.close() frees every account itself."""
        self._acc = None

    def ring(self, call: BotCall) -> None:
        """A call arrived: ring, answer now or later, hand it to wait_call."""
        call.prepare(self.play)
        self.calls.append(call)
        if not self.auto_answer or self.answer_delay > 0:
            call.answer(180)
        if self.auto_answer and self.answer_delay > 0:
            self._thread.later(self.answer_delay, lambda: self._answer_late(call))
        elif self.auto_answer:
            call.answer(200)
        self._arrivals.put(call)

    def on_registration(self, status: int, reason: str, expires: int) -> None:
        with self._cond:
            self.reg_status, self.reg_reason = status, reason
            self.registered = 200 <= status < 300 and expires > 0
            self._cond.notify_all()

    @staticmethod
    def _answer_late(call: BotCall) -> None:
        if call.live and call.state in ("incoming", "ringing"):
            call.answer(200)

    def _account(self) -> PjAccount:
        if self._acc is None:
            raise RuntimeError(f"call taker {self.account} is closed")
        return self._acc

    def _close_account(self) -> None:
        for call in self.calls:
            call.release()  # ~Call hangs up what did not end: calls go before their account
        acc, self._acc = self._acc, None
        if acc is not None:
            self._accounts.drop(acc)
        with self._cond:
            self.registered = False
