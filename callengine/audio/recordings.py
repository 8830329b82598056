"""Recordings: after hangup, turn Asterisk's MixMonitor WAV into what QA and the console need
(a browser-playable copy, duration, waveform, SHA-256), and prune old ones by retention."""
from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import time
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from pydub import AudioSegment
from pydub.exceptions import CouldntEncodeError

WAVEFORM_POINTS = 160
BROWSER_SUFFIXES = (".ogg", ".mp3")
_DATE_PART = re.compile(r"\d{2}|\d{4}")


class RecordingError(Exception):
    """A recording that cannot be processed; the message names the file and the reason."""


@dataclass(frozen=True)
class RecordingFacts:
    path: str            # relative to the recordings folder, as on the call record
    browser_copy: str    # relative too: the .ogg (Opus) or .mp3 next to the WAV
    duration_s: float
    sha256: str          # of the original WAV, so later tampering shows (see verify)
    waveform: list[float]  # peak per bucket, 0..1 relative to the loudest bucket


@dataclass(frozen=True)
class BrowserFormat:
    suffix: str
    format: str
    codec: str
    bitrate: str


OPUS = BrowserFormat(".ogg", "ogg", "libopus", "16k")  # 16 kb/s Opus is transparent for 8 kHz speech
MP3 = BrowserFormat(".mp3", "mp3", "libmp3lame", "32k")


def pick_format(encoders: str) -> BrowserFormat:
    """Opus in OGG when ffmpeg can encode it (half MP3's size for speech), else MP3 (Debian's
    ffmpeg has both; minimal builds may lack libopus)."""
    return OPUS if re.search(r"^\s*A\S*\s+libopus\s", encoders, re.M) else MP3


