"""The timeline benchmark's composition: its media (made here, cached) and the plan that both
reelforge's draft and the MoviePy script are built from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import common

FPS = 30


# ---------------------------------------------------------------- media


def ambience(seconds: float) -> Path:
    """Soft pink noise, like wind or a room: the second clip's own sound."""
    path = common.MEDIA / f"ambience-{seconds:g}s.wav"
    if not path.exists():
        common.run(
            [
                common.ffmpeg_exe(),
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"anoisesrc=color=pink:amplitude=0.08:duration={seconds:g}:sample_rate=48000",
                "-af",
                "lowpass=f=2500,aformat=channel_layouts=stereo",
                str(path),
            ]
        )
    return path


def source_clips() -> tuple[Path, Path]:
    """Two 10 s 1920x1080 30 fps H.264 + AAC clips, rendered by reelforge from four landscapes."""
    photos = common.landscapes("clips", 4, 2400, 1350, seed=31)
    beds = (common.music(10), ambience(10))
    moves = (
        ({"type": "zoom-in", "amt": 0.15}, {"type": "pan-left", "amt": 0.15}),
        ({"type": "pan-up", "amt": 0.12}, {"type": "zoom-out", "amt": 0.15}),
    )
    clips = []
    for index, (pair, bed) in enumerate(zip(moves, beds, strict=True)):
        first, second = photos[2 * index], photos[2 * index + 1]
        draft = {
            "m": {"width": 1920, "height": 1080, "fps": FPS, "out": {"format": "mp4", "quality": "high"}},
            "t": [
                {
                    "tt": 0,
                    "sg": [
                        {"src": str(first), "d": 5000, "mo": pair[0], "fit": "cover"},
                        {
                            "src": str(second),
                            "d": 5000,
                            "mo": pair[1],
                            "fit": "cover",
                            "tr": {"in": {"type": "fade", "d": 800}},
                        },
                    ],
                },
                {"tt": 1, "sg": [{"src": str(bed), "vol": 0.9}]},
            ],
        }
        clips.append(common.render_cached(draft, common.MEDIA / f"clip-{'ab'[index]}.mp4"))
    return clips[0], clips[1]


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class Plan:
    """The composition, in seconds and pixels, for both engines."""

    width: int
    height: int
    seconds: float
    clip_a: str
    clip_b: str
    still_1: str
    still_2: str
    music: str
    title: str = "Northern Ridges"

    @property
    def k(self) -> float:
        return self.seconds / 30.0

    def ms(self, value: float) -> int:
        return round(value * self.k)

    # timeline, in ms at 30 s (scaled by k): A 0-9.5 s, still 1 9.5-15 s, B 15-25 s, still 2 25-30 s.
    # The crossfade sits on the first cut (A into still 1), centred on it: A plays 0.5 s past its
    # out-point (its source has it), still 1 starts showing 0.5 s early. (On a later cut, after
    # a hard cut, reelforge fails: see benchmarks/README.md, "Engine findings".)
    def cuts(self) -> dict[str, tuple[int, int]]:
        a, s1, b = self.ms(9500), self.ms(5500), self.ms(10000)
        return {"a": (0, a), "s1": (a, a + s1), "b": (a + s1, a + s1 + b), "s2": (a + s1 + b, self.ms(30000))}

    XFADE_MS = 1000
    TITLE = (1000, 4000)  # start, length at 30 s
    ZOOM = 0.12
    PAN = 0.12

    def draft(self) -> dict[str, Any]:
        c = self.cuts()

        def length(key: str) -> int:
            return c[key][1] - c[key][0]

        return {
            "m": {
                "width": self.width,
                "height": self.height,
                "fps": FPS,
                "out": {"format": "mp4", "quality": "high"},
            },
            "t": [
                {
                    "tt": 0,
                    "sg": [
                        {"src": self.clip_a, "d": length("a"), "fit": "cover"},
                        {
                            "src": self.still_1,
                            "d": length("s1"),
                            "fit": "cover",
                            "mo": {"type": "zoom-in", "amt": self.ZOOM},
                            "tr": {"in": {"type": "fade", "d": self.XFADE_MS}},
                        },
                        {"src": self.clip_b, "d": length("b"), "fit": "cover"},
                        {
                            "src": self.still_2,
                            "d": length("s2"),
                            "fit": "cover",
                            "mo": {"type": "pan-right", "amt": self.PAN},
                        },
                    ],
                },
                {
                    "tt": 7,
                    "sg": [
                        {
                            "txt": self.title,
                            "st": self.ms(self.TITLE[0]),
                            "d": self.ms(self.TITLE[1]),
                            "style": {"anim": "fade", "pos": "bottom", "bold": True},
                        }
                    ],
                },
                {"tt": 1, "sg": [{"src": self.music, "vol": 0.35}]},
            ],
        }

    def inputs(self) -> list[Path]:
        return [Path(p) for p in (self.clip_a, self.clip_b, self.still_1, self.still_2, self.music)]

    def without_motion(self) -> dict[str, Any]:
        draft = self.draft()
        for seg in draft["t"][0]["sg"]:
            seg.pop("mo", None)
        return draft


def make_plan(quick: bool) -> Plan:
    clip_a, clip_b = source_clips()
    stills = common.landscapes("stills", 2, 1920, 1080, seed=53)
    seconds = 10.0 if quick else 30.0
    width, height = (1280, 720) if quick else (1920, 1080)
    return Plan(
        width,
        height,
        seconds,
        str(clip_a),
        str(clip_b),
        str(stills[0]),
        str(stills[1]),
        str(common.music(seconds)),
    )


# ---------------------------------------------------------------- MoviePy (runs in its own process)
