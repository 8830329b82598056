"""The console as a real process (`callengine console` on a free port, SQLite), accounts made
with the real CLI: login and its cookie, the walk over every route of the router, CSRF,
throttling, a disabled user's session, a viewer's writes, bearer tokens, and the audit."""
from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientResponse, ClientSession, CookieJar

from callengine.accounts.model import ROLES
from callengine.core.settings import load_settings
from callengine.web.auth import ROUTES, SESSION_COOKIE
from callengine.web.console import Console
from callengine.web.routes import Route
from console_lab import ConsoleLab

pytestmark = pytest.mark.integration
PASSWORD = "kopi tubruk pagi hari"
PEOPLE = {"calltaker": "taker1", "supervisor": "spv1", "qa": "qa1", "admin": "admin1", "responder": "dmk1",
          "viewer": "view1"}
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz")}


@pytest.fixture(scope="module")
def centre() -> Iterator[ConsoleLab]:
    folder = Path(tempfile.mkdtemp(prefix="ce-console-"))
    lab = ConsoleLab(folder, "trusted_proxies = 127.0.0.1\n")
    for role, name in PEOPLE.items():
        lab.add_user(name, role, PASSWORD, *(["--agency", "DAMKAR"] if role == "responder" else []))
    for name in ("throttled1", "leaver1"):
        lab.add_user(name, "calltaker", PASSWORD)
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


