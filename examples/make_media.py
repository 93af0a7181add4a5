"""Make the example media (nothing is downloaded): three photo-like stills, a clip, and music.

    python3 examples/make_media.py      # writes examples/media/
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.scenes import music, save_landscapes  # noqa: E402
from engine.config import EngineConfig  # noqa: E402
from engine.pipeline.render import render  # noqa: E402


def main() -> None:
    media = HERE / "media"
    photos = save_landscapes(media, 3, 1280, 720, seed=11)
    track = music(media / "music.wav", 16)
    clip = media / "clip.mp4"
    if not clip.exists():
        draft = {"m": {"width": 1280, "height": 720, "fps": 30},
                 "t": [{"tt": 0, "sg": [{"src": str(photos[2]), "d": 4000, "mo": {"type": "pan-right", "amt": 0.2}}]},
                       {"tt": 1, "sg": [{"src": str(track), "d": 4000}]}]}
        render(draft, clip, config=EngineConfig.default())
    print(f"example media in {media}")


if __name__ == "__main__":
    main()
