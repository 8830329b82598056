"""The accounts service with plain fakes: password policy and argon2id, sessions and their idle
timeout, disabling, tokens, login throttling, and the audit of each."""
from __future__ import annotations

from datetime import timedelta

import pytest

from callengine.accounts import throttle
from callengine.accounts.model import AccountError, LoginRefused
from callengine.accounts.passwords import Passwords, check_policy
from callengine.accounts.service import digest
from fake_accounts import T0, MovingClock, fake_accounts

GOOD = "kopi tubruk pagi hari"


async def with_taker(clock: MovingClock | None = None, **kwargs):  # type: ignore[no-untyped-def]
    accounts, memory = fake_accounts(clock, **kwargs)
    await accounts.add_user("taker5", "calltaker", GOOD, full_name="  Siti   Aminah ", actor="cli:root")
    return accounts, memory


@pytest.mark.parametrize("password,why", [
    ("short1", "at least 10"),
    ("x" * 129, "at most 128"),
    ("taker5-is-me-ok", "user name"),
    ("aaaaaaaaaabbb", "so few characters"),
    ("password123", "most common"),
    ("Indonesia1!", "most common"),
])
def test_policy_refuses_with_a_reason(password: str, why: str) -> None:
    with pytest.raises(AccountError, match=why) as refused:
        check_policy("taker5", password)
    assert refused.value.code == "weak_password"


def test_policy_takes_a_long_plain_passphrase() -> None:
    check_policy("taker5", GOOD)


async def test_passwords_are_argon2id_and_verified() -> None:
    passwords = Passwords()
    stored = await passwords.hash(GOOD)
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, GOOD)
    assert not await passwords.verify(stored, GOOD + "!")
    assert not await passwords.verify("not a hash", GOOD)
    assert not await passwords.verify(None, GOOD)      # no such user: a hash is checked all the same
    assert not passwords.needs_rehash(stored)


@pytest.mark.parametrize("name,role,agency,code", [
    ("bad name", "calltaker", None, "bad_name"),
    ("x" * 41, "calltaker", None, "bad_name"),
    ("ops", "operator", None, "bad_role"),
    ("dmk", "responder", None, "bad_agency"),
    ("spv", "supervisor", "DAMKAR", "bad_agency"),
    ("dmk", "responder", "damkar", "bad_agency"),
])
async def test_accounts_refused(name: str, role: str, agency: str | None, code: str) -> None:
    accounts, memory = fake_accounts()
    with pytest.raises(AccountError) as refused:
        await accounts.add_user(name, role, GOOD, agency=agency, actor="cli:root")
    assert refused.value.code == code
    assert memory.users == {} and memory.audit == []


async def test_adding_is_audited_and_a_name_is_taken_once() -> None:
    accounts, memory = await with_taker()
    user = (await accounts.users())[0]
    assert (user.name, user.full_name, user.role, user.agency) == ("taker5", "Siti Aminah", "calltaker", None)
    assert memory.users[user.id][1].startswith("$argon2id$")
    with pytest.raises(AccountError) as refused:
        await accounts.add_user("taker5", "viewer", GOOD, actor="cli:root")
    assert refused.value.code == "exists"
    assert [(e.actor, e.action, e.target) for e in memory.audit] == [("cli:root", "user.add", "taker5")]
    responder = await accounts.add_user("dmk1", "responder", GOOD, agency="DAMKAR", actor="admin")
    assert responder.agency == "DAMKAR"


async def test_login_opens_a_session_that_knows_its_user_and_csrf_token() -> None:
    accounts, memory = await with_taker()
    opened = await accounts.login(" taker5 ", GOOD, "10.0.0.7")
    who = await accounts.session(opened.cookie)
    assert who is not None and who.user.name == "taker5" and who.via == "session"
    assert who.csrf_token == opened.csrf_token and len(opened.csrf_token) >= 40
    assert opened.cookie not in memory.sessions and digest(opened.cookie) in memory.sessions   # kept hashed
    assert await accounts.session("made-up") is None and await accounts.session(None) is None
    last = memory.audit[-1]
    assert (last.actor, last.action, last.peer) == ("taker5", "login", "10.0.0.7")


