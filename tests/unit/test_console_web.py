"""The console's app in process, on the fake accounts: the route table's rules, proxies and
Secure cookies, redirects that stay on the site, languages, error shapes, the OpenAPI document."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from yarl import URL

from callengine.accounts.model import ROLES
from callengine.core.conf import ConfigError
from callengine.core.settings import load_settings
from callengine.web import i18n
from callengine.web.auth import PUBLIC, ROUTES, SESSION_COOKIE
from callengine.web.console import device_label, make_console
from callengine.web.errors import HttpError
from callengine.web.routes import Route, local_path
from fake_accounts import Memory, fake_accounts

GOOD = "kopi tubruk pagi hari"


def config(tmp_path: Path, console: str = "") -> Path:
    path = tmp_path / "callengine.conf"
    path.write_text(f"[general]\ncity = Samarinda\ntimezone = Asia/Makassar\nruntime = {tmp_path}/rt\n"
                    f"[console]\n{console}")
    return path


async def serve(tmp_path: Path, console_conf: str = "") -> tuple[TestClient, Memory]:
    accounts, memory = fake_accounts()
    for name, role in (("admin1", "admin"), ("view1", "viewer")):
        await accounts.add_user(name, role, GOOD, actor="test")
    settings = load_settings(config(tmp_path, console_conf))
    client = TestClient(TestServer(make_console(settings, accounts, {})))
    await client.start_server()
    return client, memory


@pytest_asyncio.fixture
async def console(tmp_path: Path) -> AsyncIterator[TestClient]:
    client, _ = await serve(tmp_path, "trusted_proxies = 10.9.0.0/16\n")
    yield client
    await client.close()


async def login(client: TestClient, name: str = "admin1", **headers: str) -> web.StreamResponse:
    return await client.post("/login", data={"username": name, "password": GOOD}, headers=headers,
                             allow_redirects=False)


def test_console_settings(tmp_path: Path) -> None:
    console = load_settings(config(tmp_path, "listen = [::1]:9443\nsession_idle = 600\n"
                                             "secure_cookies = always\ntrusted_proxies = 10.0.0.1, 10.1.0.0/16\n")).console
    assert (console.host, console.port, console.session_idle_s, console.secure_cookies) == ("::1", 9443, 600, "always")
    assert console.trusted_proxies == ("10.0.0.1", "10.1.0.0/16") and console.url == "http://[::1]:9443/"
    assert load_settings(config(tmp_path)).console.url == "http://127.0.0.1:8080/"
    for bad, why in (("listen = 8080", "is not address:port"), ("listen = localhost:8080", "is not address:port"),
                     ("listen = 127.0.0.1:99999", "is not address:port"), ("session_idle = 5", "outside"),
                     ("trusted_proxies = proxy", "not an address")):
        with pytest.raises(ConfigError, match=why):
            load_settings(config(tmp_path, bad + "\n"))


async def handler(request: web.Request) -> web.Response:
    return web.Response()


def test_a_route_is_public_only_if_the_design_says_so_and_a_viewer_never_writes() -> None:
    with pytest.raises(ValueError, match="only /healthz, /login may be public"):
        Route("GET", "/api/v1/calls", handler, None, "calls", "calls")
    with pytest.raises(ValueError, match="viewer is read-only"):
        Route("PATCH", "/api/v1/tickets/{number}", handler, ROLES, "tickets.patch", "edit")
    with pytest.raises(ValueError, match="unknown roles"):
        Route("GET", "/api/v1/x", handler, ("operator",), "x", "x")
    Route("POST", "/api/v1/me/password", handler, ROLES, "me.password", "own", personal=True)


async def test_every_route_of_the_router_is_declared_or_a_static_asset(console: TestClient) -> None:
    app = console.server.app
    assert app is not None
    for route in app.router.routes():
        assert route in app[ROUTES] or route.resource in app[PUBLIC], route


async def test_an_undeclared_route_is_refused_not_open(tmp_path: Path) -> None:
    accounts, _ = fake_accounts()
    app = make_console(load_settings(config(tmp_path)), accounts, {})
    app.router.add_get("/api/v1/forgotten", handler)      # added behind the table's back
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/api/v1/forgotten")
        assert reply.status == 500 and (await reply.json())["error"] == "internal"


@pytest.mark.parametrize("trusted,forwarded,peer,secure", [
    ("10.9.0.0/16", "203.0.113.9, 10.9.0.1", "127.0.0.1", False),   # the client (127.0.0.1) is no trusted proxy
    ("127.0.0.0/8, 10.9.0.1", "203.0.113.9, 10.9.0.1", "203.0.113.9", True),
    ("127.0.0.0/8, 10.9.0.1", "198.51.100.1, 203.0.113.9, 10.9.0.1", "203.0.113.9", True),  # the first is the client's word
    ("127.0.0.0/8, 10.9.0.1", "made-up, 10.9.0.1", "10.9.0.1", True),
])
async def test_forwarded_headers_count_only_from_a_trusted_proxy(tmp_path: Path, trusted: str, forwarded: str,
                                                                 peer: str, secure: bool) -> None:
    client, memory = await serve(tmp_path, f"trusted_proxies = {trusted}\n")
    try:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": forwarded}
        reply = await login(client, **headers)
        assert reply.status == 303 and ("Secure" in reply.headers["Set-Cookie"]) is secure
        assert memory.audit[-1].action == "login" and memory.audit[-1].peer == peer
    finally:
        await client.close()


async def test_secure_cookies_always_when_configured(tmp_path: Path) -> None:
    client, _ = await serve(tmp_path, "secure_cookies = always\n")
    try:
        assert "Secure" in (await login(client)).headers["Set-Cookie"]
    finally:
        await client.close()


@pytest.mark.parametrize("target,expected", [
    ("/api/v1/me", "/api/v1/me"), ("/?a=1", "/?a=1"), ("//evil.example/", "/"), ("/\\evil.example", "/"),
    ("https://evil.example/", "/"), ("evil", "/"), ("/x\r\nSet-Cookie: a=b", "/"), ("", "/"), (None, "/"),
])
def test_the_next_page_after_login_stays_on_the_site(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


async def test_login_from_another_sites_page_is_refused(console: TestClient) -> None:
    refused = await login(console, Origin="https://evil.example")
    assert refused.status == 403 and SESSION_COOKIE not in refused.cookies
    accepted = await login(console, Origin=f"http://{console.host}:{console.port}")
    assert accepted.status == 303 and accepted.cookies[SESSION_COOKIE]["httponly"]


async def test_indonesian_first_english_on_request(console: TestClient) -> None:
    page = await (await console.get("/login")).text()
    assert '<html lang="id" data-zone="Asia/Makassar">' in page and "Kata sandi" in page
    switched = await console.get("/login?lang=en&next=%2Fapi%2Fv1%2Fme", allow_redirects=False)
    location = URL(switched.headers["Location"])
    assert switched.status == 303 and location.path == "/login" and dict(location.query) == {"next": "/api/v1/me"}
    page = await (await console.get("/login")).text()
    assert '<html lang="en" data-zone="Asia/Makassar">' in page and "Password" in page and "Kata sandi" not in page
    root = f"http://{console.host}:{console.port}"
    away = await console.session.get(f"{root}//evil.example/?lang=en", allow_redirects=False)
    assert away.status == 303 and away.headers["Location"] == "/"                # not to evil.example
    assert 'href="//' not in await (await console.session.get(f"{root}//evil.example/x")).text()
    failed = await console.post("/login", data={"username": "admin1", "password": "wrong password!"})
    assert failed.status == 401 and "Wrong user name or password." in await failed.text()


def test_every_text_of_the_templates_has_its_indonesian_translation() -> None:
    method_map = [("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    wanted = {message[2] if isinstance(message[2], str) else message[2][0]
              for message in extract_from_dir(str(Path(i18n.__file__).parent), method_map, options)}
    with (i18n.LOCALE_DIR / "id" / "LC_MESSAGES" / "console.po").open("rb") as po:
        catalog = read_po(po)
    translated = {m.id for m in catalog if m.id and m.string}
    assert wanted and not wanted - translated, sorted(wanted - translated)
    assert not {m.id for m in catalog if m.id} - wanted, "catalogue entries no template uses"


async def test_errors_are_json_under_api_and_pages_elsewhere(console: TestClient) -> None:
    missing = await console.get("/api/v1/nothing")
    assert missing.status == 404 and await missing.json() == {"error": "not_found", "message": "Not Found"}
    page = await console.get("/nothing")
    assert page.status == 404 and "Halaman ini tidak ada." in await page.text()
    wrong = await console.delete("/api/v1/me")
    assert wrong.status == 405 and (await wrong.json())["error"] == "method_not_allowed"
    await login(console)
    bad = await console.post("/api/v1/users", data=b"{not json", headers={
        "Content-Type": "application/json", "X-CSRF-Token": (await (await console.get("/api/v1/me")).json())["csrf_token"]})
    assert bad.status == 400 and (await bad.json())["error"] == "bad_json"


async def test_openapi_documents_every_api_route_with_its_roles(console: TestClient) -> None:
    await login(console)
    document = await (await console.get("/api/v1/openapi.json")).json()
    app = console.server.app
    assert app is not None
    for route in app[ROUTES].values():
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["operationId"] == route.name
        assert operation.get("x-roles") == (list(route.roles) if route.roles else None)
    assert document["paths"]["/api/v1/users"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "required"] == ["name", "role", "password"]
    assert set(document["components"]["securitySchemes"]) == {"session", "bearer"}


async def test_private_responses_are_not_cached_and_pages_not_framed(console: TestClient) -> None:
    await login(console)
    reply = await console.get("/")
    assert reply.headers["Cache-Control"] == "no-store" and reply.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
    static = await console.get("/static/console.css")
    assert static.status == 200 and "Cache-Control" not in static.headers
    assert (await console.get("/static/../templates/base.html")).status in (403, 404)


async def test_a_refused_form_is_a_whole_page_in_the_persons_language(console: TestClient) -> None:
    await login(console)
    refused = await console.post("/logout", data={"csrf_token": "forged"})
    page = await refused.text()
    assert refused.status == 403 and "Formulir ini sudah kedaluwarsa" in page and "Keluar" in page
    assert (await console.get("/api/v1/me")).status == 200


async def test_changing_ones_own_password_keeps_this_session(console: TestClient) -> None:
    await login(console, "view1")
    csrf = (await (await console.get("/api/v1/me")).json())["csrf_token"]
    change = {"current_password": GOOD, "new_password": "nasi goreng malam"}
    wrong = await console.post("/api/v1/me/password", json={**change, "current_password": "not it at all"},
                               headers={"X-CSRF-Token": csrf})
    assert wrong.status == 400 and (await wrong.json())["error"] == "bad_password"
    changed = await console.post("/api/v1/me/password", json=change, headers={"X-CSRF-Token": csrf})
    assert changed.status == 200 and (await console.get("/api/v1/me")).status == 200
    console.session.cookie_jar.clear()
    assert (await login(console, "view1")).status == 401


async def test_a_features_write_is_audited_by_the_gate_with_its_outcome(tmp_path: Path) -> None:
    accounts, memory = fake_accounts()
    await accounts.add_user("spv1", "supervisor", GOOD, actor="test")

    async def note(request: web.Request) -> web.Response:
        if request.match_info["id"] == "0":
            raise HttpError(404, "no_note", "no note 0")
        return web.json_response({"saved": True})
    feature = Route("PUT", "/api/v1/notes/{id}", note, ("supervisor",), "notes.put", "save a note")
    app = make_console(load_settings(config(tmp_path)), accounts, {}, [feature])
    async with TestClient(TestServer(app)) as client:
        await login(client, "spv1")
        token, secret = await accounts.create_token("spv1", actor="test")
        assert (await client.put("/api/v1/notes/7", headers={"Authorization": f"Bearer {secret}"})).status == 200
        assert (await client.put("/api/v1/notes/0", headers={"Authorization": f"Bearer {secret}"})).status == 404
    audited = [(e.actor, e.action, e.target, e.detail) for e in memory.audit if e.action == "notes.put"]
    assert audited == [("spv1", "notes.put", "/api/v1/notes/7", {"method": "PUT", "status": 200, "via": "token"}),
                       ("spv1", "notes.put", "/api/v1/notes/0", {"method": "PUT", "status": 404, "via": "token"})]


@pytest.mark.parametrize("agent, label", [
    ("Mozilla/5.0 (Linux; Android 14; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
     "Safari/537.36", "Chrome 131, Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
     "Mobile/15E148 Safari/604.1", "Safari 17, iPhone"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.2903.86", "Edge 131, Windows"),
    ("duty phone", "duty phone"), ("Python/3.11 aiohttp/3.14.5", "Python/3.11 aiohttp/3.14.5")])
def test_a_device_is_shown_as_a_person_reads_it(agent: str, label: str) -> None:
    assert device_label(agent) == label
