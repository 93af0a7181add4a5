"""The built-in music bed: exact length, stereo 16-bit, audible without clipping, deterministic, and usable
as music in a draft."""

from __future__ import annotations

import shutil
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from engine.config import EngineConfig, ProbeLimits
from engine.encode.encoders import CodecChoice
from engine.errors import MediaError
from engine.media.fonts import FontCatalog
from engine.media.isolated import music_bed_isolated
from engine.media.musicbed import LOOP_SECONDS, PEAK_DBFS, loop_bed, music_bed, write_loop_bed, write_music_bed
from engine.media.probe import inspect_output, probe
from engine.media.resolve import LocalResolver
from engine.pipeline.render import render
from tests.conftest import audio_samples, rms


def pcm(path: Path) -> np.ndarray:
    """The WAV's samples as floats in -1..1, shape (frames, channels)."""
    with wave.open(str(path)) as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return data.reshape(-1, wav.getnchannels()).astype(np.float64) / 32768


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_music_bed(tmp_path_factory.mktemp("bed") / "bed.wav", 7.5)


def test_length_is_exact_and_the_file_is_stereo_16_bit(bed: Path) -> None:
    info = probe(bed)
    assert info.kind == "audio" and info.duration_ms == 7500
    assert info.audio is not None and (info.audio.channels, info.audio.sample_rate) == (2, 44100)
    with wave.open(str(bed)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (2, 2, 44100, 330750)
    assert not bed.with_name(bed.name + ".part").exists()


def test_audible_not_clipping_and_fading_at_both_ends(bed: Path) -> None:
    samples = pcm(bed)
    peak = np.abs(samples).max()
    assert peak == pytest.approx(10 ** (PEAK_DBFS / 20), abs=0.01)        # -3 dBFS: headroom, no clipping
    assert rms(samples) > 0.08
    assert all(rms(samples[:, ch]) > 0.08 for ch in (0, 1))               # both channels carry music
    assert not np.array_equal(samples[:, 0], samples[:, 1])               # and they are not the same
    assert np.abs(samples[:10]).max() < 0.01 and np.abs(samples[-10:]).max() < 0.01
    assert abs(samples.mean()) < 0.01                                      # no DC offset


def test_same_seed_gives_the_same_bytes_and_other_seeds_differ(tmp_path: Path) -> None:
    a = write_music_bed(tmp_path / "a.wav", 4.0, seed=3).read_bytes()
    b = write_music_bed(tmp_path / "b.wav", 4.0, seed=3).read_bytes()
    others = {write_music_bed(tmp_path / f"s{seed}.wav", 4.0, seed=seed).read_bytes() for seed in (0, 1, 2)}
    assert a == b
    assert a not in others and len(others) == 3


def test_a_minute_is_quick_to_make() -> None:
    music_bed(1.0)                                            # warm up numpy
    started = time.process_time()
    samples = music_bed(60.0, seed=7)
    assert samples.shape == (60 * 44100, 2)
    assert time.process_time() - started < 2.0


def test_other_sample_rates_and_bad_lengths(tmp_path: Path) -> None:
    info = probe(write_music_bed(tmp_path / "48k.wav", 2.0, sample_rate=48000))
    assert info.audio is not None and info.audio.sample_rate == 48000 and info.duration_ms == 2000
    for seconds in (0, -1, 3601):
        with pytest.raises(ValueError):
            music_bed(seconds)


def test_it_renders_as_the_music_of_a_draft(media, config: EngineConfig, cpu_only: CodecChoice,
                                            fonts: FontCatalog, tmp_path: Path) -> None:
    write_music_bed(tmp_path / "bed.wav", 6.0, seed=1)
    shutil.copyfile(media.blue, tmp_path / "clip.mp4")                       # a picture without sound
    draft = {"t": [{"tt": 0, "sg": [{"src": "clip.mp4", "d": 2000}]},
                   {"tt": 1, "n": "BGM", "sg": [{"src": "bed.wav", "vol": 0.5, "fo": 500}]}]}
    result = render(draft, tmp_path / "out.mp4", config=config, resolve=LocalResolver(tmp_path), codecs=cpu_only,
                    fonts=fonts)
    info = inspect_output(result.path)
    assert info.has_audio and info.audio_codec == "aac"
    assert abs(info.audio_duration_s - 2.0) <= 0.05 and abs(info.duration_s - 2.0) <= 1 / 30
    assert rms(audio_samples(result.path)) > 0.02


def test_the_loop_bed_is_one_short_pass_without_fades_that_repeats_without_a_seam(tmp_path: Path) -> None:
    samples = loop_bed(seed=5)
    assert samples.shape == (round(LOOP_SECONDS * 44100), 2) and LOOP_SECONDS == pytest.approx(19.2)
    assert float(np.abs(samples).max()) == pytest.approx(10 ** (PEAK_DBFS / 20), abs=0.001)
    second = 44100
    assert rms(samples[:second // 2]) > 0.05 and rms(samples[-second // 2:]) > 0.05     # no fade at either end
    steps = np.abs(np.diff(samples, axis=0)).max()
    assert np.abs(samples[0] - samples[-1]).max() <= steps                # the wrap is no bigger a step than any inside
    looped = np.concatenate([samples[-second:], samples[:second]])       # and no dip in level across it
    assert rms(looped) == pytest.approx(rms(samples), rel=0.5)
    path = write_loop_bed(tmp_path / "loop.wav", seed=5)
    assert probe(path).duration_ms == 19200 and path.stat().st_size < 3_400_000
    assert np.array_equal(pcm(path), np.round(samples * 32767) / 32768)


def test_the_loop_bed_is_made_in_a_limited_child(tmp_path: Path) -> None:
    info = music_bed_isolated(tmp_path / "bed.wav", ProbeLimits(), seed=5)
    assert (info.kind, info.format, info.duration_ms, info.path) == ("audio", "wav", 19200, str(tmp_path / "bed.wav"))
    assert (tmp_path / "bed.wav").read_bytes() == write_loop_bed(tmp_path / "here.wav", seed=5).read_bytes()
    with pytest.raises(MediaError):
        music_bed_isolated(tmp_path / "late.wav", ProbeLimits(timeout_s=0.05), seed=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bed.wav", "here.wav"]      # a failure leaves no file