class Person:
    """One browser: its own cookie jar, and the CSRF token of its session."""

    def __init__(self, centre: ConsoleLab) -> None:
        self.url = centre.url
        self.http = ClientSession(cookie_jar=CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, name: str, password: str = PASSWORD, **headers: str) -> ClientResponse:
        return await self.http.post(f"{self.url}/login", data={"username": name, "password": password},
                                    headers=headers, allow_redirects=False)

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.http.get(f"{self.url}{path}", allow_redirects=False, **kwargs)

    async def send(self, method: str, path: str, csrf: bool = True, **kwargs: Any) -> ClientResponse:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return await self.http.request(method, f"{self.url}{path}", allow_redirects=False,
                                       headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


@pytest_asyncio.fixture
async def people(centre: ConsoleLab) -> AsyncIterator[list[Person]]:
    made: list[Person] = []
    yield made
    for person in made:
        await person.http.close()


async def person(people: list[Person], centre: ConsoleLab, name: str | None = None) -> Person:
    someone = Person(centre)
    people.append(someone)
    if name is not None:
        assert (await someone.login(name)).status == 303
        someone.csrf = (await (await someone.get("/api/v1/me")).json())["csrf_token"]
    return someone


def the_router(centre: ConsoleLab) -> list[Route]:
    """The routes of the console's router, built as the process builds it (same config)."""
    app = Console(load_settings(centre.config)).app
    table: dict[Any, Route] = app[ROUTES]
    assert {(r.method, r.path) for r in table.values() if r.roles is None} == PUBLIC
    return list(table.values())


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nobody", path)


async def test_login_sets_an_httponly_samesite_session_cookie(centre: ConsoleLab, people: list[Person]) -> None:
    browser = await person(people, centre)
    reply = await browser.login("taker1")
    assert reply.status == 303 and reply.headers["Location"] == "/"
    browser.csrf = (await (await browser.get("/api/v1/me")).json())["csrf_token"]
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie
    me = await (await browser.get("/api/v1/me")).json()
    assert (me["name"], me["role"], me["via"]) == ("taker1", "calltaker", "session")
    home = await browser.get("/")
    assert home.status == 200 and "taker1" in await home.text()

    behind_tls = await (await person(people, centre)).login("taker1", **{"X-Forwarded-Proto": "https"})
    assert "Secure" in behind_tls.headers["Set-Cookie"]       # 127.0.0.1 is the trusted proxy here

    wrong = await (await person(people, centre)).login("taker1", "not the password")
    assert wrong.status == 401 and SESSION_COOKIE not in wrong.cookies

    assert (await browser.send("POST", "/logout", data={"csrf_token": browser.csrf}, csrf=False)).status == 303
    assert (await browser.get("/api/v1/me")).status == 401
    replayed = await centre_get(centre, "/api/v1/me", cookies={SESSION_COOKIE: reply.cookies[SESSION_COOKIE].value})
    assert replayed == 401


async def centre_get(centre: ConsoleLab, path: str, **kwargs: Any) -> int:
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        async with http.get(f"{centre.url}{path}", allow_redirects=False, **kwargs) as reply:
            return reply.status


async def test_every_private_route_refuses_no_session_and_the_wrong_role(centre: ConsoleLab,
                                                                         people: list[Person]) -> None:
    routes = the_router(centre)
    anonymous = await person(people, centre)
    sessions = {role: await person(people, centre, name) for role, name in PEOPLE.items()}
    tokens = {role: token_of(centre, name) for role, name in PEOPLE.items()}
    walked = 0
    for route in routes:
        if route.roles is None:
            continue
        path = concrete(route.path)
        refused = await anonymous.send(route.method, path, csrf=False)
        if route.api:
            assert refused.status == 401, (route.method, route.path)
            assert (await refused.json())["error"] == "unauthenticated"
        else:
            assert refused.status == 303 and refused.headers["Location"].startswith("/login"), (route.method, path)
        bad_token = await anonymous.send(route.method, path, csrf=False, headers={"Authorization": "Bearer ce_forged"})
        assert bad_token.status == 401, (route.method, route.path)
        for role in set(ROLES) - set(route.roles):
            by_session = await sessions[role].send(route.method, path)      # with its CSRF token: the role refuses
            by_token = await anonymous.send(route.method, path, csrf=False,
                                            headers={"Authorization": f"Bearer {tokens[role]}"})
            for reply in (by_session, by_token):
                assert reply.status == 403, (route.method, route.path, role, reply.status)
                if route.api:
                    assert (await reply.json())["error"] == "forbidden"
        if route.method == "GET":
            for role in route.roles:
                assert (await sessions[role].get(path)).status not in (401, 403), (route.path, role)
        walked += 1
    assert walked >= 8
    assert {r.path for r in routes} >= {"/", "/logout", "/api/v1/me", "/api/v1/openapi.json"}


def token_of(centre: ConsoleLab, name: str, days: str = "1") -> str:
    done = centre.cli("tokens", "create", name, "--days", days, "--label", "test")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_a_write_from_a_session_needs_its_csrf_token(centre: ConsoleLab, people: list[Person]) -> None:
    admin = await person(people, centre, "admin1")
    body = {"name": "csrf1", "role": "qa", "password": PASSWORD}
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = await admin.send("POST", "/api/v1/users", csrf=False, json=body, headers=headers)
        assert refused.status == 403 and (await refused.json())["error"] == "csrf"
    assert "csrf1" not in [u["name"] for u in (await (await admin.get("/api/v1/users")).json())["users"]]
    assert (await admin.send("POST", "/logout", csrf=False, data={"csrf_token": "forged"})).status == 403
    assert (await admin.get("/api/v1/me")).status == 200                 # the forged logout did nothing
    created = await admin.send("POST", "/api/v1/users", json=body)
    assert created.status == 201 and (await created.json())["role"] == "qa"
    trail = await audit(admin)
    assert ("admin1", "refused.csrf", "/api/v1/users") in [(e["actor"], e["action"], e["target"]) for e in trail]
    assert ("admin1", "user.add", "csrf1") in [(e["actor"], e["action"], e["target"]) for e in trail]


async def audit(admin: Person, limit: int = 1000) -> list[dict[str, Any]]:
    reply = await admin.get(f"/api/v1/audit?limit={limit}")
    assert reply.status == 200
    return (await reply.json())["entries"]


async def test_logins_are_throttled_after_repeated_failures(centre: ConsoleLab, people: list[Person]) -> None:
    browser = await person(people, centre)
    for _ in range(5):
        assert (await browser.login("throttled1", "wrong password!")).status == 401
    throttled = await browser.login("throttled1")                        # the right password, too late
    assert throttled.status == 429 and 800 < int(throttled.headers["Retry-After"]) <= 900
    assert "Terlalu banyak percobaan gagal" in await throttled.text()
    assert SESSION_COOKIE not in throttled.cookies
    other = await person(people, centre)
    assert (await other.login("leaver1")).status == 303                  # another account from this address
    failed = [e for e in await audit(await person(people, centre, "admin1"))
              if e["action"] == "login.failed" and e["target"] == "throttled1"]
    assert [e["detail"]["reason"] for e in reversed(failed)] == ["bad_password"] * 5 + ["throttled"]


async def test_disabling_a_user_ends_their_session(centre: ConsoleLab, people: list[Person]) -> None:
    leaver = await person(people, centre, "leaver1")
    assert (await leaver.get("/api/v1/me")).status == 200
    done = centre.cli("users", "disable", "leaver1")
    assert done.returncode == 0, done.stderr
    assert (await leaver.get("/api/v1/me")).status == 401
    page = await leaver.get("/")
    assert page.status == 303 and page.headers["Location"].startswith("/login")
    assert (await (await person(people, centre)).login("leaver1")).status == 401
    listed = centre.cli("users", "list", "--json")
    assert '"name": "leaver1"' in listed.stdout and '"disabled": true' in listed.stdout


async def test_a_viewer_cannot_write(centre: ConsoleLab, people: list[Person]) -> None:
    viewer = await person(people, centre, "view1")
    assert (await viewer.get("/")).status == 200
    for path, body in (("/api/v1/users", {"name": "x1", "role": "admin", "password": PASSWORD}),
                       ("/api/v1/users/taker1/disable", None)):
        refused = await viewer.send("POST", path, json=body)
        assert refused.status == 403 and (await refused.json())["error"] == "forbidden"
    token = token_of(centre, "view1")
    refused = await viewer.send("POST", "/api/v1/users", csrf=False, json={"name": "x2", "role": "qa"},
                                headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 403
    admin = await person(people, centre, "admin1")
    names = [u["name"] for u in (await (await admin.get("/api/v1/users")).json())["users"]]
    assert "x1" not in names and "x2" not in names
    trail = [(e["actor"], e["action"]) for e in await audit(admin)]
    assert trail.count(("view1", "refused.forbidden")) >= 3


async def test_a_bearer_token_acts_as_its_user_without_csrf(centre: ConsoleLab, people: list[Person]) -> None:
    token = token_of(centre, "admin1")
    script = await person(people, centre)
    auth = {"Authorization": f"Bearer {token}"}
    me = await script.get("/api/v1/me", headers=auth)
    assert me.status == 200 and (await me.json())["via"] == "token" and "csrf_token" not in await me.json()
    created = await script.send("POST", "/api/v1/users", csrf=False, headers=auth,
                                json={"name": "dmk2", "role": "responder", "agency": "DAMKAR", "password": PASSWORD,
                                      "full_name": "Regu Damkar Dua"})
    assert created.status == 201, await created.text()
    taken = await script.send("POST", "/api/v1/users", csrf=False, headers=auth,
                              json={"name": "dmk2", "role": "qa", "password": PASSWORD})
    assert taken.status == 409 and (await taken.json())["error"] == "exists"
    weak = await script.send("POST", "/api/v1/users", csrf=False, headers=auth,
                             json={"name": "weak1", "role": "qa", "password": "123"})
    assert weak.status == 400 and (await weak.json())["error"] == "weak_password"
    assert (await (await person(people, centre)).login("dmk2")).status == 303
    document = await (await script.get("/api/v1/openapi.json", headers=auth)).json()
    assert document["paths"]["/api/v1/me"]["get"]["x-roles"] == list(ROLES)
    revoked = centre.cli("tokens", "revoke", "--user", "admin1")
    assert revoked.returncode == 0, revoked.stderr
    assert (await script.get("/api/v1/me", headers=auth)).status == 401


async def test_every_login_and_write_is_in_the_audit(centre: ConsoleLab, people: list[Person]) -> None:
    admin = await person(people, centre, "admin1")
    assert (await admin.send("POST", "/api/v1/users/qa1/disable")).status == 200
    assert (await admin.send("POST", "/api/v1/users/qa1/enable")).status == 200
    await (await person(people, centre)).login("admin1", "wrong password!")
    trail = await audit(admin)
    seen = [(e["actor"], e["action"], e["target"], e["peer"]) for e in trail]
    assert ("admin1", "user.disable", "qa1", "127.0.0.1") in seen
    assert ("admin1", "user.enable", "qa1", "127.0.0.1") in seen
    assert (None, "login.failed", "admin1", "127.0.0.1") in seen
    assert ("admin1", "login", "admin1", "127.0.0.1") in seen
    assert any(actor and actor.startswith("cli:") and action == "user.add" for actor, action, _, _ in seen)
    assert not centre.console.errors(), [(e["msg"], e.get("path"), e.get("exc", "")[-600:]) for e in centre.console.errors()]
