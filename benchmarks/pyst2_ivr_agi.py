"""The IVR as a classic AGI script on pyst2, started once per call: the baseline of agi_ivr.py.

It sends the same commands as callengine.ivr.flow.Ivr: greeting with barge-in, menu, one wait
for a digit, invalid-digit replays, English switch, "connecting", then CE_PRIORITY, CE_CATEGORY
and CE_IVR_DONE. Left out, both in the baseline's favour: the prank lookup (in-memory and
always "no" on the engine side too) and the time budget (prompts are answered instantly).

Usage, as Asterisk would run it: AGI(pyst2_ivr_agi.py,/path/to/ivr.conf) — argv[1] is ivr.conf.
"""
from __future__ import annotations

import sys

from asterisk.agi import AGI
from asterisk.config import Config

ALL_DIGITS = "0123456789*#"


def load(path: str) -> tuple[dict[str, str], dict[str, int], int]:
    # A process per call re-reads its config on every call: that cost belongs to the model.
    sections = {c.name.strip(): {i.name.strip(): i.value.strip() for i in c.items}
                for c in Config(path).categories}
    priorities = {k: int(v) for k, v in sections["priorities"].items()}
    return sections["options"], priorities, int(sections["menu"].get("retries", "1"))


def main() -> None:
    options, priorities, retries = load(sys.argv[1])
    agi = AGI()  # reads the agi_* headers from stdin
    language = "id"

    def play(name: str, digits: str = ALL_DIGITS) -> str | None:
        return agi.stream_file(f"callengine/{language}/{name}", digits) or None

    digit, category, invalid = play("greeting"), None, 0
    while category is None:
        if digit is None:
            digit = play("menu") or agi.wait_for_digit(2000) or None
        if digit is None:
            break
        choice = options.get(digit)
        if choice == "operator":
            break
        if choice == "english" and language != "en":
            language, digit = "en", None
            agi.set_variable("CHANNEL(language)", "en")
            continue
        if choice is None or choice == "english":
            invalid += 1
            if invalid > retries:
                break
            digit = play("invalid")
            continue
        category = choice
    play("connecting", "")
    agi.set_variable("CE_PRIORITY", priorities[category or "none"])
    if category:
        agi.set_variable("CE_CATEGORY", category)
    agi.set_variable("CE_IVR_DONE", "1")


if __name__ == "__main__":
    main()
