"""The `callengine` command. Every failure is one actionable line and a non-zero exit."""
from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime
import sys
from collections.abc import Callable
from pathlib import Path

from callengine import __version__
from callengine.config import ConfigError, Settings, load_settings
from callengine.pbx.process import PbxError
from callengine.pbx.render import RenderError

Command = Callable[[Settings, argparse.Namespace], int]


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.app import Engine
    from callengine.logs import setup_logging
    from callengine.preflight import engine_ports, port_problem

    problems = [p for p in map(port_problem, engine_ports(settings)) if p]
    if problems:
        return _fail(problems)
    setup_logging(args.log_level)
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
    from callengine.tickets.store import TicketStore

    async def fetch() -> list[dict[str, object]]:
        store = TicketStore(settings.database_url)
        try:
            await store.migrate()
            records = await store.list_calls(args.limit)
        finally:
            await store.close()
        local = []
        for record in records:
            for key in ("started_at", "answered_at", "ended_at"):
                value = getattr(record, key)
                setattr(record, key, value.astimezone(settings.timezone) if value else None)
            local.append(record.to_json())
        return local

    calls = asyncio.run(fetch())
    if args.json:
        for call in calls:
            print(json.dumps(call, ensure_ascii=False))
        return 0
    zone = datetime.now(settings.timezone).tzname() or ""
    print(f"{'mulai (start)':24} {'penelepon (caller)':18} {'kategori':10} {'hasil':12} {'antre':>6} {'bicara':>6} petugas")
    for c in calls:
        wait = "" if c["wait_s"] is None else f"{c['wait_s']:.0f}s"
        talk = "" if c["talk_s"] is None else f"{c['talk_s']:.0f}s"
        print(f"{c['started_at'][:19].replace('T', ' ')} {zone:4} {c['caller'] or 'tersembunyi':18} "
              f"{c['category'] or '-':10} {c['disposition']:12} {wait:>6} {talk:>6} {c['agent'] or ''}")
    if not calls:
        print("Belum ada panggilan. (No calls yet.)")
    return 0


def cmd_calls_mark(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.tickets.store import TicketStore

    async def mark() -> bool:
        store = TicketStore(settings.database_url)
        try:
            await store.migrate()
            return await store.mark_prank(args.linkedid, prank=not args.clear)
        finally:
            await store.close()

    if not asyncio.run(mark()):
        return _fail([f"no call {args.linkedid!r} in the ticket store"])
    print(f"{args.linkedid}: {'bukan panggilan palsu (not a prank)' if args.clear else 'panggilan palsu (prank)'}")
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from callengine.preflight import environment_problems

    problems = environment_problems(settings, running=args.running)
    if problems:
        return _fail(problems)
    print(f"OK: {settings.config_file} is valid" + (", Asterisk answers AMI" if args.running else
                                                     ", Asterisk installed, prompts present, ports free"))
    return 0


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
    listing.add_argument("--limit", type=int, default=100)

    mark = command("mark-prank", cmd_calls_mark, "mark a call as a prank (its number is warned and queued last on later calls)", calls_sub)
    mark.add_argument("linkedid")
    mark.add_argument("--clear", action="store_true", help="take the prank mark off")

    prompts = sub.add_parser("prompts", help="IVR prompts", description="IVR prompts")
    prompts_sub = prompts.add_subparsers(dest="prompts_command", required=True, metavar="COMMAND")
    build = command("build", cmd_prompts_build, "speak sounds/prompts.conf into sounds/<lang>/*.wav with espeak-ng", prompts_sub)
    build.add_argument("--missing", action="store_true", help="only prompts that have no file yet")
    command("check", cmd_prompts_check, "every prompt present in every language in a format Asterisk plays", prompts_sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        return args.func(settings, args)
    except ConfigError as exc:
        return _fail([f"config: {exc}"])
    except (PbxError, RenderError, OSError) as exc:
        return _fail([str(exc)])
    except KeyboardInterrupt:
        return 130
