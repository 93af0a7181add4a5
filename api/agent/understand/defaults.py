"""The values the planner picks when a sentence says less than an op needs (each choice is listed in the
package docstring)."""

from __future__ import annotations

from typing import Final

DEFAULT_TRIM_MS: Final = 1000
FASTER: Final = 1.5
SLOWER: Final = 0.75
SLOW_MOTION: Final = 0.5
FADE_IN_MS: Final = 1000
FADE_OUT_MS: Final = 2000
QUIETER: Final = 0.2
LOUDER: Final = 0.6
BIG_TEXT: Final = 120.0
SMALL_TEXT: Final = 48.0
BLUR_CORNER: Final = 1 / 3      # "blur the top left corner": a third of the width and of the height
BLUR_EDGE: Final = 0.25         # "blur the bottom": the bottom quarter of the frame
CROP_EDGE: Final = 0.1          # "crop off the top": the top tenth of the frame
REPEAT_TIMES: Final = 2         # "repeat the first 2 seconds": played twice in all
MAX_CHARS: Final = 2000          # longer messages are read up to here
