"""The pjsua accounts of the process: the citizens' shared lines and the call takers'."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pjsua2 as pj

from callengine.bots.pjthread import guard

if TYPE_CHECKING:
    from callengine.bots.phones import CallTaker

MAX_ACCOUNTS = 8       # PJSUA_MAX_ACC of this wheel: one more trips an assert that aborts Python

# (account, pjsua call id, the INVITE's raw text, "ip:port" it came from), on the pj thread
IncomingHandler = Callable[["PjAccount", int, str, str], None]


class PjAccount(pj.Account):
    """A pjsua2 account: the shared line of the citizens on one address, or one call taker."""

    def __init__(self, on_incoming: IncomingHandler, taker: CallTaker | None) -> None:
        pj.Account.__init__(self)
        self.taker = taker
        self._on_incoming = on_incoming

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        rdata = prm.rdata
        guard(self._on_incoming, self, prm.callId, rdata.wholeMsg, rdata.srcAddress)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        if self.taker is not None:
            guard(self.taker.on_registration, int(prm.code), prm.reason, prm.expiration)


class Accounts:
    """Every live account (pj thread only). An account is freed on the pj thread, before
    libDestroy: freed elsewhere or later it trips pjsua assertions and aborts the process."""

    def __init__(self, on_incoming: IncomingHandler) -> None:
        self._on_incoming = on_incoming
        self._live: list[PjAccount] = []

    def add(self, cfg: pj.AccountConfig, taker: CallTaker | None) -> PjAccount:
        if len(self._live) >= MAX_ACCOUNTS:
            raise RuntimeError(f"pjsua in this wheel holds {MAX_ACCOUNTS} accounts (call takers "
                               "plus one per citizen address): close a CallTaker first")
        acc = PjAccount(self._on_incoming, taker)
        acc.create(cfg)
        self._live.append(acc)
        return acc

    def drop(self, acc: PjAccount) -> None:
        acc.shutdown()  # unREGISTERs if registered
        self._live.remove(acc)

    def takers(self) -> list[CallTaker]:
        """The call takers whose account is live."""
        return [acc.taker for acc in self._live if acc.taker is not None]

    def shutdown_all(self) -> None:
        for acc in self._live:
            guard(acc.shutdown)
        self._live.clear()
