"""`callengine users` and `callengine tokens`: help on each, one clear error line on bad input,
the password only from stdin, and an audit row for every change."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console_lab import ConsoleLab

pytestmark = pytest.mark.integration
PASSWORD = "kopi tubruk pagi hari"


@pytest.mark.parametrize("args", [["console"], ["users"], ["users", "add"], ["users", "passwd"], ["users", "disable"],
                                  ["users", "enable"], ["users", "list"], ["tokens"], ["tokens", "create"],
                                  ["tokens", "revoke"], ["tokens", "list"]])
def test_help(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "callengine", *args, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage: callengine" in done.stdout


def one_error_line(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("callengine: ") and all(f in line for f in fragments), line


def test_users_and_tokens_from_the_command_line(tmp_path: Path) -> None:
    lab = ConsoleLab(tmp_path)
    lab.add_user("taker5", "calltaker", PASSWORD, "--name", "Siti Aminah")
    one_error_line(lab.cli("users", "add", "taker6", "--role", "calltaker"), "--password-stdin")
    one_error_line(lab.cli("users", "add", "taker6", "--role", "calltaker", "--password-stdin", stdin=""),
                   "no password on stdin")
    one_error_line(lab.cli("users", "add", "taker5", "--role", "qa", "--password-stdin", stdin=PASSWORD),
                   "exists already")
    one_error_line(lab.cli("users", "add", "x", "--role", "operator", "--password-stdin", stdin=PASSWORD),
                   "role 'operator' is not one of calltaker, supervisor, qa, admin, responder, viewer")
    one_error_line(lab.cli("users", "add", "dmk1", "--role", "responder", "--password-stdin", stdin=PASSWORD),
                   "agency")
    one_error_line(lab.cli("users", "add", "taker6", "--role", "calltaker", "--password-stdin", stdin="pendek\n"),
                   "at least 10 characters")
    one_error_line(lab.cli("users", "passwd", "nobody", "--password-stdin", stdin=PASSWORD), "no user named 'nobody'")
    one_error_line(lab.cli("users", "disable", "nobody"), "no user named 'nobody'")
    one_error_line(lab.cli("tokens", "create", "taker5", "--days", "0"), "1 to 3650 days")
    one_error_line(lab.cli("tokens", "revoke"), "give a token id")
    one_error_line(lab.cli("tokens", "revoke", "42"), "no token 42")

    assert lab.cli("users", "passwd", "taker5", "--password-stdin", stdin="nasi goreng malam\n").returncode == 0
    created = lab.cli("tokens", "create", "taker5", "--days", "7", "--label", "wallboard")
    assert created.returncode == 0 and created.stdout.strip().startswith("ce_") and len(created.stdout.splitlines()) == 1
    assert "shown this once" in created.stderr
    [token] = [json.loads(line) for line in lab.cli("tokens", "list", "taker5", "--json").stdout.splitlines()]
    assert (token["user"], token["label"], token["revoked_at"]) == ("taker5", "wallboard", None)
    assert created.stdout.strip() not in lab.cli("tokens", "list").stdout
    assert lab.cli("tokens", "revoke", str(token["id"])).returncode == 0
    assert lab.cli("users", "disable", "taker5").returncode == 0
    [user] = [json.loads(line) for line in lab.cli("users", "list", "--json").stdout.splitlines()]
    assert (user["name"], user["full_name"], user["role"], user["disabled"]) == ("taker5", "Siti Aminah", "calltaker",
                                                                                 True)
    assert user["created_at"].endswith("+08:00")          # the centre's zone (WITA in the lab's config)
    assert "nonaktif" in lab.cli("users", "list").stdout
    with sqlite3.connect(tmp_path / "rt" / "callengine.db") as db:
        trail = db.execute("SELECT actor, action, target FROM audit ORDER BY id").fetchall()
    assert [row[1:] for row in trail] == [("user.add", "taker5"), ("user.passwd", "taker5"), ("token.create", "taker5"),
                                          ("token.revoke", "taker5"), ("user.disable", "taker5")]
    assert all(actor.startswith("cli") for actor, _, _ in trail)


def test_a_call_taker_account_is_linked_to_the_roster_by_name(tmp_path: Path) -> None:
    lab = ConsoleLab(tmp_path)                     # the lab's roster: taker1, taker2, taker3, spv1
    on_roster = lab.cli("users", "add", "taker2", "--role", "calltaker", "--password-stdin", stdin=PASSWORD)
    assert on_roster.returncode == 0 and "taker2: di roster sebagai Operator Dua" in on_roster.stdout
    assert on_roster.stderr == ""
    typo = lab.cli("users", "add", "takr3", "--role", "calltaker", "--password-stdin", stdin=PASSWORD)
    assert typo.returncode == 0 and "'takr3' is not a roster account" in typo.stderr   # made, and warned
    qa = lab.cli("users", "add", "qa1", "--role", "qa", "--password-stdin", stdin=PASSWORD)
    assert qa.returncode == 0 and qa.stderr == "" and "roster" not in qa.stdout
