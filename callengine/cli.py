"""The `callengine` command. Every failure is one actionable line and a non-zero exit."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import date, datetime, time, timedelta
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar
from pathlib import Path
from zoneinfo import ZoneInfo

from callengine import __version__
from callengine.accounts.model import ROLES
from callengine.core.conf import ConfigError
from callengine.core.settings import Settings, load_settings
from callengine.pbx.process import PbxError
from callengine.pbx.render import RenderError
from callengine.queueing.members import QueueControlError
from callengine.queueing.roster import roster_of
from callengine.rating.config import rating_problems
from callengine.telephony.ami import AmiError

if TYPE_CHECKING:
    from callengine.accounts.service import Accounts
    from callengine.calls.record import CallRecord
    from callengine.db.database import Database
    from callengine.evidence.service import Bundle

Command = Callable[[Settings, argparse.Namespace], int]
T = TypeVar("T")


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.app import Engine
    from callengine.core.logs import setup_logging
    from callengine.preflight import engine_ports, port_problem

    problems = [p for p in map(port_problem, engine_ports(settings)) if p]
    if problems:
        return _fail(problems)
    setup_logging(args.log_level)
    if settings.database_note:
        logging.getLogger("callengine").info(settings.database_note)
    asyncio.run(Engine(settings).run())
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.preflight import environment_problems
    from callengine.supervisor import Supervisor

    problems = environment_problems(settings, running=False)
    if problems:
        return _fail(problems)
    return Supervisor(settings, settings.config_file).run()


def cmd_render(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.pbx.render import render

    print(render(settings))
    return 0


def cmd_calls_list(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.db.calls import CallRepository

    if args.limit < 0:
        return _fail([f"--limit {args.limit}: give a number of calls, or 0 for all"])
    since = _bound(args.since, settings.timezone, end=False)
    until = _bound(args.until, settings.timezone, end=True)

    async def fetch(db: Database) -> tuple[list[dict[str, object]], int]:
        calls = CallRepository(db)
        records = await calls.newest(args.limit, since, until)
        # a script counting records must know when the list was cut; count only then
        cut = args.limit and len(records) == args.limit
        total = await calls.count(since, until) if cut else len(records)
        return _local_json(records, settings.timezone), total

    calls, total = with_database(settings, fetch)
    if total > len(calls):
        print(f"callengine: showing the newest {len(calls)} of {total} calls; --limit 0 for all", file=sys.stderr)
    if args.json:
        for call in calls:
            print(json.dumps(call, ensure_ascii=False))
        return 0
    zone = datetime.now(settings.timezone).tzname() or ""
    print(f"{'mulai (start)':24} {'penelepon (caller)':18} {'kategori':10} {'hasil':12} {'antre':>6} {'bicara':>6} petugas")
    for c in calls:
        wait = "" if c["wait_s"] is None else f"{c['wait_s']:.0f}s"
        talk = "" if c["talk_s"] is None else f"{c['talk_s']:.0f}s"
        caller = c["caller"] or ("tersembunyi" if c["caller_status"] == "withheld" else f"?{c['caller_raw'][:16]}")
        print(f"{c['started_at'][:19].replace('T', ' ')} {zone:4} {caller:18} "
              f"{c['category'] or '-':10} {c['disposition']:12} {wait:>6} {talk:>6} {c['agent'] or ''}")
    if not calls:
        print("Belum ada panggilan. (No calls yet.)")
    return 0


def _local_json(records: list[CallRecord], zone: ZoneInfo) -> list[dict[str, object]]:
    """Records as JSON with their times in the centre's zone (the offset says which)."""
    local = []
    for record in records:
        for key in ("started_at", "answered_at", "ended_at"):
            value = getattr(record, key)
            setattr(record, key, value.astimezone(zone) if value else None)
        local.append(record.to_json())
    return local


