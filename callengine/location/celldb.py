"""The cell tower table: OpenCelliD CSV (plain or gzip) in, a tower position for a serving cell out.

A tower's position is not the caller's: the lookup answers with the tower and its range as
radius, the weakest of our location sources. Re-importing a newer file updates in place
(upsert on radio, mcc, net, area, cell), so an import can be repeated or resumed.
"""
from __future__ import annotations

import asyncio
import csv
import gzip
import io
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from callengine.db.cells import CellRepository
from callengine.location.model import CellId, Location, LocationError
from callengine.location.pani import network_name

COLUMNS = ("radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range", "samples", "changeable",
           "created", "updated", "averageSignal")
RADIOS = frozenset({"GSM", "UMTS", "LTE", "NR"})  # CDMA rows (SID/NID/BID) have no use here
BATCH = 5000
DEFAULT_RANGE_M = 1000  # OpenCelliD's range 0 means "not estimated", not "exact"
# column → (lowest, highest) accepted; the widths are those of the largest radio (NR TAC 24 bits, NCI 36 bits)
_LIMITS = {"mcc": (1, 999), "net": (0, 999), "area": (0, 2**24 - 1), "cell": (0, 2**36 - 1),
           "range": (0, 100_000), "samples": (0, 2**31 - 1), "updated": (0, 2**40)}


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    first_line: dict[str, int] = field(default_factory=dict)  # reason → first line it happened on

    def skip(self, reason: str, line: int) -> None:
        self.skipped += 1
        self.reasons[reason] += 1
        self.first_line.setdefault(reason, line)

    def summary(self) -> str:
        why = "; ".join(f"{reason} ×{count} (first at line {self.first_line[reason]})"
                        for reason, count in self.reasons.most_common())
        return f"imported {self.imported}, skipped {self.skipped}" + (f": {why}" if why else "")


async def import_cells(cells: CellRepository, path: Path, progress: Callable[[int], None] | None = None,
                       batch_size: int = BATCH) -> ImportResult:
    """Upsert every valid row of an OpenCelliD CSV; progress gets the number of rows read so far after each batch.

    Rows are read and checked in a worker thread so the event loop stays free during a long import.
    Batches already written stay written if the file turns out corrupt halfway (re-import is safe).
    """
    result = ImportResult()
    report = _Progress(progress or (lambda lines: None))
    stream = await asyncio.to_thread(_open, path)
    try:
        batches = _batches(stream, path, result, batch_size)
        while rows := await asyncio.to_thread(next, batches, None):
            await cells.upsert(rows)
            report(result.imported + result.skipped)
    finally:
        stream.close()
    report(result.imported + result.skipped)  # rows skipped after the last batch count too
    return result


class _Progress:
    """Calls back only when the count moved."""
    def __init__(self, callback: Callable[[int], None]) -> None:
        self.callback, self.last = callback, -1

    def __call__(self, lines: int) -> None:
        if lines != self.last:
            self.last = lines
            self.callback(lines)


async def lookup(cells: CellRepository, cell: CellId) -> Location | None:
    row = await cells.find(cell.radio, cell.mcc, cell.mnc, cell.area, cell.cell)
    if row is None:
        return None
    detail: dict[str, Any] = {"radio": cell.radio, "mcc": cell.mcc, "mnc": cell.mnc, "area": cell.area,
                              "cell": cell.cell, "network": network_name(cell.mcc, cell.mnc),
                              "samples": row["samples"], "range_estimated": row["range_m"] <= 0}
    if row["updated"]:
        detail["tower_updated"] = datetime.fromtimestamp(row["updated"], timezone.utc).isoformat()
    radius = row["range_m"] if row["range_m"] > 0 else DEFAULT_RANGE_M
    return Location(row["lat"], row["lon"], float(radius), "cell", "cell", None, detail)


def _open(path: Path) -> io.TextIOBase:
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    magic = raw.peek(2)[:2]
    binary = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
    # A stray byte spoils one row (then skipped as not a number), not the whole import.
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")


def _batches(stream: io.TextIOBase, path: Path, result: ImportResult, size: int) -> Iterator[list[tuple[Any, ...]]]:
    reader = csv.reader(stream)
    try:
        index = _header(next(reader, None), path)
        if index is None:  # per-country files come without a header: the first line is data
            index = {name: i for i, name in enumerate(COLUMNS)}
            stream.seek(0)
            reader = csv.reader(stream)
        row = _converter(index)
        batch: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for fields in reader:
            if not fields:
                continue  # a blank line
            try:
                values = row(fields)
            except IndexError:
                result.skip("too few columns", reader.line_num)
                continue
            except _Skip as skip:
                result.skip(skip.reason, reader.line_num)
                continue
            result.imported += 1
            batch[values[:5]] = values  # a key twice in one batch: the later line wins
            if len(batch) >= size:
                yield list(batch.values())
                batch = {}
        if batch:
            yield list(batch.values())
    except (OSError, EOFError, zlib.error, csv.Error) as exc:
        raise LocationError(f"{path}: unreadable after line {reader.line_num}: {exc}") from exc


def _header(first: list[str] | None, path: Path) -> dict[str, int] | None:
    if not first:
        raise LocationError(f"{path}: empty file or blank first line")
    if first[0].strip() in RADIOS:
        return None
    index = {name.strip(): i for i, name in enumerate(first)}
    missing = [name for name in ("radio", "mcc", "net", "area", "cell", "lon", "lat", "range") if name not in index]
    if missing:
        raise LocationError(f"{path}: not an OpenCelliD CSV, header lacks {', '.join(missing)}")
    return index


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _converter(index: dict[str, int]) -> Callable[[list[str]], tuple[Any, ...]]:
    """CSV fields → a row in table column order; _Skip says why not. Unrolled: this is the hot loop."""
    radio_at, lat_at, lon_at, mcc_at, net_at, area_at, cell_at, range_at = (
        index[name] for name in ("radio", "lat", "lon", "mcc", "net", "area", "cell", "range"))
    samples_at, updated_at = index.get("samples", 1 << 30), index.get("updated", 1 << 30)

    def row(fields: list[str]) -> tuple[Any, ...]:
        radio = fields[radio_at]
        if radio not in RADIOS:
            raise _Skip("radio: not GSM, UMTS, LTE or NR")
        lat, lon = _coordinate(fields[lat_at], "lat", 90), _coordinate(fields[lon_at], "lon", 180)
        if lat == 0 and lon == 0:
            raise _Skip("lat/lon: 0,0 (no position)")
        last = len(fields)
        return (radio, _int(fields[mcc_at], "mcc"), _int(fields[net_at], "net"), _int(fields[area_at], "area"),
                _int(fields[cell_at], "cell"), lat, lon, _int(fields[range_at], "range"),
                _int(fields[samples_at], "samples") if samples_at < last and fields[samples_at] else 0,
                _int(fields[updated_at], "updated") if updated_at < last and fields[updated_at] else None)

    return row


def _int(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _Skip(f"{name}: not a whole number") from None
    low, high = _LIMITS[name]
    if not low <= value <= high:
        raise _Skip(f"{name}: out of range {low}..{high}")
    return value


def _coordinate(text: str, name: str, limit: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Skip(f"{name}: not a number") from None
    if value != value:  # nan
        raise _Skip(f"{name}: not a number")
    if not -limit <= value <= limit:
        raise _Skip(f"{name}: out of range -{limit}..{limit}")
    return value