async def test_wrong_password_unknown_user_and_disabled_user_look_alike_but_are_audited_apart() -> None:
    accounts, memory = await with_taker()
    await accounts.add_user("gone", "viewer", GOOD, actor="cli:root")
    await accounts.set_disabled("gone", True, actor="cli:root")
    for name, password in (("taker5", "wrong password!"), ("nobody", GOOD), ("gone", GOOD)):
        with pytest.raises(LoginRefused) as refused:
            await accounts.login(name, password, "10.0.0.7")
        assert refused.value.reason == "invalid"
    failed = [e for e in memory.audit if e.action == "login.failed"]
    assert [(e.target, e.detail["reason"]) for e in failed] == [
        ("taker5", "bad_password"), ("nobody", "unknown_user"), ("gone", "disabled")]


async def test_idle_session_ends_and_use_keeps_it_alive() -> None:
    clock = MovingClock()
    accounts, _ = await with_taker(clock, idle=timedelta(minutes=30))
    opened = await accounts.login("taker5", GOOD, None)
    for _ in range(4):                   # used every 20 minutes for 80 minutes: still alive
        clock.move(minutes=20)
        assert await accounts.session(opened.cookie) is not None
    clock.move(minutes=31)
    assert await accounts.session(opened.cookie) is None


async def test_a_session_ends_after_twelve_hours_however_busy() -> None:
    clock = MovingClock()
    accounts, _ = await with_taker(clock)
    opened = await accounts.login("taker5", GOOD, None)
    for _ in range(12 * 6):
        clock.move(minutes=10)
        await accounts.session(opened.cookie)
    clock.move(minutes=1)
    assert await accounts.session(opened.cookie) is None


async def test_logout_ends_only_that_session() -> None:
    accounts, memory = await with_taker()
    first, second = [await accounts.login("taker5", GOOD, None) for _ in range(2)]
    who = await accounts.session(first.cookie)
    assert who is not None
    await accounts.logout(who, "10.0.0.7")
    assert await accounts.session(first.cookie) is None
    assert await accounts.session(second.cookie) is not None
    assert memory.audit[-1].action == "logout"


async def test_disabling_ends_sessions_and_tokens_in_one_unit_of_work() -> None:
    accounts, memory = await with_taker()
    opened = await accounts.login("taker5", GOOD, None)
    _, secret = await accounts.create_token("taker5", actor="cli:root")
    assert await accounts.bearer(secret) is not None
    before = memory.transactions
    await accounts.set_disabled("taker5", True, actor="admin1", peer="10.0.0.9")
    assert memory.transactions == before + 1
    assert await accounts.session(opened.cookie) is None
    assert await accounts.bearer(secret) is None
    last = memory.audit[-1]
    assert (last.actor, last.action, last.detail) == ("admin1", "user.disable", {"sessions_ended": 1, "tokens_revoked": 1})
    await accounts.set_disabled("taker5", False, actor="admin1")
    assert await accounts.session(opened.cookie) is None      # enabling again brings no old session back
    assert await accounts.bearer(secret) is None
    assert (await accounts.login("taker5", GOOD, None)).user.name == "taker5"


async def test_a_new_password_ends_sessions_and_the_old_one_stops_working() -> None:
    accounts, _ = await with_taker()
    opened = await accounts.login("taker5", GOOD, None)
    await accounts.set_password("taker5", "nasi goreng malam", actor="cli:root")
    assert await accounts.session(opened.cookie) is None
    with pytest.raises(LoginRefused):
        await accounts.login("taker5", GOOD, None)
    await accounts.login("taker5", "nasi goreng malam", None)


async def test_changing_ones_own_password_keeps_this_session_and_needs_the_current_one() -> None:
    accounts, memory = await with_taker()
    here, elsewhere = [await accounts.login("taker5", GOOD, None) for _ in range(2)]
    who = await accounts.session(here.cookie)
    assert who is not None
    with pytest.raises(AccountError) as refused:
        await accounts.change_own_password(who, "not it at all", "nasi goreng malam", None)
    assert refused.value.code == "bad_password"
    await accounts.change_own_password(who, GOOD, "nasi goreng malam", None)
    assert await accounts.session(here.cookie) is not None
    assert await accounts.session(elsewhere.cookie) is None
    assert [e.action for e in memory.audit[-2:]] == ["user.passwd.refused", "user.passwd"]


