"""Chunked rendering: a long timeline rendered in parts, on several machines, joined without re-encoding.

:mod:`plan` decides where a timeline may be cut and writes each part's draft, which :mod:`shown`
checks frame for frame against the whole timeline; :mod:`parts` renders one part's picture (and the
whole timeline's sound); :mod:`join` joins the parts into the output; :mod:`runner` does all of it in
one process. The parts are pictures only: the sound is rendered
once for the whole timeline and muxed at the join, so it has no seams.
"""

from engine.chunks.join import join_parts
from engine.chunks.parts import PART_SUFFIX, render_part, render_sound
from engine.chunks.plan import Part, plan_parts
from engine.chunks.runner import render_chunked

__all__ = ["PART_SUFFIX", "Part", "join_parts", "plan_parts", "render_chunked", "render_part", "render_sound"]
