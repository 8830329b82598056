"""Prompts: the catalogue in sounds/prompts.conf, spoken by espeak-ng, shaped with pydub."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asterisk.config import Config
from pydub import AudioSegment
from pydub.silence import detect_leading_silence

from callengine.core.settings import LANGUAGES

SAMPLE_RATE = 8000
TARGET_DBFS = -16.0
VOICES = {"id": "id", "en": "en"}


@dataclass(frozen=True)
class Prompt:
    name: str
    texts: dict[str, str]


# The number files Asterisk's default (English-pattern) SayNumber plays: 0-20, the tens, then
# "<n> hundred" and "<n> thousand". The pattern fits Indonesian up to 99 ("dua puluh satu");
# queue positions and minutes stay well below that.
NUMBERS = [*range(21), *range(30, 100, 10)]
NUMBER_WORDS = {"hundred": {"id": "ratus", "en": "hundred"}, "thousand": {"id": "ribu", "en": "thousand"}}


def catalogue(sounds_dir: Path) -> list[Prompt]:
    parsed = Config(str(sounds_dir / "prompts.conf"))
    prompts = [Prompt(c.name.strip(), {i.name.strip(): i.value.strip() for i in c.items}) for c in parsed.categories]
    numbers = [Prompt(f"digits/{n}", {lang: str(n) for lang in LANGUAGES}) for n in NUMBERS]
    words = [Prompt(f"digits/{name}", texts) for name, texts in NUMBER_WORDS.items()]
    return prompts + numbers + words


def speak(text: str, language: str, target: Path) -> None:
    """espeak-ng → 8 kHz mono 16-bit WAV, silence trimmed at both ends, loudness normalised."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed: run ./scripts/install-system")
    with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
        subprocess.run([espeak, "-v", VOICES[language], "-s", "185", "-w", raw.name, text], check=True)
        sound = AudioSegment.from_wav(raw.name)
    sound = sound.set_channels(1).set_frame_rate(SAMPLE_RATE).set_sample_width(2)
    start = detect_leading_silence(sound)
    end = len(sound) - detect_leading_silence(sound.reverse())
    sound = sound[start:end].apply_gain(TARGET_DBFS - sound.dBFS)
    target.parent.mkdir(parents=True, exist_ok=True)
    sound.export(target, format="wav")


def build(sounds_dir: Path, city: str, only_missing: bool = False) -> list[Path]:
    written = []
    for prompt in catalogue(sounds_dir):
        for language in LANGUAGES:
            target = sounds_dir / language / f"{prompt.name}.wav"
            if only_missing and target.exists():
                continue
            speak(prompt.texts[language].format(city=city), language, target)
            written.append(target)
    return written


def durations(sounds_dir: Path) -> dict[tuple[str, str], float]:
    """(language, prompt) → seconds, for every WAV present: the IVR plans its budget with them."""
    found = {}
    for path in sounds_dir.glob("*/*.wav"):
        try:
            with wave.open(str(path)) as w:
                found[(path.parent.name, path.stem)] = w.getnframes() / w.getframerate()
        except (wave.Error, EOFError):
            continue
    return found


def problems(sounds_dir: Path, required: Iterable[str] = ()) -> list[str]:
    """Every prompt of the catalogue and every required one (those the IVR and dialplan play)
    present in every language as a WAV Asterisk plays (8 kHz mono 16-bit)."""
    if not (sounds_dir / "prompts.conf").exists():
        return [f"{sounds_dir / 'prompts.conf'}: missing (the prompt catalogue)"]
    wanted = sorted({p.name for p in catalogue(sounds_dir)} | set(required))
    found = []
    for name in wanted:
        for language in LANGUAGES:
            path = sounds_dir / language / f"{name}.wav"
            reason = _wav_problem(path)
            if reason:
                found.append(f"{path}: {reason}")
    return found


def _wav_problem(path: Path) -> str | None:
    if not path.exists():
        return "missing"
    try:
        with wave.open(str(path)) as w:
            shape = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            if shape != (SAMPLE_RATE, 1, 2):
                return f"is {shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit; Asterisk wants 8000 Hz mono 16-bit"
            if w.getnframes() == 0:
                return "is empty"
    except (wave.Error, EOFError) as exc:
        return f"is not a WAV file ({exc})"
    return None
