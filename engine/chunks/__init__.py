"""Chunked rendering: a long timeline rendered in parts, on several machines, joined without re-encoding.

:mod:`plan` decides where a timeline may be cut and writes each part's draft; :mod:`parts` renders
one part's picture (and the whole timeline's sound); :mod:`join` joins the parts into the output.
"""

from engine.chunks.join import join_parts, render_chunked
from engine.chunks.parts import PART_SUFFIX, render_part, render_sound
from engine.chunks.plan import Part, plan_parts

__all__ = ["PART_SUFFIX", "Part", "join_parts", "plan_parts", "render_chunked", "render_part", "render_sound"]