def _moment(text: str) -> date | datetime:
    """An ISO date or datetime from the command line; its zone is settled once settings are read."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither YYYY-MM-DD nor YYYY-MM-DDTHH:MM[:SS][+HH:MM]") from None


def _bound(moment: date | datetime | None, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """A datetime without offset is the centre's local time; a date is its local midnight, and
    as an end the next midnight, so `--until 2026-11-23` takes in the whole 23rd."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    return datetime.combine(moment + timedelta(days=1 if end else 0), time(), zone)


def cmd_calls_mark(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.db.calls import CallRepository

    if not with_database(settings, lambda db: CallRepository(db).mark_prank(args.linkedid, prank=not args.clear)):
        return _fail([f"no call {args.linkedid!r} in the ticket store"])
    print(f"{args.linkedid}: {'bukan panggilan palsu (not a prank)' if args.clear else 'panggilan palsu (prank)'}")
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.preflight import environment_problems
    from callengine.qa.forms import qa_problems
    from callengine.reports.config import reports_problems

    problems = (environment_problems(settings, running=args.running) + _agencies_problems(settings)
                + rating_problems(settings.config_file) + qa_problems(settings)
                + reports_problems(settings.config_file, settings.agencies_file))
    if problems:
        return _fail(problems)
    if settings.database_note:
        print(f"note: {settings.database_note}")
    print(f"OK: {settings.config_file} is valid" + (", Asterisk answers AMI" if args.running else
                                                     ", Asterisk installed, prompts present, ports free"))
    return 0


def _agencies_problems(settings: Settings) -> list[str]:
    """config/agencies.conf, checked against the desk's categories and gazetteer (a broken
    desk.conf is reported by the environment's checks, so it is not said twice)."""
    from callengine.dispatch.config import load_agencies
    from callengine.tickets.desk import load_desk

    try:
        desk = load_desk(settings.desk_file)
    except ConfigError:
        return []
    try:
        load_agencies(settings.agencies_file, desk)
    except ConfigError as exc:
        return [f"config: {exc}"]
    return []


def cmd_prompts_build(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.audio.prompts import build

    for path in build(settings.sounds_dir, settings.city, only_missing=args.missing):
        print(f"wrote {path}")
    return 0


def cmd_prompts_check(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.audio.prompts import problems
    from callengine.ivr.flow import PROMPTS

    found = problems(settings.sounds_dir, PROMPTS)
    if found:
        return _fail(found)
    print("OK: every prompt exists in every language as 8 kHz mono 16-bit WAV")
    return 0


def cmd_calls_hold(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.core.clock import SystemClock
    from callengine.evidence.service import EvidenceError, Requester
    from callengine.evidence.wiring import stored_hold

    try:
        with_database(settings, lambda db: stored_hold(db, SystemClock()).set(args.linkedid, not args.clear,
                                                                             Requester(_actor(), "cli")))
    except EvidenceError as exc:
        return _fail([str(exc)])
    print(f"{args.linkedid}: " + ("penahanan hukum dicabut (legal hold lifted)" if args.clear
                                  else "ditahan untuk proses hukum (legal hold): rekaman tidak akan dihapus"))
    return 0


def cmd_evidence_key(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.evidence.keys import KeyProblem, centre_key, fingerprint, key_path, public_pem

    try:
        key = centre_key(key_path(settings.runtime_dir)).public_key()
    except KeyProblem as exc:
        return _fail([str(exc)])
    print(public_pem(key), end="")
    print(f"sidik jari (fingerprint) SHA-256: {fingerprint(key)}", file=sys.stderr)
    return 0


def cmd_evidence_export(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.core.clock import SystemClock
    from callengine.evidence.service import EvidenceError, Requester
    from callengine.evidence.wiring import stored_custody, stored_story

    async def export(db: Database) -> Bundle:
        clock = SystemClock()
        custody = stored_custody(settings, db, clock, stored_story(settings, db, clock))
        return await custody.export(args.linkedid, args.reason, Requester(_actor(), "cli"), args.allow_mismatch)

    try:
        made = with_database(settings, export)
    except EvidenceError as exc:
        return _fail([str(exc)])
    if made.manifest["warning"]:
        print(made.manifest["warning"], file=sys.stderr)
    print(made.save(args.out))
    return 0


def cmd_evidence_verify(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.evidence.bundle import verify
    from callengine.evidence.keys import KeyProblem, existing_key, key_path, load_public

    try:
        key = (load_public(args.public_key.read_bytes(), str(args.public_key)) if args.public_key
               else existing_key(key_path(settings.runtime_dir)).public_key())
    except KeyProblem as exc:
        return _fail([str(exc)])
    verdict = verify(args.zip, key)
    for problem in verdict.problems:
        print(f"GAGAL (FAIL) {problem}")
    if verdict.manifest is None or not verdict.ok:
        return _fail([f"{args.zip}: {len(verdict.problems)} problem(s): not the bundle the centre signed"])
    m = verdict.manifest
    print(f"OK {args.zip}: {len(m['files'])} files and the signature check out (key {verdict.key}); call "
          f"{m['linkedid']}, ticket {m['ticket']}, exported {m['exported_at']} by {m['exported_by']}: {m['reason']}")
    if m["warning"]:
        print(m["warning"])
    return 0


def cmd_recordings_prune(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from callengine.audio.recordings import prune, prune_plan
    from callengine.db.calls import CallRepository

    cutoff = datetime.now(settings.timezone) - timedelta(days=settings.recordings_keep_days)
    plan = prune_plan(settings.recordings_dir, cutoff, with_database(settings, lambda db: CallRepository(db).held_recordings()))
    for path in plan:
        print(f"{'akan dihapus (would delete)' if args.dry_run else 'dihapus (deleted)'}: {path}")
    count = len(plan) if args.dry_run else prune(plan)
    print(f"{count} file(s) older than {settings.recordings_keep_days} days" + (" (dry run)" if args.dry_run else ""))
    return 0


def cmd_celldb_import(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.db.cells import CellRepository
    from callengine.location.celldb import import_cells
    from callengine.location.model import LocationError

    def progress(rows: int) -> None:
        print(f"\r{rows:,} baris dibaca (rows read)", end="", file=sys.stderr, flush=True)

    async def load(db: Database) -> str:
        return (await import_cells(CellRepository(db), args.file, progress)).summary()

    try:
        summary = with_database(settings, load)
    except LocationError as exc:
        print(file=sys.stderr)
        return _fail([str(exc)])
    print(file=sys.stderr)
    print(f"{args.file}: {summary}")
    return 0


def with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run one piece of work against the database (migrated first), then close it."""

    async def run() -> T:
        from callengine.db.database import Database

        db = Database(settings.database_url)
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.close()
    return asyncio.run(run())


def _ami(settings: Settings):  # type: ignore[no-untyped-def]
    from callengine.core.settings import load_secrets
    from callengine.telephony.ami import ami_session

    return ami_session(settings.ami_host, settings.ami_port, settings.ami_user, load_secrets(settings)["ami"])


def cmd_queue_status(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.queueing.status import status_json, status_text
    from callengine.telephony.queues import AmiQueues

    async def fetch() -> dict[str, object]:
        async with _ami(settings) as ami:
            queues = AmiQueues(ami)
            states = [await queues.queue_state(name) for name in (settings.queue, f"{settings.queue}-fallback")]
        return status_json(states, roster_of(settings), datetime.now(settings.timezone))

    status = asyncio.run(fetch())
    print(json.dumps(status, ensure_ascii=False) if args.json else status_text(status))
    return 0


def cmd_queue_pause(settings: Settings, args: argparse.Namespace) -> int:
    """Pause or unpause a call taker in the 112 queue, and keep who, why and when."""
    from callengine.core.clock import SystemClock
    from callengine.db.alerts import PauseRepository
    from callengine.db.database import Database
    from callengine.queueing.pauses import PauseError, Pauses, check_pause
    from callengine.telephony.queues import AmiQueues

    pausing = not getattr(args, "unpause", False)
    roster = roster_of(settings)

    async def act() -> None:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            async with _ami(settings) as ami:
                pauses = Pauses(settings.queue, settings.pause_reasons, lambda: roster, AmiQueues(ami),
                                PauseRepository(db), SystemClock())
                await pauses.set(args.account, pausing, args.reason, args.by)
        finally:
            await db.close()

    try:
        check_pause(roster, settings.pause_reasons, args.account, pausing, args.reason)  # before any AMI login
        asyncio.run(act())
    except PauseError as exc:
        return _fail([str(exc)])
    print(f"{args.account}: " + (f"jeda ({args.reason})" if pausing else "siap menerima panggilan (ready)"))
    return 0


def cmd_softphones(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.core.settings import load_secrets

    roster = roster_of(settings)
    secrets = load_secrets(settings, roster.people)
    host = "<alamat server ini>" if settings.sip_bind == "0.0.0.0" else settings.sip_bind
    for person in roster.people.values():
        print(f"{person.name} ({person.role})\n  server {host}:{settings.sip_port}  transport UDP\n"
              f"  username {person.account}  password {secrets[person.account]}\n")
    return 0


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.db.calls import CallRepository
    from callengine.queueing.stats import day_stats, day_window

    async def fetch(db: Database) -> dict[str, object]:
        roster = roster_of(settings)
        records = await CallRepository(db).between(*day_window(roster, args.day))
        return day_stats(records, roster, args.day)

    stats = with_database(settings, fetch)
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
        return 0
    print(f"{stats['day']}  ({stats['from'][11:16]} → {stats['to'][11:16]})")
    for title, rows in (("antrean (queue)", stats["queues"]), ("shift", stats["shifts"])):
        for name, t in rows.items():  # type: ignore[attr-defined]
            level = "-" if t["service_level_15s"] is None else f"{t['service_level_15s']:.0%}"
            asa = "-" if t["average_speed_of_answer_s"] is None else f"{t['average_speed_of_answer_s']}s"
            print(f"{title} {name}: ditawarkan {t['offered']}, dijawab {t['answered']}, ditinggal {t['abandoned']}, "
                  f"≤15s {level}, rata-rata jawab {asa}, terlama {t['longest_wait_s']}s")
    for name, a in stats["calltakers"].items():  # type: ignore[attr-defined]
        print(f"petugas {name}: dijawab {a['answered']}, bicara {a['talk_s']}s")
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.core.clock import SystemClock
    from callengine.reports.export import CSV, CSV_ZIP, report_file
    from callengine.reports.period import PeriodError, period_of
    from callengine.reports.wiring import stored_reports

    try:
        period = period_of({"day": args.day or "", "month": args.month or "", "from": args.since or "",
                            "to": args.until or ""})
    except PeriodError as exc:
        return _fail([f"--{exc.parameter}: {exc}"])
    shape = args.format or REPORT_SUFFIXES.get(args.out.suffix.lower(), CSV)
    if shape == CSV and args.out.suffix.lower() == ".zip":
        shape = CSV_ZIP                 # a ZIP of one CSV per table

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    report = with_database(settings, lambda db: stored_reports(settings, db, SystemClock()).report(period, progress))
    progress(f"menulis {shape.upper()} (writing)")
    args.out.write_bytes(report_file(report, shape))
    print(f"{args.out}: laporan {report.period.label}, {len(report.tables)} tabel ({shape})")
    return 0


REPORT_SUFFIXES = {".csv": "csv", ".zip": "csv", ".xlsx": "xlsx", ".pdf": "pdf"}


def cmd_reload(settings: Settings, args: argparse.Namespace) -> int:
    """Render and have the running Asterisk pick up softphones, queues and dialplan; calls go on."""
    from callengine.pbx.render import render
    from callengine.telephony.ami import AmiError

    render(settings)

    async def reload() -> None:
        async with _ami(settings) as ami:
            for module in ("res_pjsip.so", "app_queue.so", "pbx_config.so"):
                reply = await ami.action({"Action": "Reload", "Module": module})
                if reply.get("Response") != "Success":
                    raise AmiError(f"reload of {module} refused: {reply.get('Message')}")

    asyncio.run(reload())
    print("OK: softphones, queues and dialplan reloaded; calls in progress go on")
    return 0


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.core.logs import setup_logging
    from callengine.preflight import Port, port_problem
    from callengine.web.console import Console

    problem = port_problem(Port("console", settings.console.host, settings.console.port))
    if problem:
        return _fail([problem])
    setup_logging(args.log_level)
    asyncio.run(Console(settings).run())
    return 0


def _with_accounts(settings: Settings, work: Callable[[Accounts], Awaitable[T]]) -> T:
    """Run work with the accounts service on the (migrated) database."""
    from callengine.accounts.wiring import stored_accounts

    idle = timedelta(seconds=settings.console.session_idle_s)
    return with_database(settings, lambda db: work(stored_accounts(db, idle)))


def _actor() -> str:
    """Who acts from the command line, for the audit: the operating system's user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):   # no login name (a container without one)
        return "cli"


def _password(args: argparse.Namespace) -> str:
    """The password from stdin (its first line), or typed twice without echo on a terminal."""
    import getpass

    if not args.password_stdin:
        raise _AccountUsage("give the password on stdin: add --password-stdin (e.g. `echo \"$PW\" | callengine ...`)")
    if sys.stdin.isatty():
        first = getpass.getpass("Kata sandi (password): ")
        if getpass.getpass("Ulangi (again): ") != first:
            raise _AccountUsage("the two passwords differ")
        return first
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise _AccountUsage("no password on stdin")
    return password


class _AccountUsage(Exception):
    pass


def _account_command(func: Command) -> Command:
    """The accounts' refusals (a taken name, a weak password, a wrong role) as one error line."""
    def run(settings: Settings, args: argparse.Namespace) -> int:
        from callengine.accounts.model import AccountError

        try:
            return func(settings, args)
        except (AccountError, _AccountUsage) as exc:
            return _fail([str(exc)])
    return run


@_account_command
def cmd_users_add(settings: Settings, args: argparse.Namespace) -> int:
    password = _password(args)
    user = _with_accounts(settings, lambda a: a.add_user(args.name, args.role, password, full_name=args.full_name,
                                                         agency=args.agency, actor=_actor()))
    print(f"{user.name}: akun dibuat (account created), {user.role}" + (f" {user.agency}" if user.agency else ""))
    _check_on_roster(settings, user.name, user.role)
    return 0


def _check_on_roster(settings: Settings, name: str, role: str) -> None:
    """A call taker's desk pops the calls of the softphone with their name: say so when no
    such softphone is on the roster (a typo would leave the desk silent)."""
    if role not in ("calltaker", "supervisor"):
        return
    try:
        people = roster_of(settings).people
    except Exception as exc:  # the roster's own errors are `callengine check`'s to report
        print(f"warning: roster not read ({exc})", file=sys.stderr)
        return
    if name in people:
        print(f"{name}: di roster sebagai {people[name].name} (on the roster)")
    else:
        print(f"warning: {name!r} is not a roster account: its desk shows no calls until a softphone "
              f"with that name is on the roster ({settings.roster_file})", file=sys.stderr)


@_account_command
def cmd_users_passwd(settings: Settings, args: argparse.Namespace) -> int:
    password = _password(args)
    _with_accounts(settings, lambda a: a.set_password(args.name, password, actor=_actor()))
    print(f"{args.name}: kata sandi diganti, sesi diakhiri (password changed, sessions ended)")
    return 0


@_account_command
def cmd_users_disable(settings: Settings, args: argparse.Namespace) -> int:
    disabled = not getattr(args, "enable", False)
    _with_accounts(settings, lambda a: a.set_disabled(args.name, disabled, actor=_actor()))
    print(f"{args.name}: " + ("dinonaktifkan, sesi dan token diakhiri (disabled, sessions and tokens ended)"
                              if disabled else "diaktifkan (enabled)"))
    return 0


@_account_command
def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    users = _with_accounts(settings, lambda a: a.users())
    if args.json:
        for user in users:
            print(json.dumps({**user.to_json(), "created_at": user.created_at.astimezone(settings.timezone).isoformat()},
                             ensure_ascii=False))
        return 0
    print(f"{'nama (user)':20} {'peran (role)':12} {'instansi':10} {'status':9} nama lengkap (full name)")
    for u in users:
        print(f"{u.name:20} {u.role:12} {u.agency or '-':10} {'nonaktif' if u.disabled else 'aktif':9} {u.full_name}")
    if not users:
        print("Belum ada akun. (No accounts yet.) callengine users add NAME --role admin --password-stdin")
    return 0


@_account_command
def cmd_tokens_create(settings: Settings, args: argparse.Namespace) -> int:
    token, secret = _with_accounts(settings, lambda a: a.create_token(args.user, args.days, args.label,
                                                                      actor=_actor()))
    print(f"token {token.id} for {token.user.name}, valid until "
          f"{token.expires_at.astimezone(settings.timezone):%Y-%m-%d %H:%M %Z}; shown this once, keep it secret",
          file=sys.stderr)
    print(secret)
    return 0


@_account_command
def cmd_tokens_revoke(settings: Settings, args: argparse.Namespace) -> int:
    if (args.id is None) == (args.user is None):
        return _fail(["give a token id (see `callengine tokens list`) or --user NAME for all of a user's tokens"])
    if args.id is not None:
        token = _with_accounts(settings, lambda a: a.revoke_token(args.id, actor=_actor()))
        print(f"token {token.id} of {token.user.name}: dicabut (revoked)")
    else:
        count = _with_accounts(settings, lambda a: a.revoke_tokens(args.user, actor=_actor()))
        print(f"{args.user}: {count} token dicabut (revoked)")
    return 0


@_account_command
def cmd_tokens_list(settings: Settings, args: argparse.Namespace) -> int:
    tokens = _with_accounts(settings, lambda a: a.tokens(args.user))
    if args.json:
        for token in tokens:
            print(json.dumps(token.to_json(), ensure_ascii=False))
        return 0
    now = datetime.now(settings.timezone)
    for t in tokens:
        state = "dicabut" if t.revoked_at else "kedaluwarsa" if t.expires_at <= now else "aktif"
        print(f"{t.id:5} {t.user.name:20} {state:11} s.d. {t.expires_at.astimezone(settings.timezone):%Y-%m-%d} {t.label}")
    return 0


def _fail(problems: list[str]) -> int:
    for problem in problems:
        print(f"callengine: {problem}", file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="callengine", description="Engine of a 112 emergency call centre on Asterisk.")
    top.add_argument("--config", type=Path, help="config file (default: $CALLENGINE_CONFIG or config/callengine.conf)")
    top.add_argument("--version", action="version", version=f"callengine {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Command, help: str, where: argparse._SubParsersAction = sub) -> argparse.ArgumentParser:
        p = where.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    run = command("run", cmd_run, "run the engine daemon (AMI, FastAGI IVR, call records, web) against a running Asterisk")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    command("up", cmd_up, "render the config, start Asterisk and the engine, keep the engine running; Ctrl-C stops both")
    command("render", cmd_render, "render config/asterisk and dialplan into the runtime folder")
    check = command("check", cmd_check, "check config and environment; one line per problem, non-zero exit if any")
    check.add_argument("--running", action="store_true", help="also require the running Asterisk to accept our AMI login")

    calls = sub.add_parser("calls", help="call records", description="call records")
    calls_sub = calls.add_subparsers(dest="calls_command", required=True, metavar="COMMAND")
    listing = command("list", cmd_calls_list, "list call records, newest first", calls_sub)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--limit", type=int, default=100, help="newest N calls (default 100); 0 for all")
    listing.add_argument("--since", type=_moment, help="calls started at or after: YYYY-MM-DD or an ISO datetime "
                         "(the centre's time zone unless it has an offset)")
    listing.add_argument("--until", type=_moment, help="calls started before this datetime, or up to the end of "
                         "this day (YYYY-MM-DD)")

    mark = command("mark-prank", cmd_calls_mark, "mark a call as a prank (its number is warned and queued last on later calls)", calls_sub)
    mark.add_argument("linkedid")
    mark.add_argument("--clear", action="store_true", help="take the prank mark off")

    queue = sub.add_parser("queue", help="the 112 queue: status, pause", description="the 112 queue")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True, metavar="COMMAND")
    status = command("status", cmd_queue_status, "members (who, registered, in a call, paused and why, shift) "
                     "and waiting callers of each queue", queue_sub)
    status.add_argument("--json", action="store_true", help="one JSON object")
    pause = command("pause", cmd_queue_pause, "pause a call taker: not rung until unpaused", queue_sub)
    pause.add_argument("account")
    pause.add_argument("--reason", required=True, help="one of [queue] pause_reasons, e.g. istirahat")
    pause.add_argument("--by", default="cli", help="who pauses (kept with the pause)")
    unpause = command("unpause", cmd_queue_pause, "unpause a call taker", queue_sub)
    unpause.add_argument("account")
    unpause.add_argument("--by", default="cli", help="who unpauses (kept with the pause)")
    unpause.set_defaults(unpause=True, reason="")
    command("softphones", cmd_softphones, "print each person's SIP account for their softphone")
    stats = command("stats", cmd_stats, "queue statistics of one day: offered, answered, abandoned, "
                    "service level 15 s / 20 s, speed of answer, per shift and call taker")
    stats.add_argument("--day", required=True, type=date.fromisoformat, help="YYYY-MM-DD (local day of the roster)")
    stats.add_argument("--json", action="store_true", help="one JSON object")
    report = command("report", cmd_report, "the centre's report of a day, a month or a range of days (calls, "
                     "service levels, tickets, the agencies' SLA, ratings, QA, call takers) as CSV, XLSX or PDF")
    report.add_argument("--day", help="YYYY-MM-DD, one local day")
    report.add_argument("--month", help="YYYY-MM, one calendar month")
    report.add_argument("--from", dest="since", help="YYYY-MM-DD, a range's first day (with --to)")
    report.add_argument("--to", dest="until", help="YYYY-MM-DD, a range's last day (included)")
    report.add_argument("--format", choices=("csv", "xlsx", "pdf"),
                        help="default: from --out's suffix (.csv, .zip: a CSV per table, .xlsx, .pdf)")
    report.add_argument("--out", required=True, type=Path, help="the file to write")
    command("reload", cmd_reload, "render and reload softphones, queues and dialplan in the running Asterisk "
            "without dropping calls")

    hold = command("hold", cmd_calls_hold, "put a call's ticket under legal hold: its recording is never pruned", calls_sub)
    hold.add_argument("linkedid")
    hold.add_argument("--clear", action="store_true", help="lift the legal hold")
    evidence = sub.add_parser("evidence", help="chain of custody: signed evidence bundles of calls",
                              description="chain of custody: signed evidence bundles of calls")
    evidence_sub = evidence.add_subparsers(dest="evidence_command", required=True, metavar="COMMAND")
    command("key", cmd_evidence_key, "print the centre's Ed25519 public key (PEM; its SHA-256 fingerprint on "
            "stderr), made at first use", evidence_sub)
    export = command("export", cmd_evidence_export, "export a call's evidence as a signed ZIP (the recording, "
                     "record, ticket and timeline, a PDF, the audit trail, a signed manifest); prints its path",
                     evidence_sub)
    export.add_argument("linkedid")
    export.add_argument("--out", required=True, type=Path, help="the folder to write the ZIP into")
    export.add_argument("--reason", required=True, help="why (kept in the audit and the manifest), e.g. the "
                        "police's request and its number")
    export.add_argument("--allow-mismatch", action="store_true", help="export even if the original recording "
                        "fails its SHA-256 check: the manifest and the PDF then say so")
    verify = command("verify", cmd_evidence_verify, "check a bundle: its signature, and every file's size and "
                     "SHA-256, none missing, none added; exit 0 only if all holds", evidence_sub)
    verify.add_argument("zip", type=Path)
    verify.add_argument("--public-key", type=Path, help="the centre's public key (PEM) to check against "
                        "(default: this centre's)")
    celldb = sub.add_parser("celldb", help="the cell tower table", description="the cell tower table")
    celldb_sub = celldb.add_subparsers(dest="celldb_command", required=True, metavar="COMMAND")
    cells_import = command("import", cmd_celldb_import, "import an OpenCelliD CSV (plain or .gz) into the cell "
                           "table; re-importing updates rows", celldb_sub)
    cells_import.add_argument("file", type=Path)
    recordings = sub.add_parser("recordings", help="call recordings", description="call recordings")
    recordings_sub = recordings.add_subparsers(dest="recordings_command", required=True, metavar="COMMAND")
    prune_cmd = command("prune", cmd_recordings_prune, "delete recordings older than [general] "
                        "recordings_keep_days, except those under legal hold", recordings_sub)
    prune_cmd.add_argument("--dry-run", action="store_true", help="only list what would be deleted")

    prompts = sub.add_parser("prompts", help="IVR prompts", description="IVR prompts")
    prompts_sub = prompts.add_subparsers(dest="prompts_command", required=True, metavar="COMMAND")
    build = command("build", cmd_prompts_build, "speak sounds/prompts.conf into sounds/<lang>/*.wav with espeak-ng", prompts_sub)
    build.add_argument("--missing", action="store_true", help="only prompts that have no file yet")
    command("check", cmd_prompts_check, "every prompt present in every language in a format Asterisk plays", prompts_sub)

    console = command("console", cmd_console, "run the web console of call takers, supervisors, agencies, QA and "
                      "admins ([console] listen, default 127.0.0.1:8080)")
    console.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    users = sub.add_parser("users", help="accounts of the web console", description="accounts of the web console")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    add = command("add", cmd_users_add, "add an account; the password is read from stdin", users_sub)
    add.add_argument("name", help="user name; a call taker's is their roster account (e.g. taker5)")
    add.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}")
    add.add_argument("--agency", help="a responder's agency code, e.g. DAMKAR, BPBD, RSUD")
    add.add_argument("--name", dest="full_name", default="", help="the person's full name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin (its first line)")
    passwd = command("passwd", cmd_users_passwd, "set an account's password (from stdin); its sessions end", users_sub)
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin (its first line)")
    disable = command("disable", cmd_users_disable, "disable an account: its sessions end and its tokens are "
                      "revoked", users_sub)
    disable.add_argument("name")
    enable = command("enable", cmd_users_disable, "enable a disabled account again", users_sub)
    enable.add_argument("name")
    enable.set_defaults(enable=True)
    users_list = command("list", cmd_users_list, "list the accounts", users_sub)
    users_list.add_argument("--json", action="store_true", help="one JSON object per line")

    tokens = sub.add_parser("tokens", help="personal API tokens", description="personal API tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    create = command("create", cmd_tokens_create, "create a token acting as USER (its role and agency) for "
                     "Authorization: Bearer; printed once", tokens_sub)
    create.add_argument("user")
    create.add_argument("--days", type=int, default=90, help="days it stays valid (default 90)")
    create.add_argument("--label", default="", help="what it is for, e.g. the script using it")
    revoke = command("revoke", cmd_tokens_revoke, "revoke a token by its id, or every token of --user", tokens_sub)
    revoke.add_argument("id", type=int, nargs="?", help="the token's id (callengine tokens list)")
    revoke.add_argument("--user", help="revoke every token of this user")
    tokens_list = command("list", cmd_tokens_list, "list tokens (never their secret), newest first", tokens_sub)
    tokens_list.add_argument("user", nargs="?", help="only this user's")
    tokens_list.add_argument("--json", action="store_true", help="one JSON object per line")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        return args.func(settings, args)
    except ConfigError as exc:
        return _fail([f"config: {exc}"])
    except (PbxError, RenderError, OSError, AmiError, QueueControlError) as exc:
        return _fail([str(exc)])
    except KeyboardInterrupt:
        return 130
