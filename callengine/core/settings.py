"""Settings from config/callengine.conf (Asterisk config syntax) and generated secrets."""
from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callengine.core.conf import NAME, ConfigError, ConfigReader

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = PROJECT_DIR / "config" / "callengine.conf"
DEFAULT_DESK = PROJECT_DIR / "config" / "desk.conf"
DEFAULT_AGENCIES = PROJECT_DIR / "config" / "agencies.conf"
DEFAULT_QA = PROJECT_DIR / "config" / "qa.conf"
LANGUAGES = ("id", "en")
QUEUE_STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom", "rrordered")
_NUMBER = re.compile(r"^\+?[0-9*#]{1,20}$")


PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_ATTRIBUTION = "© OpenStreetMap contributors"


@dataclass(frozen=True)
class ConsoleSettings:
    """`callengine console`, the people's web console: where it listens and how it keeps sessions."""
    host: str = "127.0.0.1"
    port: int = 8080
    session_idle_s: int = 1800          # a session unused this long ends
    secure_cookies: str = "auto"        # auto: Secure when the request came over TLS; always: every cookie
    trusted_proxies: tuple[str, ...] = ()   # whose X-Forwarded-For / -Proto are believed
    tiles: str = DEFAULT_TILES              # the map's tile URL ({z}/{x}/{y}); "none": coordinates only
    tiles_attribution: str = DEFAULT_ATTRIBUTION
    assets_dir: Path = PROJECT_DIR / "node_modules"   # the browser packages npm installed (package.json)
    sla_check_every: int = 5            # seconds between the SLA watcher's rounds

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


@dataclass(frozen=True)
class Settings:
    config_file: Path
    city: str
    city_code: str              # ticket numbers: <city_code>-<YYYYMMDD>-<NNNN>
    timezone: ZoneInfo
    language: str
    runtime_dir: Path
    database_url: str
    recordings_dir: Path
    ivr_file: Path
    roster_file: Path
    asterisk_templates: Path
    dialplan_dir: Path
    sounds_dir: Path
    asterisk_binary: str
    sip_bind: str
    sip_port: int
    ami_host: str
    ami_port: int
    ami_user: str
    rtp_start: int
    rtp_end: int
    fastagi_host: str
    fastagi_port: int
    web_host: str
    web_port: int
    hep_port: int
    trunk_match: tuple[str, ...]
    emergency_numbers: tuple[str, ...]
    queue: str
    queue_strategy: str
    queue_wrapup_s: int
    queue_overflow_s: int
    hold_announce_s: int
    position_announce_s: int
    pause_reasons: tuple[str, ...]
    webhook_urls: tuple[str, ...]
    recordings_keep_days: int
    aml_window_s: int
    aml_token: str            # "" means: the generated `aml` secret in runtime/secrets.conf
    aml_allow: tuple[str, ...]
    database_note: str | None = None   # how a common spelling of the database URL was read
    console: ConsoleSettings = ConsoleSettings()
    desk_file: Path = DEFAULT_DESK      # the desk's incident types and gazetteer
    agencies_file: Path = DEFAULT_AGENCIES   # agencies, dispatch rules, nearest posts, SLA targets
    qa_file: Path = DEFAULT_QA               # the QA forms calls are scored on

    @property
    def secrets_file(self) -> Path:
        return self.runtime_dir / "secrets.conf"


_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}   # the store runs on asyncio
_DIALECT_SPELLINGS = {"postgres": "postgresql"}                     # Heroku's, libpq's, many tutorials'


def database_url(raw: str, runtime: Path) -> tuple[str, str | None]:
    """The ticket store's SQLAlchemy URL and, when a common spelling was read as the asyncio URL,
    a note saying so. Checked here so that a wrong scheme is one config error for every command,
    not a traceback from the engine's first query."""
    if raw == "sqlite":
        return f"sqlite+aiosqlite:///{runtime / 'callengine.db'}", None
    scheme, sep, rest = raw.partition("://")
    if not sep:
        raise ValueError(f"{raw!r} is neither 'sqlite' nor a SQLAlchemy URL")
    dialect, _, driver = scheme.lower().partition("+")
    dialect = _DIALECT_SPELLINGS.get(dialect, dialect)
    if dialect not in _ASYNC_DRIVERS:
        raise ValueError(f"{scheme}:// is not a database callengine supports: "
                         "use sqlite, or postgresql://user:password@host/database")
    wanted = f"{dialect}+{_ASYNC_DRIVERS[dialect]}"
    if driver and driver != _ASYNC_DRIVERS[dialect]:
        raise ValueError(f"{scheme}:// names the driver {driver!r}, which does not run on asyncio: use {wanted}://")
    url = f"{wanted}://{rest}"
    _check_url_parses(url, scheme)
    return url, None if scheme == wanted else f"database {scheme}:// is read as {wanted}://"


