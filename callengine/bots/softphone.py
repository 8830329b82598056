"""SIP softphone bots on pjsua2 (the pjsua2-pybind11 wheel): citizens who call 112 from the telco
trunk address, call takers who register at Asterisk and answer.

The public names, from where they live:
- stack.py: SipBots, the one pjsua2 Endpoint of the process; it makes citizens and call takers
  and releases every pjsua object on its own thread (why: its docstring);
- phones.py: Citizen and CallTaker;
- call.py: BotCall, one call leg, and CallEnded;
- pjthread.py: the one thread that runs every pjsua2 call and callback (why: its docstring);
- accounts.py, legs.py, native.py: pjsua accounts, room for call legs in pjsip's ioqueue, and
  the pjsua C functions the wheel does not bind.
"""
from __future__ import annotations

from callengine.bots.accounts import MAX_ACCOUNTS
from callengine.bots.call import HEARD_LEVEL, STATES, BotCall, CallEnded
from callengine.bots.phones import CallTaker, Citizen
from callengine.bots.stack import SipBots

__all__ = ["HEARD_LEVEL", "MAX_ACCOUNTS", "STATES", "BotCall", "CallEnded", "CallTaker", "Citizen",
           "SipBots"]
