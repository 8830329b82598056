"""Fixtures of the integration tests: a real Asterisk per test, one SIP bot stack per session."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lab import Lab

if TYPE_CHECKING:
    from callengine.bots.softphone import SipBots


@pytest.fixture(scope="session")
def bots() -> Iterator["SipBots"]:
    from callengine.bots.softphone import SipBots  # pjsua2 loads only for tests that place calls

    stack = SipBots()
    yield stack
    stack.close()


@pytest.fixture
def lab() -> Iterator[Lab]:
    folder = Path(tempfile.mkdtemp(prefix="ce-"))  # short: Asterisk's control socket path is limited
    centre = Lab.start(folder)
    yield centre
    centre.close()
    shutil.rmtree(folder, ignore_errors=True)