async def test_tokens_act_as_their_user_until_expired_or_revoked() -> None:
    clock = MovingClock()
    accounts, memory = await with_taker(clock)
    token, secret = await accounts.create_token("taker5", days=2, label=" script ", actor="cli:root")
    assert secret.startswith("ce_") and token.label == "script"
    assert all(secret not in str(t) for t in memory.tokens.values())   # kept hashed
    who = await accounts.bearer(secret)
    assert who is not None and who.user.name == "taker5" and who.via == "token" and who.csrf_token is None
    assert await accounts.bearer("ce_made-up") is None and await accounts.bearer("") is None
    clock.move(days=2)
    assert await accounts.bearer(secret) is None
    _, other = await accounts.create_token("taker5", actor="cli:root")
    revoked = await accounts.revoke_token(2, actor="cli:root")
    assert revoked.user.name == "taker5" and await accounts.bearer(other) is None
    assert [e.action for e in memory.audit if e.action.startswith("token")] == ["token.create", "token.create",
                                                                                "token.revoke"]
    with pytest.raises(AccountError):
        await accounts.create_token("taker5", days=0, actor="cli:root")
    with pytest.raises(AccountError):
        await accounts.revoke_token(99, actor="cli:root")


async def test_an_account_is_throttled_after_five_failures_even_with_the_right_password() -> None:
    clock = MovingClock()
    accounts, memory = await with_taker(clock)
    for _ in range(throttle.ACCOUNT.failures):
        with pytest.raises(LoginRefused, match="invalid"):
            await accounts.login("taker5", "wrong password!", f"10.0.0.{_}")     # other addresses each time
        clock.move(seconds=10)
    with pytest.raises(LoginRefused) as refused:
        await accounts.login("taker5", GOOD, "10.0.0.99")
    assert refused.value.reason == "throttled"
    assert 14 * 60 < refused.value.retry_after_s <= 15 * 60
    assert memory.audit[-1].detail["reason"] == "throttled"
    attempts = len(memory.failures)
    with pytest.raises(LoginRefused):
        await accounts.login("taker5", GOOD, "10.0.0.99")
    assert len(memory.failures) == attempts     # refused while throttled: not counted, waiting is enough
    clock.move(seconds=refused.value.retry_after_s)
    assert (await accounts.login("taker5", GOOD, "10.0.0.99")).user.name == "taker5"


async def test_an_address_is_throttled_across_accounts() -> None:
    accounts, _ = await with_taker()
    for n in range(throttle.ADDRESS.failures):
        with pytest.raises(LoginRefused, match="invalid"):
            await accounts.login(f"guess{n}", "wrong password!", "2001:db8::1")
    with pytest.raises(LoginRefused, match="throttled"):
        await accounts.login("taker5", GOOD, "2001:db8::2")       # the same /64
    assert (await accounts.login("taker5", GOOD, "2001:db8:1::1")).user.name == "taker5"


async def test_a_good_login_clears_the_accounts_failures() -> None:
    accounts, memory = await with_taker()
    for _ in range(throttle.ACCOUNT.failures - 1):
        with pytest.raises(LoginRefused):
            await accounts.login("taker5", "wrong password!", None)
    await accounts.login("taker5", GOOD, None)
    assert not [k for k, _ in memory.failures if k.startswith("account:")]
    with pytest.raises(LoginRefused, match="invalid"):
        await accounts.login("taker5", "wrong password!", None)


def test_retry_after_is_when_the_oldest_counted_failure_leaves_the_window() -> None:
    limit = throttle.Limit(3, timedelta(minutes=10))
    times = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert throttle.retry_after(times[:2], limit, T0 + timedelta(minutes=3)) is None
    assert throttle.retry_after(times, limit, T0 + timedelta(minutes=3)) == timedelta(minutes=7)
    assert throttle.retry_after(times, limit, T0 + timedelta(minutes=10)) is None


@pytest.mark.parametrize("peer,key", [
    ("192.0.2.7", "address:192.0.2.7"),
    ("::ffff:192.0.2.7", "address:192.0.2.7"),
    ("2001:db8:1:2:3:4:5:6", "address:2001:db8:1:2::/64"),
    (None, None),
])
def test_address_keys(peer: str | None, key: str | None) -> None:
    assert throttle.address_key(peer) == key


async def test_prune_forgets_old_failures_and_sessions() -> None:
    clock = MovingClock()
    accounts, memory = await with_taker(clock)
    await accounts.login("taker5", GOOD, None)
    with pytest.raises(LoginRefused):
        await accounts.login("taker5", "wrong password!", None)
    clock.move(hours=13)
    await accounts.prune()
    assert memory.failures == [] and memory.sessions == {}
