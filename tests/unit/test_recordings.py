"""Recording post-processing (browser copy, duration, waveform, SHA-256) and retention pruning,
on real WAVs made by sox, espeak-ng and pydub, shaped like Asterisk's (8 kHz mono 16-bit)."""
import hashlib
import json
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydub import AudioSegment
from pydub.generators import Sine

from callengine.audio import recordings
from callengine.audio.recordings import MP3, OPUS, RecordingError, process_recording, prune, prune_plan, verify

REL = "2026/03/01/1740000000.42.wav"
FAST = {"wait_s": 0.3, "poll_s": 0.05}


def sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True)


def probe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return float(out)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


def place(root: Path, relative: str = REL) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def tone(root: Path) -> Path:
    """3.0 s of 440 Hz, 8 kHz mono 16-bit, as MixMonitor writes it."""
    path = place(root)
    sox("-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", "3.0", "sine", "440", "vol", "0.5")
    return path


def test_tone_gives_duration_copy_hash_and_waveform(root: Path, tone: Path) -> None:
    facts = process_recording(root, REL, **FAST)
    assert facts.path == REL
    assert abs(facts.duration_s - 3.0) <= 0.05
    assert facts.sha256 == hashlib.sha256(tone.read_bytes()).hexdigest()
    copy = root / facts.browser_copy
    assert copy.parent == tone.parent and copy.stem == tone.stem and copy.suffix == recordings.browser_format().suffix
    assert abs(probe_duration(copy) - 3.0) <= 0.05
    assert abs(len(AudioSegment.from_file(copy)) / 1000 - 3.0) <= 0.05
    assert len(facts.waveform) == recordings.WAVEFORM_POINTS
    assert all(0.0 <= v <= 1.0 for v in facts.waveform) and max(facts.waveform) == 1.0
    assert min(facts.waveform) > 0.9  # a steady tone is equally loud throughout
    assert json.loads(json.dumps(facts.waveform)) == facts.waveform  # kept on the record as JSON


def test_speech_from_espeak_is_processed(root: Path, tmp_path: Path) -> None:
    raw, wav = tmp_path / "raw.wav", place(root)
    subprocess.run(["espeak-ng", "-v", "id", "-w", str(raw), "Tolong, ada kebakaran di Jalan Merdeka nomor dua belas"],
                   check=True, capture_output=True)
    sox(str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav))
    expected = float(subprocess.run(["soxi", "-D", str(wav)], check=True, capture_output=True, text=True).stdout)
    facts = process_recording(root, REL, **FAST)
    assert expected > 2.0 and abs(facts.duration_s - expected) <= 0.05
    assert abs(probe_duration(root / facts.browser_copy) - expected) <= 0.05
    assert min(facts.waveform) < 0.2 < 0.9 < max(facts.waveform)  # pauses between words, loud syllables