def _check_url_parses(url: str, scheme: str) -> None:
    """SQLAlchemy's own parser (imported only for URLs: most commands never need it), so what
    passes here is what the store will accept; the message never repeats the password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError) as exc:
        reason = "bad port" if isinstance(exc, ValueError) else "not a URL"
        raise ValueError(f"{scheme}:// URL cannot be read ({reason}); "
                         "expected postgresql://user:password@host:port/database") from None


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the config file (default: $CALLENGINE_CONFIG or config/callengine.conf)."""
    path = Path(path or os.environ.get("CALLENGINE_CONFIG") or DEFAULT_CONFIG).resolve()
    r = ConfigReader(path)
    runtime = r.path("general", "runtime", "../runtime")
    try:
        database, database_note = database_url(r.text("general", "database", "sqlite"), runtime)
    except ValueError as exc:
        raise r.fail("general", "database", str(exc)) from None
    zone_name = r.text("general", "timezone", "Asia/Jakarta")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("general", "timezone", f"{zone_name!r} is not an IANA time zone") from None

    city = r.text("general", "city", "Kota")
    trunk = r.listing("trunk", "match", "127.0.0.2")
    for entry in trunk:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise r.fail("trunk", "match", f"{entry!r} is not an address or network") from None
    numbers = r.listing("trunk", "numbers", "112")
    for number in numbers:
        if not _NUMBER.match(number):
            raise r.fail("trunk", "numbers", f"{number!r} is not a dialable number")

    rtp_start = r.integer("asterisk", "rtp_start", 10000, 1024)
    rtp_end = r.integer("asterisk", "rtp_end", 10999, 1024)
    if rtp_end <= rtp_start:
        raise r.fail("asterisk", "rtp_end", f"must be above rtp_start ({rtp_start})")
    queue = r.text("queue", "name", "112")
    if not NAME.match(queue):
        raise r.fail("queue", "name", f"{queue!r} is not a valid queue name")
    reasons = r.listing("queue", "pause_reasons", "istirahat, briefing, acw, pelatihan, lainnya")
    for reason in reasons:
        if not NAME.match(reason):
            raise r.fail("queue", "pause_reasons", f"{reason!r}: a reason is one word (letters, digits, '-', '_')")
    roster_file = r.path("paths", "roster", "roster.conf")
    hooks = r.listing("webhooks", "urls", "") if r.sections.get("webhooks", {}).get("urls") else ()
    for url in hooks:
        if not re.match(r"^https?://[^\s/]+", url):
            raise r.fail("webhooks", "urls", f"{url!r} is not an http:// or https:// URL")

    return Settings(
        config_file=path,
        city=city,
        city_code=_city_code(r, city),
        timezone=zone,
        language=r.choice("general", "language", "id", LANGUAGES),
        runtime_dir=runtime,
        database_url=database,
        database_note=database_note,
        recordings_dir=r.path("general", "recordings", "../runtime/recordings"),
        ivr_file=r.path("paths", "ivr", "ivr.conf"),
        roster_file=roster_file,
        asterisk_templates=r.path("paths", "asterisk_config", "asterisk"),
        dialplan_dir=r.path("paths", "dialplan", "../dialplan"),
        sounds_dir=r.path("paths", "sounds", "../sounds"),
        asterisk_binary=r.text("asterisk", "binary", "asterisk"),
        sip_bind=r.address("asterisk", "sip_bind", "0.0.0.0"),
        sip_port=r.integer("asterisk", "sip_port", 5060),
        ami_host=r.address("asterisk", "ami_host", "127.0.0.1"),
        ami_port=r.integer("asterisk", "ami_port", 5038),
        ami_user=r.text("asterisk", "ami_user", "callengine"),
        rtp_start=rtp_start,
        rtp_end=rtp_end,
        fastagi_host=r.address("engine", "fastagi_host", "127.0.0.1"),
        fastagi_port=r.integer("engine", "fastagi_port", 4573),
        web_host=r.address("engine", "web_host", "127.0.0.1"),
        web_port=r.integer("engine", "web_port", 8112),
        hep_port=r.integer("engine", "hep_port", 9060),
        trunk_match=trunk,
        emergency_numbers=numbers,
        queue=queue,
        queue_strategy=r.choice("queue", "strategy", "rrmemory", QUEUE_STRATEGIES),
        queue_wrapup_s=r.integer("queue", "wrapup", 5, 0, 600),
        queue_overflow_s=r.integer("queue", "overflow", 30, 5, 3600),
        hold_announce_s=r.integer("queue", "hold_announce", 20, 1, 600),
        position_announce_s=r.integer("queue", "position_announce", 0, 0, 600),
        pause_reasons=reasons,
        webhook_urls=hooks,
        recordings_keep_days=r.integer("general", "recordings_keep_days", 365, 1, 36500),
        aml_window_s=r.integer("location", "aml_window", 600, 10, 86400),
        console=_console(r),
        desk_file=r.path("paths", "desk", str(DEFAULT_DESK)),
        agencies_file=r.path("paths", "agencies", str(DEFAULT_AGENCIES)),
        qa_file=r.path("paths", "qa", str(DEFAULT_QA)),
        aml_token=r.sections.get("aml", {}).get("token", ""),
        aml_allow=r.networks("aml", "allow"),
    )


