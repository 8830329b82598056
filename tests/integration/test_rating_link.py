"""The one-time rating link on the real console process: a call taker makes it, the citizen's
public page (no login, Indonesian, five buttons) takes one score and a comment, then refuses
(410); a bad score is 400, a post from another site 403, an address asking too often 429 with
Retry-After; the ticket's JSON shows the rating. (Expiry is tested on a fake clock in
test_rating_store.py.)"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from console_lab import ConsoleLab, call_records, save_all
from test_console_tickets import PASSWORD, call

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def centre() -> Iterator[ConsoleLab]:
    folder = Path(tempfile.mkdtemp(prefix="ce-rate-"))
    lab = ConsoleLab(folder, "trusted_proxies = 127.0.0.1\n")
    lab.add_user("taker1", "calltaker", PASSWORD)
    lab.add_user("dmk1", "responder", PASSWORD, "--agency", "DAMKAR")
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


async def ticket(lab: ConsoleLab, linkedid: str) -> str:
    async with call_records(lab.config) as records:
        return (await save_all(records, [call(linkedid, "+6281299990001", "answered", 5)]))[linkedid]


def bearer(lab: ConsoleLab, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {lab.cli('tokens', 'create', name).stdout.strip()}"}


async def test_the_link_rates_once_then_refuses(centre: ConsoleLab) -> None:
    number = await ticket(centre, "7.1")
    citizen = {"X-Forwarded-For": "10.20.0.1"}
    async with ClientSession() as http:
        made = await http.post(f"{centre.url}/api/v1/tickets/{number}/rating-link", headers=bearer(centre, "taker1"))
        assert made.status == 201, await made.text()
        link = await made.json()
        assert link["path"].startswith("/rate/") and link["url"].endswith(link["path"]) and link["expires_at"]
        refused = await http.post(f"{centre.url}/api/v1/tickets/{number}/rating-link",
                                  headers=bearer(centre, "dmk1"))
        assert refused.status == 403                               # a responder sends no links

        page = await http.get(f"{centre.url}{link['path']}", headers=citizen, allow_redirects=False)
        text = await page.text()
        assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
        assert f"Laporan Anda nomor {number} telah selesai ditangani" in text
        assert all(f'name="score" value="{n}"' in text for n in range(1, 6)) and 'name="comment"' in text

        bad = await http.post(f"{centre.url}{link['path']}", data={"score": "9"}, headers=citizen)
        assert bad.status == 400 and "Pilih nilai 1 sampai 5" in await bad.text()
        forged = await http.post(f"{centre.url}{link['path']}", data={"score": "1"},
                                 headers={**citizen, "Origin": "https://evil.example"})
        assert forged.status == 403
        done = await http.post(f"{centre.url}{link['path']}", data={"score": "4", "comment": "Cepat datang"},
                               headers=citizen)
        assert done.status == 200 and "4 dari 5" in await done.text()
        again = await http.post(f"{centre.url}{link['path']}", data={"score": "5"}, headers=citizen)
        assert again.status == 410 and "sudah dinilai" in await again.text()
        assert (await http.get(f"{centre.url}{link['path']}", headers=citizen)).status == 410
        assert (await http.get(f"{centre.url}/rate/{'x' * 43}", headers=citizen)).status == 404

        shown = await (await http.get(f"{centre.url}/api/v1/tickets/{number}", headers=bearer(centre, "taker1"))).json()
        rating = shown["rating"]
        assert (rating["score"], rating["comment"], rating["source"], rating["by"]) == (4, "Cepat datang", "link",
                                                                                        "link")
        assert [(r["kind"], r["status"], r["created_by"]) for r in rating["requests"]] == [("link", "used", "taker1")]
        assert (await http.post(f"{centre.url}/api/v1/tickets/{number}/rating-link",
                                headers=bearer(centre, "taker1"))).status == 409


async def test_an_address_asking_too_often_waits(centre: ConsoleLab) -> None:
    flood = {"X-Forwarded-For": "10.30.0.9"}
    async with ClientSession() as http:
        statuses = [(await http.get(f"{centre.url}/rate/{'y' * 43}", headers=flood)).status for _ in range(20)]
        assert statuses == [404] * 20
        throttled = await http.post(f"{centre.url}/rate/{'y' * 43}", data={"score": "5"}, headers=flood)
        assert throttled.status == 429 and 0 < int(throttled.headers["Retry-After"]) <= 600
        assert "Terlalu banyak percobaan" in await throttled.text()
        other = await http.get(f"{centre.url}/rate/{'y' * 43}", headers={"X-Forwarded-For": "10.30.1.9"})
        assert other.status == 404                                 # another address is not held back
