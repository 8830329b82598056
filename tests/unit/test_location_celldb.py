import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callengine.db.cells import CellRepository
from callengine.db.database import Database
from callengine.db.models import cells
from callengine.location import CellId, LocationError
from callengine.location.celldb import import_cells, lookup

HEADER = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
GOOD = [
    "LTE,510,10,10783,27439044,0,106.82715,-6.17539,850,42,1,1459813000,1700000000,0",
    "UMTS,510,1,1000,12802587,311,117.15371,-0.50211,2500,7,1,1459813000,1700000000,0",
    "NR,510,11,41394,4886879,0,112.75208,-7.25752,300,3,1,1459813000,1700000000,0",
    "GSM,510,21,8000,32001,0,110.36949,-7.79558,0,1,1,1459813000,1700000000,0",
]
BAD = [
    "CDMA,510,99,1,1,0,106.8,-6.2,1000,1,1,0,0,0",         # radio
    "LTE,510,10,10783,27439045,0,106.82715,-96.5,850,1,1,0,0,0",  # lat out of range
    "LTE,5x0,10,10783,27439046,0,106.82715,-6.1,850,1,1,0,0,0",   # mcc not a number
    "LTE,510,10,10783",                                     # too few columns
    "LTE,510,10,10783,27439047,0,0,0,850,1,1,0,0,0",        # null island
    "LTE,510,10,10783,27439048,0,nan,-6.1,850,1,1,0,0,0",   # lon not a number
]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[CellRepository]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cells.db'}")
    await db.migrate()
    yield CellRepository(db)
    await db.close()


def write(path: Path, lines: list[str], zipped: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if zipped else data)
    return path


async def count(repository: CellRepository) -> int:
    async with repository.db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(cells))).scalar_one()


async def test_import_skips_and_counts_bad_rows(engine: CellRepository, tmp_path: Path) -> None:
    seen: list[int] = []
    result = await import_cells(engine, write(tmp_path / "c.csv", [HEADER, *GOOD, *BAD]), seen.append, batch_size=2)
    assert (result.imported, result.skipped) == (4, 6)
    assert result.reasons == {"radio: not GSM, UMTS, LTE or NR": 1, "lat: out of range -90..90": 1,
                              "mcc: not a whole number": 1, "too few columns": 1, "lat/lon: 0,0 (no position)": 1,
                              "lon: not a number": 1}
    assert result.first_line["radio: not GSM, UMTS, LTE or NR"] == 6
    assert seen == [2, 4, 10]  # after each batch of 2, then once more for the rows skipped after it
    assert "skipped 6" in result.summary() and "(first at line 7)" in result.summary()
    assert await count(engine) == 4


async def test_gzip_import_and_lookup(engine: CellRepository, tmp_path: Path) -> None:
    result = await import_cells(engine, write(tmp_path / "cells.csv.gz", [HEADER, *GOOD, BAD[1]], zipped=True))
    assert (result.imported, result.skipped) == (4, 1)
    loc = await lookup(engine, CellId("LTE", 510, 10, 10783, 27439044))
    assert (loc.lat, loc.lon, loc.radius_m, loc.source, loc.method) == (-6.17539, 106.82715, 850.0, "cell", "cell")
    assert loc.detail["network"] == "Telkomsel" and loc.detail["samples"] == 42
    nr = await lookup(engine, CellId("NR", 510, 11, 41394, 4886879))
    assert nr is not None and nr.radius_m == 300.0
    # range 0 is "not estimated": the lookup falls back to a default and says so
    gsm = await lookup(engine, CellId("GSM", 510, 21, 8000, 32001))
    assert gsm.radius_m == 1000.0 and gsm.detail["range_estimated"] is True


async def test_lookup_miss(engine: CellRepository, tmp_path: Path) -> None:
    await import_cells(engine, write(tmp_path / "c.csv", [HEADER, *GOOD]))
    assert await lookup(engine, CellId("LTE", 510, 10, 10783, 27439049)) is None
    assert await lookup(engine, CellId("UMTS", 510, 10, 10783, 27439044)) is None  # same numbers, other radio


async def test_reimport_is_idempotent_and_updates(engine: CellRepository, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [HEADER, *GOOD])
    seen: list[int] = []
    await import_cells(engine, path, seen.append)
    assert seen == [4]
    again = await import_cells(engine, path)
    assert again.imported == 4 and await count(engine) == 4
    moved = GOOD[0].replace("106.82715,-6.17539,850", "106.8,-6.2,600")
    await import_cells(engine, write(tmp_path / "newer.csv", [HEADER, moved, moved]))
    loc = await lookup(engine, CellId("LTE", 510, 10, 10783, 27439044))
    assert (loc.lat, loc.lon, loc.radius_m) == (-6.2, 106.8, 600.0) and await count(engine) == 4


async def test_headerless_country_file(engine: CellRepository, tmp_path: Path) -> None:
    result = await import_cells(engine, write(tmp_path / "510.csv.gz", GOOD, zipped=True))
    assert result.imported == 4 and await count(engine) == 4


async def test_not_an_opencellid_file(engine: CellRepository, tmp_path: Path) -> None:
    with pytest.raises(LocationError, match="header lacks radio, mcc"):
        await import_cells(engine, write(tmp_path / "x.csv", ["name,phone", "a,b"]))
    with pytest.raises(LocationError, match="empty file"):
        empty = tmp_path / "e.csv"
        empty.write_bytes(b"")
        await import_cells(engine, empty)


async def test_corrupt_gzip_is_reported(engine: CellRepository, tmp_path: Path) -> None:
    data = gzip.compress(("\n".join([HEADER, *GOOD * 50]) + "\n").encode())
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LocationError, match="unreadable after line"):
        await import_cells(engine, path)


async def test_postgresql_upsert_on_the_cell_key() -> None:
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # compiles, never connects
    sql = CellRepository(db)._sql()
    assert "ON CONFLICT (radio, mcc, net, area, cell) DO UPDATE SET lat = excluded.lat" in sql
    assert "VALUES ($1::VARCHAR, $2::INTEGER" in sql
    await db.close()
