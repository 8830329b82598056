"""Languages of the console: Bahasa Indonesia first, English on request.

Text in templates is English gettext msgids (`{% trans %}`, `_()`); the Indonesian catalogue is
`locale/id/LC_MESSAGES/console.po`, read with Babel when the console starts (compiled in
memory, so there is no .mo file to forget to rebuild). `?lang=en` or `?lang=id` on any page
switches and is remembered in a cookie. New text: `pybabel extract -F callengine/web/babel.cfg
-o callengine/web/locale/console.pot callengine/web` then `pybabel update -D console -i
callengine/web/locale/console.pot -d callengine/web/locale`; a unit test fails while a
msgid of a template has no Indonesian translation.
"""
from __future__ import annotations

import gettext as stdlib_gettext
import io
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from callengine.web.routes import local_path

LANGUAGES = ("id", "en")
DEFAULT = "id"
DOMAIN = "console"
LOCALE_DIR = Path(__file__).parent / "locale"
COOKIE = "lang"
LANG = web.RequestKey("lang", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_NONE = stdlib_gettext.NullTranslations()      # English: the msgids themselves
_current: ContextVar[stdlib_gettext.NullTranslations] = ContextVar("console_translations", default=_NONE)


def load_catalogues(folder: Path = LOCALE_DIR) -> dict[str, stdlib_gettext.NullTranslations]:
    catalogues: dict[str, stdlib_gettext.NullTranslations] = {"en": _NONE}
    for language in LANGUAGES:
        po = folder / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        if language == "en" or not po.exists():
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        catalogues[language] = Translations(compiled, domain=DOMAIN)
    return catalogues


def gettext(message: str) -> str:
    return _current.get().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _current.get().ngettext(singular, plural, n)


def middleware(catalogues: dict[str, stdlib_gettext.NullTranslations]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def language(request: web.Request, handler: Handler) -> web.StreamResponse:
        asked = request.query.get("lang")
        if asked in LANGUAGES and request.method in ("GET", "HEAD"):
            # remembered, and the address bar loses the parameter
            rest = [(k, v) for k, v in request.query.items() if k != "lang"]
            redirect = web.HTTPSeeOther(local_path(request.path) + (f"?{urlencode(rest)}" if rest else ""))
            redirect.set_cookie(COOKIE, asked, max_age=365 * 86400, httponly=True, samesite="Lax", path="/")
            raise redirect
        chosen = request.cookies.get(COOKIE)
        chosen = chosen if chosen in LANGUAGES else DEFAULT
        request[LANG] = chosen
        token = _current.set(catalogues.get(chosen, _NONE))
        try:
            return await handler(request)
        finally:
            _current.reset(token)
    return language