def _console(r: ConfigReader) -> ConsoleSettings:
    host, port = r.endpoint("console", "listen", "127.0.0.1:8080")
    return ConsoleSettings(
        host=host, port=port,
        session_idle_s=r.integer("console", "session_idle", 1800, 60, 86400),
        secure_cookies=r.choice("console", "secure_cookies", "auto", ("auto", "always")),
        trusted_proxies=r.networks("console", "trusted_proxies"),
        tiles=_tiles(r),
        tiles_attribution=r.text("console", "tiles_attribution", DEFAULT_ATTRIBUTION),
        assets_dir=r.path("console", "assets", str(PROJECT_DIR / "node_modules")),
        sla_check_every=r.integer("console", "sla_check_every", 5, 1, 300),
    )


def _tiles(r: ConfigReader) -> str:
    url = r.text("console", "tiles", DEFAULT_TILES)
    if url != "none" and (not re.fullmatch(r"https?://[^\s'\"<>]+", url) or
                          not all(part in url for part in ("{z}", "{x}", "{y}"))):
        raise r.fail("console", "tiles", f"{url!r}: an http(s) URL with {{z}}, {{x}} and {{y}}, or none")
    return url


def _city_code(r: ConfigReader, city: str) -> str:
    code = r.text("general", "city_code", "".join(ch for ch in city.upper() if ch.isalpha())[:3] or "KOT")
    if not re.fullmatch(r"[A-Z]{2,6}", code):
        raise r.fail("general", "city_code", f"{code!r}: two to six capital letters, e.g. SMD")
    return code


def read_secret(settings: Settings, name: str) -> str | None:
    """One generated secret as the engine wrote it, or None before the engine's first run
    (the console reads, never generates: two writers would race)."""
    if not settings.secrets_file.exists():
        return None
    return ConfigReader(settings.secrets_file).sections.get("secrets", {}).get(name) or None


def load_secrets(settings: Settings, accounts: Iterable[str] = ()) -> dict[str, str]:
    """The AMI secret, the webhook and HEP keys and one SIP password per account (the roster's
    people), generated once and kept in the runtime folder."""
    path = settings.secrets_file
    known: dict[str, str] = {}
    if path.exists():
        known = ConfigReader(path).sections.get("secrets", {})
    wanted = ["ami", "webhook", "hep", "aml", "engine_api", *accounts]
    missing = [name for name in wanted if not known.get(name)]
    if missing:
        for name in missing:
            known[name] = secrets.token_urlsafe(18)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{name} = {value}\n" for name, value in known.items())
        path.write_text("; generated by callengine at first run; keep out of git\n[secrets]\n" + body)
        path.chmod(0o600)
    return known