@functools.cache
def browser_format() -> BrowserFormat:
    try:
        listing = subprocess.run([AudioSegment.converter, "-hide_banner", "-encoders"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RecordingError(f"cannot list the encoders of {AudioSegment.converter}: {exc}") from exc
    return pick_format(listing)


def resolve(recordings_dir: Path, relative: str) -> Path:
    """The file a record's relative path names, refusing anything outside the recordings folder:
    the path arrives in an AMI UserEvent, so it is untrusted."""
    pure = PurePosixPath(relative)
    if not relative or "\0" in relative or "\\" in relative or pure.is_absolute() or ".." in pure.parts:
        raise RecordingError(f"recording path {relative!r} refused: must be relative, without '..'")
    if pure.suffix != ".wav":
        raise RecordingError(f"recording path {relative!r} refused: not a .wav file")
    root = recordings_dir.resolve()
    path = (root / pure).resolve()
    if not path.is_relative_to(root):  # a symlink pointing out of the folder
        raise RecordingError(f"recording path {relative!r} refused: leads outside {root}")
    return path


def wait_until_written(path: Path, timeout_s: float = 3.0, poll_s: float = 0.1) -> int:
    """MixMonitor may still flush and close the WAV for a few hundred ms after hangup: wait for
    the file to exist with a non-zero size that holds still over one poll. Returns the size."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while True:
        size = path.stat().st_size if path.exists() else -1
        if size > 0 and size == last:
            return size
        if time.monotonic() >= deadline:
            state = "not found" if size < 0 else "empty (0 bytes)" if size == 0 else "still growing"
            raise RecordingError(f"recording {path}: {state} after waiting {timeout_s:g} s")
        last = size
        time.sleep(poll_s)


def load_wav(path: Path) -> AudioSegment:
    """The PCM audio, refusing empty and truncated files rather than silently using part of one."""
    try:
        with wave.open(str(path), "rb") as w:
            frames, width, channels = w.getnframes(), w.getsampwidth(), w.getnchannels()
            rate, data = w.getframerate(), w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise RecordingError(f"recording {path}: not a readable PCM WAV ({exc})") from exc
    if frames == 0:
        # Asterisk writes the sizes into the header on close: 0 means no audio or never closed
        raise RecordingError(f"recording {path}: no audio (header declares 0 frames; never closed by Asterisk?)")
    if len(data) < frames * width * channels:
        got = len(data) / (width * channels * rate)
        raise RecordingError(f"recording {path}: truncated, header declares {frames / rate:.2f} s, "
                             f"file holds {got:.2f} s")
    return AudioSegment(data=data, sample_width=width, frame_rate=rate, channels=channels)


def waveform(sound: AudioSegment, points: int = WAVEFORM_POINTS) -> list[float]:
    """Peak amplitude per bucket, scaled so the loudest bucket is 1.0 (phone audio is often
    quiet; full-scale bars would look flat). A silent recording gives zeros."""
    samples = sound.set_channels(1).set_sample_width(2).get_array_of_samples()
    count = min(points, len(samples))
    if count == 0:
        return []
    edges = [len(samples) * i // count for i in range(count + 1)]
    peaks = [max(max(chunk), -min(chunk)) for chunk in (samples[a:b] for a, b in zip(edges, edges[1:]))]
    top = max(peaks) or 1
    return [round(p / top, 3) for p in peaks]


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_browser_copy(sound: AudioSegment, wav: Path) -> Path:
    """Write the copy under a temporary name then rename, so the console never serves half a file."""
    fmt = browser_format()
    target = wav.with_suffix(fmt.suffix)
    partial = target.with_name(f".{target.name}.part")
    try:
        sound.export(partial, format=fmt.format, codec=fmt.codec, bitrate=fmt.bitrate).close()
        os.replace(partial, target)
    except (CouldntEncodeError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise RecordingError(f"recording {wav}: cannot write the {fmt.suffix} copy ({exc})") from exc
    return target


def process_recording(recordings_dir: Path, relative: str, *, wait_s: float = 3.0,
                      poll_s: float = 0.1) -> RecordingFacts:
    """Everything the record keeps about one recording. Blocking and CPU-bound: run it in a thread."""
    wav = resolve(recordings_dir, relative)
    wait_until_written(wav, wait_s, poll_s)
    digest = sha256_of(wav)  # before decoding: what we hash is what was on disk when we looked
    sound = load_wav(wav)
    copy = export_browser_copy(sound, wav)
    return RecordingFacts(
        path=PurePosixPath(relative).as_posix(),
        browser_copy=PurePosixPath(relative).with_suffix(copy.suffix).as_posix(),
        duration_s=round(sound.frame_count() / sound.frame_rate, 3),
        sha256=digest,
        waveform=waveform(sound),
    )


def verify(recordings_dir: Path, facts_sha256: str, relative: str) -> bool:
    """True when the WAV is still byte for byte what was hashed; a missing file is not."""
    wav = resolve(recordings_dir, relative)
    if not wav.is_file():
        return False
    return sha256_of(wav) == facts_sha256.lower()


def recording_day_end(path: Path, root: Path) -> datetime:
    """When the recording's day is over: the YYYY/MM/DD folder is the UTC date of the call (see
    the dialplan), so a whole day is past only at the next midnight UTC. Else the file's mtime."""
    parts = path.relative_to(root).parts
    if len(parts) == 4:
        try:
            day = datetime.strptime("/".join(parts[:3]), "%Y/%m/%d").replace(tzinfo=timezone.utc)
            return day + timedelta(days=1)
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


def prune_plan(recordings_dir: Path, older_than: datetime, keep: set[str]) -> list[Path]:
    """Recording files (WAV and browser copy) wholly older than `older_than`, except those whose
    WAV's relative path is in `keep` (linked to a ticket under legal hold)."""
    if older_than.tzinfo is None:
        raise ValueError("older_than must carry a time zone (read it from the clock)")
    root = recordings_dir.resolve()
    held = {PurePosixPath(k).as_posix() for k in keep}
    plan = []
    for path in root.rglob("*"):
        if path.suffix not in (".wav", *BROWSER_SUFFIXES) or not path.is_file() or path.name.startswith("."):
            continue
        if path.relative_to(root).with_suffix(".wav").as_posix() in held:
            continue
        if recording_day_end(path, root) <= older_than:
            plan.append(path)
    return sorted(plan)


def prune(paths: list[Path]) -> int:
    """Delete the planned files, then their date folders (DD, MM, YYYY) left empty. Returns the
    number of files deleted."""
    deleted = 0
    for path in paths:
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            continue  # already gone (a second prune run): nothing to do
        folder = path.parent
        for _ in range(3):  # only digit-named date folders, never the recordings folder itself
            if not _DATE_PART.fullmatch(folder.name):
                break
            try:
                folder.rmdir()
            except OSError:  # not empty: other recordings of that day remain
                break
            folder = folder.parent
    return deleted