def test_louder_parts_show_higher_in_the_waveform(root: Path) -> None:
    quiet = Sine(440, sample_rate=8000).to_audio_segment(duration=1000, volume=-30)
    loud = Sine(440, sample_rate=8000).to_audio_segment(duration=1000, volume=-3)
    (quiet + loud).set_channels(1).set_sample_width(2).export(place(root), format="wav")
    wave = process_recording(root, REL, **FAST).waveform
    first, second = wave[:len(wave) // 2 - 2], wave[len(wave) // 2 + 2:]
    assert max(first) < 0.1 and min(second) > 0.9


def test_a_silent_call_looks_silent(root: Path) -> None:
    # sox dithers: +-1 LSB of noise, like a quiet line; it must not be scaled up to full bars
    sox("-n", "-r", "8000", "-c", "1", "-b", "16", str(place(root)), "trim", "0", "2.0")
    facts = process_recording(root, REL, **FAST)
    assert abs(facts.duration_s - 2.0) <= 0.05
    assert len(facts.waveform) == recordings.WAVEFORM_POINTS and max(facts.waveform) < 0.01


def test_opus_is_chosen_when_ffmpeg_has_it_else_mp3() -> None:
    assert recordings.pick_format(" A....D libopus              libopus Opus (codec opus)\n") == OPUS
    assert recordings.pick_format(" A..X.. opus                 Opus\n A....D libmp3lame  MP3\n") == MP3


def test_mp3_fallback_copy_decodes(root: Path, tone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordings, "browser_format", lambda: MP3)
    facts = process_recording(root, REL, **FAST)
    assert facts.browser_copy.endswith(".mp3")
    assert abs(len(AudioSegment.from_file(root / facts.browser_copy)) / 1000 - 3.0) <= 0.05


def test_tampering_shows(root: Path, tone: Path) -> None:
    facts = process_recording(root, REL, **FAST)
    assert verify(root, facts.sha256, REL)
    data = bytearray(tone.read_bytes())
    data[len(data) // 2] ^= 0x01
    tone.write_bytes(bytes(data))
    assert not verify(root, facts.sha256, REL)
    tone.unlink()
    assert not verify(root, facts.sha256, REL)


def test_missing_file_fails_after_a_bounded_wait(root: Path) -> None:
    started = time.monotonic()
    with pytest.raises(RecordingError, match=r"1740000000\.42\.wav: not found after waiting 0\.3 s"):
        process_recording(root, REL, **FAST)
    assert 0.3 <= time.monotonic() - started < 10


def unclosed(wav: bytes) -> bytes:
    """The WAV as Asterisk leaves it until it closes the file: audio there, header sizes still 0."""
    return wav[:4] + b"\0\0\0\0" + wav[8:40] + b"\0\0\0\0" + wav[44:]


def test_a_wav_not_yet_closed_by_asterisk_is_waited_for(root: Path, tone: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    finished = tone.read_bytes()
    tone.write_bytes(unclosed(finished))
    real_sleep, naps = time.sleep, []

    def asterisk_closes_the_file_later(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 4:  # the size has held still for polls already: only the header tells
            tone.write_bytes(finished)
        real_sleep(seconds)  # wait-ok: the patched sleep itself: time passes as the code asked

    monkeypatch.setattr(recordings.time, "sleep", asterisk_closes_the_file_later)
    facts = process_recording(root, REL, wait_s=5, poll_s=0.01)
    assert abs(facts.duration_s - 3.0) <= 0.05 and len(naps) >= 4
    assert facts.sha256 == hashlib.sha256(finished).hexdigest()


def test_a_file_arriving_late_is_waited_for(root: Path, tone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    finished = tone.read_bytes()
    tone.unlink()
    real_sleep, naps = time.sleep, []

    def arrives(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            tone.write_bytes(finished)
        real_sleep(seconds)  # wait-ok: the patched sleep itself

    monkeypatch.setattr(recordings.time, "sleep", arrives)
    assert abs(process_recording(root, REL, wait_s=5, poll_s=0.01).duration_s - 3.0) <= 0.05


def test_a_file_that_keeps_growing_is_refused(root: Path, tone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = time.sleep
    with tone.open("r+b") as f:                 # as MixMonitor leaves it until it closes the file
        f.write(b"RIFF\0\0\0\0")

    def still_recording(seconds: float) -> None:
        with tone.open("ab") as f:
            f.write(b"\0" * 320)
        real_sleep(seconds)  # wait-ok: the patched sleep itself

    monkeypatch.setattr(recordings.time, "sleep", still_recording)
    with pytest.raises(RecordingError, match="still growing after waiting 0.3 s"):
        process_recording(root, REL, **FAST)


@pytest.mark.parametrize("relative", ["../outside.wav", "2026/../../outside.wav", "/etc/passwd.wav",
                                      "2026\\..\\..\\x.wav", "", "2026/03/01/x.mp3", "a\0.wav"])
def test_untrusted_paths_are_refused(root: Path, relative: str) -> None:
    with pytest.raises(RecordingError, match="refused"):
        process_recording(root, relative, **FAST)
    with pytest.raises(RecordingError, match="refused"):
        verify(root, "0" * 64, relative)


def test_a_symlink_out_of_the_folder_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    place(root, "2026/x").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RecordingError, match="leads outside"):
        process_recording(root, "2026/x/a.wav", **FAST)


def test_empty_and_broken_wavs_are_refused(root: Path, tone: Path) -> None:
    full = tone.read_bytes()
    cases = {b"": r"empty \(0 bytes\) after waiting 0.3 s", unclosed(full)[:44]: "header declares no audio$",
             unclosed(full): "header declares no audio but 48000 bytes follow it: never closed by Asterisk",
             full[:len(full) // 2]: "truncated, header declares 3.00 s, file holds 1.50 s",
             b"RIFF\x00\x00garbage" * 10: "not a readable PCM WAV"}
    for content, message in cases.items():
        tone.write_bytes(content)
        with pytest.raises(RecordingError, match=message):
            process_recording(root, REL, **FAST)
    assert not list(tone.parent.glob("*.ogg")) and not list(tone.parent.glob("*.mp3"))


def touch(root: Path, relative: str, mtime: datetime | None = None) -> Path:
    path = place(root, relative)
    path.write_bytes(b"x")
    if mtime:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


CUTOFF = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def test_prune_plan_keeps_held_recent_and_unrelated_files(root: Path) -> None:
    long_ago = datetime(2025, 1, 1, tzinfo=timezone.utc)
    old = [touch(root, "2026/03/01/a.wav"), touch(root, "2026/03/01/a.ogg"), touch(root, "2026/02/28/b.wav"),
           touch(root, "2026/03/09/eve.mp3"),  # that day ended before the cutoff
           touch(root, "imported/c.wav", mtime=long_ago), touch(root, "2026/13/45/odd.wav", mtime=long_ago)]
    for kept in ["2026/03/01/held.wav", "2026/03/01/held.ogg",  # legal hold
                 "2026/03/10/today.wav", "2026/03/11/later.mp3",  # the cutoff's day is not over yet
                 "2026/03/01/notes.txt", "2026/03/01/.a.ogg.part", "imported/new.wav"]:
        touch(root, kept)
    plan = prune_plan(root, CUTOFF, keep={"2026/03/01/held.wav"})
    assert plan == sorted(p.resolve() for p in old)


def test_prune_plan_wants_an_aware_cutoff(root: Path) -> None:
    with pytest.raises(ValueError, match="time zone"):
        prune_plan(root, datetime(2026, 3, 10), keep=set())


def test_prune_deletes_files_and_empty_date_folders(root: Path) -> None:
    for relative in ["2026/02/28/b.wav", "2026/02/28/b.ogg", "2026/03/01/a.wav", "2026/03/01/held.wav"]:
        touch(root, relative)
    plan = prune_plan(root, CUTOFF, keep={"2026/03/01/held.wav"})
    assert prune(plan) == 3
    assert not (root / "2026/02").exists()  # day and month emptied
    assert (root / "2026/03/01/held.wav").exists() and not (root / "2026/03/01/a.wav").exists()
    assert prune(plan) == 0  # a second run finds nothing left to delete
    prune(prune_plan(root, CUTOFF, keep=set()))
    assert root.is_dir() and not any(root.iterdir())  # the recordings folder itself stays
