"""Recordings: after hangup, turn Asterisk's MixMonitor WAV into what QA and the console need
(a browser-playable copy, duration, waveform, SHA-256), and prune old ones by retention."""
from __future__ import annotations

import contextlib
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
from typing import NamedTuple

from pydub import AudioSegment
from pydub.exceptions import CouldntEncodeError


class RecordingError(Exception):
    """A recording that cannot be processed; the message names the file and the reason."""


@dataclass(frozen=True)
class RecordingFacts:
    path: str            # relative to the recordings folder, as on the call record
    browser_copy: str    # relative too: the .ogg (Opus) or .mp3 next to the WAV
    duration_s: float
    sha256: str          # of the original WAV, so later tampering shows (see verify)
    waveform: list[float]  # peak per bucket, 0..1 relative to the loudest bucket


BrowserFormat = NamedTuple("BrowserFormat", [("suffix", str), ("format", str), ("codec", str), ("bitrate", str)])
OPUS = BrowserFormat(".ogg", "ogg", "libopus", "16k")  # plenty for 8 kHz speech
MP3 = BrowserFormat(".mp3", "mp3", "libmp3lame", "32k")
WAVEFORM_POINTS = 160  # bars across a console player
QUIET_PEAK = 328  # -40 dBFS: line noise stays flat, even a whisper scales up to full bars


def pick_format(encoders: str) -> BrowserFormat:
    """Opus (a fraction of MP3's size for speech) when `ffmpeg -encoders` lists libopus, else MP3."""
    return OPUS if re.search(r"^\s*A\S*\s+libopus\s", encoders, re.M) else MP3


