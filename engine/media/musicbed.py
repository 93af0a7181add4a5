"""A built-in background music bed, synthesised with numpy: soft pads, a plucked arpeggio, a quiet beat.

The music is made by reelforge's own code from arithmetic alone (no samples, no downloads), so
the WAV files this module writes are free to use for any purpose, without royalties or credit.

The piece is a I-V-vi-IV progression at 100 BPM, two bars per chord: detuned pad chords with a
slow attack and release over a bass note, an eighth-note pluck arpeggio an octave up, and a
soft kick on beats 1 and 3 with a quiet hat between beats. It fades in and out and is peak
normalised to -3 dBFS. The seed picks the key, the arpeggio's pattern and small variations in
its loudness, so the same (seconds, seed) always gives the same bytes.

One pass of the progression (19.2 s) is synthesised, each distinct note once, and repeated to
the length asked for, so the cost barely grows with the length (60 s takes a fraction of a second).
That pass, without fades (:func:`loop_bed`), is what the chat stores: it repeats without a seam, so
a timeline of any length plays it on a loop (the audio segment's ``loop``) and fades it itself.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path
from typing import Final

import numpy as np

BPM: Final = 100
BEAT_S: Final = 60 / BPM
CHORD_BEATS: Final = 8                                  # two bars of 4/4 per chord
PROGRESSION: Final = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))   # I, V, vi, IV in semitones from the key
KEYS: Final = (48, 50, 51, 53, 55)                      # MIDI roots C3, D3, Eb3, F3, G3
ARP_PATTERNS: Final = ((0, 1, 2, 1, 3, 2, 1, 2), (0, 2, 1, 2, 3, 2, 1, 0), (0, 1, 2, 3, 2, 1, 2, 1))
PAD_DETUNE_CENTS: Final = (-7.0, 0.0, 7.0)
PAD_PANS: Final = (0.25, 0.5, 0.75)                     # 0 left, 1 right, one per detuned voice
PAD_HARMONICS: Final = (1.0, 0.25, 0.08)                # soft: mostly the fundamental
PAD_ATTACK_S: Final = 1.2
PAD_RELEASE_S: Final = 1.6                              # overlaps the next chord's attack
PLUCK_DECAY_S: Final = 0.35
PLUCK_LENGTH_S: Final = 1.4
KICK_LENGTH_S: Final = 0.45
HAT_LENGTH_S: Final = 0.1
LEVELS: Final = {"pad": 0.22, "bass": 0.35, "pluck": 0.16, "kick": 0.45, "hat": 0.025}
FADE_IN_S: Final = 2.0
FADE_OUT_S: Final = 3.0
PEAK_DBFS: Final = -3.0
MAX_SECONDS: Final = 3600.0
LOOP_SECONDS: Final = len(PROGRESSION) * CHORD_BEATS * BEAT_S   # one pass: 19.2 s


def _hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69) / 12))


def _times(seconds: float, rate: int) -> np.ndarray:
    return np.arange(int(seconds * rate), dtype=np.float32) / np.float32(rate)


def _gains(pan: float) -> np.ndarray:
    """Constant-power (left, right) gains for a pan from 0 (left) to 1 (right)."""
    return np.array([np.cos(pan * np.pi / 2), np.sin(pan * np.pi / 2)], dtype=np.float32)


def _pad(notes: tuple[int, ...], bass: int, rate: int) -> np.ndarray:
    """One chord: detuned, lightly harmonic voices spread across the stereo field, with a slow swell."""
    t = _times(CHORD_BEATS * BEAT_S + PAD_RELEASE_S, rate)
    out = np.zeros((t.size, 2), dtype=np.float32)
    for cents, pan in zip(PAD_DETUNE_CENTS, PAD_PANS, strict=True):
        voice = sum((amp * np.sin(2 * np.pi * _hz(note + cents / 100) * k * t)
                     for note in notes for k, amp in enumerate(PAD_HARMONICS, start=1)), np.zeros_like(t))
        out += (voice * LEVELS["pad"])[:, None] * _gains(pan)
    out += (LEVELS["bass"] * np.sin(2 * np.pi * _hz(bass) * t))[:, None] * _gains(0.5)
    hold_s = CHORD_BEATS * BEAT_S
    swell = np.clip(t / PAD_ATTACK_S, 0, 1) ** 2 * np.clip(1 - (t - hold_s) / PAD_RELEASE_S, 0, 1)
    return out * swell[:, None]


def _pluck(midi: int, rate: int) -> np.ndarray:
    """A plucked note: a few harmonics, the higher ones dying away faster."""
    t = _times(PLUCK_LENGTH_S, rate)
    tone = sum((np.sin(2 * np.pi * _hz(midi) * k * t) * np.exp(-t * k / PLUCK_DECAY_S) / k**2 for k in range(1, 5)),
               np.zeros_like(t))
    return tone * np.clip(t / 0.004, 0, 1) * LEVELS["pluck"]


def _kick(rate: int) -> np.ndarray:
    t = _times(KICK_LENGTH_S, rate)
    hz = 45 + 60 * np.exp(-t / 0.04)                    # a quick downward sweep: a soft thump, not a click
    return np.sin(2 * np.pi * np.cumsum(hz) / rate) * np.exp(-t / 0.15) * LEVELS["kick"]


def _hat(rng: np.random.Generator, rate: int) -> np.ndarray:
    t = _times(HAT_LENGTH_S, rate)
    noise = np.diff(rng.standard_normal(t.size + 1).astype(np.float32))   # differenced: only the highs
    return noise * np.exp(-t / 0.025) * LEVELS["hat"]


def _ramp(n: int) -> np.ndarray:
    """A linear fade from silence over ``n`` frames, shaped to multiply (n, 2) samples."""
    return (np.arange(n, dtype=np.float32) / n)[:, None]


def _add(mix: np.ndarray, at_s: float, sound: np.ndarray, rate: int, gains: np.ndarray | None = None) -> None:
    """Mix ``sound`` into ``mix`` from ``at_s``, cut at the end; a mono sound is spread by ``gains`` (centre)."""
    start = int(round(at_s * rate))
    n = min(sound.shape[0], mix.shape[0] - start)
    if n <= 0:
        return
    if sound.ndim == 1:
        mix[start:start + n] += sound[:n, None] * (_gains(0.5) if gains is None else gains)
    else:
        mix[start:start + n] += sound[:n]


def _cycle(key: int, pattern: tuple[int, ...], rng: np.random.Generator, rate: int) -> np.ndarray:
    """One pass of the progression, wrapped so that it repeats seamlessly: what rings on past its end
    (pad releases, the last notes' decay) is laid over its start."""
    chord_s = CHORD_BEATS * BEAT_S
    length = int(round(len(PROGRESSION) * chord_s * rate))
    loop = np.zeros((length + int((PAD_RELEASE_S + PLUCK_LENGTH_S) * rate), 2), dtype=np.float32)
    plucks: dict[int, np.ndarray] = {}
    kick, hat = _kick(rate), _hat(rng, rate)
    for index, chord in enumerate(PROGRESSION):
        at = index * chord_s
        _add(loop, at, _pad(tuple(key + n for n in chord), key + chord[0] - 12, rate), rate)
        tones = [key + 12 + n for n in chord] + [key + 24 + chord[0]]
        for step in range(CHORD_BEATS * 2):
            midi = tones[pattern[step % len(pattern)]]
            if midi not in plucks:
                plucks[midi] = _pluck(midi, rate)
            side = _gains(0.35 + 0.3 * (step % 2)) * np.float32(rng.uniform(0.75, 1.0))   # alternate sides, humanised
            _add(loop, at + step * BEAT_S / 2, plucks[midi], rate, side)
        for beat in range(CHORD_BEATS):
            if beat % 2 == 0:
                _add(loop, at + beat * BEAT_S, kick, rate)
            _add(loop, at + (beat + 0.5) * BEAT_S, hat, rate)
    loop[:loop.shape[0] - length] += loop[length:]
    return loop[:length]


def _seeded_cycle(seed: int, sample_rate: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    key = KEYS[int(rng.integers(len(KEYS)))]
    pattern = ARP_PATTERNS[int(rng.integers(len(ARP_PATTERNS)))]
    return _cycle(key, pattern, rng, sample_rate)


def _normalised(mix: np.ndarray) -> np.ndarray:
    peak = float(np.abs(mix).max())
    return mix * np.float32(10 ** (PEAK_DBFS / 20) / peak) if peak > 0 else mix


def loop_bed(*, seed: int = 0, sample_rate: int = 44100) -> np.ndarray:
    """One pass of the progression (``LOOP_SECONDS``), shape (frames, 2), peak at ``PEAK_DBFS``, no fades:
    its end runs on into its start, so played on a loop it has no seam."""
    return _normalised(_seeded_cycle(seed, sample_rate))


def music_bed(seconds: float, *, seed: int = 0, sample_rate: int = 44100) -> np.ndarray:
    """The bed as float32 samples, shape (frames, 2), peak at ``PEAK_DBFS``."""
    if not 1 / sample_rate <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be from one sample to {MAX_SECONDS:g}, not {seconds!r}")
    loop = _seeded_cycle(seed, sample_rate)
    frames = int(round(seconds * sample_rate))
    mix = np.tile(loop, (-(-frames // loop.shape[0]), 1))[:frames]
    fade_in, fade_out = (max(1, int(min(s, seconds / 3) * sample_rate)) for s in (FADE_IN_S, FADE_OUT_S))
    mix[:fade_in] *= _ramp(fade_in)
    mix[frames - fade_out:] *= _ramp(fade_out)[::-1]
    return _normalised(mix)


def write_music_bed(path: Path, seconds: float, *, seed: int = 0, sample_rate: int = 44100) -> Path:
    """Write ``seconds`` of the bed to ``path`` as 16-bit stereo WAV (via a temporary name) and return the path."""
    return _write_wav(Path(path), music_bed(seconds, seed=seed, sample_rate=sample_rate), sample_rate)


def write_loop_bed(path: Path, *, seed: int = 0, sample_rate: int = 44100) -> Path:
    """Write :func:`loop_bed` to ``path`` as 16-bit stereo WAV (3.4 MB at 44.1 kHz) and return the path."""
    return _write_wav(Path(path), loop_bed(seed=seed, sample_rate=sample_rate), sample_rate)


def _write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    pcm = np.round(samples * 32767).astype("<i2")
    part = path.with_name(path.name + ".part")
    with wave.open(str(part), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    os.replace(part, path)
    return path