@functools.cache
def browser_format() -> BrowserFormat:
    try:
        return pick_format(subprocess.run([AudioSegment.converter, "-hide_banner", "-encoders"],
                                          capture_output=True, text=True, timeout=10, check=True).stdout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RecordingError(f"cannot list the encoders of {AudioSegment.converter}: {exc}") from exc


def resolve(recordings_dir: Path, relative: str) -> Path:
    """The WAV a record names; the path comes from an AMI UserEvent, so it is untrusted."""
    pure = PurePosixPath(relative)
    if (not relative or "\0" in relative or "\\" in relative or pure.is_absolute() or ".." in pure.parts
            or pure.suffix != ".wav"):
        raise RecordingError(f"recording path {relative!r} refused: want a relative .wav path without '..'")
    root = recordings_dir.resolve()
    path = (root / pure).resolve()
    if not path.is_relative_to(root):  # a symlink pointing out of the folder
        raise RecordingError(f"recording path {relative!r} refused: leads outside {root}")
    return path


def wait_until_written(path: Path, timeout_s: float = 3.0, poll_s: float = 0.1) -> None:
    """MixMonitor may still be closing the WAV for a few hundred ms after hangup: wait for a size
    that holds still over one poll and a finished header (past the deadline load_wav says why)."""
    deadline, last = time.monotonic() + timeout_s, -1
    while True:
        size = path.stat().st_size if path.exists() else -1
        if size > WAV_HEADER and _riff_closed(path, size):   # Asterisk fills in the sizes when it closes
            return
        steady, late = size > 0 and size == last, time.monotonic() >= deadline
        if steady and late:
            return
        if late:
            state = "not found" if size < 0 else "empty (0 bytes)" if size == 0 else "still growing"
            raise RecordingError(f"recording {path}: {state} after waiting {timeout_s:g} s")
        last = size
        time.sleep(poll_s)


WAV_HEADER = 44   # a file no longer than its header may be one Asterisk has only just opened


def _riff_closed(path: Path, size: int) -> bool:
    with path.open("rb") as f:
        head = f.read(8)
    return head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") + 8 == size


def declared_frames(path: Path) -> int:
    """0 until Asterisk closes the file (it fills in the header's sizes then), -1 if unreadable."""
    try:
        with path.open("rb") as f:
            if f.read(8) == b"RIFF\0\0\0\0":
                return 0
        with wave.open(str(path), "rb") as w:
            return w.getnframes()
    except (wave.Error, EOFError, OSError):
        return -1


def load_wav(path: Path) -> AudioSegment:
    """The PCM audio, refusing empty and truncated files rather than silently using part of one."""
    if declared_frames(path) == 0:
        after = path.stat().st_size - 44  # Asterisk's header is the canonical 44 bytes
        raise RecordingError(f"recording {path}: header declares no audio" + (
            f" but {after} bytes follow it: never closed by Asterisk" if after > 1 else ""))
    try:
        with wave.open(str(path), "rb") as w:
            frames, width, channels = w.getnframes(), w.getsampwidth(), w.getnchannels()
            rate, data = w.getframerate(), w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise RecordingError(f"recording {path}: not a readable PCM WAV ({exc})") from exc
    if len(data) < frames * width * channels:
        raise RecordingError(f"recording {path}: truncated, header declares {frames / rate:.2f} s, "
                             f"file holds {len(data) / (width * channels * rate):.2f} s")
    return AudioSegment(data=data, sample_width=width, frame_rate=rate, channels=channels)


def waveform(sound: AudioSegment, points: int = WAVEFORM_POINTS) -> list[float]:
    """Peak per bucket, the loudest 1.0 (phone audio is quiet), unless all is below QUIET_PEAK."""
    samples = sound.set_channels(1).set_sample_width(2).get_array_of_samples()
    if not (count := min(points, len(samples))):
        return []
    edges = [len(samples) * i // count for i in range(count + 1)]
    peaks = [max(max(chunk), -min(chunk)) for chunk in (samples[a:b] for a, b in zip(edges, edges[1:]))]
    top = max(*peaks, QUIET_PEAK)
    return [round(p / top, 3) for p in peaks]


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_browser_copy(sound: AudioSegment, wav: Path) -> Path:
    """Written under a temporary name, then renamed: the console never serves half a file."""
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


def process_recording(recordings_dir: Path, relative: str, *,
                      wait_s: float = 3.0, poll_s: float = 0.1) -> RecordingFacts:
    """Everything the record keeps about one recording. Blocking and CPU-bound: run it in a thread."""
    wav = resolve(recordings_dir, relative)
    wait_until_written(wav, wait_s, poll_s)
    digest = sha256_of(wav)  # before decoding: what we hash is what was on disk when we looked
    sound = load_wav(wav)
    rel, copy = PurePosixPath(relative), export_browser_copy(sound, wav)
    return RecordingFacts(rel.as_posix(), rel.with_suffix(copy.suffix).as_posix(),
                          round(sound.frame_count() / sound.frame_rate, 3), digest, waveform(sound))


def verify(recordings_dir: Path, facts_sha256: str, relative: str) -> bool:
    """True when the WAV is still byte for byte what was hashed; a missing file is not."""
    wav = resolve(recordings_dir, relative)
    return wav.is_file() and sha256_of(wav) == facts_sha256.lower()


def recording_day_end(path: Path, root: Path) -> datetime:
    """The YYYY/MM/DD folder is the call's UTC date (see the dialplan), past at the next midnight; else mtime."""
    parts = path.relative_to(root).parts
    with contextlib.suppress(ValueError):
        if len(parts) == 4:
            day = datetime.strptime("/".join(parts[:3]), "%Y/%m/%d").replace(tzinfo=timezone.utc)
            return day + timedelta(days=1)
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


def prune_plan(recordings_dir: Path, older_than: datetime, keep: set[str]) -> list[Path]:
    """WAVs and browser copies wholly older than `older_than`, except those held (`keep`: WAV paths)."""
    if older_than.tzinfo is None:
        raise ValueError("older_than must carry a time zone (read it from the clock)")
    root = recordings_dir.resolve()
    held = {PurePosixPath(k).as_posix() for k in keep}
    return sorted(path for path in root.rglob("*")
                  if path.suffix in (".wav", OPUS.suffix, MP3.suffix) and path.is_file()
                  and not path.name.startswith(".")  # a copy being written
                  and path.relative_to(root).with_suffix(".wav").as_posix() not in held
                  and recording_day_end(path, root) <= older_than)


def prune(paths: list[Path]) -> int:
    """Delete the planned files and the date folders they leave empty; returns the files deleted."""
    deleted = 0
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # already gone: a second run, or an admin was faster
        deleted += 1
        for folder in path.parents[:3]:  # DD, MM, YYYY: digit-named, never the recordings folder
            if not folder.name.isdigit() or any(folder.iterdir()):
                break  # other recordings of that day or month remain
            folder.rmdir()
    return deleted
